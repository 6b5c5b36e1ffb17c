/*
 * inventory.c - hbk-admin inventory:
 *
 *   show --hotel H --from D --to D: one row per night and room type with
 *   rooms left, sold, the nightly price and whether the night is blacked
 *   out;
 *
 *   sync --from D --to D (--hotel CODES | --destination CODE): pulls what
 *   the partner sells (partner.kind hotelbeds) into the catalog. One
 *   availability query per night for one adult in one room gives each
 *   room's room-only price (the refundable rate; the non-refundable one
 *   gives the discount), the board supplements (differences between
 *   boards), the allotment and the free-cancellation days; a few queries
 *   with more guests on the first night find each room's capacity. Every
 *   write is an upsert that changes only differing rows, so a second run
 *   changes nothing. Each night is one transaction, which also appends,
 *   for each hotel it changed, hbk.catalog.hotel_synced.v1 when the
 *   hotel, a room type or a board changed and hbk.inventory.nights_set.v1
 *   when an allotment or price did (lib/inventory/events.c): what other
 *   hbkd instances apply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "hbk/inventory.h"
#include "hbk/json.h"
#include "hbk/partner.h"
#include "hbk/reservation.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *hotel;
static const char *from;
static const char *to;
static const char *destination;

const struct hbk_option inventory_options[] = {
    {HBK_OPT_STRING, "hotel", 0, &hotel, NULL, "HOTEL",
     "hotel id (H-LIS-0001); sync: partner hotel codes or ids, comma-separated", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "destination", 0, &destination, NULL, "CODE",
     "sync: every hotel of a partner destination (LIS)", 0, 0, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "from", 0, &from, NULL, "DATE", "first night (YYYY-MM-DD)", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "to", 0, &to, NULL, "DATE", "night after the last one (YYYY-MM-DD)", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_END, NULL, 0, NULL, NULL, NULL, NULL, 0, 0, HBK_COMPLETE_NONE, NULL},
};

void inventory_reset(void)
{
	hotel = from = to = destination = NULL;
}

static const struct hbk_column columns[] = {
    {"NIGHT", "night", false},
    {"ROOM", "room_type", false},
    {"AVAILABLE", "available", true},
    {"SOLD", "sold", true},
    {"TOTAL", "total", true},
    {"PRICE", "price.amount", true},
    {"CURRENCY", "price.currency", false},
    {"CLOSED", "closed", false},
};

/* ------------------------------------------------------------------------
 * inventory sync
 */

#define SYNC_NIGHTS_MAX		      400  /* nights in one sync */
#define SYNC_ROOMS_MAX		      8192 /* room types seen in one sync */
#define SYNC_BOARDS_MAX		      8	   /* boards of one hotel */
#define SYNC_PROGRESS_WIDTH	      30
#define SYNC_DEFAULT_FREE_CANCEL_DAYS 3
#define SYNC_ASSUMED_NRF_PCT	      10 /* a hotel selling only non-refundable rates */

/* Capacity and children a room took in the first night's probes. */
struct sync_room {
	int hotel_code;
	char code[HBK_ROOM_CODE_MAX];
	int capacity, max_children;
	bool written;
};

struct sync_state {
	struct hbk_cli *cli;
	struct hbk_store *store;
	struct hbk_partner_availability query;
	struct sync_room *rooms;
	int nrooms;
	int hotels_seen[SYNC_ROOMS_MAX / 4];
	int nhotels;
	int room_types, nights_written, changes;
	bool bar;
};

/* Guest counts tried on the first night: (adults, children). */
static const int sync_probes[][2] = {{2, 0}, {3, 0}, {4, 0}, {1, 1}, {2, 1}, {2, 2}};

/* A room code without the partner's characteristic ("DBL.ST" -> "DBL"). */
static bool room_code(const json_t *room, char out[HBK_ROOM_CODE_MAX])
{
	const char *code = hbk_json_str(room, "code", "");
	size_t len = strcspn(code, ".");
	if (len == 0 || len >= HBK_ROOM_CODE_MAX)
		return false;
	memcpy(out, code, len);
	out[len] = '\0';
	return true;
}

