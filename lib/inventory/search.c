/*
 * search.c - pricing stays and searching offers.
 *
 * A room's nightly price is the room-only rate for one room. An offer's
 * total = sum of the nights' rates x rooms (less the non-refundable
 * discount) + the board supplement per adult per night (a child pays half).
 * Refundable rates cancel free until free_cancel_days before check-in, then
 * cost the first night; non-refundable rates cost the total from booking on.
 */
#define _GNU_SOURCE /* qsort_r */
#include <stdlib.h>
#include <string.h>

#include "hbk/inventory.h"
#include "hbk/json.h"
#include "internal.h"
#include "model.h"

#define SEARCH_LIMIT_MAX      500
#define SEARCH_CANDIDATES_MAX 4096

struct pricing {
	int64_t rate_sum;    /* one room, all nights */
	int64_t first_night; /* one room */
	int nights;
	int free_cancel_days;
	int nrf_discount_pct;
	int64_t supplement; /* per adult per night */
};

static int64_t discounted(int64_t minor, int pct)
{
	return (minor * (100 - pct) + 50) / 100;
}

/* The board's supplement for the stay's guests, one night. */
static int64_t board_night(const struct pricing *p, const struct hbk_stay *stay)
{
	return p->supplement * (2 * stay->adults + stay->children) / 2;
}

/* The stay's total: what price_stay() makes quote->total, alone. */
static int64_t stay_total(const struct pricing *p, const struct hbk_stay *stay)
{
	int pct = stay->refundable ? 0 : p->nrf_discount_pct;
	return discounted(p->rate_sum * stay->rooms, pct) + board_night(p, stay) * p->nights;
}

static void price_stay(const struct pricing *p, const struct hbk_stay *stay, const char *currency,
		       int64_t now_ms, struct hbk_quote *q)
{
	int pct = stay->refundable ? 0 : p->nrf_discount_pct;
	int64_t total = stay_total(p, stay);
	int64_t first = discounted(p->first_night * stay->rooms, pct) + board_night(p, stay);

	q->total = hbk_money_make(total, currency);
	q->first_night = hbk_money_make(first < total ? first : total, currency);
	memset(&q->policy, 0, sizeof(q->policy));
	q->policy.count = 1;
	if (stay->refundable) {
		q->policy.entries[0].from_ms = hbk_date_ms(stay->checkin - p->free_cancel_days);
		q->policy.entries[0].penalty = q->first_night;
	} else {
		q->policy.entries[0].from_ms = now_ms - now_ms % 1000;
		q->policy.entries[0].penalty = q->total;
	}
}

hbk_result hbk_stay_check(const struct hbk_stay *stay, hbk_date today, struct hbk_error *err)
{
	if (stay->checkout <= stay->checkin)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_dates", "checkout",
				      "checkout must be after checkin");
	if (stay->checkin < today)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_dates", "checkin",
				      "checkin is in the past");
	if (stay->checkout - stay->checkin > HBK_MAX_NIGHTS)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_dates", "checkout",
				      "a stay is at most %d nights (asked for %d)", HBK_MAX_NIGHTS,
				      stay->checkout - stay->checkin);
	if (stay->rooms < 1 || stay->rooms > HBK_MAX_ROOMS)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_rooms", "rooms",
				      "rooms must be from 1 to %d", HBK_MAX_ROOMS);
	if (stay->adults < 1)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_guests", "adults",
				      "at least one adult is needed");
	if (stay->adults < stay->rooms)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_guests", "adults",
				      "each room needs an adult (%d rooms, %d adults)", stay->rooms,
				      stay->adults);
	if (stay->children < 0 || stay->adults + stay->children > HBK_MAX_GUESTS)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_guests", "children",
				      "invalid number of guests");
	return HBK_OK;
}

hbk_result hbk_search_query_check(const struct hbk_search_query *q, hbk_date today,
				  struct hbk_error *err)
{
	if (!q->city[0] && !q->hotel_id[0])
		return hbk_fail_field(err, HBK_EINVAL, "usage", "city",
				      "give a city (--city) or a hotel (--hotel)");
	struct hbk_stay stay = {.checkin = q->checkin,
				.checkout = q->checkout,
				.adults = q->adults,
				.children = q->children,
				.rooms = q->rooms};
	hbk_result rc = hbk_stay_check(&stay, today, err);
	if (rc != HBK_OK)
		return rc;
	if (q->limit < 1 || q->limit > SEARCH_LIMIT_MAX)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_limit", "limit",
				      "limit must be from 1 to %d", SEARCH_LIMIT_MAX);
	return HBK_OK;
}

