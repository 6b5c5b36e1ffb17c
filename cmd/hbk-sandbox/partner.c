/*
 * partner.c - the partner area of hbk-sandbox: the Hotelbeds APItude
 * Booking API 1.0 shape (PROTOCOLS.md) over the simulators.
 *
 * Availability and prices come from the sandbox store's catalog (the demo
 * catalog by default) through lib/inventory's search and quote; bookings
 * go to the partner simulator (sb->partner, lib/partner/sandbox.c), the
 * same code the embedded default links in. A rateKey is the catalog's
 * offer id: it encodes hotel, room, board, rate class, stay and occupancy.
 * Non-refundable rates are RECHECK, so clients exercise /checkrates.
 *
 * Every request needs Api-key and an X-Signature made at most 300 s away
 * from the sandbox's clock; otherwise 401 in the protocol's error shape.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hbk/inventory.h"
#include "hbk/json.h"
#include "hbk/partner.h"
#include "sandbox.h"

#define PARTNER_PREFIX	      "/hotel-api/1.0/"
#define PARTNER_PAGE_MAX      100 /* bookings per page of GET /bookings */
#define PARTNER_PAGE_DEFAULT  25
#define PARTNER_OFFERS_MAX    500 /* rates of one hotel or destination */
#define PARTNER_PARAM_MAX     128
#define PARTNER_OCCUPANCY_MAX 9
#define PARTNER_FILTER_CODES_MAX 16 /* codes in a "boards" or "rooms" filter */
#define PARTNER_FILTER_CODE_MAX	 16
#define PARTNER_ROOM_TYPES_MAX	 32 /* a hotel with more is searched, not quoted */

/* ------------------------------------------------------------------------
 * Small helpers.
 */

static void partner_error(struct http_response *resp, int status, const char *code,
			  const char *message)
{
	/* The message may echo the request: made valid UTF-8, whatever it held. */
	sandbox_json(resp, status, json_pack("{s:{s:s, s:o}}", "error", "code", code, "message",
					     hbk_json_text(message)));
}