static struct sync_room *sync_room_find(struct sync_state *st, int hotel_code, const char *code,
					bool add)
{
	for (int i = 0; i < st->nrooms; i++)
		if (st->rooms[i].hotel_code == hotel_code && strcmp(st->rooms[i].code, code) == 0)
			return &st->rooms[i];
	if (!add || st->nrooms == SYNC_ROOMS_MAX)
		return NULL;
	struct sync_room *r = &st->rooms[st->nrooms++];
	memset(r, 0, sizeof(*r));
	r->hotel_code = hotel_code;
	hbk_copy(r->code, sizeof(r->code), code);
	return r;
}

/* What a room code usually holds, when the probes did not see the room. */
static void room_fallback(const char *code, int *capacity, int *max_children)
{
	static const struct {
		const char *code;
		int capacity, max_children;
	} table[] = {{"SGL", 1, 0}, {"DBL", 2, 1}, {"TWN", 2, 1}, {"TRP", 3, 1},
		     {"QUA", 4, 2}, {"FAM", 4, 2}, {"STE", 2, 1}};
	*capacity = 2;
	*max_children = 1;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].code, code) == 0) {
			*capacity = table[i].capacity;
			*max_children = table[i].max_children;
		}
}

/* One availability query for the night starting at night. */
static hbk_result sync_query(struct sync_state *st, hbk_date night, int adults, int children,
			     json_t **out, struct hbk_error *err)
{
	struct hbk_partner_availability q = st->query;
	q.checkin = night;
	q.checkout = night + 1;
	q.rooms = 1;
	q.adults = adults;
	q.children = children;
	return hbk_partner_availability(&st->cli->engine->partner, &q, out, err);
}

/* The first night's probes: who takes how many guests. */
static hbk_result sync_probe(struct sync_state *st, hbk_date night, struct hbk_error *err)
{
	for (size_t p = 0; p < sizeof(sync_probes) / sizeof(sync_probes[0]); p++) {
		int adults = sync_probes[p][0], children = sync_probes[p][1];
		json_t *answer = NULL;
		hbk_result rc = sync_query(st, night, adults, children, &answer, err);
		if (rc != HBK_OK)
			return rc;
		size_t i, j;
		const json_t *h, *room;
		json_array_foreach(json_object_get(answer, "hotels"), i, h)
		{
			int code = (int)hbk_partner_json_int(h, "code", -1);
			json_array_foreach(json_object_get(h, "rooms"), j, room)
			{
				char rc_code[HBK_ROOM_CODE_MAX];
				struct sync_room *r;
				if (!room_code(room, rc_code) ||
				    !(r = sync_room_find(st, code, rc_code, true)))
					continue;
				if (adults + children > r->capacity)
					r->capacity = adults + children;
				if (children > r->max_children)
					r->max_children = children;
			}
		}
		json_decref(answer);
	}
	return HBK_OK;
}

/* The net of a room's rate for a board and class; -1 when not sold. */
static int64_t rate_net(const json_t *room, const char *board, const char *rate_class,
			const char *currency, int *allotment)
{
	size_t i;
	const json_t *rate;
	json_array_foreach(json_object_get(room, "rates"), i, rate)
	{
		struct hbk_money net;
		struct hbk_error ignored = {0};
		if (strcmp(hbk_json_str(rate, "boardCode", ""), board) != 0 ||
		    strcmp(hbk_json_str(rate, "rateClass", ""), rate_class) != 0 ||
		    hbk_partner_json_money(rate, "net", currency, &net, &ignored) != HBK_OK)
			continue;
		if (allotment) {
			int left = (int)hbk_partner_json_int(rate, "allotment", 0);
			if (left > *allotment)
				*allotment = left;
		}
		return net.minor;
	}
	return -1;
}