hbk_result hbk_quote_stay(struct hbk_store *store, const struct hbk_stay *stay, int64_t now_ms,
			  struct hbk_quote *quote, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	struct pricing p = {.nights = stay->checkout - stay->checkin};
	int capacity, max_children, sells_refundable;
	hbk_result rc;

	memset(quote, 0, sizeof(*quote));
	rc = hbk_hotel_get(store, stay->hotel_id, &quote->hotel, err);
	if (rc != HBK_OK)
		return rc == HBK_ENOTFOUND
			   ? hbk_fail_field(err, HBK_EINVAL, "unknown_hotel", "hotel",
					    "unknown hotel '%s'", stay->hotel_id)
			   : rc;

	rc = hbk_store_prepare(
	    store,
	    "SELECT r.name, r.capacity, r.max_children, h.free_cancel_days, h.sells_refundable,"
	    " h.nrf_discount_pct FROM room_types r JOIN hotels h ON h.id = r.hotel_id"
	    " WHERE r.hotel_id = ? AND r.code = ?",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, stay->hotel_id);
	hbk_bind_text(stmt, 2, stay->room_type);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		hbk_stmt_done(stmt);
		return hbk_fail_field(err, HBK_EINVAL, "unknown_room_type", "room_type",
				      "unknown room type '%s' at hotel %s", stay->room_type,
				      stay->hotel_id);
	}
	hbk_copy(quote->room_name, sizeof(quote->room_name), hbk_column_text(stmt, 0));
	capacity = sqlite3_column_int(stmt, 1);
	max_children = sqlite3_column_int(stmt, 2);
	p.free_cancel_days = sqlite3_column_int(stmt, 3);
	sells_refundable = sqlite3_column_int(stmt, 4);
	p.nrf_discount_pct = sqlite3_column_int(stmt, 5);
	hbk_stmt_done(stmt);

	if (stay->adults + stay->children > capacity * stay->rooms)
		return hbk_fail_field(err, HBK_EINVAL, "too_many_guests", "adults",
				      "%d guests do not fit in %d %s room%s (at most %d each)",
				      stay->adults + stay->children, stay->rooms, stay->room_type,
				      stay->rooms == 1 ? "" : "s", capacity);
	if (stay->children > max_children * stay->rooms)
		return hbk_fail_field(err, HBK_EINVAL, "too_many_guests", "children",
				      "%s rooms take at most %d children each", stay->room_type,
				      max_children);
	if (stay->refundable ? !sells_refundable : p.nrf_discount_pct == 0)
		return hbk_fail_field(err, HBK_EINVAL, "unknown_rate", "refundable",
				      "hotel %s sells no %s rate", stay->hotel_id,
				      stay->refundable ? "refundable" : "non-refundable");

	rc = hbk_store_prepare(
	    store, "SELECT name, supplement_minor FROM boards WHERE hotel_id = ? AND code = ?",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, stay->hotel_id);
	hbk_bind_text(stmt, 2, stay->board);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		hbk_stmt_done(stmt);
		return hbk_fail_field(err, HBK_EINVAL, "unknown_board", "board",
				      "hotel %s offers no board '%s'", stay->hotel_id, stay->board);
	}
	hbk_copy(quote->board_name, sizeof(quote->board_name), hbk_column_text(stmt, 0));
	p.supplement = sqlite3_column_int64(stmt, 1);
	hbk_stmt_done(stmt);

	rc = hbk_store_prepare(
	    store,
	    "SELECT COUNT(*), MIN(allotment), SUM(price_minor),"
	    " (SELECT price_minor FROM inventory WHERE hotel_id = ?1 AND room_type = ?2"
	    "  AND night = ?3),"
	    " (SELECT COUNT(*) FROM blackouts WHERE hotel_id = ?1 AND night >= ?3 AND night < ?4)"
	    " FROM inventory WHERE hotel_id = ?1 AND room_type = ?2 AND night >= ?3 AND night < ?4",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, stay->hotel_id);
	hbk_bind_text(stmt, 2, stay->room_type);
	sqlite3_bind_int(stmt, 3, stay->checkin);
	sqlite3_bind_int(stmt, 4, stay->checkout);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		hbk_stmt_done(stmt);
		return hbk_store_fail(store, err, "inventory");
	}
	int nights = sqlite3_column_int(stmt, 0);
	quote->available = sqlite3_column_int(stmt, 1);
	p.rate_sum = sqlite3_column_int64(stmt, 2);
	p.first_night = sqlite3_column_int64(stmt, 3);
	int closed = sqlite3_column_int(stmt, 4);
	hbk_stmt_done(stmt);

	if (closed > 0)
		return hbk_fail(err, HBK_ECONFLICT, "no_availability",
				"hotel %s is closed on %d of these nights", stay->hotel_id, closed);
	if (nights != p.nights)
		return hbk_fail(err, HBK_ECONFLICT, "no_availability",
				"hotel %s sells no %s rooms on some of these nights",
				stay->hotel_id, stay->room_type);
	price_stay(&p, stay, quote->hotel.currency, now_ms, quote);
	return HBK_OK;
}

