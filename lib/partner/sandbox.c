/*
 * sandbox.c - the hotel partner simulator: bookings in the shape of the
 * Hotelbeds APItude Booking API, kept in a table of the store
 * (partner_sim_bookings). The embedded default links it in through the
 * partner port; hbk-sandbox serves the same logic over the partner's HTTP
 * protocol, so nothing here knows about transports:
 *
 *   - references look like Hotelbeds' ("102-" + 9 digits), statuses are
 *     CONFIRMED and CANCELLED;
 *   - clientReference is unique: a second booking with the same one fails
 *     with HBK_ECONFLICT "duplicate_client_reference" (PROTOCOLS.md: the
 *     client looks it up instead of booking twice);
 *   - modify with simulate (mode SIMULATION) prices without writing;
 *   - cancel (cancellationFlag CANCELLATION) stores the penalty computed
 *     from the booking's cancellation policy at the given instant; with
 *     simulate (SIMULATION) it only reports it; cancelling a cancelled
 *     booking succeeds and reports the penalty stored the first time;
 *   - faults: partner.faults.error_rate (a probability) fails that fraction
 *     of calls with HBK_EUNAVAILABLE before any state change, so a retry is
 *     safe; partner.faults.fail lists steps (book, modify, cancel) that
 *     always fail with HBK_EDECLINED "partner_rejected".
 *
 * The cancellation policy is stored as JSON text in the booking contract's
 * shape: [{"from":"<RFC 3339>","penalty":{"amount":"120.00","currency":"EUR"}}].
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/faults.h"
#include "hbk/inventory.h"
#include "hbk/json.h"
#include "hbk/partner.h"
#include "hbk/store.h"

/* clang-format off */
#define SIM_REFERENCE_ATTEMPTS_MAX 16 /* fresh references tried before giving up */
#define SIM_HOLDER_MAX 128            /* struct hbk_partner_request.holder_name */

static const char partner_sim_schema[] =
	"CREATE TABLE IF NOT EXISTS partner_sim_bookings ("
	" seq INTEGER PRIMARY KEY,"                /* creation order */
	" reference TEXT NOT NULL UNIQUE,"         /* 102-123456789 */
	" client_reference TEXT NOT NULL UNIQUE,"  /* our booking id */
	" status TEXT NOT NULL CHECK (status IN ('CONFIRMED', 'CANCELLED')),"
	" holder TEXT NOT NULL,"
	" hotel_id TEXT NOT NULL,"
	" room_type TEXT NOT NULL,"
	" board TEXT NOT NULL,"
	" refundable INTEGER NOT NULL CHECK (refundable IN (0, 1)),"
	" checkin TEXT NOT NULL,"                  /* YYYY-MM-DD */
	" checkout TEXT NOT NULL,"
	" rooms INTEGER NOT NULL CHECK (rooms > 0),"
	" adults INTEGER NOT NULL CHECK (adults > 0),"
	" children INTEGER NOT NULL CHECK (children >= 0),"
	" total_minor INTEGER NOT NULL CHECK (total_minor >= 0),"
	" currency TEXT NOT NULL,"
	" cancellation_policy TEXT NOT NULL DEFAULT '[]',"
	" penalty_minor INTEGER,"                  /* set when cancelled */
	" created_ms INTEGER NOT NULL,"
	" modified_ms INTEGER NOT NULL,"
	" cancelled_ms INTEGER"
	");";
/* clang-format on */

/* The columns row_read() reads, in its order. */
#define BOOKING_COLUMNS                                                                            \
	"reference, client_reference, status, holder, hotel_id, room_type, board, refundable,"     \
	" checkin, checkout, rooms, adults, children, total_minor, currency,"                      \
	" cancellation_policy, penalty_minor, created_ms, modified_ms, cancelled_ms"

enum sim_step { STEP_BOOK, STEP_MODIFY, STEP_CANCEL, STEP_COUNT };

static const char *const step_names[STEP_COUNT] = {"book", "modify", "cancel"};

/* What a forced failure of each step says, in the partner's words. */
static const char *const step_refusals[STEP_COUNT] = {
    "partner refused the booking: INVALID_DATA: no rooms at the hotel for these dates "
    "(simulated)",
    "partner refused the modification: INVALID_DATA: the booking cannot be modified "
    "(simulated)",
    "partner refused the cancellation: INVALID_DATA: the booking cannot be cancelled "
    "(simulated)",
};

struct partner_sim {
	struct hbk_store *store;  /* borrowed */
	struct hbk_faults faults; /* partner.faults.* */
};