/* An hbk error from the simulator or the catalog, in the protocol's shape. */
static void answer_failure(struct http_response *resp, const struct hbk_error *err)
{
	switch (err->result) {
	case HBK_EINVAL: partner_error(resp, 400, "INVALID_REQUEST", err->message); return;
	case HBK_ENOTFOUND: partner_error(resp, 404, "NOT_FOUND", err->message); return;
	case HBK_ECONFLICT:
	case HBK_EDECLINED: partner_error(resp, 400, "INVALID_DATA", err->message); return;
	case HBK_EUNAVAILABLE:
		partner_error(resp, 503, "SERVICE_UNAVAILABLE", err->message);
		return;
	default: partner_error(resp, 500, "SYSTEM_ERROR", err->message); return;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A query parameter, percent-decoded into out; false when absent or too long. */
static bool query_param(const char *query, const char *name, char *out, size_t size)
{
	size_t name_len = strlen(name);
	for (const char *p = query; p && *p;) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
			size_t o = 0;
			for (size_t i = name_len + 1; i < len; i++) {
				char c = p[i];
				if (c == '+')
					c = ' ';
				else if (c == '%' && i + 2 < len && hexval(p[i + 1]) >= 0 &&
					 hexval(p[i + 2]) >= 0) {
					c = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
					i += 2;
				}
				if (o + 1 >= size)
					return false;
				out[o++] = c;
			}
			out[o] = '\0';
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* "2026-11-28T00:00:00.000Z" -> "2026-11-28T00:00:00+00:00" (ISO 8601 with offset). */
static void iso_time(int64_t ms, char out[HBK_TIME_STR])
{
	char rfc[HBK_TIME_STR];
	hbk_time_format(ms, rfc);
	hbk_format(out, HBK_TIME_STR, "%.19s+00:00", rfc);
}

static json_t *amount_string(const struct hbk_money *money)
{
	char text[HBK_MONEY_STR];
	hbk_money_format(money, text);
	return json_string(text);
}

/* A number, as the protocol writes booking.totalNet and pendingAmount. */
static json_t *amount_number(const struct hbk_money *money)
{
	int exponent = hbk_currency_exponent(money->currency);
	if (exponent <= 0)
		return json_integer(money->minor);
	double scale = 1;
	for (int i = 0; i < exponent; i++)
		scale *= 10;
	return json_real((double)money->minor / scale);
}

static json_t *policies_json(const struct hbk_policy *policy)
{
	json_t *array = json_array();
	for (int i = 0; i < policy->count; i++) {
		char from[HBK_TIME_STR];
		iso_time(policy->entries[i].from_ms, from);
		json_array_append_new(array, json_pack("{s:o, s:s}", "amount",
						       amount_string(&policy->entries[i].penalty),
						       "from", from));
	}
	return array;
}

static void category(int stars, char out[8])
{
	hbk_format(out, 8, "%dEST", stars);
}

/*
 * The answers of availability and checkrates are written as text straight
 * into the response: building them as jansson values, then dumping and
 * freeing those, cost more than pricing the rates.
 */

/* "key":"value", the value escaped as jansson escapes it. */
static void put_string(struct hbk_buf *out, const char *key, const char *value)
{
	hbk_buf_printf(out, "\"%s\":", key);
	hbk_json_dump_string(out, value);
}

static void put_int(struct hbk_buf *out, const char *key, long long value)
{
	hbk_buf_printf(out, "\"%s\":", key);
	hbk_buf_put_int(out, value);
}

static void put_amount(struct hbk_buf *out, const char *key, const struct hbk_money *money)
{
	char text[HBK_MONEY_STR];
	hbk_money_format(money, text);
	put_string(out, key, text);
}

/* A rate of the protocol for a priced stay. */
static void put_rate(struct hbk_buf *out, const struct hbk_stay *stay,
		     const struct hbk_quote *quote, bool bookable)
{
	char rate_key[HBK_OFFER_ID_MAX];
	hbk_offer_id_encode(stay, &quote->total, rate_key);
	hbk_buf_putc(out, '{');
	put_string(out, "rateKey", rate_key);
	hbk_buf_puts(out, stay->refundable ? ",\"rateClass\":\"NOR\"" : ",\"rateClass\":\"NRF\"");
	hbk_buf_puts(out, bookable || stay->refundable ? ",\"rateType\":\"BOOKABLE\","
						       : ",\"rateType\":\"RECHECK\",");
	put_amount(out, "net", &quote->total);
	hbk_buf_putc(out, ',');
	put_int(out, "allotment", quote->available);
	hbk_buf_putc(out, ',');
	put_string(out, "boardCode", stay->board);
	hbk_buf_putc(out, ',');
	put_string(out, "boardName", quote->board_name);
	hbk_buf_puts(out, ",\"paymentType\":\"AT_WEB\",");
	put_int(out, "rooms", stay->rooms);
	hbk_buf_putc(out, ',');
	put_int(out, "adults", stay->adults);
	hbk_buf_putc(out, ',');
	put_int(out, "children", stay->children);
	hbk_buf_puts(out, ",\"cancellationPolicies\":[");
	for (int i = 0; i < quote->policy.count; i++) {
		char from[HBK_TIME_STR];
		iso_time(quote->policy.entries[i].from_ms, from);
		hbk_buf_puts(out, i ? ",{" : "{");
		put_amount(out, "amount", &quote->policy.entries[i].penalty);
		hbk_buf_putc(out, ',');
		put_string(out, "from", from);
		hbk_buf_putc(out, '}');
	}
	hbk_buf_puts(out, "],\"rateCommentsId\":\"\"}");
}

/* The hotel's fields that open its entry, up to its rooms. */
static void put_hotel_head(struct hbk_buf *out, const struct hbk_hotel *h)
{
	char stars[8];
	category(h->stars, stars);
	put_int(out, "code", h->code);
	hbk_buf_putc(out, ',');
	put_string(out, "name", h->name);
	hbk_buf_putc(out, ',');
	put_string(out, "categoryCode", stars);
	hbk_buf_putc(out, ',');
	put_string(out, "destinationCode", h->city);
}

/* Starts a 200 JSON answer, written next as text into resp->body. */
static void answer_text(struct http_response *resp)
{
	resp->status = 200;
	resp->content_type = "application/json";
	hbk_buf_reset(&resp->body);
}

/* ------------------------------------------------------------------------
 * Routing.
 */

static const char *partner_endpoint(const struct http_request *req)
{
	const char *rest = req->path + strlen(PARTNER_PREFIX);
	if (strncmp(req->path, PARTNER_PREFIX, strlen(PARTNER_PREFIX)) != 0)
		return NULL;
	bool post = strcmp(req->method, "POST") == 0;
	if (strcmp(rest, "hotels") == 0)
		return post ? "partner.availability" : NULL;
	if (strcmp(rest, "checkrates") == 0)
		return post ? "partner.checkrates" : NULL;
	if (strcmp(rest, "bookings") == 0)
		return post				 ? "partner.bookings.create"
		       : strcmp(req->method, "GET") == 0 ? "partner.bookings.list"
							 : NULL;
	if (strncmp(rest, "bookings/", 9) == 0 && rest[9] != '\0' && !strchr(rest + 9, '/')) {
		if (strcmp(req->method, "GET") == 0)
			return "partner.bookings.get";
		if (strcmp(req->method, "PUT") == 0)
			return "partner.bookings.modify";
		if (strcmp(req->method, "DELETE") == 0)
			return "partner.bookings.cancel";
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * Bookings in the protocol's shape.
 */

/* A simulator booking (port JSON) read back into its parts. */
struct view {
	const char *reference, *client_reference, *status, *holder;
	struct hbk_stay stay;
	struct hbk_money total;
	struct hbk_policy policy;
	struct hbk_money penalty;
	bool cancelled;
	char created[HBK_DATE_STR];
};

static hbk_result view_read(const json_t *b, struct view *v, struct hbk_error *err)
{
	memset(v, 0, sizeof(*v));
	v->reference = hbk_json_str(b, "reference", "");
	v->client_reference = hbk_json_str(b, "client_reference", "");
	v->status = hbk_json_str(b, "status", "");
	v->holder = hbk_json_str(b, "holder", "");
	v->cancelled = strcmp(v->status, "CANCELLED") == 0;
	struct hbk_stay *s = &v->stay;
	hbk_copy(s->hotel_id, sizeof(s->hotel_id), hbk_json_str(b, "hotel_id", ""));
	hbk_copy(s->room_type, sizeof(s->room_type), hbk_json_str(b, "room_type", ""));
	hbk_copy(s->board, sizeof(s->board), hbk_json_str(b, "board", ""));
	s->refundable = hbk_json_bool(b, "refundable", true);
	hbk_date_parse(hbk_json_str(b, "checkin", ""), &s->checkin);
	hbk_date_parse(hbk_json_str(b, "checkout", ""), &s->checkout);
	s->rooms = (int)hbk_json_int(b, "rooms", 1);
	s->adults = (int)hbk_json_int(b, "adults", 1);
	s->children = (int)hbk_json_int(b, "children", 0);
	hbk_copy(v->created, sizeof(v->created), hbk_json_str(b, "created_at", ""));
	hbk_result rc = hbk_json_get_money(b, "total", &v->total, err);
	if (rc == HBK_OK)
		rc = hbk_policy_from_json(json_object_get(b, "cancellation_policy"),
					  v->total.currency, &v->policy, err);
	v->penalty = hbk_money_make(0, v->total.currency);
	if (rc == HBK_OK && json_object_get(b, "penalty"))
		rc = hbk_json_get_money(b, "penalty", &v->penalty, err);
	return rc;
}

/* The protocol's booking object; penalty (may be NULL) is the
 * cancellation amount to report. */
static json_t *booking_protocol(struct sandbox *sb, const struct view *v,
				const struct hbk_money *penalty)
{
	struct hbk_hotel hotel;
	struct hbk_error ignored = {0};
	memset(&hotel, 0, sizeof(hotel));
	hbk_hotel_get(sb->store, v->stay.hotel_id, &hotel, &ignored);
	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR], stars[8];
	hbk_date_format(v->stay.checkin, checkin);
	hbk_date_format(v->stay.checkout, checkout);
	category(hotel.stars, stars);

	size_t first = strcspn(v->holder, " ");
	char name[128];
	hbk_format(name, sizeof(name), "%.*s", hbk_utf8_cut(v->holder, first < 100 ? first : 100),
		   v->holder);
	const char *surname = v->holder[first] ? v->holder + first + 1 : v->holder;

	json_t *rate = json_pack(
	    "{s:s, s:o, s:s, s:i, s:i, s:i, s:o}", "rateClass", v->stay.refundable ? "NOR" : "NRF",
	    "net", amount_string(&v->total), "boardCode", v->stay.board, "rooms", v->stay.rooms,
	    "adults", v->stay.adults, "children", v->stay.children, "cancellationPolicies",
	    policies_json(&v->policy));
	json_t *room = json_pack("{s:s, s:s, s:[o]}", "status", v->status, "code",
				 v->stay.room_type, "rates", rate);
	json_t *hotel_json =
	    json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:[o], s:o, s:s}", "checkIn", checkin,
		      "checkOut", checkout, "code", hotel.code, "name", hotel.name, "categoryCode",
		      stars, "destinationCode", hotel.city, "rooms", room, "totalNet",
		      amount_string(&v->total), "currency", v->total.currency);
	if (penalty)
		json_object_set_new(hotel_json, "cancellationAmount", amount_number(penalty));
	struct hbk_money pending = hbk_money_make(0, v->total.currency);
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:b, s:b}, s:{s:s, s:s}, s:o, s:o, s:o, s:s}",
			 "reference", v->reference, "clientReference", v->client_reference,
			 "creationDate", v->created[0] ? v->created : checkin, "status", v->status,
			 "modificationPolicies", "cancellation", !v->cancelled, "modification",
			 !v->cancelled, "holder", "name", name, "surname", surname, "hotel",
			 hotel_json, "totalNet", amount_number(&v->total), "pendingAmount",
			 amount_number(&pending), "currency", v->total.currency);
}

