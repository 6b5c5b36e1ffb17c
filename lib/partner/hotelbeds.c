/*
 * hotelbeds.c - the partner port over the Hotelbeds APItude Booking API
 * 1.0 (PROTOCOLS.md), through the upstream HTTP client (name "partner").
 *
 * A booking is three or four exchanges: availability for the stay's hotel
 * (our hotel id mapped to the partner's integer code through the store),
 * the rate that matches room, board, rate class and occupancy, checkrates
 * when that rate is RECHECK, then POST /bookings with clientReference = our
 * booking id. The API has no idempotency key, so a create that times out or
 * fails with a 5xx is looked up by clientReference before answering: found
 * is success, not found is HBK_EUNAVAILABLE (the saga retries the step,
 * which is then safe). A duplicate clientReference refusal is the same
 * lookup. Only reads (the GETs, availability and checkrates) are retried
 * here, a bounded number of times; a create never is.
 *
 * Every operation is one struct hb_op walking through stages; each stage
 * sends one request and its answer picks the next stage or the outcome.
 * The asynchronous calls run on the upstream attached to the caller's
 * event loop; the synchronous ops run on a second upstream that is never
 * attached, so they complete before returning even inside hbkd. Both share
 * the "partner" circuit breaker.
 *
 * Credentials travel only in the Api-key and X-Signature headers, which
 * the upstream never logs; no error message here quotes them.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/inventory.h"
#include "hbk/json.h"
#include "hbk/partner.h"
#include "hbk/store.h"
#include "hbk/upstream.h"

#define HB_API_PATH	       "/hotel-api/1.0"
#define HB_CREDENTIAL_MAX      256
#define HB_PATH_MAX	       1024
#define HB_READ_ATTEMPTS_MAX   3    /* a read is tried at most this many times */
#define HB_LOOKUP_WINDOW_MS    8000 /* ... the lookup of a create left unknown: for this long */
#define HB_READ_BACKOFF_MS     200  /* doubled after each failed attempt ... */
#define HB_READ_BACKOFF_MS_MAX 1000 /* ... up to this */
#define HB_RETRY_AFTER_MS_MAX  2000 /* a longer Retry-After goes back to the caller */
#define HB_LIST_PAGE	       100  /* bookings per page of GET /bookings */
#define HB_LIST_PAGES_MAX      1000
#define HB_LOOKUP_DAYS	       400	    /* creation window searched by clientReference */
#define HB_PARTNER_MESSAGE_MAX 200	    /* of the partner's own error text we quote */
#define HB_JSON_INT_MAX	       1000000000LL /* integers read from the partner */
#define HB_CHILD_AGE	       8	    /* the port carries no ages: a school-age child */

struct hotelbeds {
	struct hbk_store *store;      /* borrowed: hotel id <-> partner code */
	struct hbk_upstream *up;      /* attachable: the saga's asynchronous calls */
	struct hbk_upstream *up_sync; /* never attached: the synchronous ops */
	char key[HB_CREDENTIAL_MAX];
	char secret[HB_CREDENTIAL_MAX];
	bool closing; /* being destroyed: calls still in flight end, start nothing */
};

enum hb_kind { OP_BOOK, OP_FIND, OP_MODIFY, OP_CANCEL, OP_LIST, OP_AVAILABILITY };

enum hb_stage {
	ST_AVAILABILITY, /* POST /hotels */
	ST_CHECKRATE,	 /* POST /checkrates */
	ST_CREATE,	 /* POST /bookings */
	ST_LOOKUP,	 /* GET /bookings?clientReference= after a lost or duplicate create */
	ST_FIND,	 /* GET /bookings?clientReference= */
	ST_SIMULATE,	 /* PUT /bookings/{ref} mode SIMULATION */
	ST_UPDATE,	 /* PUT /bookings/{ref} mode UPDATE */
	ST_CANCEL_PREVIEW, /* DELETE /bookings/{ref}?cancellationFlag=SIMULATION first */
	ST_CANCEL,	 /* DELETE /bookings/{ref} */
	ST_CANCEL_CHECK, /* GET /bookings/{ref} after a refused cancel */
	ST_LIST,	 /* GET /bookings, page by page */
};

struct hb_op {
	struct hotelbeds *hb;
	struct hbk_upstream *up;
	struct hbk_upstream_call uc;
	struct hbk_call *call; /* the caller's, finished once */
	enum hb_kind kind;
	enum hb_stage stage;
	int attempts; /* of the current read */
	int64_t stage_started_ms;
	char method[8];
	char path[HB_PATH_MAX];
	char *body; /* the current request body (owned) */

	struct hbk_partner_request req;
	struct hbk_partner_booking *out;
	struct hbk_money *penalty;
	json_t **json_out;
	json_t *list; /* OP_LIST: bookings gathered so far */
	int list_from;
	int pages;
	char reference[HBK_PARTNER_REF_MAX];
	char client_reference[HBK_ID_MAX];
	bool simulate;
	struct hbk_money preview; /* the penalty the SIMULATION announced */
	int hotel_code;
	struct hbk_partner_rate rate;
	struct hbk_partner_availability query;
	struct hbk_error create_err; /* why a create is being looked up */
};

static void op_send(struct hb_op *op);

/* ------------------------------------------------------------------------
 * Protocol helpers (public: the sandbox server and the tests use them).
 */

void hbk_partner_signature(const char *key, const char *secret, long long unix_s, char hex[65])
{
	struct hbk_buf text;
	hbk_buf_init(&text, 4 * HB_CREDENTIAL_MAX);
	hbk_buf_printf(&text, "%s%s%lld", key, secret, unix_s);
	HBK_ASSERT(!text.overflow);
	hbk_sha256_hex(text.data, text.len, hex);
	OPENSSL_cleanse(text.data, text.len);
	hbk_buf_free(&text);
}

bool hbk_partner_signature_ok(const char *key, const char *secret, const char *signature,
			      long long now_s)
{
	if (signature == NULL || strlen(signature) != 64)
		return false;
	char lower[65];
	for (int i = 0; i < 64; i++)
		lower[i] = (char)tolower((unsigned char)signature[i]);
	lower[64] = '\0';
	/* Nearest second first: a client with a sane clock costs one hash. The
	 * comparison is constant-time; how far it searched tells only the
	 * client's clock skew, which is no secret. */
	for (long long d = 0; d <= HBK_PARTNER_SIGNATURE_SKEW_S; d++) {
		for (int sign = 0; sign < (d ? 2 : 1); sign++) {
			char hex[65];
			hbk_partner_signature(key, secret, sign ? now_s + d : now_s - d, hex);
			if (CRYPTO_memcmp(hex, lower, 64) == 0)
				return true;
		}
	}
	return false;
}

long long hbk_partner_json_int(const json_t *obj, const char *key, long long def)
{
	const json_t *v = json_object_get(obj, key);
	long long n;
	/* Within int either way, so callers may narrow the result. */
	if (json_is_integer(v) && json_integer_value(v) >= -HB_JSON_INT_MAX &&
	    json_integer_value(v) <= HB_JSON_INT_MAX)
		return json_integer_value(v);
	if (json_is_string(v) &&
	    hbk_parse_int(json_string_value(v), -HB_JSON_INT_MAX, HB_JSON_INT_MAX, &n))
		return n;
	return def;
}