/* A stored booking with what the port's struct does not carry. */
struct sim_booking {
	struct hbk_partner_booking booking;
	char holder[SIM_HOLDER_MAX];
	struct hbk_policy policy;
	bool cancelled;
	struct hbk_money penalty; /* when cancelled */
	int64_t created_ms, modified_ms, cancelled_ms;
};

hbk_result hbk_partner_sim_migrate(struct hbk_store *store, struct hbk_error *err)
{
	HBK_ASSERT(store != NULL);
	return hbk_store_exec(store, partner_sim_schema, err);
}

/* ------------------------------------------------------------------------
 * Helpers: faults, transactions, references.
 */

/* True with probability ppm / 10^6. */

/* Injected faults, checked first so that a failed call changes nothing.
 * step is an enum sim_step, or -1 for reads. */
static hbk_result check_faults(const struct partner_sim *sim, int step, struct hbk_error *err)
{
	if (hbk_faults_roll(&sim->faults))
		return hbk_fail(err, HBK_EUNAVAILABLE, "partner_unavailable",
				"partner unavailable: simulated 503 (error rate)");
	if (hbk_faults_fails(&sim->faults, step))
		return hbk_fail(err, HBK_EDECLINED, "partner_rejected", "%s", step_refusals[step]);
	return HBK_OK;
}

/* A NUL-terminated, non-empty string within size bytes. */
static bool text_ok(const char *s, size_t size)
{
	return s[0] != '\0' && strnlen(s, size) < size;
}

/* A new reference "102-" + 9 digits, not yet used. */
static hbk_result new_reference(struct hbk_store *store, char out[HBK_PARTNER_REF_MAX],
				struct hbk_error *err)
{
	sqlite3_stmt *stmt = NULL;
	hbk_result r = hbk_store_prepare(
	    store, "SELECT 1 FROM partner_sim_bookings WHERE reference = ?1", &stmt, err);
	if (r != HBK_OK)
		return r;
	for (int attempt = 0; attempt < SIM_REFERENCE_ATTEMPTS_MAX; attempt++) {
		uint64_t random;
		hbk_random_bytes(&random, sizeof(random));
		hbk_format(out, HBK_PARTNER_REF_MAX, "102-%" PRIu64,
			   100000000u + random % 900000000u);
		sqlite3_reset(stmt);
		hbk_bind_text(stmt, 1, out);
		int rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE) {
			hbk_stmt_done(stmt);
			return HBK_OK;
		}
		if (rc != SQLITE_ROW) {
			r = hbk_store_fail(store, err, "check partner reference");
			hbk_stmt_done(stmt);
			return r;
		}
	}
	hbk_stmt_done(stmt);
	return hbk_fail(err, HBK_EINTERNAL, "internal",
			"partner simulator: no free booking reference after %d attempts",
			SIM_REFERENCE_ATTEMPTS_MAX);
}

/* ------------------------------------------------------------------------
 * The cancellation policy as JSON text.
 */

/* Encodes a policy. Caller frees. */
static char *policy_text(const struct hbk_policy *policy)
{
	json_t *array = json_array();
	for (int i = 0; i < policy->count; i++) {
		char from[HBK_TIME_STR];
		hbk_time_format(policy->entries[i].from_ms, from);
		json_t *entry = json_object();
		json_object_set_new(entry, "from", json_string(from));
		json_object_set_new(entry, "penalty", hbk_json_money(&policy->entries[i].penalty));
		json_array_append_new(array, entry);
	}
	char *text = hbk_json_dumps(array);
	json_decref(array);
	return text;
}

/* Decodes what policy_text() wrote. */
static hbk_result policy_parse(const char *text, struct hbk_policy *out, struct hbk_error *err)
{
	memset(out, 0, sizeof(*out));
	json_t *array = hbk_json_loads(text, strlen(text), err);
	if (array == NULL)
		return HBK_EINTERNAL;
	hbk_result r = HBK_OK;
	if (!json_is_array(array) || json_array_size(array) > HBK_POLICY_MAX)
		r = hbk_fail(err, HBK_EINTERNAL, "internal",
			     "partner simulator: malformed stored cancellation policy");
	for (size_t i = 0; r == HBK_OK && i < json_array_size(array); i++) {
		const json_t *entry = json_array_get(array, i);
		struct hbk_policy_entry *e = &out->entries[i];
		if (!hbk_time_parse(hbk_json_str(entry, "from", ""), &e->from_ms))
			r = hbk_fail(err, HBK_EINTERNAL, "internal",
				     "partner simulator: bad time in stored cancellation policy");
		else
			r = hbk_json_get_money(entry, "penalty", &e->penalty, err);
		if (r == HBK_OK)
			out->count++;
	}
	json_decref(array);
	return r;
}