/* Answers {"booking":{...}} for a simulator booking by reference. */
static void answer_booking(struct sandbox *sb, struct http_response *resp, const char *reference,
			   bool by_client_reference, const struct hbk_money *penalty)
{
	struct hbk_error err = {0};
	json_t *port = NULL;
	struct view v;
	if (hbk_partner_sim_booking(&sb->partner, reference, by_client_reference, &port, &err) !=
		HBK_OK ||
	    view_read(port, &v, &err) != HBK_OK) {
		json_decref(port);
		answer_failure(resp, &err);
		return;
	}
	sandbox_json(
	    resp, 200,
	    json_pack("{s:o}", "booking",
		      booking_protocol(sb, &v, v.cancelled && !penalty ? &v.penalty : penalty)));
	json_decref(port);
}

/* ------------------------------------------------------------------------
 * POST /hotels: availability.
 */

struct occupancy {
	int rooms, adults, children;
};

static bool read_occupancy(const json_t *body, struct occupancy *occ)
{
	const json_t *list = json_object_get(body, "occupancies");
	size_t i;
	const json_t *o;
	memset(occ, 0, sizeof(*occ));
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > PARTNER_OCCUPANCY_MAX)
		return false;
	json_array_foreach(list, i, o)
	{
		long long rooms = hbk_partner_json_int(o, "rooms", 1);
		long long adults = hbk_partner_json_int(o, "adults", 0);
		long long children = hbk_partner_json_int(o, "children", 0);
		/* Out of range counts are refused here, before any sum can overflow;
		 * the stay check gives the finer limits. */
		if (rooms < 0 || rooms > HBK_MAX_GUESTS || adults < 0 || adults > HBK_MAX_GUESTS ||
		    children < 0 || children > HBK_MAX_GUESTS)
			return false;
		occ->rooms += (int)rooms;
		occ->adults += (int)adults;
		occ->children += (int)children;
	}
	return true;
}

/*
 * The "boards" and "rooms" filters of an availability request:
 * {"included": true, "board": ["RO", "BB"]} keeps only those codes, with
 * "included": false it leaves them out. "included" may be written as a
 * string, as the API's own examples do.
 */
struct code_filter {
	bool given;
	bool included;
	int ncodes;
	char codes[PARTNER_FILTER_CODES_MAX][PARTNER_FILTER_CODE_MAX];
};

/* Reads body[name][member] into f; false when it is malformed. */
static bool code_filter_read(const json_t *body, const char *name, const char *member,
			     struct code_filter *f)
{
	const json_t *filter = json_object_get(body, name);
	memset(f, 0, sizeof(*f));
	if (filter == NULL)
		return true;
	const json_t *included = json_object_get(filter, "included");
	const json_t *codes = json_object_get(filter, member);
	if (!json_is_object(filter) || !json_is_array(codes) ||
	    json_array_size(codes) > PARTNER_FILTER_CODES_MAX)
		return false;
	f->given = true;
	f->included = true;
	if (json_is_boolean(included))
		f->included = json_is_true(included);
	else if (json_is_string(included))
		f->included = strcmp(json_string_value(included), "false") != 0;
	else if (included != NULL)
		return false;
	size_t i;
	const json_t *code;
	json_array_foreach(codes, i, code)
	{
		if (!json_is_string(code) ||
		    !hbk_copy(f->codes[f->ncodes], sizeof(f->codes[0]), json_string_value(code)))
			return false;
		f->ncodes++;
	}
	return true;
}

static bool code_filter_keeps(const struct code_filter *f, const char *code)
{
	if (!f->given)
		return true;
	bool listed = false;
	for (int i = 0; i < f->ncodes && !listed; i++)
		listed = strcmp(f->codes[i], code) == 0;
	return listed == f->included;
}

/* What an availability request asks for besides the stay. */
struct availability_filter {
	struct code_filter boards, rooms;
};

/* A stay priced on its own or by the search: a rate of the answer. */
struct priced {
	struct hbk_stay stay;
	struct hbk_quote quote; /* quote.hotel and quote.room_name filled */
};

/* The rates of an availability answer, in the order they are written. */
struct rates {
	struct priced *items;
	int count, cap;
};

static struct priced *rates_add(struct rates *rates)
{
	if (rates->count == rates->cap) {
		rates->cap = rates->cap ? 2 * rates->cap : 16;
		rates->items =
		    hbk_xrealloc(rates->items, (size_t)rates->cap * sizeof(*rates->items));
	}
	struct priced *p = &rates->items[rates->count++];
	memset(p, 0, sizeof(*p));
	return p;
}

/* Whether item i is the first of the rates with its hotel (and, when
 * room, with its room too). */
static bool first_of(const struct rates *rates, int i, bool room)
{
	const struct priced *p = &rates->items[i];
	for (int k = 0; k < i; k++) {
		const struct priced *q = &rates->items[k];
		if (q->quote.hotel.code == p->quote.hotel.code &&
		    (!room || strcmp(q->stay.room_type, p->stay.room_type) == 0))
			return false;
	}
	return true;
}