hbk_result hbk_partner_json_money(const json_t *obj, const char *key, const char *currency,
				  struct hbk_money *out, struct hbk_error *err)
{
	const json_t *v = json_object_get(obj, key);
	char text[64];
	int exponent = hbk_currency_exponent(currency);
	if (exponent < 0)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_currency", key,
				      "partner answered an unknown currency '%.*s'",
				      hbk_utf8_cut(currency, 8), currency);
	if (json_is_string(v))
		return hbk_money_parse(json_string_value(v), currency, out, err);
	if (json_is_integer(v)) {
		hbk_format(text, sizeof(text), "%lld", (long long)json_integer_value(v));
		return hbk_money_parse(text, currency, out, err);
	}
	if (json_is_real(v)) {
		/* A JSON number: round to the currency's decimals, then parse the
		 * text, so the amount is exact minor units from here on. */
		snprintf(text, sizeof(text), "%.*f", exponent, json_real_value(v));
		return hbk_money_parse(text, currency, out, err);
	}
	return hbk_fail_field(err, HBK_EINVAL, "invalid_field", key,
			      "partner answer lacks %s (a decimal amount)", key);
}

/* Room codes may carry a characteristic ("DBL.ST"): compare the type. */
static bool room_matches(const char *partner_code, const char *room_type)
{
	size_t len = strcspn(partner_code, ".");
	return len == strlen(room_type) && strncmp(partner_code, room_type, len) == 0;
}

/* Whether a rate's occupancy is the stay's; absent fields do not disagree. */
static bool occupancy_matches(const json_t *rate, const struct hbk_stay *stay)
{
	return hbk_partner_json_int(rate, "rooms", stay->rooms) == stay->rooms &&
	       hbk_partner_json_int(rate, "adults", stay->adults) == stay->adults &&
	       hbk_partner_json_int(rate, "children", stay->children) == stay->children;
}

/* The hotels array of an availability answer, at either level. */
static const json_t *hotels_array(const json_t *availability)
{
	const json_t *hotels = json_object_get(availability, "hotels");
	if (json_is_object(hotels))
		hotels = json_object_get(hotels, "hotels");
	return json_is_array(hotels) ? hotels : NULL;
}

hbk_result hbk_partner_pick_rate(const json_t *availability, int hotel_code,
				 const struct hbk_stay *stay, struct hbk_partner_rate *out,
				 struct hbk_error *err)
{
	HBK_ASSERT(stay != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	const char *rate_class = stay->refundable ? "NOR" : "NRF";
	const json_t *hotels = hotels_array(availability);
	size_t i, j, k;
	const json_t *hotel, *room, *rate;

	json_array_foreach(hotels, i, hotel)
	{
		if (hbk_partner_json_int(hotel, "code", -1) != hotel_code)
			continue;
		const char *currency = hbk_json_str(hotel, "currency", "");
		json_array_foreach(json_object_get(hotel, "rooms"), j, room)
		{
			if (!room_matches(hbk_json_str(room, "code", ""), stay->room_type))
				continue;
			json_array_foreach(json_object_get(room, "rates"), k, rate)
			{
				if (strcmp(hbk_json_str(rate, "boardCode", ""), stay->board) != 0 ||
				    strcmp(hbk_json_str(rate, "rateClass", ""), rate_class) != 0 ||
				    !occupancy_matches(rate, stay))
					continue;
				const char *key = hbk_json_str(rate, "rateKey", "");
				if (key[0] == '\0' ||
				    !hbk_copy(out->rate_key, sizeof(out->rate_key), key))
					return hbk_fail(err, HBK_EDECLINED, "partner_rejected",
							"partner answered a missing or overlong "
							"rateKey");
				out->recheck = strcmp(hbk_json_str(rate, "rateType", "BOOKABLE"),
						      "RECHECK") == 0;
				out->allotment = (int)hbk_partner_json_int(rate, "allotment", 1);
				hbk_result rc =
				    hbk_partner_json_money(rate, "net", currency, &out->net, err);
				if (rc != HBK_OK)
					return hbk_fail(err, HBK_EDECLINED, "partner_rejected",
							"partner answered a rate without a "
							"valid net amount");
				if (out->allotment < stay->rooms)
					break; /* this room is sold out; no other rate helps */
				return HBK_OK;
			}
		}
	}
	return hbk_fail(err, HBK_ECONFLICT, "no_availability",
			"partner has no %s %s %s rate for %d room(s) at hotel %s on these dates",
			stay->room_type, stay->board, rate_class, stay->rooms, stay->hotel_id);
}

/* ------------------------------------------------------------------------
 * Answers to results.
 */

/* The partner's own error text, shortened: {"error":{"code","message"}}. */
static void partner_says(const struct hbk_upstream_response *resp, char *out, size_t size)
{
	out[0] = '\0';
	json_t *doc =
	    hbk_json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL);
	const json_t *error = json_object_get(doc, "error");
	const char *code = hbk_json_str(error, "code", NULL);
	const char *message = hbk_json_str(error, "message", NULL);
	if (code || message)
		snprintf(out, size, "%.*s%s%.*s", hbk_utf8_cut(code ? code : "", 32),
			 code ? code : "", code && message ? ": " : "",
			 hbk_utf8_cut(message ? message : "", HB_PARTNER_MESSAGE_MAX),
			 message ? message : "");
	json_decref(doc);
}

/* True when the partner refused a create because the clientReference is
 * already booked (a 400 or 409 that says so). */