/* ------------------------------------------------------------------------
 * Rows.
 */

/* Reads the current row (BOOKING_COLUMNS). */
static hbk_result row_read(sqlite3_stmt *stmt, struct sim_booking *out, struct hbk_error *err)
{
	memset(out, 0, sizeof(*out));
	struct hbk_partner_booking *b = &out->booking;
	struct hbk_stay *stay = &b->stay;
	hbk_copy(b->reference, sizeof(b->reference), hbk_column_text(stmt, 0));
	hbk_copy(b->client_reference, sizeof(b->client_reference), hbk_column_text(stmt, 1));
	hbk_copy(b->status, sizeof(b->status), hbk_column_text(stmt, 2));
	hbk_copy(out->holder, sizeof(out->holder), hbk_column_text(stmt, 3));
	hbk_copy(stay->hotel_id, sizeof(stay->hotel_id), hbk_column_text(stmt, 4));
	hbk_copy(stay->room_type, sizeof(stay->room_type), hbk_column_text(stmt, 5));
	hbk_copy(stay->board, sizeof(stay->board), hbk_column_text(stmt, 6));
	stay->refundable = sqlite3_column_int(stmt, 7) != 0;
	bool dates_ok = hbk_date_parse(hbk_column_text(stmt, 8), &stay->checkin) &&
			hbk_date_parse(hbk_column_text(stmt, 9), &stay->checkout);
	stay->rooms = sqlite3_column_int(stmt, 10);
	stay->adults = sqlite3_column_int(stmt, 11);
	stay->children = sqlite3_column_int(stmt, 12);
	b->total = hbk_money_make(sqlite3_column_int64(stmt, 13), hbk_column_text(stmt, 14));
	out->cancelled = strcmp(b->status, "CANCELLED") == 0;
	out->penalty = hbk_money_make(sqlite3_column_int64(stmt, 16), b->total.currency);
	out->created_ms = sqlite3_column_int64(stmt, 17);
	out->modified_ms = sqlite3_column_int64(stmt, 18);
	out->cancelled_ms = sqlite3_column_int64(stmt, 19);
	if (!dates_ok)
		return hbk_fail(err, HBK_EINTERNAL, "internal",
				"partner simulator: bad stay dates in booking %s", b->reference);
	return policy_parse(hbk_column_text(stmt, 15), &out->policy, err);
}

enum sim_key { BY_REFERENCE, BY_CLIENT_REFERENCE };

/* Loads one booking; *found tells whether there was one. */
static hbk_result booking_load(struct hbk_store *store, enum sim_key by, const char *value,
			       struct sim_booking *out, bool *found, struct hbk_error *err)
{
	static const char *const sql[] = {
	    [BY_REFERENCE] =
		"SELECT " BOOKING_COLUMNS " FROM partner_sim_bookings WHERE reference = ?1",
	    [BY_CLIENT_REFERENCE] =
		"SELECT " BOOKING_COLUMNS " FROM partner_sim_bookings WHERE client_reference = ?1",
	};
	*found = false;
	sqlite3_stmt *stmt = NULL;
	hbk_result r = hbk_store_prepare(store, sql[by], &stmt, err);
	if (r != HBK_OK)
		return r;
	hbk_bind_text(stmt, 1, value);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*found = true;
		r = row_read(stmt, out, err);
	} else if (rc != SQLITE_DONE) {
		r = hbk_store_fail(store, err, "load partner booking");
	}
	hbk_stmt_done(stmt);
	return r;
}

/* Loads by reference inside an operation: HBK_ENOTFOUND when none. */
static hbk_result booking_require(struct hbk_store *store, const char *reference,
				  struct sim_booking *out, struct hbk_error *err)
{
	bool found = false;
	hbk_result r = booking_load(store, BY_REFERENCE, reference, out, &found, err);
	if (r == HBK_OK && !found)
		r = hbk_fail(err, HBK_ENOTFOUND, "booking_not_found",
			     "partner has no booking with reference '%.*s'",
			     hbk_utf8_cut(reference, 64), reference);
	return r;
}