/* The rates of one room of a hotel, from its first. */
static void put_room(struct hbk_buf *out, const struct rates *rates, int first)
{
	const struct priced *room = &rates->items[first];
	hbk_buf_putc(out, '{');
	put_string(out, "code", room->stay.room_type);
	hbk_buf_putc(out, ',');
	put_string(out, "name", room->quote.room_name);
	hbk_buf_puts(out, ",\"rates\":[");
	for (int i = first; i < rates->count; i++) {
		const struct priced *p = &rates->items[i];
		if (p->quote.hotel.code != room->quote.hotel.code ||
		    strcmp(p->stay.room_type, room->stay.room_type) != 0)
			continue;
		if (i != first)
			hbk_buf_putc(out, ',');
		put_rate(out, &p->stay, &p->quote, false);
	}
	hbk_buf_puts(out, "]}");
}

/*
 * One hotel of the answer, from its first rate: its rates grouped by room,
 * rooms in the order of their first rate (offers come sorted by price),
 * minRate and maxRate as decimal strings, like net.
 */
static void put_hotel(struct hbk_buf *out, const struct rates *rates, int first)
{
	const struct hbk_hotel *h = &rates->items[first].quote.hotel;
	struct hbk_money min = rates->items[first].quote.total, max = min;
	for (int i = first; i < rates->count; i++) {
		const struct hbk_money *total = &rates->items[i].quote.total;
		if (rates->items[i].quote.hotel.code != h->code)
			continue;
		min = total->minor < min.minor ? *total : min;
		max = total->minor > max.minor ? *total : max;
	}
	hbk_buf_putc(out, '{');
	put_hotel_head(out, h);
	hbk_buf_putc(out, ',');
	put_string(out, "currency", h->currency);
	hbk_buf_putc(out, ',');
	put_amount(out, "minRate", &min);
	hbk_buf_putc(out, ',');
	put_amount(out, "maxRate", &max);
	hbk_buf_puts(out, ",\"rooms\":[");
	bool written = false;
	for (int r = first; r < rates->count; r++) {
		if (rates->items[r].quote.hotel.code != h->code || !first_of(rates, r, true))
			continue;
		if (written)
			hbk_buf_putc(out, ',');
		written = true;
		put_room(out, rates, r);
	}
	hbk_buf_puts(out, "]}");
}

/* The answer of POST /hotels for the rates gathered, hotels in the order
 * of their first rate. */
static void put_availability(struct hbk_buf *out, const struct hbk_search_query *q,
			     const struct rates *rates)
{
	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR];
	hbk_date_format(q->checkin, checkin);
	hbk_date_format(q->checkout, checkout);
	int hotels = 0;
	for (int i = 0; i < rates->count; i++)
		hotels += first_of(rates, i, false);
	hbk_buf_puts(out, "{\"hotels\":{");
	put_string(out, "checkIn", checkin);
	hbk_buf_putc(out, ',');
	put_string(out, "checkOut", checkout);
	hbk_buf_putc(out, ',');
	put_int(out, "total", hotels);
	hbk_buf_puts(out, ",\"hotels\":[");
	bool written = false;
	for (int i = 0; i < rates->count; i++) {
		if (!first_of(rates, i, false))
			continue;
		if (written)
			hbk_buf_putc(out, ',');
		written = true;
		put_hotel(out, rates, i);
	}
	hbk_buf_puts(out, "]}}");
}

/* Adds the catalog's offers for one hotel or one city to rates. */
static hbk_result add_offers(struct sandbox *sb, const struct hbk_search_query *query,
			     const struct availability_filter *filter, struct rates *rates,
			     struct hbk_error *err)
{
	json_t *doc = NULL;
	hbk_result rc = hbk_search(sb->store, query, hbk_now_ms(), &doc, err);
	if (rc != HBK_OK)
		return rc;
	size_t i;
	const json_t *offer;
	/* A hotel's record is read again only when the next offer names another:
	 * a booking asks for one hotel, whose offers all name it. */
	struct hbk_hotel h;
	bool have_hotel = false;
	json_array_foreach(json_object_get(doc, "offers"), i, offer)
	{
		struct hbk_stay stay;
		struct hbk_money total;
		if (hbk_offer_id_decode(hbk_json_str(offer, "offer_id", ""), &stay, &total, err) !=
			HBK_OK ||
		    !code_filter_keeps(&filter->boards, stay.board) ||
		    !code_filter_keeps(&filter->rooms, stay.room_type))
			continue;
		if (!have_hotel || strcmp(h.id, stay.hotel_id) != 0) {
			have_hotel = hbk_hotel_get(sb->store, stay.hotel_id, &h, err) == HBK_OK;
			if (!have_hotel)
				continue;
		}
		struct priced *p = rates_add(rates);
		p->stay = stay;
		p->quote.hotel = h;
		p->quote.total = total;
		p->quote.available = (int)hbk_json_int(offer, "available", 0);
		hbk_copy(p->quote.board_name, sizeof(p->quote.board_name),
			 hbk_json_str(offer, "board_name", ""));
		hbk_copy(p->quote.room_name, sizeof(p->quote.room_name),
			 hbk_json_str(offer, "room_name", ""));
		hbk_policy_from_json(json_object_get(offer, "cancellation_policy"), total.currency,
				     &p->quote.policy, err);
	}
	json_decref(doc);
	return HBK_OK;
}

/* The order of hbk_search's offers within one hotel: price, room code,
 * board code, the refundable rate first. */
static int priced_cmp(const void *a, const void *b)
{
	const struct priced *x = a, *y = b;
	int by;
	if (x->quote.total.minor != y->quote.total.minor)
		return x->quote.total.minor < y->quote.total.minor ? -1 : 1;
	if ((by = strcmp(x->stay.room_type, y->stay.room_type)))
		return by;
	if ((by = strcmp(x->stay.board, y->stay.board)))
		return by;
	return (int)y->stay.refundable - (int)x->stay.refundable;
}

/*
 * Prices p->stay on the catalog: *sold says whether the search would
 * offer it (the quote refuses what the search leaves out: too many
 * guests, a rate or board not sold, a closed or unsold night; the search
 * also wants the rooms free).
 */