/*
 * One priced room type of a hotel, before boards and rates fan it out. It
 * points into the search model, or into the rows a search read from
 * SQLite (struct scope), which outlive it.
 */
struct candidate {
	const struct hbk_hotel *hotel;
	const char *room_type;
	const char *room_name;
	const char *room_text;		  /* offer_room_text() */
	const struct model_board *boards; /* the hotel's, by supplement */
	int nboards;
	int available;
	bool sells_refundable;
	struct pricing pricing;
};

/* What a candidate read from SQLite points into. */
struct sql_room {
	struct hbk_hotel hotel;
	char room_type[HBK_ROOM_CODE_MAX];
	char room_name[64];
	char *text;
};

/* The candidates of a search, with what they point into when it is not the model. */
struct scope {
	struct candidate *cands;
	int ncands;
	struct sql_room *rooms;	    /* SQLite's rows, one per candidate */
	struct model_board *boards; /* SQLite's boards */
	int nboards;
};

static void scope_free(struct scope *s)
{
	for (int i = 0; s->rooms && i < s->ncands; i++)
		free(s->rooms[i].text);
	for (int i = 0; i < s->nboards; i++)
		free(s->boards[i].text);
	free(s->cands);
	free(s->rooms);
	free(s->boards);
}

/* An offer while sorting: small, so that sorting hundreds moves little. */
struct offer {
	const struct candidate *c;
	const struct model_board *board;
	bool refundable;
	int64_t total;
};

/*
 * The order of offers. Each key is computed only when the ones before it
 * tie: this runs thousands of times a search.
 */
static int offer_cmp(const void *a, const void *b, void *ctx)
{
	const struct offer *x = a, *y = b;
	enum hbk_sort sort_key = *(const enum hbk_sort *)ctx;
	int by;
	switch (sort_key) {
	case HBK_SORT_PRICE:
		if ((by = (x->total > y->total) - (x->total < y->total)))
			return by;
		if ((by = strcmp(x->c->hotel->name, y->c->hotel->name)))
			return by;
		break;
	case HBK_SORT_STARS:
		if ((by = y->c->hotel->stars - x->c->hotel->stars))
			return by;
		if ((by = (x->total > y->total) - (x->total < y->total)))
			return by;
		break;
	case HBK_SORT_NAME:
		if ((by = strcmp(x->c->hotel->name, y->c->hotel->name)))
			return by;
		if ((by = (x->total > y->total) - (x->total < y->total)))
			return by;
		break;
	}
	/* Candidates come ordered by hotel id then room type, so their
	 * addresses order them too. */
	if (x->c != y->c)
		return x->c < y->c ? -1 : 1;
	if ((by = strcmp(x->board->code, y->board->code)))
		return by;
	return (int)y->refundable - (int)x->refundable;
}

/*
 * Puts the first limit offers, in order, at the front: a full sort when
 * most are wanted, else one pass keeping the best limit sorted by
 * insertion, which for the usual 20 of a few hundred compares far less.
 */