/* A booking as port JSON (new reference). */
static json_t *booking_json(const struct sim_booking *row)
{
	const struct hbk_partner_booking *b = &row->booking;
	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR], time[HBK_TIME_STR];
	hbk_date_format(b->stay.checkin, checkin);
	hbk_date_format(b->stay.checkout, checkout);

	json_t *obj = json_object();
	json_object_set_new(obj, "reference", json_string(b->reference));
	json_object_set_new(obj, "client_reference", json_string(b->client_reference));
	json_object_set_new(obj, "status", json_string(b->status));
	json_object_set_new(obj, "holder", json_string(row->holder));
	json_object_set_new(obj, "hotel_id", json_string(b->stay.hotel_id));
	json_object_set_new(obj, "room_type", json_string(b->stay.room_type));
	json_object_set_new(obj, "board", json_string(b->stay.board));
	json_object_set_new(obj, "refundable", json_boolean(b->stay.refundable));
	json_object_set_new(obj, "checkin", json_string(checkin));
	json_object_set_new(obj, "checkout", json_string(checkout));
	json_object_set_new(obj, "rooms", json_integer(b->stay.rooms));
	json_object_set_new(obj, "adults", json_integer(b->stay.adults));
	json_object_set_new(obj, "children", json_integer(b->stay.children));
	json_object_set_new(obj, "total", hbk_json_money(&b->total));

	json_t *policy = json_array();
	for (int i = 0; i < row->policy.count; i++) {
		json_t *entry = json_object();
		hbk_time_format(row->policy.entries[i].from_ms, time);
		json_object_set_new(entry, "from", json_string(time));
		json_object_set_new(entry, "penalty",
				    hbk_json_money(&row->policy.entries[i].penalty));
		json_array_append_new(policy, entry);
	}
	json_object_set_new(obj, "cancellation_policy", policy);
	if (row->cancelled)
		json_object_set_new(obj, "penalty", hbk_json_money(&row->penalty));
	hbk_time_format(row->created_ms, time);
	json_object_set_new(obj, "created_at", json_string(time));
	hbk_time_format(row->modified_ms, time);
	json_object_set_new(obj, "updated_at", json_string(time));
	if (row->cancelled) {
		hbk_time_format(row->cancelled_ms, time);
		json_object_set_new(obj, "cancelled_at", json_string(time));
	}
	return obj;
}

/* ------------------------------------------------------------------------
 * Request checks: what the partner answers with 400 INVALID_REQUEST.
 */

static hbk_result invalid(struct hbk_error *err, const char *field, const char *what)
{
	return hbk_fail_field(err, HBK_EINVAL, "invalid_request", field,
			      "partner rejected the request: INVALID_REQUEST: %s", what);
}

static hbk_result stay_check(const struct hbk_stay *stay, struct hbk_error *err)
{
	if (!text_ok(stay->hotel_id, sizeof(stay->hotel_id)))
		return invalid(err, "hotel", "missing hotel");
	if (!text_ok(stay->room_type, sizeof(stay->room_type)))
		return invalid(err, "room_type", "missing room type");
	if (!text_ok(stay->board, sizeof(stay->board)))
		return invalid(err, "board", "missing board");
	if (stay->checkin < 0 || stay->checkout > hbk_date_from_ymd(9999, 12, 31))
		return invalid(err, "checkin", "stay dates out of range");
	if (stay->checkout <= stay->checkin || stay->checkout - stay->checkin > HBK_MAX_NIGHTS)
		return invalid(err, "checkout", "checkout must be 1 to 30 nights after checkin");
	if (stay->rooms < 1 || stay->rooms > HBK_MAX_ROOMS)
		return invalid(err, "rooms", "rooms out of range");
	if (stay->adults < stay->rooms || stay->children < 0 ||
	    stay->adults + stay->children > HBK_MAX_GUESTS)
		return invalid(err, "adults", "every room needs an adult; too many guests");
	return HBK_OK;
}