/* Days before check-in that a refundable rate cancels free. */
static int free_cancel_days(const json_t *partner_hotel, hbk_date night)
{
	size_t i, j;
	const json_t *room, *rate;
	json_array_foreach(json_object_get(partner_hotel, "rooms"), i, room)
	{
		json_array_foreach(json_object_get(room, "rates"), j, rate)
		{
			if (strcmp(hbk_json_str(rate, "rateClass", ""), "NOR") != 0)
				continue;
			const json_t *policy =
			    json_array_get(json_object_get(rate, "cancellationPolicies"), 0);
			char day[HBK_DATE_STR];
			hbk_date free_until;
			snprintf(day, sizeof(day), "%.10s", hbk_json_str(policy, "from", ""));
			if (hbk_date_parse(day, &free_until) && free_until <= night)
				return night - free_until;
		}
	}
	return SYNC_DEFAULT_FREE_CANCEL_DAYS;
}

/* The hotel's boards, from the rates of its first room. */
static int hotel_boards(const json_t *partner_hotel, const char *boards[SYNC_BOARDS_MAX],
			const char *names[SYNC_BOARDS_MAX])
{
	int n = 0;
	size_t i, j;
	const json_t *room, *rate;
	json_array_foreach(json_object_get(partner_hotel, "rooms"), i, room)
	{
		json_array_foreach(json_object_get(room, "rates"), j, rate)
		{
			const char *board = hbk_json_str(rate, "boardCode", "");
			bool known = board[0] == '\0' || strlen(board) >= HBK_BOARD_MAX;
			for (int k = 0; k < n && !known; k++)
				known = strcmp(boards[k], board) == 0;
			if (!known && n < SYNC_BOARDS_MAX) {
				names[n] = hbk_json_str(rate, "boardName", board);
				boards[n++] = board;
			}
		}
	}
	return n;
}

/* Stars from a category code ("4EST", "3*"): its leading digit, else 3. */
static int category_stars(const char *category)
{
	if (category[0] >= '1' && category[0] <= '5')
		return category[0] - '0';
	return 3;
}

/* Room types of ours the partner did not offer for the night: sold out. */
static hbk_result sync_sold_out(struct sync_state *st, const json_t *partner_hotel,
				const char *hotel_id, hbk_date night, int *changes,
				struct hbk_error *err)
{
	json_t *ours = NULL;
	hbk_result rc = hbk_hotel_json(st->store, hotel_id, &ours, err);
	size_t i, j;
	const json_t *local, *room;
	json_array_foreach(json_object_get(ours, "room_types"), i, local)
	{
		const char *code = hbk_json_str(local, "code", "");
		bool offered = false;
		json_array_foreach(json_object_get(partner_hotel, "rooms"), j, room)
		{
			char partner_code[HBK_ROOM_CODE_MAX];
			offered |= room_code(room, partner_code) && strcmp(partner_code, code) == 0;
		}
		if (rc == HBK_OK && !offered)
			rc = hbk_inventory_sync_sold_out(st->store, hotel_id, code, night, changes,
							 err);
	}
	json_decref(ours);
	return rc;
}

/* The hotel's room types, boards and the night's rates. */
static hbk_result sync_hotel_rooms(struct sync_state *st, const json_t *h,
				   const struct hbk_sync_hotel *partner, const char *id,
				   hbk_date night, int *catalog_changes, int *night_changes,
				   struct hbk_error *err)
{
	const struct hbk_sync_hotel sh = *partner;
	const char *currency = sh.hotel.currency;
	size_t i;
	const json_t *room;
	hbk_result rc = HBK_OK;
	bool seen = false;
	for (int k = 0; k < st->nhotels && !seen; k++)
		seen = st->hotels_seen[k] == sh.hotel.code;
	if (!seen && st->nhotels < (int)(sizeof(st->hotels_seen) / sizeof(st->hotels_seen[0])))
		st->hotels_seen[st->nhotels++] = sh.hotel.code;