static bool duplicate_refusal(const struct hbk_upstream_response *resp)
{
	if (resp->status != 400 && resp->status != 409)
		return false;
	char said[HB_PARTNER_MESSAGE_MAX + 64];
	partner_says(resp, said, sizeof(said));
	for (char *p = said; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return strstr(said, "duplicate") != NULL ||
	       (strstr(said, "clientreference") != NULL && strstr(said, "already") != NULL);
}

/* A 2xx answer. */
static bool answered_ok(const struct hbk_upstream_call *uc)
{
	return uc->rc == HBK_OK && uc->resp.status >= 200 && uc->resp.status < 300;
}

/* Worth trying a read again: no answer, 429 or 5xx (never an open circuit). */
static bool transient(const struct hbk_upstream_call *uc)
{
	if (uc->rc != HBK_OK)
		return strcmp(uc->err.code, "circuit_open") != 0;
	return uc->resp.status == 429 || uc->resp.status >= 500;
}

/*
 * Maps a failed exchange to a result: doing says what was attempted
 * ("the booking"). Never quotes the credentials: only the status and the
 * partner's own error code and message.
 */
static hbk_result exchange_failure(const struct hbk_upstream_call *uc, const char *doing,
				   int *retry_after_ms, struct hbk_error *err)
{
	char said[HB_PARTNER_MESSAGE_MAX + 64];
	long status = uc->resp.status;

	if (uc->rc != HBK_OK) {
		if (strcmp(uc->err.code, "circuit_open") == 0)
			return hbk_fail(err, HBK_EUNAVAILABLE, "circuit_open", "%s",
					uc->err.message);
		return hbk_fail(err, HBK_EUNAVAILABLE, "partner_unavailable",
				"partner unavailable during %s: %s", doing, uc->err.message);
	}
	if (status == 401 || status == 403)
		return hbk_fail(err, HBK_EAUTH, "partner_auth",
				"partner rejected the credentials (%ld): check partner.api_key and "
				"partner.secret",
				status);
	partner_says(&uc->resp, said, sizeof(said));
	if (status == 429 || status >= 500) {
		if (retry_after_ms && uc->resp.retry_after_ms > 0)
			*retry_after_ms = uc->resp.retry_after_ms;
		return hbk_fail(err, HBK_EUNAVAILABLE, "partner_unavailable",
				"partner unavailable during %s (%ld)%s%s", doing, status,
				said[0] ? ": " : "", said);
	}
	if (status >= 400)
		return hbk_fail(err, HBK_EDECLINED, "partner_rejected",
				"partner refused %s (%ld)%s%s", doing, status, said[0] ? ": " : "",
				said);
	return hbk_fail(err, HBK_EUNAVAILABLE, "partner_unavailable",
			"partner gave an unexpected answer to %s (%ld)", doing, status);
}

/* The answer's JSON document (new reference), or NULL with err filled. */
static json_t *answer_json(const struct hbk_upstream_call *uc, struct hbk_error *err)
{
	json_t *doc = hbk_json_loadb(uc->resp.body.data ? uc->resp.body.data : "",
				     uc->resp.body.len, 0, NULL);
	if (!json_is_object(doc)) {
		json_decref(doc);
		hbk_fail(err, HBK_EUNAVAILABLE, "partner_unavailable",
			 "partner answered %ld with a body that is not a JSON object",
			 uc->resp.status);
		return NULL;
	}
	return doc;
}

/* Reads a booking object of the protocol into the port's struct. */
static hbk_result booking_from_json(struct hotelbeds *hb, const json_t *booking,
				    struct hbk_partner_booking *out, struct hbk_error *err)
{
	memset(out, 0, sizeof(*out));
	const char *reference = hbk_json_str(booking, "reference", "");
	if (reference[0] == '\0' || !hbk_copy(out->reference, sizeof(out->reference), reference))
		return hbk_fail(err, HBK_EUNAVAILABLE, "partner_unavailable",
				"partner answered a booking without a valid reference");
	hbk_copy(out->client_reference, sizeof(out->client_reference),
		 hbk_json_str(booking, "clientReference", ""));
	hbk_copy(out->status, sizeof(out->status), hbk_json_str(booking, "status", "CONFIRMED"));

	const json_t *hotel = json_object_get(booking, "hotel");
	const char *currency =
	    hbk_json_str(booking, "currency", hbk_json_str(hotel, "currency", ""));
	struct hbk_stay *stay = &out->stay;
	struct hbk_hotel ours;
	int code = (int)hbk_partner_json_int(hotel, "code", -1);
	if (code >= 0 && hbk_hotel_get_by_code(hb->store, code, &ours, NULL) == HBK_OK)
		hbk_copy(stay->hotel_id, sizeof(stay->hotel_id), ours.id);
	hbk_date_parse(hbk_json_str(hotel, "checkIn", ""), &stay->checkin);
	hbk_date_parse(hbk_json_str(hotel, "checkOut", ""), &stay->checkout);
	const json_t *room = json_array_get(json_object_get(hotel, "rooms"), 0);
	const json_t *rate = json_array_get(json_object_get(room, "rates"), 0);
	size_t len = strcspn(hbk_json_str(room, "code", ""), ".");
	if (len < sizeof(stay->room_type))
		memcpy(stay->room_type, hbk_json_str(room, "code", ""), len);
	hbk_copy(stay->board, sizeof(stay->board), hbk_json_str(rate, "boardCode", ""));
	stay->refundable = strcmp(hbk_json_str(rate, "rateClass", "NOR"), "NRF") != 0;
	stay->rooms = (int)hbk_partner_json_int(rate, "rooms", 1);
	stay->adults = (int)hbk_partner_json_int(rate, "adults", 1);
	stay->children = (int)hbk_partner_json_int(rate, "children", 0);

	struct hbk_error ignored = {0};
	if (hbk_partner_json_money(booking, "totalNet", currency, &out->total, &ignored) !=
		HBK_OK &&
	    hbk_partner_json_money(hotel, "totalNet", currency, &out->total, err) != HBK_OK)
		return hbk_fail(err, HBK_EUNAVAILABLE, "partner_unavailable",
				"partner answered booking %s without a valid totalNet",
				out->reference);
	return HBK_OK;
}

/* The penalty of a cancel answer: the field's name is unverified, so the
 * usual places are tried; none is a zero penalty. */
static void penalty_from_json(const json_t *booking, struct hbk_money *out)
{
	const json_t *hotel = json_object_get(booking, "hotel");
	const char *currency =
	    hbk_json_str(booking, "currency", hbk_json_str(hotel, "currency", ""));
	const json_t *places[] = {hotel, booking};
	const char *names[] = {"cancellationAmount", "penalty", "penaltyAmount"};
	*out = hbk_money_make(0, currency);
	for (size_t i = 0; i < 2; i++)
		for (size_t j = 0; j < 3; j++) {
			struct hbk_error ignored = {0};
			if (json_object_get(places[i], names[j]) &&
			    hbk_partner_json_money(places[i], names[j], currency, out, &ignored) ==
				HBK_OK)
				return;
		}
}

/* ------------------------------------------------------------------------
 * Requests.
 */

static void holder_names(const char *holder, char *name, size_t name_size, char *surname,
			 size_t surname_size)
{
	size_t first = strcspn(holder, " ");
	/* Cut on a character: the names go into a JSON body. */
	size_t shown = first < name_size ? first : name_size - 1;
	snprintf(name, name_size, "%.*s", hbk_utf8_cut(holder, shown), holder);
	const char *rest = holder + first;
	while (*rest == ' ')
		rest++;
	hbk_copy(surname, surname_size, rest[0] ? rest : holder);
}

static json_t *occupancy_json(const struct hbk_stay *stay)
{
	json_t *occupancy = json_pack("{s:i, s:i, s:i}", "rooms", stay->rooms, "adults",
				      stay->adults, "children", stay->children);
	if (stay->children > 0) {
		json_t *paxes = json_array();
		for (int i = 0; i < stay->children; i++)
			json_array_append_new(
			    paxes, json_pack("{s:s, s:i}", "type", "CH", "age", HB_CHILD_AGE));
		json_object_set_new(occupancy, "paxes", paxes);
	}
	return occupancy;
}

static json_t *availability_body(const struct hbk_partner_availability *q)
{
	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR];
	hbk_date_format(q->checkin, checkin);
	hbk_date_format(q->checkout, checkout);
	struct hbk_stay stay = {.rooms = q->rooms, .adults = q->adults, .children = q->children};
	json_t *body = json_pack("{s:{s:s, s:s}, s:[o]}", "stay", "checkIn", checkin, "checkOut",
				 checkout, "occupancies", occupancy_json(&stay));
	if (q->nhotels > 0) {
		json_t *codes = json_array();
		for (int i = 0; i < q->nhotels; i++)
			json_array_append_new(codes, json_integer(q->hotels[i]));
		json_object_set_new(body, "hotels", json_pack("{s:o}", "hotel", codes));
	} else {
		json_object_set_new(body, "destination",
				    json_pack("{s:s}", "code", q->destination));
	}
	/* A booking wants one board: asking for it alone makes the answer a
	 * fraction of the hotel's (board codes are the partner's own, unlike
	 * room codes, which may carry a characteristic we do not keep). */
	if (q->board[0])
		json_object_set_new(body, "boards",
				    json_pack("{s:b, s:[s]}", "included", 1, "board", q->board));
	return body;
}

/* The paxes of one booking: the holder first, then placeholders, since the
 * port carries only the holder's name. */