/* Checks a request; book also needs the client reference and the holder. */
static hbk_result request_check(const struct hbk_partner_request *req, bool book,
				struct hbk_error *err)
{
	if (book && !text_ok(req->client_reference, sizeof(req->client_reference)))
		return invalid(err, "client_reference", "missing clientReference");
	if (strnlen(req->client_reference, sizeof(req->client_reference)) >=
	    sizeof(req->client_reference))
		return invalid(err, "client_reference", "clientReference too long");
	if (book && !text_ok(req->holder_name, sizeof(req->holder_name)))
		return invalid(err, "holder", "missing holder name");
	if (strnlen(req->holder_name, sizeof(req->holder_name)) >= sizeof(req->holder_name))
		return invalid(err, "holder", "holder name too long");
	hbk_result r = stay_check(&req->stay, err);
	if (r != HBK_OK)
		return r;
	if (strnlen(req->total.currency, sizeof(req->total.currency)) != 3 ||
	    hbk_currency_exponent(req->total.currency) < 0 || req->total.minor < 0)
		return invalid(err, "total", "bad total or currency");
	if (req->policy.count < 0 || req->policy.count > HBK_POLICY_MAX)
		return invalid(err, "cancellation_policy", "too many cancellation policies");
	for (int i = 0; i < req->policy.count; i++) {
		const struct hbk_money *penalty = &req->policy.entries[i].penalty;
		if (penalty->minor < 0 ||
		    strncmp(penalty->currency, req->total.currency, sizeof(penalty->currency)) != 0)
			return invalid(err, "cancellation_policy",
				       "a penalty must be in the booking's currency");
	}
	return HBK_OK;
}

static hbk_result reference_check(const char *reference, struct hbk_error *err)
{
	if (reference == NULL || !text_ok(reference, HBK_PARTNER_REF_MAX))
		return invalid(err, "reference", "missing or overlong booking reference");
	return HBK_OK;
}

/* ------------------------------------------------------------------------
 * Operations.
 */

static hbk_result booking_insert(struct hbk_store *store, const char *reference,
				 const struct hbk_partner_request *req, struct hbk_error *err)
{
	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR];
	hbk_date_format(req->stay.checkin, checkin);
	hbk_date_format(req->stay.checkout, checkout);
	sqlite3_stmt *stmt = NULL;
	hbk_result r = hbk_store_prepare(
	    store,
	    "INSERT INTO partner_sim_bookings (reference, client_reference, status, holder,"
	    " hotel_id, room_type, board, refundable, checkin, checkout, rooms, adults,"
	    " children, total_minor, currency, cancellation_policy, created_ms, modified_ms)"
	    " VALUES (?1, ?2, 'CONFIRMED', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
	    " ?14, ?15, ?16, ?16)",
	    &stmt, err);
	if (r != HBK_OK)
		return r;
	char *policy = policy_text(&req->policy);
	hbk_bind_text(stmt, 1, reference);
	hbk_bind_text(stmt, 2, req->client_reference);
	hbk_bind_text(stmt, 3, req->holder_name);
	hbk_bind_text(stmt, 4, req->stay.hotel_id);
	hbk_bind_text(stmt, 5, req->stay.room_type);
	hbk_bind_text(stmt, 6, req->stay.board);
	sqlite3_bind_int(stmt, 7, req->stay.refundable ? 1 : 0);
	hbk_bind_text(stmt, 8, checkin);
	hbk_bind_text(stmt, 9, checkout);
	sqlite3_bind_int(stmt, 10, req->stay.rooms);
	sqlite3_bind_int(stmt, 11, req->stay.adults);
	sqlite3_bind_int(stmt, 12, req->stay.children);
	sqlite3_bind_int64(stmt, 13, req->total.minor);
	hbk_bind_text(stmt, 14, req->total.currency);
	hbk_bind_text(stmt, 15, policy);
	sqlite3_bind_int64(stmt, 16, hbk_now_ms());
	r = hbk_store_step_done(store, stmt, "create partner booking", err);
	hbk_stmt_done(stmt);
	free(policy);
	return r;
}

/*
 * POST /bookings. req is borrowed; out is filled with the confirmed
 * booking. A second booking with req->client_reference fails with
 * HBK_ECONFLICT "duplicate_client_reference" and changes nothing.
 */
static hbk_result sim_book(void *self, const struct hbk_partner_request *req,
			   struct hbk_partner_booking *out, struct hbk_error *err)
{
	struct partner_sim *sim = self;
	HBK_ASSERT(sim != NULL);
	HBK_ASSERT(req != NULL && out != NULL);
	memset(out, 0, sizeof(*out));

	hbk_result r = check_faults(sim, STEP_BOOK, err);
	if (r != HBK_OK)
		return r;
	if ((r = request_check(req, true, err)) != HBK_OK)
		return r;