	const char *boards[SYNC_BOARDS_MAX], *names[SYNC_BOARDS_MAX];
	int nboards = hotel_boards(h, boards, names);
	const char *rate_class = sh.sells_refundable ? "NOR" : "NRF";
	bool boards_done = false;
	json_array_foreach(json_object_get(h, "rooms"), i, room)
	{
		char code[HBK_ROOM_CODE_MAX];
		int allotment = 0;
		if (!room_code(room, code))
			continue;
		int64_t base = rate_net(room, "RO", rate_class, currency, &allotment);
		for (int b = 0; b < nboards && base < 0; b++)
			base = rate_net(room, boards[b], rate_class, currency, &allotment);
		if (base <= 0)
			continue;
		int64_t price = sh.sells_refundable
				    ? base
				    : (base * 100 + (100 - sh.nrf_discount_pct) / 2) /
					  (100 - sh.nrf_discount_pct);
		struct sync_room *r = sync_room_find(st, sh.hotel.code, code, true);
		int capacity = r && r->capacity ? r->capacity : 0,
		    max_children = r ? r->max_children : 0;
		if (capacity == 0)
			room_fallback(code, &capacity, &max_children);
		if (capacity < 1)
			capacity = 1;
		rc = hbk_inventory_sync_room(st->store, id, code, hbk_json_str(room, "name", code),
					     capacity, max_children, allotment, catalog_changes,
					     err);
		if (rc == HBK_OK && r && !r->written) {
			r->written = true;
			st->room_types++;
		}
		if (rc == HBK_OK)
			rc = hbk_inventory_sync_night(st->store, id, code, night, allotment, price,
						      night_changes, err);
		if (rc != HBK_OK)
			return rc;
		st->nights_written++;
		/* Supplements: what a board adds to room only, for one adult. */
		for (int b = 0; b < nboards && !boards_done; b++) {
			int64_t with = rate_net(room, boards[b], rate_class, currency, NULL);
			if (with < 0)
				continue;
			rc = hbk_inventory_sync_board(st->store, id, boards[b], names[b],
						      with - base, catalog_changes, err);
			if (rc != HBK_OK)
				return rc;
		}
		boards_done = true;
	}
	return HBK_OK;
}

/* Writes one hotel's answer for one night. */
static hbk_result sync_hotel_night(struct sync_state *st, const json_t *h, hbk_date night,
				   struct hbk_error *err)
{
	struct hbk_sync_hotel sh;
	memset(&sh, 0, sizeof(sh));
	sh.hotel.code = (int)hbk_partner_json_int(h, "code", -1);
	hbk_copy(sh.hotel.name, sizeof(sh.hotel.name), hbk_json_str(h, "name", ""));
	hbk_copy(sh.hotel.city, sizeof(sh.hotel.city), hbk_json_str(h, "destinationCode", ""));
	hbk_copy(sh.hotel.currency, sizeof(sh.hotel.currency), hbk_json_str(h, "currency", ""));
	sh.hotel.stars = category_stars(hbk_json_str(h, "categoryCode", "3EST"));
	const char *currency = sh.hotel.currency;

	/* The rate classes, from the dearest room-only rates (least rounding). */
	int64_t nor_best = -1, nrf_best = -1;
	size_t i;
	const json_t *room;
	json_array_foreach(json_object_get(h, "rooms"), i, room)
	{
		int64_t nor = rate_net(room, "RO", "NOR", currency, NULL);
		int64_t nrf = rate_net(room, "RO", "NRF", currency, NULL);
		if (nor > 0)
			sh.sells_refundable = true;
		if (nrf > 0 && (nrf_best < 0 || (nor > nor_best && nor > 0))) {
			nrf_best = nrf;
			nor_best = nor;
		}
	}
	if (nrf_best > 0)
		sh.nrf_discount_pct =
		    nor_best > 0 ? (int)(((nor_best - nrf_best) * 100 + nor_best / 2) / nor_best)
				 : SYNC_ASSUMED_NRF_PCT;
	if (sh.nrf_discount_pct < 0 || sh.nrf_discount_pct > 90)
		sh.nrf_discount_pct = 0;
	if (!sh.sells_refundable && sh.nrf_discount_pct == 0)
		return HBK_OK; /* nothing priced that we can sell */
	sh.free_cancel_days = free_cancel_days(h, night);