static json_t *paxes_json(const struct hbk_partner_request *req)
{
	char name[128], surname[128];
	holder_names(req->holder_name, name, sizeof(name), surname, sizeof(surname));
	json_t *paxes = json_array();
	const struct hbk_stay *stay = &req->stay;
	for (int i = 0; i < stay->adults + stay->children; i++) {
		bool child = i >= stay->adults;
		char guest[32];
		hbk_format(guest, sizeof(guest), "Guest%d", i + 1);
		json_t *pax = json_pack("{s:i, s:s, s:s, s:s}", "roomId",
					1 + (child ? i - stay->adults : i) % stay->rooms, "type",
					child ? "CH" : "AD", "name", i == 0 ? name : guest,
					"surname", surname);
		if (child)
			json_object_set_new(pax, "age", json_integer(HB_CHILD_AGE));
		json_array_append_new(paxes, pax);
	}
	return paxes;
}

static json_t *create_body(const struct hb_op *op)
{
	char name[128], surname[128];
	holder_names(op->req.holder_name, name, sizeof(name), surname, sizeof(surname));
	return json_pack("{s:{s:s, s:s}, s:[{s:s, s:o}], s:s, s:s}", "holder", "name", name,
			 "surname", surname, "rooms", "rateKey", op->rate.rate_key, "paxes",
			 paxes_json(&op->req), "clientReference", op->req.client_reference,
			 "remark", "booked by hbk");
}

/* The full booking with the changes, for PUT /bookings/{reference}. */
static json_t *modify_body(const struct hb_op *op, const char *mode)
{
	const struct hbk_partner_request *req = &op->req;
	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR], net[HBK_MONEY_STR];
	char name[128], surname[128];
	hbk_date_format(req->stay.checkin, checkin);
	hbk_date_format(req->stay.checkout, checkout);
	hbk_money_format(&req->total, net);
	holder_names(req->holder_name, name, sizeof(name), surname, sizeof(surname));

	json_t *policies = json_array();
	for (int i = 0; i < req->policy.count; i++) {
		char from[HBK_TIME_STR], amount[HBK_MONEY_STR];
		hbk_time_format(req->policy.entries[i].from_ms, from);
		hbk_money_format(&req->policy.entries[i].penalty, amount);
		json_array_append_new(policies,
				      json_pack("{s:s, s:s}", "amount", amount, "from", from));
	}
	json_t *rate = json_pack("{s:s, s:s, s:i, s:i, s:i, s:s, s:o}", "rateClass",
				 req->stay.refundable ? "NOR" : "NRF", "boardCode", req->stay.board,
				 "rooms", req->stay.rooms, "adults", req->stay.adults, "children",
				 req->stay.children, "net", net, "cancellationPolicies", policies);
	json_t *booking = json_pack(
	    "{s:s, s:{s:i, s:s, s:s, s:[{s:s, s:[o], s:o}], s:s, s:s}, s:s}", "reference",
	    op->reference, "hotel", "code", op->hotel_code, "checkIn", checkin, "checkOut",
	    checkout, "rooms", "code", req->stay.room_type, "rates", rate, "paxes", paxes_json(req),
	    "totalNet", net, "currency", req->total.currency, "currency", req->total.currency);
	if (req->client_reference[0])
		json_object_set_new(booking, "clientReference", json_string(req->client_reference));
	if (req->holder_name[0])
		json_object_set_new(booking, "holder",
				    json_pack("{s:s, s:s}", "name", name, "surname", surname));
	return json_pack("{s:s, s:o}", "mode", mode, "booking", booking);
}

/* GET /bookings with the parameters the API requires. */
static void list_path(struct hb_op *op, const char *client_reference, int from, int to)
{
	char start[HBK_DATE_STR], end[HBK_DATE_STR];
	hbk_date today = hbk_date_today();
	hbk_date_format(today - HB_LOOKUP_DAYS, start);
	hbk_date_format(today + 1, end);
	int n = snprintf(op->path, sizeof(op->path),
			 "/bookings?start=%s&end=%s&filterType=CREATION&status=ALL&from=%d&to=%d",
			 start, end, from, to);
	HBK_ASSERT(n > 0 && (size_t)n < sizeof(op->path));
	if (client_reference) {
		/* Our ids are [A-Z0-9-]: nothing to escape. */
		size_t len = strlen(op->path);
		snprintf(op->path + len, sizeof(op->path) - len, "&clientReference=%s",
			 client_reference);
	}
}

/* ------------------------------------------------------------------------
 * The operation machinery.
 */

static void op_free(struct hb_op *op)
{
	hbk_upstream_call_reset(&op->uc);
	json_decref(op->list);
	free(op->body);
	free(op);
}

/* Ends the operation: frees it, then tells the caller. */
static void op_finish(struct hb_op *op, hbk_result rc, const struct hbk_error *err,
		      int retry_after_ms)
{
	struct hbk_call *call = op->call;
	struct hbk_error copy = {0};
	if (rc != HBK_OK) {
		HBK_ASSERT(err != NULL);
		copy = *err;
	}
	op_free(op);
	call->retry_after_ms = retry_after_ms;
	hbk_call_finish(call, rc, &copy);
}

static void op_fail(struct hb_op *op, const char *doing)
{
	struct hbk_error err = {0};
	int retry_after_ms = 0;
	hbk_result rc = exchange_failure(&op->uc, doing, &retry_after_ms, &err);
	op_finish(op, rc, &err, retry_after_ms);
}

/* Sets the next request: method, path (already in op->path), body (taken). */
static void op_request(struct hb_op *op, enum hb_stage stage, const char *method, json_t *body)
{
	op->stage = stage;
	op->attempts = 0;
	op->stage_started_ms = hbk_now_ms();
	hbk_copy(op->method, sizeof(op->method), method);
	free(op->body);
	op->body = NULL;
	if (body) {
		op->body = hbk_json_dumps(body);
		json_decref(body);
	}
	op_send(op);
}

static void op_retry_now(void *arg)
{
	op_send(arg);
}

/*
 * A read that failed for a transient reason is sent again after a backoff;
 * true when it was. Reads are the GETs and the availability and checkrates
 * POSTs, which change nothing at the partner. The lookup of a create whose
 * outcome is unknown tries hardest: until it answers, nobody knows whether
 * the partner holds the booking.
 */
static bool op_retry_read(struct hb_op *op)
{
	bool read = strcmp(op->method, "GET") == 0 || op->stage == ST_AVAILABILITY ||
		    op->stage == ST_CHECKRATE || op->stage == ST_CANCEL_PREVIEW;
	bool lookup = op->stage == ST_LOOKUP;
	/* The lookup keeps trying for a while, through open circuits (its
	 * window is longer than the breaker's open interval, so a half-open
	 * probe gets through): an answer now spares the saga a compensation
	 * that has to look the booking up itself. */
	bool again = transient(&op->uc) || (lookup && op->uc.rc != HBK_OK &&
					    strcmp(op->uc.err.code, "circuit_open") == 0);
	bool within = lookup ? hbk_now_ms() - op->stage_started_ms < HB_LOOKUP_WINDOW_MS
			     : op->attempts < HB_READ_ATTEMPTS_MAX;
	if (!read || !again || !within)
		return false;
	int shift = op->attempts < 8 ? op->attempts - 1 : 7;
	int delay_ms = HB_READ_BACKOFF_MS << shift;
	if (delay_ms > HB_READ_BACKOFF_MS_MAX)
		delay_ms = HB_READ_BACKOFF_MS_MAX;
	if (op->uc.rc == HBK_OK && op->uc.resp.retry_after_ms > delay_ms) {
		if (op->uc.resp.retry_after_ms > HB_RETRY_AFTER_MS_MAX)
			return false; /* the caller waits, with call->retry_after_ms */
		delay_ms = op->uc.resp.retry_after_ms;
	}
	hbk_upstream_after(op->up, delay_ms, op_retry_now, op);
	return true;
}