static hbk_result quote_rate(struct sandbox *sb, int64_t now_ms, struct priced *p, bool *sold,
			     struct hbk_error *err)
{
	struct hbk_error refused = {0};
	hbk_result rc = hbk_quote_stay(sb->store, &p->stay, now_ms, &p->quote, &refused);
	*sold = rc == HBK_OK && p->quote.available >= p->stay.rooms;
	if (rc == HBK_OK || rc == HBK_EINVAL || rc == HBK_ECONFLICT)
		return HBK_OK;
	return hbk_fail(err, rc, refused.code, "%s", refused.message);
}

/*
 * The rates of one hotel for the boards a request includes, each stay
 * quoted on its own instead of searching the hotel: a booking asks for one
 * board, and a search builds, and add_offers() parses, every offer of the
 * hotel. The rates are those add_offers() adds, in its order. *quoted is
 * false, and nothing added, when the hotel has too many room types for
 * this path.
 */
static hbk_result add_quoted(struct sandbox *sb, const struct hbk_hotel *h,
			     const struct hbk_search_query *q,
			     const struct availability_filter *filter, struct rates *rates,
			     bool *quoted, struct hbk_error *err)
{
	char rooms[PARTNER_ROOM_TYPES_MAX][HBK_ROOM_CODE_MAX];
	int nrooms = 0;
	const struct code_filter *boards = &filter->boards;
	HBK_ASSERT(boards->given && boards->included);
	*quoted = false;
	hbk_result rc =
	    hbk_hotel_room_types(sb->store, h->id, rooms, PARTNER_ROOM_TYPES_MAX, &nrooms, err);
	if (rc != HBK_OK || nrooms > PARTNER_ROOM_TYPES_MAX)
		return rc;
	*quoted = true;
	/* Every room, board and rate class: a board named twice is one. */
	int first = rates->count;
	int64_t now_ms = hbk_now_ms();
	for (int i = 0; i < nrooms * boards->ncodes * 2 && rc == HBK_OK; i++) {
		const char *room = rooms[i / (boards->ncodes * 2)];
		int board = i / 2 % boards->ncodes;
		bool repeated = false;
		for (int k = 0; k < board; k++)
			repeated = repeated || strcmp(boards->codes[k], boards->codes[board]) == 0;
		if (repeated || !code_filter_keeps(&filter->rooms, room))
			continue;
		struct priced *p = rates_add(rates);
		p->stay = (struct hbk_stay){.refundable = i % 2 == 0,
					    .checkin = q->checkin,
					    .checkout = q->checkout,
					    .adults = q->adults,
					    .children = q->children,
					    .rooms = q->rooms};
		bool sold = false;
		if (hbk_copy(p->stay.board, sizeof(p->stay.board), boards->codes[board])) {
			hbk_copy(p->stay.hotel_id, sizeof(p->stay.hotel_id), h->id);
			hbk_copy(p->stay.room_type, sizeof(p->stay.room_type), room);
			rc = quote_rate(sb, now_ms, p, &sold, err);
		}
		if (!sold)
			rates->count--;
	}
	qsort(rates->items + first, (size_t)(rates->count - first), sizeof(*rates->items),
	      priced_cmp);
	return rc;
}

static void handle_availability(struct sandbox *sb, struct http_exchange *ex, const json_t *body)
{
	struct hbk_search_query q;
	struct occupancy occ;
	struct hbk_error err = {0};
	memset(&q, 0, sizeof(q));
	const json_t *stay = json_object_get(body, "stay");
	if (!hbk_date_parse(hbk_json_str(stay, "checkIn", ""), &q.checkin) ||
	    !hbk_date_parse(hbk_json_str(stay, "checkOut", ""), &q.checkout) ||
	    !read_occupancy(body, &occ)) {
		partner_error(
		    &ex->resp, 400, "INVALID_REQUEST",
		    "stay.checkIn, stay.checkOut (YYYY-MM-DD) and occupancies are required");
		return;
	}
	q.rooms = occ.rooms;
	q.adults = occ.adults;
	q.children = occ.children;
	struct availability_filter filter;
	if (!code_filter_read(body, "boards", "board", &filter.boards) ||
	    !code_filter_read(body, "rooms", "room", &filter.rooms)) {
		partner_error(&ex->resp, 400, "INVALID_REQUEST",
			      "boards and rooms filters are {\"included\": true|false, "
			      "\"board\"|\"room\": [codes]}, at most 16 codes");
		return;
	}
	q.sort = HBK_SORT_PRICE;
	q.limit = PARTNER_OFFERS_MAX;
	hbk_copy(q.city, sizeof(q.city), "LIS"); /* replaced below; passes the query check */
	if (hbk_search_query_check(&q, hbk_date_today(), &err) != HBK_OK) {
		partner_error(&ex->resp, 400, "INVALID_DATA", err.message);
		return;
	}
	struct rates rates = {0};
	const json_t *codes = json_object_get(json_object_get(body, "hotels"), "hotel");
	const char *destination = hbk_json_str(json_object_get(body, "destination"), "code", NULL);
	hbk_result rc = HBK_OK;
	if (json_is_array(codes)) {
		size_t i;
		const json_t *code;
		json_array_foreach(codes, i, code)
		{
			struct hbk_hotel h;
			long long n = json_is_integer(code) ? json_integer_value(code) : -1;
			if (json_is_string(code) &&
			    !hbk_parse_int(json_string_value(code), 0, 1000000000, &n))
				n = -1;
			if (n < 0 || hbk_hotel_get_by_code(sb->store, (int)n, &h, &err) != HBK_OK)
				continue; /* unknown codes are simply not available */
			q.city[0] = '\0';
			hbk_copy(q.hotel_id, sizeof(q.hotel_id), h.id);
			bool quoted = false;
			if (filter.boards.given && filter.boards.included)
				rc = add_quoted(sb, &h, &q, &filter, &rates, &quoted, &err);
			if (rc == HBK_OK && !quoted)
				rc = add_offers(sb, &q, &filter, &rates, &err);
			if (rc != HBK_OK)
				break;
		}
	} else if (destination && strlen(destination) < sizeof(q.city)) {
		hbk_copy(q.city, sizeof(q.city), destination);
		if (hbk_city_exists(sb->store, q.city))
			rc = add_offers(sb, &q, &filter, &rates, &err);
	} else {
		partner_error(&ex->resp, 400, "INVALID_REQUEST",
			      "one of hotels.hotel or destination.code is required");
		return;
	}
	if (rc != HBK_OK) {
		answer_failure(&ex->resp, &err);
	} else {
		answer_text(&ex->resp);
		put_availability(&ex->resp.body, &q, &rates);
	}
	free(rates.items);
}