	char id[HBK_HOTEL_ID_MAX];
	int catalog_changes = 0, night_changes = 0;
	hbk_result rc = hbk_inventory_sync_hotel(st->store, &sh, id, &catalog_changes, err);
	if (rc == HBK_OK)
		rc = sync_hotel_rooms(st, h, &sh, id, night, &catalog_changes, &night_changes, err);
	if (rc == HBK_OK)
		rc = sync_sold_out(st, h, id, night, &night_changes, err);
	/* What changed is an event, in this transaction (lib/inventory/events.c). */
	if (rc == HBK_OK && catalog_changes)
		rc = hbk_inventory_hotel_event(st->store, id, err);
	if (rc == HBK_OK && night_changes)
		rc = hbk_inventory_nights_event(st->store, id, night, night + 1, err);
	st->changes += catalog_changes + night_changes;
	return rc;
}

static void sync_progress(const struct sync_state *st, int done, int total)
{
	if (!st->bar)
		return;
	int filled = (int)((long long)done * SYNC_PROGRESS_WIDTH / total);
	fprintf(stderr, "\rsyncing inventory [%.*s%*s] %d/%d nights", filled,
		"##############################", SYNC_PROGRESS_WIDTH - filled, "", done, total);
	if (done == total)
		fputc('\n', stderr);
	fflush(stderr);
}

/* --hotel: partner codes, or our hotel ids mapped to their codes. */
static hbk_result sync_targets(struct sync_state *st, struct hbk_error *err)
{
	if (destination) {
		if (!hbk_copy(st->query.destination, sizeof(st->query.destination), destination) ||
		    destination[0] == '\0')
			return hbk_fail_field(err, HBK_EINVAL, "invalid_destination", "destination",
					      "--destination must be a short code (LIS)");
		return HBK_OK;
	}
	char list[1024];
	if (!hbk_copy(list, sizeof(list), hotel))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_hotel", "hotel",
				      "--hotel is too long");
	for (char *item = list; item && *item;) {
		char *comma = strchr(item, ',');
		if (comma)
			*comma = '\0';
		long long code;
		struct hbk_hotel h;
		if (st->query.nhotels == HBK_PARTNER_HOTELS_MAX)
			return hbk_fail_field(err, HBK_EINVAL, "invalid_hotel", "hotel",
					      "at most %d hotels at a time",
					      HBK_PARTNER_HOTELS_MAX);
		if (hbk_parse_int(item, 1, 1000000000, &code)) {
			st->query.hotels[st->query.nhotels++] = (int)code;
		} else if (hbk_hotel_get(st->store, item, &h, NULL) == HBK_OK) {
			st->query.hotels[st->query.nhotels++] = h.code;
		} else {
			return hbk_fail_field(err, HBK_EINVAL, "invalid_hotel", "hotel",
					      "'%.*s' is neither a partner hotel code nor a hotel "
					      "of this store",
					      hbk_utf8_cut(item, 32), item);
		}
		item = comma ? comma + 1 : NULL;
	}
	if (st->query.nhotels == 0)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_hotel", "hotel",
				      "--hotel needs at least one hotel code");
	return HBK_OK;
}

static hbk_result sync_night(struct sync_state *st, hbk_date night, struct hbk_error *err)
{
	json_t *answer = NULL;
	hbk_result rc = sync_query(st, night, 1, 0, &answer, err);
	if (rc != HBK_OK)
		return rc;
	rc = hbk_store_begin(st->store, true, err);
	size_t i;
	const json_t *h;
	json_array_foreach(json_object_get(answer, "hotels"), i, h)
	{
		if (rc != HBK_OK)
			break;
		rc = sync_hotel_night(st, h, night, err);
	}
	json_decref(answer);
	if (rc == HBK_OK)
		return hbk_store_commit(st->store, err);
	if (st->store->tx_depth > 0)
		hbk_store_rollback(st->store);
	return rc;
}