static void offers_order(struct offer *offers, int n, int limit, enum hbk_sort sort_key)
{
	if (limit >= n / 4) {
		qsort_r(offers, (size_t)n, sizeof(*offers), offer_cmp, &sort_key);
		return;
	}
	int kept = 0;
	for (int i = 0; i < n; i++) {
		struct offer o = offers[i];
		/* By price, most offers cost more than the last kept: that alone
		 * settles it, as it would first in offer_cmp(). */
		if (kept == limit && sort_key == HBK_SORT_PRICE && o.total > offers[kept - 1].total)
			continue;
		if (kept == limit && offer_cmp(&o, &offers[kept - 1], &sort_key) >= 0)
			continue;
		int lo = 0, hi = kept;
		while (lo < hi) {
			int mid = (lo + hi) / 2;
			if (offer_cmp(&o, &offers[mid], &sort_key) < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
		int moved = (kept == limit ? kept - 1 : kept) - lo;
		memmove(&offers[lo + 1], &offers[lo], (size_t)moved * sizeof(*offers));
		offers[lo] = o;
		if (kept < limit)
			kept++;
	}
}

/* Appends a string literal, its length known when compiling. */
#define PUT_LITERAL(out, literal) hbk_buf_append((out), (literal), sizeof(literal) - 1)

/*
 * What the offers of a search write alike, written once per search: from
 * the dates to the rooms (stay_text), and when a non-refundable rate's
 * penalty starts (now).
 */
#define STAY_TEXT_MAX 192

struct search_text {
	struct hbk_buf stay;
	char now_from[HBK_TIME_STR];
};

static void stay_text(const struct hbk_search_query *q, struct hbk_buf *out)
{
	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR];
	hbk_date_format(q->checkin, checkin);
	hbk_date_format(q->checkout, checkout);
	PUT_LITERAL(out, ",\"checkin\":\"");
	hbk_buf_puts(out, checkin);
	PUT_LITERAL(out, "\",\"checkout\":\"");
	hbk_buf_puts(out, checkout);
	PUT_LITERAL(out, "\",\"nights\":");
	hbk_buf_put_int(out, q->checkout - q->checkin);
	PUT_LITERAL(out, ",\"guests\":{\"adults\":");
	hbk_buf_put_int(out, q->adults);
	PUT_LITERAL(out, ",\"children\":");
	hbk_buf_put_int(out, q->children);
	PUT_LITERAL(out, "},\"rooms\":");
	hbk_buf_put_int(out, q->rooms);
}

/*
 * Writes one offer as compact JSON: the search document is the hottest
 * answer hbkd gives, so it is written straight into the response buffer.
 * common is what the search's offers write alike.
 */
static void offer_text(const struct offer *o, int n, const struct hbk_search_query *q,
		       const struct search_text *common, int64_t now_ms, struct hbk_buf *out)
{
	const struct candidate *c = o->c;
	struct hbk_stay offer_stay = {.refundable = o->refundable,
				      .checkin = q->checkin,
				      .checkout = q->checkout,
				      .adults = q->adults,
				      .children = q->children,
				      .rooms = q->rooms};
	struct pricing pricing = c->pricing;
	struct hbk_quote quote;
	char offer_id[HBK_OFFER_ID_MAX], total[HBK_MONEY_STR], from[HBK_TIME_STR];
	char penalty[HBK_MONEY_STR];

	pricing.supplement = o->board->supplement_minor;
	price_stay(&pricing, &offer_stay, c->hotel->currency, now_ms, &quote);
	HBK_ASSERT(quote.total.minor == o->total);
	hbk_copy(offer_stay.hotel_id, sizeof(offer_stay.hotel_id), c->hotel->id);
	hbk_copy(offer_stay.room_type, sizeof(offer_stay.room_type), c->room_type);
	hbk_copy(offer_stay.board, sizeof(offer_stay.board), o->board->code);
	hbk_offer_id_encode(&offer_stay, &quote.total, offer_id);
	hbk_money_format(&quote.total, total);

	PUT_LITERAL(out, "{\"n\":");
	hbk_buf_put_int(out, n);
	PUT_LITERAL(out, ",\"offer_id\":\"");
	hbk_buf_puts(out, offer_id);
	hbk_buf_putc(out, '"');
	hbk_buf_puts(out, c->room_text);
	hbk_buf_puts(out, o->board->text);
	hbk_buf_append(out, common->stay.data, common->stay.len);
	PUT_LITERAL(out, ",\"available\":");
	hbk_buf_put_int(out, c->available);
	PUT_LITERAL(out, ",\"total\":{\"amount\":\"");
	hbk_buf_puts(out, total);
	PUT_LITERAL(out, "\",\"currency\":\"");
	hbk_buf_puts(out, quote.total.currency);
	if (o->refundable)
		PUT_LITERAL(out, "\"},\"refundable\":true,\"cancellation_policy\":");
	else
		PUT_LITERAL(out, "\"},\"refundable\":false,\"cancellation_policy\":");
	/* price_stay()'s policy, one entry, as hbk_policy_text() writes it;
	 * a non-refundable rate's starts now and costs the total. */
	const struct hbk_policy_entry *entry = &quote.policy.entries[0];
	HBK_ASSERT(quote.policy.count == 1);
	HBK_ASSERT(o->refundable || entry->penalty.minor == quote.total.minor);
	if (o->refundable) {
		policy_time_text(entry->from_ms, from);
		hbk_money_format(&entry->penalty, penalty);
	}
	PUT_LITERAL(out, "[{\"from\":\"");
	hbk_buf_puts(out, o->refundable ? from : common->now_from);
	PUT_LITERAL(out, "\",\"penalty\":{\"amount\":\"");
	hbk_buf_puts(out, o->refundable ? penalty : total);
	PUT_LITERAL(out, "\",\"currency\":\"");
	hbk_buf_puts(out, entry->penalty.currency);
	PUT_LITERAL(out, "\"}}]}");
}

char *offer_room_text(const struct hbk_hotel *hotel, const char *room_type, const char *room_name)
{
	struct hbk_buf out;
	hbk_buf_init(&out, 0);
	PUT_LITERAL(&out, ",\"hotel\":{\"id\":");
	hbk_buf_json_string(&out, hotel->id);
	PUT_LITERAL(&out, ",\"name\":");
	hbk_buf_json_string(&out, hotel->name);
	PUT_LITERAL(&out, ",\"city\":");
	hbk_buf_json_string(&out, hotel->city);
	PUT_LITERAL(&out, ",\"stars\":");
	hbk_buf_put_int(&out, hotel->stars);
	PUT_LITERAL(&out, "},\"room_type\":");
	hbk_buf_json_string(&out, room_type);
	PUT_LITERAL(&out, ",\"room_name\":");
	hbk_buf_json_string(&out, room_name);
	HBK_ASSERT(!out.overflow);
	return hbk_buf_detach(&out);
}

char *offer_board_text(const char *code, const char *name)
{
	struct hbk_buf out;
	hbk_buf_init(&out, 0);
	PUT_LITERAL(&out, ",\"board\":");
	hbk_buf_json_string(&out, code);
	PUT_LITERAL(&out, ",\"board_name\":");
	hbk_buf_json_string(&out, name);
	HBK_ASSERT(!out.overflow);
	return hbk_buf_detach(&out);
}

/* Prepares the statement for a search by city or by hotel (?1 city, ?2 hotel). */
static hbk_result prepare_scoped(struct hbk_store *store, const struct hbk_search_query *q,
				 const char *by_city, const char *by_hotel, sqlite3_stmt **stmt,
				 struct hbk_error *err)
{
	hbk_result rc = hbk_store_prepare(store, q->hotel_id[0] ? by_hotel : by_city, stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(*stmt, 1, q->city);
	hbk_bind_text(*stmt, 2, q->hotel_id);
	return HBK_OK;
}

/*
 * The boards of the hotels a search looks at, by hotel id then price, and
 * gives each candidate (ordered by hotel id too) its hotel's.
 */
static hbk_result load_boards(struct hbk_store *store, const struct hbk_search_query *q,
			      struct scope *s, struct hbk_error *err)
{
	static const char by_city[] =
	    "SELECT b.hotel_id, b.code, b.name, b.supplement_minor FROM hotels h"
	    " CROSS JOIN boards b ON b.hotel_id = h.id WHERE h.city = ?1"
	    " AND (?2 = '' OR h.id = ?2) ORDER BY b.hotel_id, b.supplement_minor";
	static const char by_hotel[] =
	    "SELECT b.hotel_id, b.code, b.name, b.supplement_minor FROM boards b"
	    " WHERE b.hotel_id = ?2 AND (?1 = '' OR ?1 = (SELECT city FROM hotels WHERE id = ?2))"
	    " ORDER BY b.supplement_minor";
	sqlite3_stmt *stmt;
	hbk_result rc = prepare_scoped(store, q, by_city, by_hotel, &stmt, err);
	if (rc != HBK_OK)
		return rc;
	int cap = 64, n = 0;
	struct model_board *boards = hbk_xcalloc((size_t)cap, sizeof(*boards));
	char(*hotel_ids)[HBK_HOTEL_ID_MAX] = hbk_xcalloc((size_t)cap, sizeof(*hotel_ids));
	while (sqlite3_step(stmt) == SQLITE_ROW && n < SEARCH_CANDIDATES_MAX) {
		if (n == cap) {
			cap *= 2;
			boards = hbk_xrealloc(boards, (size_t)cap * sizeof(*boards));
			hotel_ids = hbk_xrealloc(hotel_ids, (size_t)cap * sizeof(*hotel_ids));
		}
		hbk_copy(hotel_ids[n], sizeof(hotel_ids[n]), hbk_column_text(stmt, 0));
		hbk_copy(boards[n].code, sizeof(boards[n].code), hbk_column_text(stmt, 1));
		hbk_copy(boards[n].name, sizeof(boards[n].name), hbk_column_text(stmt, 2));
		boards[n].supplement_minor = sqlite3_column_int64(stmt, 3);
		boards[n].text = offer_board_text(boards[n].code, boards[n].name);
		n++;
	}
	hbk_stmt_done(stmt);
	for (int i = 0, first = 0; i < s->ncands; i++) {
		struct candidate *c = &s->cands[i];
		while (first < n && strcmp(hotel_ids[first], c->hotel->id) < 0)
			first++;
		int end = first;
		while (end < n && strcmp(hotel_ids[end], c->hotel->id) == 0)
			end++;
		c->boards = &boards[first];
		c->nboards = end - first;
	}
	free(hotel_ids);
	s->boards = boards;
	s->nboards = n;
	return HBK_OK;
}

static hbk_result load_candidates(struct hbk_store *store, const struct hbk_search_query *q,
				  struct scope *s, struct hbk_error *err)
{
	/*
	 * Two fixed statements, so that each lets SQLite drive the join from
	 * the hotels it selects (by city index or by id) into the inventory's
	 * primary key; CROSS JOIN fixes that order, whatever the statistics.
	 */
#define CANDIDATES_SQL(where)                                                                      \
	"SELECT h.id, h.code, h.name, h.city, h.stars, h.currency, h.address,"                     \
	" r.code, r.name, h.free_cancel_days, h.sells_refundable, h.nrf_discount_pct,"             \
	" MIN(i.allotment), SUM(i.price_minor),"                                                   \
	" SUM(CASE WHEN i.night = ?3 THEN i.price_minor ELSE 0 END)"                               \
	" FROM hotels h"                                                                           \
	" CROSS JOIN room_types r ON r.hotel_id = h.id"                                            \
	" CROSS JOIN inventory i ON i.hotel_id = h.id AND i.room_type = r.code"                    \
	"  AND i.night >= ?3 AND i.night < ?4"                                                     \
	" WHERE " where "  AND r.capacity * ?5 >= ?6 + ?7 AND r.max_children * ?5 >= ?7"           \
	"  AND h.id NOT IN (SELECT b.hotel_id FROM blackouts b"                                    \
	"   WHERE b.night >= ?3 AND b.night < ?4)"                                                 \
	" GROUP BY h.id, r.code"                                                                   \
	" HAVING COUNT(*) = ?4 - ?3 AND MIN(i.allotment) >= ?5"                                    \
	" ORDER BY h.id, r.code"
	static const char by_city[] = CANDIDATES_SQL("h.city = ?1 AND (?2 = '' OR h.id = ?2)");
	static const char by_hotel[] = CANDIDATES_SQL("h.id = ?2 AND (?1 = '' OR h.city = ?1)");
#undef CANDIDATES_SQL
	sqlite3_stmt *stmt;
	hbk_result rc = prepare_scoped(store, q, by_city, by_hotel, &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int(stmt, 3, q->checkin);
	sqlite3_bind_int(stmt, 4, q->checkout);
	sqlite3_bind_int(stmt, 5, q->rooms);
	sqlite3_bind_int(stmt, 6, q->adults);
	sqlite3_bind_int(stmt, 7, q->children);

	int cap = 64, n = 0, step;
	struct candidate *c = hbk_xcalloc((size_t)cap, sizeof(*c));
	struct sql_room *rooms = hbk_xcalloc((size_t)cap, sizeof(*rooms));
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW && n < SEARCH_CANDIDATES_MAX) {
		if (n == cap) {
			cap *= 2;
			c = hbk_xrealloc(c, (size_t)cap * sizeof(*c));
			rooms = hbk_xrealloc(rooms, (size_t)cap * sizeof(*rooms));
		}
		struct sql_room *row = &rooms[n];
		hotel_from_row(stmt, 0, &row->hotel);
		hbk_copy(row->room_type, sizeof(row->room_type), hbk_column_text(stmt, 7));
		hbk_copy(row->room_name, sizeof(row->room_name), hbk_column_text(stmt, 8));
		row->text = offer_room_text(&row->hotel, row->room_type, row->room_name);
		c[n++] = (struct candidate){
		    .available = sqlite3_column_int(stmt, 12),
		    .sells_refundable = sqlite3_column_int(stmt, 10) != 0,
		    .pricing = {.rate_sum = sqlite3_column_int64(stmt, 13),
				.first_night = sqlite3_column_int64(stmt, 14),
				.nights = q->checkout - q->checkin,
				.free_cancel_days = sqlite3_column_int(stmt, 9),
				.nrf_discount_pct = sqlite3_column_int(stmt, 11)}};
	}
	hbk_stmt_done(stmt);
	s->cands = c;
	s->ncands = n;
	s->rooms = rooms;
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return hbk_store_fail(store, err, "search");
	/* The rows stay where they are now: point the candidates at them. */
	for (int i = 0; i < n; i++) {
		c[i].hotel = &rooms[i].hotel;
		c[i].room_type = rooms[i].room_type;
		c[i].room_name = rooms[i].room_name;
		c[i].room_text = rooms[i].text;
	}
	return HBK_OK;
}

/* Whether a search's scope (city, hotel or both) takes this hotel. */
static bool in_scope(const struct hbk_search_query *q, const struct hbk_hotel *h)
{
	if (q->hotel_id[0] && strcmp(h->id, q->hotel_id) != 0)
		return false;
	return !q->city[0] || strcmp(h->city, q->city) == 0;
}

/*
 * The hotels a search may look at, by id, as indexes into m->hotels: the
 * one it asks for (in_scope() checks its city), or its city's. *one
 * holds the index of the one.
 */
static const int *scope_hotels(const struct hbk_search_model *m, const struct hbk_search_query *q,
			       int *one, int *count)
{
	if (!q->hotel_id[0])
		return model_city_hotels(m, q->city, count);
	const struct model_hotel *h = model_hotel(m, q->hotel_id);
	*count = h ? 1 : 0;
	*one = h ? (int)(h - m->hotels) : -1;
	return one;
}

/*
 * The candidates of load_candidates() from the in-memory model: the same
 * rows in the same order (hotel id, then room type code), with the
 * boards load_boards() gives them.
 */
static void model_candidates(const struct hbk_search_model *m, const struct hbk_search_query *q,
			     struct scope *s)
{
	int cap = 64, n = 0, nights = q->checkout - q->checkin, boards_seen = 0;
	struct candidate *c = hbk_xmalloc((size_t)cap * sizeof(*c));
	int one, nhotels;
	const int *hotels = scope_hotels(m, q, &one, &nhotels);
	for (int i = 0; i < nhotels && n < SEARCH_CANDIDATES_MAX; i++) {
		const struct model_hotel *h = &m->hotels[hotels[i]];
		if (!in_scope(q, &h->hotel))
			continue;
		/* load_boards() reads at most SEARCH_CANDIDATES_MAX boards in all,
		 * blacked out hotels' too: the same cut. */
		int nboards = SEARCH_CANDIDATES_MAX - boards_seen;
		if (nboards > h->nboards)
			nboards = h->nboards;
		boards_seen += nboards;
		if (model_blacked_out(h, q->checkin, q->checkout))
			continue;
		for (int k = 0; k < h->nrooms && n < SEARCH_CANDIDATES_MAX; k++) {
			const struct model_room *r = &h->rooms[k];
			int first = q->checkin - r->first, available = INT32_MAX;
			int64_t rate_sum = 0;
			if (r->capacity * q->rooms < q->adults + q->children ||
			    r->max_children * q->rooms < q->children || first < 0 ||
			    first + nights > r->nnights)
				continue;
			for (int d = first; d < first + nights && available >= q->rooms; d++) {
				if (r->nights[d].price_minor == 0)
					available = -1;
				else if (r->nights[d].allotment < available)
					available = r->nights[d].allotment;
				rate_sum += r->nights[d].price_minor;
			}
			if (available < q->rooms)
				continue;
			if (n == cap) {
				cap *= 2;
				c = hbk_xrealloc(c, (size_t)cap * sizeof(*c));
			}
			c[n++] = (struct candidate){
			    .hotel = &h->hotel,
			    .room_type = r->code,
			    .room_name = r->name,
			    .room_text = r->text,
			    .boards = h->boards,
			    .nboards = nboards,
			    .available = available,
			    .sells_refundable = h->sells_refundable != 0,
			    .pricing = {.rate_sum = rate_sum,
					.first_night = r->nights[first].price_minor,
					.nights = nights,
					.free_cancel_days = h->free_cancel_days,
					.nrf_discount_pct = h->nrf_discount_pct}};
		}
	}
	s->cands = c;
	s->ncands = n;
}

/* The scope's checks and its candidates and boards, from SQLite or the model. */
static hbk_result load_scope(struct hbk_store *store, const struct hbk_search_query *q,
			     struct scope *s, struct hbk_error *err)
{
	const struct hbk_search_model *m = NULL;
	if (store->keep_search_model && !(m = model_sync(store, err)))
		return err->result;
	if (q->city[0] && !(m ? model_city_exists(m, q->city) : hbk_city_exists(store, q->city)))
		return hbk_fail_field(err, HBK_EINVAL, "unknown_city", "city", "unknown city '%s'",
				      q->city);
	if (q->hotel_id[0]) {
		struct hbk_hotel h;
		hbk_result rc = m ? (model_hotel(m, q->hotel_id) ? HBK_OK : HBK_ENOTFOUND)
				  : hbk_hotel_get(store, q->hotel_id, &h, err);
		if (rc != HBK_OK)
			return rc == HBK_ENOTFOUND
				   ? hbk_fail_field(err, HBK_EINVAL, "unknown_hotel", "hotel",
						    "unknown hotel '%s'", q->hotel_id)
				   : rc;
	}
	if (m) {
		model_candidates(m, q, s);
		return HBK_OK;
	}
	hbk_result rc = load_candidates(store, q, s, err);
	if (rc == HBK_OK)
		rc = load_boards(store, q, s, err);
	return rc;
}

/*
 * The offers of the candidates: each board at each rate the hotel sells,
 * within max_price. Fills *offers (caller frees) and *count.
 */
static hbk_result scope_offers(const struct scope *s, const struct hbk_search_query *q,
			       struct offer **offers, int *count, struct hbk_error *err)
{
	struct hbk_money max_price = {.minor = -1};
	const char *max_price_currency = NULL; /* what max_price was read in */
	int n = 0, cap = 0;
	*offers = NULL;
	for (int i = 0; i < s->ncands; i++) {
		const struct candidate *c = &s->cands[i];
		/* The amount is read in each hotel's currency: again only when
		 * the currency changes, which gives the same value. */
		if (q->max_price[0] &&
		    (!max_price_currency || strcmp(max_price_currency, c->hotel->currency) != 0)) {
			hbk_result rc =
			    hbk_money_parse(q->max_price, c->hotel->currency, &max_price, err);
			if (rc != HBK_OK) {
				hbk_copy(err->field, sizeof(err->field), "max_price");
				free(*offers);
				*offers = NULL;
				return rc;
			}
			max_price_currency = c->hotel->currency;
		}
		struct pricing pricing = c->pricing;
		for (int k = 0; k < c->nboards; k++) {
			pricing.supplement = c->boards[k].supplement_minor;
			for (int r = 0; r < 2; r++) {
				bool refundable = r == 0;
				if (refundable
					? !c->sells_refundable
					: pricing.nrf_discount_pct == 0 || q->refundable_only)
					continue;
				struct hbk_stay stay = {.refundable = refundable,
							.adults = q->adults,
							.children = q->children,
							.rooms = q->rooms};
				int64_t total = stay_total(&pricing, &stay);
				if (max_price.minor >= 0 && total > max_price.minor)
					continue;
				if (n == cap) {
					cap = cap ? cap * 2 : 256;
					*offers =
					    hbk_xrealloc(*offers, (size_t)cap * sizeof(**offers));
				}
				(*offers)[n++] =
				    (struct offer){c, &c->boards[k], refundable, total};
			}
		}
	}
	*count = n;
	return HBK_OK;
}

/* What one offer's text takes, about: room is made for them at once. */
#define OFFER_TEXT_GUESS 640

static hbk_result search_in(struct hbk_store *store, const struct hbk_search_query *q,
			    int64_t now_ms, struct hbk_buf *out, struct hbk_error *err)
{
	struct scope scope = {0};
	struct offer *offers = NULL;
	int noffers = 0;

	hbk_result rc = load_scope(store, q, &scope, err);
	if (rc == HBK_OK)
		rc = scope_offers(&scope, q, &offers, &noffers, err);
	if (rc == HBK_OK) {
		int shown = noffers < q->limit ? noffers : q->limit;
		if (noffers > 1)
			offers_order(offers, noffers, q->limit, q->sort);
		size_t guess = (size_t)shown * OFFER_TEXT_GUESS;
		if (guess < out->max_bytes - out->len)
			hbk_buf_reserve(out, guess);
		struct search_text common;
		hbk_buf_init(&common.stay, STAY_TEXT_MAX);
		stay_text(q, &common.stay);
		HBK_ASSERT(!common.stay.overflow);
		policy_time_text(now_ms - now_ms % 1000, common.now_from);
		PUT_LITERAL(out, "{\"offers\":[");
		for (int i = 0; i < shown; i++) {
			if (i)
				hbk_buf_putc(out, ',');
			offer_text(&offers[i], i + 1, q, &common, now_ms, out);
		}
		PUT_LITERAL(out, "]}");
		hbk_buf_free(&common.stay);
		if (out->overflow)
			rc = hbk_fail(err, HBK_EINTERNAL, "too_large", "search result too large");
	}
	free(offers);
	scope_free(&scope);
	return rc;
}

hbk_result hbk_search_text(struct hbk_store *store, const struct hbk_search_query *q,
			   int64_t now_ms, struct hbk_buf *out, struct hbk_error *err)
{
	/* One read transaction: one snapshot, and one lock instead of one per
	 * statement. */
	bool own = store->tx_depth == 0;
	if (own) {
		hbk_result rc = hbk_store_begin(store, false, err);
		if (rc != HBK_OK)
			return rc;
	}
	hbk_result rc = search_in(store, q, now_ms, out, err);
	if (own)
		hbk_store_rollback(store);
	return rc;
}

hbk_result hbk_search(struct hbk_store *store, const struct hbk_search_query *q, int64_t now_ms,
		      json_t **out, struct hbk_error *err)
{
	struct hbk_buf text;
	hbk_buf_init(&text, 0);
	hbk_result rc = hbk_search_text(store, q, now_ms, &text, err);
	if (rc == HBK_OK) {
		*out = hbk_json_loads(text.data, text.len, err);
		if (!*out)
			rc = HBK_EINTERNAL;
	}
	hbk_buf_free(&text);
	return rc;
}