/* ------------------------------------------------------------------------
 * POST /checkrates and POST /bookings: a rate key priced again.
 */

/* Decodes a rateKey and prices it on the catalog now. */
static hbk_result price_rate_key(struct sandbox *sb, const char *rate_key, struct hbk_stay *stay,
				 struct hbk_quote *quote, struct hbk_error *err)
{
	struct hbk_money total;
	hbk_result rc = hbk_offer_id_decode(rate_key ? rate_key : "", stay, &total, err);
	if (rc != HBK_OK)
		return hbk_fail(err, HBK_EINVAL, "invalid_rate_key", "rateKey is not valid");
	rc = hbk_quote_stay(sb->store, stay, hbk_now_ms(), quote, err);
	if (rc == HBK_OK && quote->available < stay->rooms)
		rc = hbk_fail(err, HBK_ECONFLICT, "no_availability",
			      "insufficient allotment for this rate");
	return rc;
}

static void handle_checkrates(struct sandbox *sb, struct http_exchange *ex, const json_t *body)
{
	const json_t *room = json_array_get(json_object_get(body, "rooms"), 0);
	struct hbk_stay stay;
	struct hbk_quote quote;
	struct hbk_error err = {0};
	if (price_rate_key(sb, hbk_json_str(room, "rateKey", NULL), &stay, &quote, &err) !=
	    HBK_OK) {
		answer_failure(&ex->resp, &err);
		return;
	}
	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR];
	hbk_date_format(stay.checkin, checkin);
	hbk_date_format(stay.checkout, checkout);
	struct hbk_buf *out = &ex->resp.body;
	answer_text(&ex->resp);
	hbk_buf_puts(out, "{\"hotel\":{");
	put_string(out, "checkIn", checkin);
	hbk_buf_putc(out, ',');
	put_string(out, "checkOut", checkout);
	hbk_buf_putc(out, ',');
	put_hotel_head(out, &quote.hotel);
	hbk_buf_puts(out, ",\"rooms\":[{");
	put_string(out, "code", stay.room_type);
	hbk_buf_putc(out, ',');
	put_string(out, "name", quote.room_name);
	hbk_buf_puts(out, ",\"rates\":[");
	put_rate(out, &stay, &quote, true);
	hbk_buf_puts(out, "]}],");
	put_amount(out, "totalNet", &quote.total);
	hbk_buf_putc(out, ',');
	put_string(out, "currency", quote.total.currency);
	hbk_buf_puts(out, "}}");
}

static void handle_create(struct sandbox *sb, struct http_exchange *ex, const json_t *body)
{
	const json_t *holder = json_object_get(body, "holder");
	const json_t *room = json_array_get(json_object_get(body, "rooms"), 0);
	const char *name = hbk_json_str(holder, "name", "");
	const char *surname = hbk_json_str(holder, "surname", "");
	const char *client_reference = hbk_json_str(body, "clientReference", "");
	struct hbk_partner_request req;
	struct hbk_quote quote;
	struct hbk_error err = {0};
	memset(&req, 0, sizeof(req));
	if (!name[0] || !surname[0] || !client_reference[0] || room == NULL) {
		partner_error(&ex->resp, 400, "INVALID_REQUEST",
			      "holder.name, holder.surname, rooms[].rateKey and clientReference "
			      "are required");
		return;
	}
	if (!hbk_copy(req.client_reference, sizeof(req.client_reference), client_reference)) {
		partner_error(&ex->resp, 400, "INVALID_REQUEST", "clientReference is too long");
		return;
	}
	snprintf(req.holder_name, sizeof(req.holder_name), "%.*s %.*s", hbk_utf8_cut(name, 60),
		 name, hbk_utf8_cut(surname, 60), surname);
	if (price_rate_key(sb, hbk_json_str(room, "rateKey", NULL), &req.stay, &quote, &err) !=
	    HBK_OK) {
		answer_failure(&ex->resp, &err);
		return;
	}
	req.total = quote.total;
	req.policy = quote.policy;
	struct hbk_partner_booking booked;
	if (sb->partner.ops->book(sb->partner.self, &req, &booked, &err) != HBK_OK) {
		if (strcmp(err.code, "duplicate_client_reference") == 0) {
			/* As some suppliers do: the client must look it up. */
			char message[HBK_ERROR_MESSAGE_MAX + 64];
			snprintf(message, sizeof(message),
				 "duplicate clientReference: %.*s is already booked",
				 hbk_utf8_cut(client_reference, 40), client_reference);
			partner_error(&ex->resp, 409, "INVALID_DATA", message);
			return;
		}
		answer_failure(&ex->resp, &err);
		return;
	}
	answer_booking(sb, &ex->resp, booked.reference, false, NULL);
}

/* ------------------------------------------------------------------------
 * GET /bookings: the list, filtered and paged.
 */

struct list_filter {
	hbk_date start, end;
	char filter_type[16];
	char status[16];
	char client_reference[HBK_ID_MAX];
	long long hotel_code;
	long long from, to;
};

static bool list_filter_read(const char *query, struct list_filter *f, const char **problem)
{
	char value[PARTNER_PARAM_MAX];
	memset(f, 0, sizeof(*f));
	f->hotel_code = -1;
	*problem = "start and end (YYYY-MM-DD) are required";
	if (!query_param(query, "start", value, sizeof(value)) ||
	    !hbk_date_parse(value, &f->start) || !query_param(query, "end", value, sizeof(value)) ||
	    !hbk_date_parse(value, &f->end))
		return false;
	hbk_copy(f->filter_type, sizeof(f->filter_type), "CHECKIN");
	if (query_param(query, "filterType", value, sizeof(value)))
		hbk_copy(f->filter_type, sizeof(f->filter_type), value);
	*problem = "filterType must be CHECKIN, CREATION or MODIFIED";
	if (strcmp(f->filter_type, "CHECKIN") != 0 && strcmp(f->filter_type, "CREATION") != 0 &&
	    strcmp(f->filter_type, "MODIFIED") != 0)
		return false;
	hbk_copy(f->status, sizeof(f->status), "ALL");
	if (query_param(query, "status", value, sizeof(value)))
		hbk_copy(f->status, sizeof(f->status), value);
	*problem = "status must be ALL, CONFIRMED or CANCELLED";
	if (strcmp(f->status, "ALL") != 0 && strcmp(f->status, "CONFIRMED") != 0 &&
	    strcmp(f->status, "CANCELLED") != 0)
		return false;
	f->from = 1;
	f->to = PARTNER_PAGE_DEFAULT;
	*problem = "from and to are a 1-based range of at most 100 records";
	if (query_param(query, "from", value, sizeof(value)) &&
	    !hbk_parse_int(value, 1, 1000000000, &f->from))
		return false;
	if (query_param(query, "to", value, sizeof(value)) &&
	    !hbk_parse_int(value, 1, 1000000000, &f->to))
		return false;
	if (f->to < f->from || f->to - f->from + 1 > PARTNER_PAGE_MAX)
		return false;
	*problem = "clientReference is too long";
	if (query_param(query, "clientReference", value, sizeof(value)) &&
	    !hbk_copy(f->client_reference, sizeof(f->client_reference), value))
		return false;
	*problem = "hotel must be a hotel code";
	if (query_param(query, "hotel", value, sizeof(value)) &&
	    !hbk_parse_int(value, 0, 1000000000, &f->hotel_code))
		return false;
	return true;
}