	bool owned = false;
	if ((r = hbk_store_join(sim->store, &owned, err)) != HBK_OK)
		return r;
	struct sim_booking row;
	bool found = false;
	r = booking_load(sim->store, BY_CLIENT_REFERENCE, req->client_reference, &row, &found, err);
	if (r == HBK_OK && found)
		r = hbk_fail_field(err, HBK_ECONFLICT, "duplicate_client_reference",
				   "client_reference",
				   "partner refused the booking: INVALID_DATA: clientReference %s "
				   "is already booked as %s",
				   req->client_reference, row.booking.reference);
	char reference[HBK_PARTNER_REF_MAX];
	if (r == HBK_OK)
		r = new_reference(sim->store, reference, err);
	if (r == HBK_OK)
		r = booking_insert(sim->store, reference, req, err);
	if (r == HBK_OK)
		r = booking_require(sim->store, reference, &row, err);
	if (r != HBK_OK) {
		hbk_store_leave(sim->store, owned, false, NULL);
		return r;
	}
	if ((r = hbk_store_leave(sim->store, owned, true, err)) != HBK_OK)
		return r;
	*out = row.booking;
	HBK_ASSERT(strcmp(out->status, "CONFIRMED") == 0);
	return HBK_OK;
}

/* GET /bookings?clientReference=. Borrowed argument; out filled when found. */
static hbk_result sim_find(void *self, const char *client_reference,
			   struct hbk_partner_booking *out, struct hbk_error *err)
{
	struct partner_sim *sim = self;
	HBK_ASSERT(sim != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	hbk_result r = check_faults(sim, -1, err);
	if (r != HBK_OK)
		return r;
	if (client_reference == NULL || !text_ok(client_reference, HBK_ID_MAX))
		return invalid(err, "client_reference", "missing or overlong clientReference");
	struct sim_booking row;
	bool found = false;
	r = booking_load(sim->store, BY_CLIENT_REFERENCE, client_reference, &row, &found, err);
	if (r != HBK_OK)
		return r;
	if (!found)
		return hbk_fail(err, HBK_ENOTFOUND, "booking_not_found",
				"partner has no booking with client reference '%s'",
				client_reference);
	*out = row.booking;
	return HBK_OK;
}

static hbk_result booking_update(struct hbk_store *store, const struct sim_booking *row,
				 struct hbk_error *err)
{
	const struct hbk_partner_booking *b = &row->booking;
	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR];
	hbk_date_format(b->stay.checkin, checkin);
	hbk_date_format(b->stay.checkout, checkout);
	sqlite3_stmt *stmt = NULL;
	hbk_result r = hbk_store_prepare(
	    store,
	    "UPDATE partner_sim_bookings SET holder = ?2, room_type = ?3, board = ?4,"
	    " refundable = ?5, checkin = ?6, checkout = ?7, rooms = ?8, adults = ?9,"
	    " children = ?10, total_minor = ?11, currency = ?12, cancellation_policy = ?13,"
	    " modified_ms = ?14 WHERE reference = ?1 AND status = 'CONFIRMED'",
	    &stmt, err);
	if (r != HBK_OK)
		return r;
	char *policy = policy_text(&row->policy);
	hbk_bind_text(stmt, 1, b->reference);
	hbk_bind_text(stmt, 2, row->holder);
	hbk_bind_text(stmt, 3, b->stay.room_type);
	hbk_bind_text(stmt, 4, b->stay.board);
	sqlite3_bind_int(stmt, 5, b->stay.refundable ? 1 : 0);
	hbk_bind_text(stmt, 6, checkin);
	hbk_bind_text(stmt, 7, checkout);
	sqlite3_bind_int(stmt, 8, b->stay.rooms);
	sqlite3_bind_int(stmt, 9, b->stay.adults);
	sqlite3_bind_int(stmt, 10, b->stay.children);
	sqlite3_bind_int64(stmt, 11, b->total.minor);
	hbk_bind_text(stmt, 12, b->total.currency);
	hbk_bind_text(stmt, 13, policy);
	sqlite3_bind_int64(stmt, 14, hbk_now_ms());
	r = hbk_store_step_done(store, stmt, "modify partner booking", err);
	hbk_stmt_done(stmt);
	free(policy);
	if (r == HBK_OK)
		HBK_ASSERT(sqlite3_changes(store->db) == 1);
	return r;
}

/*
 * PUT /bookings/{reference}: applies req's stay, total, policy and holder
 * (an empty holder keeps the current one). With simulate it returns the
 * changed booking without writing. Borrowed arguments; out filled on
 * success. A cancelled booking or another hotel is refused.
 */
static hbk_result sim_modify(void *self, const char *reference,
			     const struct hbk_partner_request *req, bool simulate,
			     struct hbk_partner_booking *out, struct hbk_error *err)
{
	struct partner_sim *sim = self;
	HBK_ASSERT(sim != NULL);
	HBK_ASSERT(req != NULL && out != NULL);
	memset(out, 0, sizeof(*out));