static void op_answered(struct hbk_upstream_call *uc);

static void op_send(struct hb_op *op)
{
	struct hbk_upstream_call *uc = &op->uc;
	struct hbk_upstream_request *req = &uc->req;
	char signature[65];

	hbk_upstream_call_reset(uc);
	memset(req, 0, sizeof(*req));
	op->attempts++;
	req->method = op->method;
	req->path = op->path;
	if (op->body) {
		req->content_type = "application/json";
		req->body = op->body;
		req->body_len = strlen(op->body);
	}
	/* Recomputed per request: the signature is only good for minutes. */
	hbk_partner_signature(op->hb->key, op->hb->secret, (long long)(hbk_now_ms() / 1000),
			      signature);
	hbk_upstream_header(req, "Api-key: %s", op->hb->key);
	hbk_upstream_header(req, "X-Signature: %s", signature);
	hbk_upstream_header(req, "Accept: application/json");
	hbk_upstream_header(req, "Accept-Encoding: gzip");
	OPENSSL_cleanse(signature, sizeof(signature));
	uc->done = op_answered;
	uc->arg = op;
	hbk_upstream_send(op->up, uc);
}

/* ---- stages ---- */

static void start_availability(struct hb_op *op)
{
	hbk_copy(op->path, sizeof(op->path), "/hotels");
	op_request(op, ST_AVAILABILITY, "POST", availability_body(&op->query));
}

static void start_lookup(struct hb_op *op, enum hb_stage stage)
{
	list_path(op, op->client_reference, 1, 10);
	op_request(op, stage, "GET", NULL);
}

static void start_cancel(struct hb_op *op)
{
	hbk_format(op->path, sizeof(op->path), "/bookings/%s?cancellationFlag=%s", op->reference,
		   op->simulate ? "SIMULATION" : "CANCELLATION");
	op_request(op, ST_CANCEL, "DELETE", NULL);
}

/* A cancellation first asks for the penalty (SIMULATION), then cancels. */
static void start_cancel_preview(struct hb_op *op)
{
	hbk_format(op->path, sizeof(op->path), "/bookings/%s?cancellationFlag=SIMULATION",
		   op->reference);
	op_request(op, ST_CANCEL_PREVIEW, "DELETE", NULL);
}

static void start_list_page(struct hb_op *op)
{
	list_path(op, NULL, op->list_from, op->list_from + HB_LIST_PAGE - 1);
	op_request(op, ST_LIST, "GET", NULL);
}

/* The answer to an availability query: a booking picks its rate. */
static void on_availability(struct hb_op *op)
{
	struct hbk_error err = {0};
	json_t *doc = answer_json(&op->uc, &err);
	if (doc == NULL) {
		op_finish(op, err.result, &err, 0);
		return;
	}
	if (op->kind == OP_AVAILABILITY) {
		json_t *hotels = json_object_get(doc, "hotels");
		if (!json_is_object(hotels)) {
			json_decref(doc);
			hbk_fail(&err, HBK_EUNAVAILABLE, "partner_unavailable",
				 "partner availability answer has no hotels object");
			op_finish(op, err.result, &err, 0);
			return;
		}
		*op->json_out = json_incref(hotels);
		json_decref(doc);
		op_finish(op, HBK_OK, NULL, 0);
		return;
	}
	hbk_result rc = hbk_partner_pick_rate(doc, op->hotel_code, &op->req.stay, &op->rate, &err);
	json_decref(doc);
	if (rc != HBK_OK) {
		op_finish(op, rc, &err, 0);
		return;
	}
	if (op->rate.recheck) {
		hbk_copy(op->path, sizeof(op->path), "/checkrates");
		op_request(op, ST_CHECKRATE, "POST",
			   json_pack("{s:[{s:s}]}", "rooms", "rateKey", op->rate.rate_key));
		return;
	}
	hbk_copy(op->path, sizeof(op->path), "/bookings");
	op_request(op, ST_CREATE, "POST", create_body(op));
}

/* checkrates confirms the rate (possibly under a new key) before booking. */
static void on_checkrate(struct hb_op *op)
{
	struct hbk_error err = {0};
	json_t *doc = answer_json(&op->uc, &err);
	if (doc == NULL) {
		op_finish(op, err.result, &err, 0);
		return;
	}
	const json_t *hotel = json_object_get(doc, "hotel");
	const json_t *room = json_array_get(json_object_get(hotel, "rooms"), 0);
	const json_t *rate = json_array_get(json_object_get(room, "rates"), 0);
	const char *key = hbk_json_str(rate, "rateKey", "");
	if (key[0] != '\0')
		hbk_copy(op->rate.rate_key, sizeof(op->rate.rate_key), key);
	json_decref(doc);
	hbk_copy(op->path, sizeof(op->path), "/bookings");
	op_request(op, ST_CREATE, "POST", create_body(op));
}

/* A booking document {"booking":{...}} into op->out. */
static void finish_with_booking(struct hb_op *op)
{
	struct hbk_error err = {0};
	json_t *doc = answer_json(&op->uc, &err);
	hbk_result rc = doc ? HBK_OK : err.result;
	if (rc == HBK_OK)
		rc = booking_from_json(op->hb, json_object_get(doc, "booking"), op->out, &err);
	json_decref(doc);
	op_finish(op, rc, &err, 0);
}

static void on_create(struct hb_op *op)
{
	if (answered_ok(&op->uc)) {
		finish_with_booking(op);
		return;
	}
	if (op->uc.rc == HBK_OK && duplicate_refusal(&op->uc.resp)) {
		hbk_fail(&op->create_err, HBK_ECONFLICT, "duplicate_client_reference",
			 "partner already holds a booking with client reference %s",
			 op->client_reference);
		start_lookup(op, ST_LOOKUP);
		return;
	}
	bool lost = op->uc.rc != HBK_OK ? strcmp(op->uc.err.code, "circuit_open") != 0
					: op->uc.resp.status >= 500;
	if (lost) {
		/* The booking may exist: look before anyone tries again. */
		exchange_failure(&op->uc, "the booking", NULL, &op->create_err);
		start_lookup(op, ST_LOOKUP);
		return;
	}
	op_fail(op, "the booking");
}

/* The first booking of a GET /bookings answer; *found says whether one was. */
static hbk_result first_listed(struct hb_op *op, bool *found, struct hbk_error *err)
{
	*found = false;
	json_t *doc = answer_json(&op->uc, err);
	if (doc == NULL)
		return err->result;
	const json_t *booking =
	    json_array_get(json_object_get(json_object_get(doc, "bookings"), "bookings"), 0);
	hbk_result rc = HBK_OK;
	if (booking) {
		*found = true;
		rc = booking_from_json(op->hb, booking, op->out, err);
	}
	json_decref(doc);
	return rc;
}