/* The date of an RFC 3339 time, or -1. */
static hbk_date date_of(const char *time)
{
	char day[HBK_DATE_STR];
	hbk_date date;
	snprintf(day, sizeof(day), "%.10s", time ? time : "");
	return hbk_date_parse(day, &date) ? date : -1;
}

static bool list_keeps(struct sandbox *sb, const struct list_filter *f, const json_t *b,
		       const struct view *v)
{
	hbk_date when = v->stay.checkin;
	if (strcmp(f->filter_type, "CREATION") == 0)
		when = date_of(hbk_json_str(b, "created_at", ""));
	else if (strcmp(f->filter_type, "MODIFIED") == 0)
		when = date_of(hbk_json_str(b, "updated_at", ""));
	if (when < f->start || when > f->end)
		return false;
	if (strcmp(f->status, "ALL") != 0 && strcmp(f->status, v->status) != 0)
		return false;
	if (f->client_reference[0] && strcmp(f->client_reference, v->client_reference) != 0)
		return false;
	if (f->hotel_code >= 0) {
		struct hbk_hotel h;
		if (hbk_hotel_get(sb->store, v->stay.hotel_id, &h, NULL) != HBK_OK ||
		    h.code != f->hotel_code)
			return false;
	}
	return true;
}

static void handle_list(struct sandbox *sb, struct http_exchange *ex)
{
	struct list_filter f;
	const char *problem = NULL;
	struct hbk_error err = {0};
	if (!list_filter_read(ex->req.query, &f, &problem)) {
		partner_error(&ex->resp, 400, "INVALID_REQUEST", problem);
		return;
	}
	json_t *all = NULL;
	if (sb->partner.ops->list(sb->partner.self, &all, &err) != HBK_OK) {
		answer_failure(&ex->resp, &err);
		return;
	}
	json_t *page = json_array();
	long long total = 0;
	size_t i;
	const json_t *b;
	json_array_foreach(all, i, b)
	{
		struct view v;
		if (view_read(b, &v, &err) != HBK_OK || !list_keeps(sb, &f, b, &v))
			continue;
		total++;
		if (total >= f.from && total <= f.to)
			json_array_append_new(page, booking_protocol(sb, &v, NULL));
	}
	json_decref(all);
	long long to = f.from + (long long)json_array_size(page) - 1;
	sandbox_json(&ex->resp, 200,
		     json_pack("{s:{s:I, s:I, s:I, s:o}}", "bookings", "from", (json_int_t)f.from,
			       "to", (json_int_t)(to < f.from ? f.from - 1 : to), "total",
			       (json_int_t)total, "bookings", page));
}

/* ------------------------------------------------------------------------
 * PUT and DELETE /bookings/{reference}.
 */

static void handle_modify(struct sandbox *sb, struct http_exchange *ex, const char *reference,
			  const json_t *body)
{
	const char *mode = hbk_json_str(body, "mode", "");
	const json_t *booking = json_object_get(body, "booking");
	const json_t *hotel = json_object_get(booking, "hotel");
	const json_t *room = json_array_get(json_object_get(hotel, "rooms"), 0);
	const json_t *rate = json_array_get(json_object_get(room, "rates"), 0);
	struct hbk_error err = {0};
	json_t *port = NULL;
	struct view v;
	bool simulate = strcmp(mode, "SIMULATION") == 0;
	if (!simulate && strcmp(mode, "UPDATE") != 0) {
		partner_error(&ex->resp, 400, "INVALID_REQUEST",
			      "mode must be SIMULATION or UPDATE");
		return;
	}
	if (hbk_partner_sim_booking(&sb->partner, reference, false, &port, &err) != HBK_OK ||
	    view_read(port, &v, &err) != HBK_OK) {
		json_decref(port);
		answer_failure(&ex->resp, &err);
		return;
	}
	/* The changed stay: what the body says, the booking's values else. */
	struct hbk_partner_request req;
	memset(&req, 0, sizeof(req));
	req.stay = v.stay;
	const char *text = hbk_json_str(hotel, "checkIn", NULL);
	if (text && !hbk_date_parse(text, &req.stay.checkin))
		goto bad;
	text = hbk_json_str(hotel, "checkOut", NULL);
	if (text && !hbk_date_parse(text, &req.stay.checkout))
		goto bad;
	text = hbk_json_str(room, "code", NULL);
	if (text && !hbk_copy(req.stay.room_type, sizeof(req.stay.room_type), text))
		goto bad;
	text = hbk_json_str(rate, "boardCode", NULL);
	if (text && !hbk_copy(req.stay.board, sizeof(req.stay.board), text))
		goto bad;
	text = hbk_json_str(rate, "rateClass", NULL);
	if (text)
		req.stay.refundable = strcmp(text, "NRF") != 0;
	req.stay.rooms = (int)hbk_partner_json_int(rate, "rooms", req.stay.rooms);
	req.stay.adults = (int)hbk_partner_json_int(rate, "adults", req.stay.adults);
	req.stay.children = (int)hbk_partner_json_int(rate, "children", req.stay.children);
	const json_t *holder = json_object_get(booking, "holder");
	const char *name = hbk_json_str(holder, "name", "");
	const char *surname = hbk_json_str(holder, "surname", "");
	if (holder)
		snprintf(req.holder_name, sizeof(req.holder_name), "%.*s %.*s",
			 hbk_utf8_cut(name, 60), name, hbk_utf8_cut(surname, 60), surname);
	struct hbk_quote quote;
	hbk_result rc = hbk_quote_stay(sb->store, &req.stay, hbk_now_ms(), &quote, &err);
	if (rc == HBK_OK) {
		req.total = quote.total;
		req.policy = quote.policy;
		struct hbk_partner_booking changed;
		rc = sb->partner.ops->modify(sb->partner.self, reference, &req, simulate, &changed,
					     &err);
	}
	if (rc != HBK_OK) {
		json_decref(port);
		answer_failure(&ex->resp, &err);
		return;
	}
	if (simulate) {
		/* Nothing was written: show the booking as it would become. */
		v.stay = req.stay;
		v.total = req.total;
		v.policy = req.policy;
		sandbox_json(&ex->resp, 200,
			     json_pack("{s:o}", "booking", booking_protocol(sb, &v, NULL)));
	} else {
		answer_booking(sb, &ex->resp, reference, false, NULL);
	}
	json_decref(port);
	return;
bad:
	json_decref(port);
	partner_error(&ex->resp, 400, "INVALID_REQUEST",
		      "booking.hotel has a malformed date, room code or board code");
}