	hbk_result r = check_faults(sim, STEP_MODIFY, err);
	if (r != HBK_OK)
		return r;
	if ((r = reference_check(reference, err)) != HBK_OK)
		return r;
	if ((r = request_check(req, false, err)) != HBK_OK)
		return r;

	bool owned = false;
	if (!simulate && (r = hbk_store_join(sim->store, &owned, err)) != HBK_OK)
		return r;
	struct sim_booking row;
	r = booking_require(sim->store, reference, &row, err);
	if (r == HBK_OK && row.cancelled)
		r = hbk_fail(err, HBK_ECONFLICT, "booking_cancelled",
			     "partner refused the modification: INVALID_DATA: booking %s is "
			     "cancelled",
			     reference);
	if (r == HBK_OK && req->client_reference[0] != '\0' &&
	    strcmp(req->client_reference, row.booking.client_reference) != 0)
		r = invalid(err, "client_reference", "clientReference does not match the booking");
	if (r == HBK_OK && strcmp(req->stay.hotel_id, row.booking.stay.hotel_id) != 0)
		r = hbk_fail(err, HBK_EDECLINED, "partner_rejected",
			     "partner refused the modification: INVALID_DATA: a booking cannot "
			     "move to another hotel");
	if (r == HBK_OK) {
		row.booking.stay = req->stay;
		row.booking.total = req->total;
		row.policy = req->policy;
		if (req->holder_name[0] != '\0')
			hbk_copy(row.holder, sizeof(row.holder), req->holder_name);
		if (!simulate)
			r = booking_update(sim->store, &row, err);
		if (r == HBK_OK && !simulate)
			r = booking_require(sim->store, reference, &row, err);
	}
	if (r != HBK_OK) {
		hbk_store_leave(sim->store, owned, false, NULL);
		return r;
	}
	if ((r = hbk_store_leave(sim->store, owned, true, err)) != HBK_OK)
		return r;
	*out = row.booking;
	return HBK_OK;
}

static hbk_result booking_mark_cancelled(struct hbk_store *store, const char *reference,
					 const struct hbk_money *penalty, int64_t now_ms,
					 struct hbk_error *err)
{
	sqlite3_stmt *stmt = NULL;
	hbk_result r = hbk_store_prepare(
	    store,
	    "UPDATE partner_sim_bookings SET status = 'CANCELLED', penalty_minor = ?2,"
	    " cancelled_ms = ?3, modified_ms = ?4 WHERE reference = ?1 AND status = 'CONFIRMED'",
	    &stmt, err);
	if (r != HBK_OK)
		return r;
	hbk_bind_text(stmt, 1, reference);
	sqlite3_bind_int64(stmt, 2, penalty->minor);
	sqlite3_bind_int64(stmt, 3, now_ms);
	sqlite3_bind_int64(stmt, 4, hbk_now_ms());
	r = hbk_store_step_done(store, stmt, "cancel partner booking", err);
	hbk_stmt_done(stmt);
	if (r == HBK_OK)
		HBK_ASSERT(sqlite3_changes(store->db) == 1);
	return r;
}

/*
 * DELETE /bookings/{reference}: cancels at now_ms and sets *penalty from
 * the booking's policy at that instant. With simulate only the penalty is
 * computed. A booking already cancelled answers with the penalty stored
 * when it was cancelled. Borrowed arguments.
 */
static hbk_result sim_cancel(void *self, const char *reference, bool simulate, int64_t now_ms,
			     struct hbk_money *penalty, struct hbk_error *err)
{
	struct partner_sim *sim = self;
	HBK_ASSERT(sim != NULL);
	HBK_ASSERT(penalty != NULL);
	memset(penalty, 0, sizeof(*penalty));

	hbk_result r = check_faults(sim, STEP_CANCEL, err);
	if (r != HBK_OK)
		return r;
	if ((r = reference_check(reference, err)) != HBK_OK)
		return r;