/* After a lost or duplicate create: found is booked, else retry later. */
static void on_lookup(struct hb_op *op)
{
	struct hbk_error err = {0};
	bool found = false;
	if (!answered_ok(&op->uc)) {
		/* Neither the create nor the lookup answered: still unknown. */
		op_finish(op, HBK_EUNAVAILABLE, &op->create_err, 0);
		return;
	}
	hbk_result rc = first_listed(op, &found, &err);
	if (rc == HBK_OK && !found) {
		if (op->create_err.result == HBK_ECONFLICT)
			hbk_fail(&err, HBK_EUNAVAILABLE, "partner_unavailable",
				 "partner refused client reference %s as a duplicate but does not "
				 "list it",
				 op->client_reference);
		else
			err = op->create_err;
		rc = HBK_EUNAVAILABLE;
	}
	op_finish(op, rc, &err, 0);
}

static void on_find(struct hb_op *op)
{
	struct hbk_error err = {0};
	bool found = false;
	if (!answered_ok(&op->uc)) {
		if (op->uc.rc == HBK_OK && op->uc.resp.status == 404) {
			hbk_fail(&err, HBK_ENOTFOUND, "booking_not_found",
				 "partner has no booking with client reference '%s'",
				 op->client_reference);
			op_finish(op, HBK_ENOTFOUND, &err, 0);
			return;
		}
		op_fail(op, "the booking lookup");
		return;
	}
	hbk_result rc = first_listed(op, &found, &err);
	if (rc == HBK_OK && !found)
		rc = hbk_fail(&err, HBK_ENOTFOUND, "booking_not_found",
			      "partner has no booking with client reference '%s'",
			      op->client_reference);
	op_finish(op, rc, &err, 0);
}

static void on_simulate(struct hb_op *op)
{
	if (!answered_ok(&op->uc)) {
		op_fail(op, "the modification");
		return;
	}
	if (op->simulate) {
		finish_with_booking(op);
		return;
	}
	hbk_format(op->path, sizeof(op->path), "/bookings/%s", op->reference);
	op_request(op, ST_UPDATE, "PUT", modify_body(op, "UPDATE"));
}

static void on_cancel(struct hb_op *op)
{
	if (answered_ok(&op->uc)) {
		struct hbk_error err = {0};
		json_t *doc = answer_json(&op->uc, &err);
		if (doc == NULL) {
			op_finish(op, err.result, &err, 0);
			return;
		}
		penalty_from_json(json_object_get(doc, "booking"), op->penalty);
		json_decref(doc);
		/* No penalty in the answer: the preview's stands. */
		if (op->penalty->minor == 0 && op->preview.minor > 0)
			*op->penalty = op->preview;
		op_finish(op, HBK_OK, NULL, 0);
		return;
	}
	long status = op->uc.rc == HBK_OK ? op->uc.resp.status : 0;
	if (!op->simulate && (status == 400 || status == 409 || status == 410)) {
		/* Some partners refuse to cancel twice: a cancelled booking is
		 * what was asked for. */
		hbk_format(op->path, sizeof(op->path), "/bookings/%s", op->reference);
		exchange_failure(&op->uc, "the cancellation", NULL, &op->create_err);
		op_request(op, ST_CANCEL_CHECK, "GET", NULL);
		return;
	}
	op_fail(op, "the cancellation");
}

/*
 * The penalty preview came back: then cancel. A preview the partner refuses
 * (the booking is cancelled already, say) does not stop the cancellation,
 * which knows how to treat that; one that went unanswered does, and the
 * caller may retry: nothing has changed yet.
 */
static void on_cancel_preview(struct hb_op *op)
{
	if (answered_ok(&op->uc)) {
		struct hbk_error err = {0};
		json_t *doc = answer_json(&op->uc, &err);
		if (doc != NULL)
			penalty_from_json(json_object_get(doc, "booking"), &op->preview);
		json_decref(doc);
		start_cancel(op);
		return;
	}
	if (op->uc.rc == HBK_OK && op->uc.resp.status >= 400 && op->uc.resp.status < 500 &&
	    op->uc.resp.status != 401 && op->uc.resp.status != 403 && op->uc.resp.status != 429) {
		start_cancel(op);
		return;
	}
	op_fail(op, "the cancellation preview");
}

static void on_cancel_check(struct hb_op *op)
{
	struct hbk_error err = op->create_err;
	hbk_result rc = err.result;
	if (answered_ok(&op->uc)) {
		json_t *doc = answer_json(&op->uc, &err);
		const json_t *booking = json_object_get(doc, "booking");
		if (doc && strcmp(hbk_json_str(booking, "status", ""), "CANCELLED") == 0) {
			penalty_from_json(booking, op->penalty);
			rc = HBK_OK;
		}
		json_decref(doc);
	}
	op_finish(op, rc, &err, 0);
}

/* A page of GET /bookings: append its bookings, then the next page. */
static void on_list(struct hb_op *op)
{
	struct hbk_error err = {0};
	if (!answered_ok(&op->uc)) {
		op_fail(op, "the booking list");
		return;
	}
	json_t *doc = answer_json(&op->uc, &err);
	if (doc == NULL) {
		op_finish(op, err.result, &err, 0);
		return;
	}
	const json_t *page = json_object_get(doc, "bookings");
	const json_t *bookings = json_object_get(page, "bookings");
	long long total = hbk_partner_json_int(page, "total", 0);
	long long to = hbk_partner_json_int(page, "to", op->list_from + HB_LIST_PAGE - 1);
	size_t i;
	const json_t *booking;
	hbk_result rc = HBK_OK;
	json_array_foreach(bookings, i, booking)
	{
		struct hbk_partner_booking b;
		char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR];
		rc = booking_from_json(op->hb, booking, &b, &err);
		if (rc != HBK_OK)
			break;
		hbk_date_format(b.stay.checkin, checkin);
		hbk_date_format(b.stay.checkout, checkout);
		json_array_append_new(
		    op->list,
		    json_pack(
			"{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:o}", "reference",
			b.reference, "client_reference", b.client_reference, "status", b.status,
			"hotel_id", b.stay.hotel_id, "hotel_code",
			(int)hbk_partner_json_int(json_object_get(booking, "hotel"), "code", -1),
			"room_type", b.stay.room_type, "board", b.stay.board, "checkin", checkin,
			"checkout", checkout, "total", hbk_json_money(&b.total)));
	}
	size_t listed = json_array_size(bookings);
	json_decref(doc);
	if (rc != HBK_OK) {
		op_finish(op, rc, &err, 0);
		return;
	}
	op->pages++;
	bool more = listed > 0 && to < total;
	if (more && op->pages >= HB_LIST_PAGES_MAX) {
		hbk_fail(&err, HBK_EINTERNAL, "too_large",
			 "partner lists more than %d pages of bookings", HB_LIST_PAGES_MAX);
		op_finish(op, HBK_EINTERNAL, &err, 0);
		return;
	}
	if (more) {
		op->list_from = (int)to + 1;
		start_list_page(op);
		return;
	}
	*op->json_out = op->list;
	op->list = NULL;
	op_finish(op, HBK_OK, NULL, 0);
}