static void handle_cancel(struct sandbox *sb, struct http_exchange *ex, const char *reference)
{
	char flag[PARTNER_PARAM_MAX] = "CANCELLATION";
	struct hbk_error err = {0};
	struct hbk_money penalty;
	query_param(ex->req.query, "cancellationFlag", flag, sizeof(flag));
	bool simulate = strcmp(flag, "SIMULATION") == 0;
	if (!simulate && strcmp(flag, "CANCELLATION") != 0) {
		partner_error(&ex->resp, 400, "INVALID_REQUEST",
			      "cancellationFlag must be SIMULATION or CANCELLATION");
		return;
	}
	if (sb->partner.ops->cancel(sb->partner.self, reference, simulate, hbk_now_ms(), &penalty,
				    &err) != HBK_OK) {
		answer_failure(&ex->resp, &err);
		return;
	}
	answer_booking(sb, &ex->resp, reference, false, &penalty);
}

/* ------------------------------------------------------------------------
 * The area.
 */

/* Api-key and X-Signature, checked before anything else. */
static bool authenticated(const struct sandbox *sb, const struct http_request *req)
{
	const char *key = http_header(req, "Api-key");
	const char *signature = http_header(req, "X-Signature");
	const char *want = sb->partner_key ? sb->partner_key : "sandbox-key";
	const char *secret = sb->partner_secret ? sb->partner_secret : "sandbox-secret";
	if (key == NULL || signature == NULL || strcmp(key, want) != 0)
		return false;
	return hbk_partner_signature_ok(want, secret, signature, hbk_now_ms() / 1000);
}

static void partner_handle(struct sandbox *sb, struct http_exchange *ex, const char *endpoint)
{
	const struct http_request *req = &ex->req;
	if (!authenticated(sb, req)) {
		partner_error(&ex->resp, 401, "AUTHENTICATION_FAILED",
			      "missing or wrong Api-key or X-Signature");
		return;
	}
	if (endpoint == NULL) {
		partner_error(&ex->resp, 404, "NOT_FOUND", "no such operation");
		return;
	}
	const char *reference = req->path + strlen(PARTNER_PREFIX "bookings/");
	if (strcmp(endpoint, "partner.bookings.list") == 0) {
		handle_list(sb, ex);
		return;
	}
	if (strcmp(endpoint, "partner.bookings.get") == 0) {
		answer_booking(sb, &ex->resp, reference, false, NULL);
		return;
	}
	if (strcmp(endpoint, "partner.bookings.cancel") == 0) {
		handle_cancel(sb, ex, reference);
		return;
	}
	json_t *body = hbk_json_loadb(req->body ? req->body : "", req->body_len, 0, NULL);
	if (!json_is_object(body)) {
		json_decref(body);
		partner_error(&ex->resp, 400, "INVALID_REQUEST", "the body must be a JSON object");
		return;
	}
	if (strcmp(endpoint, "partner.availability") == 0)
		handle_availability(sb, ex, body);
	else if (strcmp(endpoint, "partner.checkrates") == 0)
		handle_checkrates(sb, ex, body);
	else if (strcmp(endpoint, "partner.bookings.create") == 0)
		handle_create(sb, ex, body);
	else if (strcmp(endpoint, "partner.bookings.modify") == 0)
		handle_modify(sb, ex, reference, body);
	else
		partner_error(&ex->resp, 404, "NOT_FOUND", "no such operation");
	json_decref(body);
}

/* GET /__sandbox/state: the partner's bookings. */
static json_t *partner_state(struct sandbox *sb)
{
	json_t *all = NULL, *out = json_array();
	struct hbk_error err = {0};
	if (sb->partner.ops->list(sb->partner.self, &all, &err) != HBK_OK)
		return json_pack("{s:o, s:s}", "bookings", out, "error", err.message);
	size_t i;
	const json_t *b;
	json_array_foreach(all, i, b)
	{
		struct hbk_hotel h;
		memset(&h, 0, sizeof(h));
		hbk_hotel_get(sb->store, hbk_json_str(b, "hotel_id", ""), &h, NULL);
		json_t *entry = json_pack(
		    "{s:s, s:s, s:s, s:{s:s, s:i}, s:s, s:s, s:O}", "reference",
		    hbk_json_str(b, "reference", ""), "clientReference",
		    hbk_json_str(b, "client_reference", ""), "status",
		    hbk_json_str(b, "status", ""), "hotel", "id", hbk_json_str(b, "hotel_id", ""),
		    "code", h.code, "checkIn", hbk_json_str(b, "checkin", ""), "checkOut",
		    hbk_json_str(b, "checkout", ""), "total", json_object_get(b, "total"));
		if (json_object_get(b, "penalty"))
			json_object_set(entry, "penalty", json_object_get(b, "penalty"));
		json_array_append_new(out, entry);
	}
	json_decref(all);
	return json_pack("{s:o}", "bookings", out);
}

const struct sandbox_area sandbox_partner_area = {
    .name = "partner",
    .prefix = PARTNER_PREFIX,
    .endpoint = partner_endpoint,
    .handle = partner_handle,
    .error = partner_error,
    .state = partner_state,
};