	bool owned = false;
	if (!simulate && (r = hbk_store_join(sim->store, &owned, err)) != HBK_OK)
		return r;
	struct sim_booking row;
	struct hbk_money due = {0};
	bool write = false;
	r = booking_require(sim->store, reference, &row, err);
	if (r == HBK_OK && row.cancelled) {
		due = row.penalty;
	} else if (r == HBK_OK) {
		due = hbk_policy_penalty_at(&row.policy, row.booking.total.currency, now_ms);
		if (due.currency[0] == '\0')
			due = hbk_money_make(due.minor, row.booking.total.currency);
		write = !simulate;
	}
	if (r == HBK_OK && write)
		r = booking_mark_cancelled(sim->store, reference, &due, now_ms, err);
	if (r != HBK_OK) {
		hbk_store_leave(sim->store, owned, false, NULL);
		return r;
	}
	if ((r = hbk_store_leave(sim->store, owned, write, err)) != HBK_OK)
		return r;
	HBK_ASSERT(due.minor >= 0);
	*penalty = due;
	return HBK_OK;
}

/* GET /bookings: every booking in creation order. *out is a new reference
 * on success. */
static hbk_result sim_list(void *self, json_t **out, struct hbk_error *err)
{
	struct partner_sim *sim = self;
	HBK_ASSERT(sim != NULL && out != NULL);
	*out = NULL;
	hbk_result r = check_faults(sim, -1, err);
	if (r != HBK_OK)
		return r;
	sqlite3_stmt *stmt = NULL;
	r = hbk_store_prepare(sim->store,
			      "SELECT " BOOKING_COLUMNS " FROM partner_sim_bookings ORDER BY seq",
			      &stmt, err);
	if (r != HBK_OK)
		return r;
	json_t *array = json_array();
	int rc = SQLITE_DONE;
	struct sim_booking row;
	while (r == HBK_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		r = row_read(stmt, &row, err);
		if (r == HBK_OK)
			json_array_append_new(array, booking_json(&row));
	}
	if (r == HBK_OK && rc != SQLITE_DONE)
		r = hbk_store_fail(sim->store, err, "list partner bookings");
	hbk_stmt_done(stmt);
	if (r != HBK_OK) {
		json_decref(array);
		return r;
	}
	*out = array;
	return HBK_OK;
}

static const struct hbk_partner_ops sandbox_ops;

/*
 * One booking of the simulator as port JSON (the shape list gives), by
 * its reference or by our client reference: what hbk-sandbox needs to
 * answer GET /bookings/{reference} in the partner's shape. *out is a new
 * reference; HBK_ENOTFOUND when there is no such booking.
 */
hbk_result hbk_partner_sim_booking(struct hbk_partner *partner, const char *value,
				   bool by_client_reference, json_t **out, struct hbk_error *err)
{
	HBK_ASSERT(partner != NULL && out != NULL);
	*out = NULL;
	if (partner->ops != &sandbox_ops)
		return hbk_fail(err, HBK_EINVAL, "partner_not_sandbox",
				"the partner is not the sandbox simulator");
	struct partner_sim *sim = partner->self;
	if (value == NULL || !text_ok(value, HBK_PARTNER_REF_MAX))
		return invalid(err, "reference", "missing or overlong booking reference");
	struct sim_booking row;
	bool found = false;
	hbk_result r =
	    booking_load(sim->store, by_client_reference ? BY_CLIENT_REFERENCE : BY_REFERENCE,
			 value, &row, &found, err);
	if (r != HBK_OK)
		return r;
	if (!found)
		return hbk_fail(err, HBK_ENOTFOUND, "booking_not_found",
				"partner has no booking with %s '%s'",
				by_client_reference ? "client reference" : "reference", value);
	*out = booking_json(&row);
	return HBK_OK;
}

static void sim_destroy(void *self)
{
	free(self);
}

static const struct hbk_partner_ops sandbox_ops = {
    .name = "sandbox",
    .book = sim_book,
    .find = sim_find,
    .modify = sim_modify,
    .cancel = sim_cancel,
    .list = sim_list,
    .destroy = sim_destroy,
};

/* ------------------------------------------------------------------------
 * Construction.
 */

/*
 * Builds the sandbox adapter. cfg is borrowed and read only here (may be
 * NULL: no faults); store is borrowed and must outlive the adapter. On
 * success out owns the simulator until hbk_partner_close().
 */
hbk_result hbk_partner_sandbox_open(const struct hbk_config *cfg, struct hbk_store *store,
				    struct hbk_partner *out, struct hbk_error *err)
{
	HBK_ASSERT(store != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	struct partner_sim *sim = hbk_xcalloc(1, sizeof(*sim));
	sim->store = store;

	hbk_result r = hbk_faults_load(cfg, "partner", step_names, STEP_COUNT, &sim->faults, err);
	if (r != HBK_OK) {
		free(sim);
		return r;
	}
	out->ops = &sandbox_ops;
	out->self = sim;
	return HBK_OK;
}