/* Every answer comes here; the stage says what it was for. */
static void op_answered(struct hbk_upstream_call *uc)
{
	struct hb_op *op = uc->arg;
	HBK_ASSERT(op != NULL && &op->uc == uc);
	if (op->hb->closing) {
		/* The upstream is finishing its calls on the way out: no next stage. */
		struct hbk_error err = {0};
		hbk_fail(&err, HBK_EUNAVAILABLE, "partner_unavailable",
			 "partner call abandoned: the adapter is closing");
		op_finish(op, HBK_EUNAVAILABLE, &err, 0);
		return;
	}
	if (!answered_ok(uc) && op_retry_read(op))
		return;
	switch (op->stage) {
	case ST_AVAILABILITY:
		if (answered_ok(uc))
			on_availability(op);
		else
			op_fail(op, "the availability query");
		return;
	case ST_CHECKRATE:
		if (answered_ok(uc))
			on_checkrate(op);
		else
			op_fail(op, "the rate check");
		return;
	case ST_CREATE: on_create(op); return;
	case ST_LOOKUP: on_lookup(op); return;
	case ST_FIND: on_find(op); return;
	case ST_SIMULATE: on_simulate(op); return;
	case ST_UPDATE:
		if (answered_ok(uc))
			finish_with_booking(op);
		else
			op_fail(op, "the modification");
		return;
	case ST_CANCEL_PREVIEW: on_cancel_preview(op); return;
	case ST_CANCEL: on_cancel(op); return;
	case ST_CANCEL_CHECK: on_cancel_check(op); return;
	case ST_LIST: on_list(op); return;
	}
	HBK_ASSERT(!"unknown stage");
}

static struct hb_op *op_new(struct hotelbeds *hb, struct hbk_upstream *up, enum hb_kind kind,
			    struct hbk_call *call)
{
	struct hb_op *op = hbk_xcalloc(1, sizeof(*op));
	op->hb = hb;
	op->up = up;
	op->kind = kind;
	op->call = call;
	return op;
}

/* Our hotel id to the partner's code. */
static hbk_result hotel_code(struct hotelbeds *hb, const char *hotel_id, int *code,
			     struct hbk_error *err)
{
	struct hbk_hotel hotel;
	hbk_result rc = hbk_hotel_get(hb->store, hotel_id, &hotel, err);
	if (rc == HBK_ENOTFOUND)
		return hbk_fail_field(err, HBK_EINVAL, "unknown_hotel", "hotel",
				      "hotel %s has no partner code in this store", hotel_id);
	*code = hotel.code;
	return rc;
}

/* ------------------------------------------------------------------------
 * The operations, asynchronous on a given upstream.
 */

static void book_on(struct hotelbeds *hb, struct hbk_upstream *up,
		    const struct hbk_partner_request *req, struct hbk_partner_booking *out,
		    struct hbk_call *call)
{
	HBK_ASSERT(req != NULL && out != NULL && call != NULL);
	memset(out, 0, sizeof(*out));
	struct hbk_error err = {0};
	struct hb_op *op = op_new(hb, up, OP_BOOK, call);
	op->req = *req;
	op->out = out;
	hbk_copy(op->client_reference, sizeof(op->client_reference), req->client_reference);
	hbk_result rc = hotel_code(hb, req->stay.hotel_id, &op->hotel_code, &err);
	if (rc == HBK_OK && (req->client_reference[0] == '\0' || req->stay.rooms < 1))
		rc = hbk_fail(&err, HBK_EINVAL, "invalid_request",
			      "a partner booking needs a client reference and rooms");
	if (rc != HBK_OK) {
		op_finish(op, rc, &err, 0);
		return;
	}
	op->query = (struct hbk_partner_availability){.checkin = req->stay.checkin,
						      .checkout = req->stay.checkout,
						      .rooms = req->stay.rooms,
						      .adults = req->stay.adults,
						      .children = req->stay.children,
						      .nhotels = 1,
						      .hotels = {op->hotel_code}};
	hbk_copy(op->query.board, sizeof(op->query.board), req->stay.board);
	start_availability(op);
}

static void modify_on(struct hotelbeds *hb, struct hbk_upstream *up, const char *reference,
		      const struct hbk_partner_request *req, bool simulate,
		      struct hbk_partner_booking *out, struct hbk_call *call)
{
	HBK_ASSERT(req != NULL && out != NULL && call != NULL);
	memset(out, 0, sizeof(*out));
	struct hbk_error err = {0};
	struct hb_op *op = op_new(hb, up, OP_MODIFY, call);
	op->req = *req;
	op->out = out;
	op->simulate = simulate;
	hbk_result rc = hotel_code(hb, req->stay.hotel_id, &op->hotel_code, &err);
	if (rc == HBK_OK && (reference == NULL || reference[0] == '\0' ||
			     !hbk_copy(op->reference, sizeof(op->reference), reference)))
		rc = hbk_fail_field(&err, HBK_EINVAL, "invalid_request", "reference",
				    "missing or overlong partner reference");
	if (rc != HBK_OK) {
		op_finish(op, rc, &err, 0);
		return;
	}
	hbk_format(op->path, sizeof(op->path), "/bookings/%s", op->reference);
	op_request(op, ST_SIMULATE, "PUT", modify_body(op, "SIMULATION"));
}

static void cancel_on(struct hotelbeds *hb, struct hbk_upstream *up, const char *reference,
		      bool simulate, struct hbk_money *penalty, struct hbk_call *call)
{
	HBK_ASSERT(penalty != NULL && call != NULL);
	memset(penalty, 0, sizeof(*penalty));
	struct hb_op *op = op_new(hb, up, OP_CANCEL, call);
	op->penalty = penalty;
	op->simulate = simulate;
	if (reference == NULL || reference[0] == '\0' ||
	    !hbk_copy(op->reference, sizeof(op->reference), reference)) {
		struct hbk_error err = {0};
		hbk_fail_field(&err, HBK_EINVAL, "invalid_request", "reference",
			       "missing or overlong partner reference");
		op_finish(op, HBK_EINVAL, &err, 0);
		return;
	}
	if (simulate)
		start_cancel(op);
	else
		start_cancel_preview(op);
}

/* ------------------------------------------------------------------------
 * The port's ops.
 */

static void sync_done(struct hbk_call *call)
{
	(void)call;
}

static void hb_book_async(void *self, const struct hbk_partner_request *req,
			  struct hbk_partner_booking *out, struct hbk_call *call)
{
	struct hotelbeds *hb = self;
	book_on(hb, hb->up, req, out, call);
}

static void hb_modify_async(void *self, const char *reference,
			    const struct hbk_partner_request *req, bool simulate,
			    struct hbk_partner_booking *out, struct hbk_call *call)
{
	struct hotelbeds *hb = self;
	modify_on(hb, hb->up, reference, req, simulate, out, call);
}

static void hb_cancel_async(void *self, const char *reference, bool simulate, int64_t now_ms,
			    struct hbk_money *penalty, struct hbk_call *call)
{
	struct hotelbeds *hb = self;
	(void)now_ms; /* the partner cancels at its own clock */
	cancel_on(hb, hb->up, reference, simulate, penalty, call);
}

/* Runs a call that completes before returning (up_sync is never attached). */
#define RUN_SYNC(err, expr)                                                                        \
	do {                                                                                       \
		struct hbk_call call_ = {.done = sync_done, .rc = HBK_EINTERNAL};                  \
		struct hbk_call *call = &call_;                                                    \
		expr;                                                                              \
		if (call_.rc != HBK_OK && (err) != NULL)                                           \
			*(err) = call_.err;                                                        \
		return call_.rc;                                                                   \
	} while (0)

static hbk_result hb_book(void *self, const struct hbk_partner_request *req,
			  struct hbk_partner_booking *out, struct hbk_error *err)
{
	struct hotelbeds *hb = self;
	RUN_SYNC(err, book_on(hb, hb->up_sync, req, out, call));
}