static int inventory_sync(struct hbk_cli *cli, const struct hbk_command *self)
{
	struct sync_state st;
	struct hbk_error err = {0};
	hbk_date first, end;
	int code;

	memset(&st, 0, sizeof(st));
	if (!from || !to)
		return hbk_cli_usage_error(cli, self, "inventory sync: --%s is required",
					   !from ? "from" : "to");
	if (!hotel == !destination)
		return hbk_cli_usage_error(
		    cli, self, "inventory sync: give --hotel CODES or --destination CODE");
	if (hbk_cli_date("from", from, &first, &err) != HBK_OK ||
	    hbk_cli_date("to", to, &end, &err) != HBK_OK)
		return hbk_cli_usage_error(cli, self, "%s", err.message);
	if (end <= first || end - first > SYNC_NIGHTS_MAX)
		return hbk_cli_usage_error(cli, self,
					   "inventory sync: --to must be 1 to %d days after --from",
					   SYNC_NIGHTS_MAX);
	const char *kind = hbk_config_get(cli->cfg, "partner.kind", "sandbox");
	if (strcmp(kind, "hotelbeds") != 0) {
		hbk_fail_field(&err, HBK_EINVAL, "partner_not_hotelbeds", "partner.kind",
			       "inventory sync pulls from a remote partner: set partner.kind: "
			       "hotelbeds (with partner.url, partner.api_key and partner.secret); "
			       "the partner is '%s'",
			       kind);
		return hbk_cli_error(cli, &err);
	}
	if ((code = hbk_cli_engine(cli)) != 0)
		return code;
	st.cli = cli;
	st.store = cli->engine->store;
	st.bar = !cli->quiet && isatty(STDERR_FILENO);
	st.rooms = hbk_xcalloc(SYNC_ROOMS_MAX, sizeof(*st.rooms));
	hbk_result rc = sync_targets(&st, &err);
	if (rc == HBK_OK)
		rc = sync_probe(&st, first, &err);
	int total = end - first;
	for (hbk_date night = first; rc == HBK_OK && night < end; night++) {
		rc = sync_night(&st, night, &err);
		if (rc == HBK_OK)
			sync_progress(&st, night - first + 1, total);
	}
	free(st.rooms);
	if (rc != HBK_OK) {
		if (st.bar)
			fputc('\n', stderr);
		return hbk_cli_error(cli, &err);
	}
	char first_text[HBK_DATE_STR], end_text[HBK_DATE_STR];
	hbk_date_format(first, first_text);
	hbk_date_format(end, end_text);
	if (cli->format == HBK_FORMAT_JSON) {
		json_t *doc = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i}", "from", first_text, "to",
					end_text, "hotels", st.nhotels, "room_types", st.room_types,
					"nights", st.nights_written, "changed", st.changes);
		hbk_output_json(stdout, doc);
		json_decref(doc);
	} else if (!cli->quiet) {
		printf("synced %d hotels, %d room types, %d room nights from %s to %s: %d rows "
		       "changed\n",
		       st.nhotels, st.room_types, st.nights_written, first_text, end_text,
		       st.changes);
	}
	return 0;
}

int cmd_inventory(struct hbk_cli *cli, int argc, const char **argv)
{
	int code;
	const struct hbk_command *self = admin_command("inventory");
	struct hbk_error err = {0};
	hbk_date first, end;
	json_t *doc = NULL;
	HBK_ASSERT(argc == 1);

	if (strcmp(argv[0], "sync") == 0)
		return inventory_sync(cli, self);
	if (strcmp(argv[0], "show") != 0)
		return hbk_cli_usage_error(
		    cli, self, "inventory: unknown action '%s' (expected show or sync)", argv[0]);
	if (destination)
		return hbk_cli_usage_error(cli, self, "inventory show: --destination is for sync");
	if (!hotel || !from || !to)
		return hbk_cli_usage_error(cli, self, "inventory show: --%s is required",
					   !hotel  ? "hotel"
					   : !from ? "from"
						   : "to");
	if (hbk_cli_date("from", from, &first, &err) != HBK_OK ||
	    hbk_cli_date("to", to, &end, &err) != HBK_OK)
		return hbk_cli_usage_error(cli, self, "%s", err.message);
	if ((code = hbk_cli_engine(cli)) != 0)
		return code;
	if (hbk_inventory_json(cli->engine->store, hotel, first, end, &doc, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (cli->format == HBK_FORMAT_JSON)
		hbk_output_json(stdout, doc);
	else
		hbk_output_rows(stdout, cli->format, columns, ARRAY_SIZE(columns),
				json_object_get(doc, "inventory"));
	json_decref(doc);
	return 0;
}