static hbk_result hb_modify(void *self, const char *reference,
			    const struct hbk_partner_request *req, bool simulate,
			    struct hbk_partner_booking *out, struct hbk_error *err)
{
	struct hotelbeds *hb = self;
	RUN_SYNC(err, modify_on(hb, hb->up_sync, reference, req, simulate, out, call));
}

static hbk_result hb_cancel(void *self, const char *reference, bool simulate, int64_t now_ms,
			    struct hbk_money *penalty, struct hbk_error *err)
{
	struct hotelbeds *hb = self;
	(void)now_ms;
	RUN_SYNC(err, cancel_on(hb, hb->up_sync, reference, simulate, penalty, call));
}

static void find_on(struct hotelbeds *hb, struct hbk_upstream *up, const char *client_reference,
		    struct hbk_partner_booking *out, struct hbk_call *call)
{
	memset(out, 0, sizeof(*out));
	struct hb_op *op = op_new(hb, up, OP_FIND, call);
	op->out = out;
	if (client_reference == NULL || client_reference[0] == '\0' ||
	    !hbk_copy(op->client_reference, sizeof(op->client_reference), client_reference)) {
		struct hbk_error err = {0};
		hbk_fail_field(&err, HBK_EINVAL, "invalid_request", "client_reference",
			       "missing or overlong client reference");
		op_finish(op, HBK_EINVAL, &err, 0);
		return;
	}
	start_lookup(op, ST_FIND);
}

static hbk_result hb_find(void *self, const char *client_reference, struct hbk_partner_booking *out,
			  struct hbk_error *err)
{
	struct hotelbeds *hb = self;
	HBK_ASSERT(out != NULL);
	RUN_SYNC(err, find_on(hb, hb->up_sync, client_reference, out, call));
}

static void hb_find_async(void *self, const char *client_reference, struct hbk_partner_booking *out,
			  struct hbk_call *call)
{
	struct hotelbeds *hb = self;
	find_on(hb, hb->up, client_reference, out, call);
}

static void list_on(struct hotelbeds *hb, json_t **out, struct hbk_call *call)
{
	*out = NULL;
	struct hb_op *op = op_new(hb, hb->up_sync, OP_LIST, call);
	op->json_out = out;
	op->list = json_array();
	op->list_from = 1;
	start_list_page(op);
}

static hbk_result hb_list(void *self, json_t **out, struct hbk_error *err)
{
	struct hotelbeds *hb = self;
	HBK_ASSERT(out != NULL);
	RUN_SYNC(err, list_on(hb, out, call));
}

static void hb_attach(void *self, struct event_base *base)
{
	struct hotelbeds *hb = self;
	hbk_upstream_attach(hb->up, base);
}

static void hb_destroy(void *self)
{
	struct hotelbeds *hb = self;
	if (hb == NULL)
		return;
	hb->closing = true;
	if (hb->up)
		hbk_upstream_free(hb->up);
	if (hb->up_sync)
		hbk_upstream_free(hb->up_sync);
	OPENSSL_cleanse(hb->key, sizeof(hb->key));
	OPENSSL_cleanse(hb->secret, sizeof(hb->secret));
	free(hb);
}

static const struct hbk_partner_ops hotelbeds_ops = {
    .name = "hotelbeds",
    .book = hb_book,
    .find = hb_find,
    .modify = hb_modify,
    .cancel = hb_cancel,
    .list = hb_list,
    .destroy = hb_destroy,
    .remote = true,
    .attach = hb_attach,
    .book_async = hb_book_async,
    .modify_async = hb_modify_async,
    .cancel_async = hb_cancel_async,
    .find_async = hb_find_async,
};

static void availability_on(struct hotelbeds *hb, const struct hbk_partner_availability *query,
			    json_t **out, struct hbk_call *call)
{
	*out = NULL;
	struct hb_op *op = op_new(hb, hb->up_sync, OP_AVAILABILITY, call);
	op->query = *query;
	op->json_out = out;
	start_availability(op);
}

hbk_result hbk_partner_availability(struct hbk_partner *partner,
				    const struct hbk_partner_availability *query, json_t **out,
				    struct hbk_error *err)
{
	HBK_ASSERT(partner != NULL && query != NULL && out != NULL);
	*out = NULL;
	if (partner->ops != &hotelbeds_ops)
		return hbk_fail(err, HBK_EINVAL, "partner_not_hotelbeds",
				"the partner is '%s': availability needs partner.kind hotelbeds",
				partner->ops ? partner->ops->name : "none");
	if (query->nhotels < 0 || query->nhotels > HBK_PARTNER_HOTELS_MAX ||
	    (query->nhotels == 0 && query->destination[0] == '\0'))
		return hbk_fail(err, HBK_EINVAL, "invalid_request",
				"an availability query needs 1 to %d hotel codes or a destination",
				HBK_PARTNER_HOTELS_MAX);
	struct hotelbeds *hb = partner->self;
	RUN_SYNC(err, availability_on(hb, query, out, call));
}

/* ------------------------------------------------------------------------
 * Construction.
 */

/* A required setting; secrets come resolved from env: or file:. */
static hbk_result setting(const struct hbk_config *cfg, const char *key, char *out, size_t size,
			  struct hbk_error *err)
{
	const char *value = cfg ? hbk_config_get(cfg, key, NULL) : NULL;
	if (value == NULL || value[0] == '\0')
		return hbk_fail_field(err, HBK_EINVAL, "invalid_config", key,
				      "partner.kind hotelbeds needs %s", key);
	if (!hbk_copy(out, size, value))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_config", key,
				      "%s is longer than %zu characters", key, size - 1);
	return HBK_OK;
}

/*
 * Builds the hotelbeds adapter from partner.url, partner.api_key,
 * partner.secret and partner.timeout_ms. cfg is borrowed and read only
 * here; store is borrowed and must outlive the adapter.
 */
hbk_result hbk_partner_hotelbeds_open(const struct hbk_config *cfg, struct hbk_store *store,
				      struct hbk_partner *out, struct hbk_error *err)
{
	HBK_ASSERT(store != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	struct hotelbeds *hb = hbk_xcalloc(1, sizeof(*hb));
	hb->store = store;
	char url[HB_PATH_MAX], base_url[HB_PATH_MAX + sizeof(HB_API_PATH)];
	long long timeout_ms = 5000;

	hbk_result rc = setting(cfg, "partner.url", url, sizeof(url), err);
	if (rc == HBK_OK)
		rc = setting(cfg, "partner.api_key", hb->key, sizeof(hb->key), err);
	if (rc == HBK_OK)
		rc = setting(cfg, "partner.secret", hb->secret, sizeof(hb->secret), err);
	if (rc == HBK_OK)
		rc = hbk_config_get_int(cfg, "partner.timeout_ms", 5000, 100, 600000, &timeout_ms,
					err);
	if (rc == HBK_OK) {
		size_t len = strlen(url);
		while (len > 0 && url[len - 1] == '/')
			url[--len] = '\0';
		hbk_format(base_url, sizeof(base_url), "%s%s", url, HB_API_PATH);
		struct hbk_upstream_options options = {
		    .name = "partner", .base_url = base_url, .timeout_ms = (int)timeout_ms};
		rc = hbk_upstream_new(&options, &hb->up, err);
		if (rc == HBK_OK)
			rc = hbk_upstream_new(&options, &hb->up_sync, err);
	}
	if (rc != HBK_OK) {
		hb_destroy(hb);
		return rc;
	}
	out->ops = &hotelbeds_ops;
	out->self = hb;
	return HBK_OK;
}
