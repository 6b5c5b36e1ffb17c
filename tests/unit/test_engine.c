/*
 * test_engine.c - proves the booking commands and saga end to end on a real
 * embedded store: a booking takes exactly its nights of allotment, books
 * once at the partner and captures exactly the total; a declined card or a
 * partner refusal ends FAILED with everything given back; updates move
 * allotment between nights (overlaps counted once) and settle the price
 * difference; cancellation refunds paid - penalty; refusals (no
 * availability, wrong state, unknown id) write nothing; and a process
 * killed (SIGKILL) in the middle of a saga is resumed by recovery to the
 * same outcome without a second partner booking or payment intent. Each
 * test seeds the demo catalog into a fresh $HBK_HOME under the test's
 * temporary directory and checks the inventory, event, booking and
 * simulator tables with SQL; crashes run the saga in a forked child that
 * dies through the HBK_FAULT_KILL_AT test hook.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/json.h"
#include "hbk/reservation.h"
#include "hbk/store.h"
#include "unit.h"

#define HOTEL "H-LIS-0001"
#define ROOM "DBL"

struct env {
	struct hbk_config *cfg;
	struct hbk_engine *engine;
	struct hbk_store *store; /* engine->store */
	hbk_date today;
};

/* A fresh HBK_HOME named name, the configuration yaml, the demo catalog. */
static bool env_open(struct env *e, const char *name, const char *yaml)
{
	char home[512];
	struct hbk_error err;
	memset(e, 0, sizeof(*e));
	unsetenv("HBK_TODAY");
	unsetenv("HBK_FAULT_KILL_AT");
	snprintf(home, sizeof(home), "%s/%s", unit_tmpdir(), name);
	CHECK(mkdir(home, 0700) == 0);
	setenv("HBK_HOME", home, 1);
	hbk_result r = hbk_config_load_string(yaml, name, &e->cfg, &err);
	if (r == HBK_OK)
		r = hbk_engine_open(e->cfg, HBK_ENGINE_CREATE, &e->engine, &err);
	e->today = hbk_date_today();
	if (r == HBK_OK)
		r = hbk_inventory_seed_demo(e->engine->store, e->today, 60, NULL, NULL, &err);
	if (r != HBK_OK)
		fprintf(stderr, "  env %s: %s\n", name, err.message);
	CHECK_INT(r, HBK_OK);
	e->store = e->engine ? e->engine->store : NULL;
	return r == HBK_OK;
}

static void env_close(struct env *e)
{
	hbk_engine_close(e->engine);
	hbk_config_free(e->cfg);
	memset(e, 0, sizeof(*e));
}

/* Reopens the engine on the same store (without recovery). */
static bool env_reopen(struct env *e)
{
	struct hbk_error err;
	hbk_result r = hbk_engine_open(e->cfg, HBK_ENGINE_NO_RECOVER, &e->engine, &err);
	if (r != HBK_OK)
		fprintf(stderr, "  reopen: %s\n", err.message);
	CHECK_INT(r, HBK_OK);
	e->store = r == HBK_OK ? e->engine->store : NULL;
	return r == HBK_OK;
}

/* The first column of the first row of sql, with ?1 bound to text (if any). */
static long long query_int(struct hbk_store *store, const char *sql, const char *text)
{
	sqlite3_stmt *stmt = NULL;
	long long n = -1;
	if (!store || hbk_store_prepare(store, sql, &stmt, NULL) != HBK_OK)
		return -1;
	if (text)
		hbk_bind_text(stmt, 1, text);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

static long long allotment(struct env *e, const char *room, hbk_date night)
{
	sqlite3_stmt *stmt = NULL;
	long long n = -1;
	if (hbk_store_prepare(e->store,
			      "SELECT allotment FROM inventory WHERE hotel_id = ? AND room_type = ?"
			      " AND night = ?",
			      &stmt, NULL) != HBK_OK)
		return -1;
	hbk_bind_text(stmt, 1, HOTEL);
	hbk_bind_text(stmt, 2, room);
	sqlite3_bind_int(stmt, 3, night);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

#define NIGHTS_SEEN 20
/* Allotments of ROOM from today + 0 to today + NIGHTS_SEEN - 1. */
static void snapshot(struct env *e, long long out[NIGHTS_SEEN])
{
	for (int i = 0; i < NIGHTS_SEEN; i++)
		out[i] = allotment(e, ROOM, e->today + i);
}

/* Checks each night's allotment moved by delta[i] since before. */
static void check_moved(struct env *e, const long long before[NIGHTS_SEEN],
			const int delta[NIGHTS_SEEN])
{
	for (int i = 0; i < NIGHTS_SEEN; i++) {
		long long now = allotment(e, ROOM, e->today + i);
		if (now != before[i] + delta[i])
			fprintf(stderr, "  night today+%d: allotment %lld, expected %lld\n", i, now,
				before[i] + delta[i]);
		CHECK_INT(now, before[i] + delta[i]);
	}
}

static struct hbk_book_request request(struct env *e, int from_day, int nights, int rooms,
				       bool refundable, const char *payment_method)
{
	struct hbk_book_request req;
	memset(&req, 0, sizeof(req));
	hbk_copy(req.stay.hotel_id, sizeof(req.stay.hotel_id), HOTEL);
	hbk_copy(req.stay.room_type, sizeof(req.stay.room_type), ROOM);
	hbk_copy(req.stay.board, sizeof(req.stay.board), "BB");
	req.stay.refundable = refundable;
	req.stay.checkin = e->today + from_day;
	req.stay.checkout = e->today + from_day + nights;
	req.stay.adults = 2;
	req.stay.rooms = rooms;
	hbk_copy(req.guest.name, sizeof(req.guest.name), "Ana Silva");
	hbk_copy(req.guest.email, sizeof(req.guest.email), "ana@example.com");
	hbk_copy(req.guest.phone, sizeof(req.guest.phone), "+351912345678");
	hbk_copy(req.payment_method, sizeof(req.payment_method), payment_method);
	return req;
}

/* Minor units of a money member of a booking JSON ("total", "paid" ...). */
static int64_t minor_of(const json_t *obj, const char *key)
{
	struct hbk_money m = {.minor = -1};
	if (hbk_json_get_money(obj, key, &m, NULL) != HBK_OK)
		return -1;
	return m.minor;
}

/* Books; on success copies the id out. Returns the result. */
static hbk_result book(struct env *e, const struct hbk_book_request *req, char id[HBK_ID_MAX],
		       json_t **out, struct hbk_error *err)
{
	hbk_error_clear(err);
	*out = NULL;
	hbk_result r = hbk_book(e->engine, req, out, err);
	id[0] = '\0';
	if (*out)
		hbk_copy(id, HBK_ID_MAX, hbk_json_str(*out, "id", ""));
	return r;
}

static long long events_count(struct env *e)
{
	return query_int(e->store, "SELECT count(*) FROM events", NULL);
}

/* Events that change a booking: all but the notification history. */
static long long change_events(struct env *e)
{
	return query_int(e->store,
			 "SELECT count(*) FROM events WHERE type NOT LIKE 'hbk.booking.notification_%'",
			 NULL);
}

static long long partner_bookings(struct env *e, const char *id)
{
	return query_int(e->store,
			 "SELECT count(*) FROM partner_sim_bookings WHERE client_reference = ?1",
			 id);
}

static long long intents(struct env *e, const char *id)
{
	return query_int(e->store, "SELECT count(*) FROM payment_sim_intents WHERE booking_id = ?1",
			 id);
}

static void test_book_confirmed(void)
{
	struct env e;
	if (!env_open(&e, "book", "")) {
		env_close(&e);
		return;
	}
	long long before[NIGHTS_SEEN];
	snapshot(&e, before);
	for (int i = 0; i < NIGHTS_SEEN; i++)
		CHECK(before[i] > 0);

	struct hbk_book_request req = request(&e, 10, 3, 1, true, "pm_card_visa");
	json_t *out;
	char id[HBK_ID_MAX];
	struct hbk_error err;
	hbk_result r = book(&e, &req, id, &out, &err);
	if (r != HBK_OK)
		fprintf(stderr, "  book: %s\n", err.message);
	CHECK_INT(r, HBK_OK);
	CHECK(hbk_id_valid("BK", id));
	CHECK_STR(hbk_json_str(out, "status", ""), "CONFIRMED");
	CHECK_INT(hbk_json_int(out, "version", -1), 1);
	CHECK_INT(hbk_json_int(out, "nights", -1), 3);
	int64_t total = minor_of(out, "total");
	CHECK(total > 0);
	CHECK_INT(minor_of(out, "paid"), total);
	CHECK_INT(minor_of(out, "refunded"), 0);
	CHECK(json_object_get(out, "failure") == NULL);
	CHECK(strncmp(hbk_json_str(json_object_get(out, "payment"), "reference", ""), "pi_", 3) ==
	      0);
	CHECK(hbk_json_str(json_object_get(out, "partner"), "reference", "")[0] != '\0');

	int delta[NIGHTS_SEEN] = {[10] = -1, [11] = -1, [12] = -1};
	check_moved(&e, before, delta);

	CHECK_INT(partner_bookings(&e, id), 1);
	CHECK_INT(query_int(e.store,
			    "SELECT count(*) FROM partner_sim_bookings WHERE client_reference = ?1"
			    " AND status = 'CONFIRMED' AND rooms = 1",
			    id),
		  1);
	CHECK_INT(intents(&e, id), 1);
	CHECK_INT(query_int(e.store,
			    "SELECT amount_received FROM payment_sim_intents WHERE booking_id = ?1"
			    " AND status = 'succeeded' AND currency = 'eur'",
			    id),
		  total);
	CHECK_INT(query_int(e.store, "SELECT amount FROM payment_sim_intents WHERE booking_id = ?1",
			    id),
		  total);
	CHECK_INT(query_int(e.store,
			    "SELECT count(*) FROM bookings WHERE id = ?1 AND status = 'CONFIRMED'"
			    " AND version = 1",
			    id),
		  1);
	CHECK_INT(query_int(e.store, "SELECT paid_minor FROM bookings WHERE id = ?1", id), total);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM sagas", NULL), 0);
	CHECK_INT(query_int(e.store,
			    "SELECT count(*) FROM events WHERE stream = ?1"
			    " AND type = 'hbk.booking.notification_sent.v1'",
			    id),
		  1);

	/* The projection and the event fold agree. */
	json_t *view = NULL;
	CHECK_INT(hbk_booking_view(e.engine, id, &view, &err), HBK_OK);
	CHECK(json_equal(view, out));
	json_decref(view);
	struct hbk_booking b;
	CHECK_INT(hbk_booking_get(e.engine, id, &b, &err), HBK_OK);
	CHECK_INT(b.status, HBK_BOOKING_CONFIRMED);
	CHECK_INT(b.sequence, query_int(e.store, "SELECT max(sequence) FROM events WHERE stream = ?1",
					id));

	json_t *history = NULL;
	CHECK_INT(hbk_history(e.engine, id, &history, &err), HBK_OK);
	json_t *events = json_object_get(history, "events");
	CHECK_INT(json_array_size(events),
		  query_int(e.store, "SELECT count(*) FROM events WHERE stream = ?1", id));
	CHECK_STR(hbk_json_str(json_array_get(events, 0), "type", ""),
		  "hbk.booking.requested.v1");
	json_decref(history);

	/* A stale expected price is refused before anything is written. */
	long long n_events = events_count(&e);
	req.expected_total = hbk_money_make(total + 1, "EUR");
	json_t *again;
	CHECK_INT(book(&e, &req, id, &again, &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "price_changed");
	CHECK(again == NULL);
	req.expected_total = hbk_money_make(total, "EUR");
	CHECK_INT(book(&e, &req, id, &again, &err), HBK_OK);
	json_decref(again);
	CHECK(events_count(&e) > n_events);
	json_decref(out);
	env_close(&e);
}

static void test_book_declined(void)
{
	struct env e;
	if (!env_open(&e, "declined", "")) {
		env_close(&e);
		return;
	}
	long long before[NIGHTS_SEEN];
	snapshot(&e, before);
	struct hbk_book_request req = request(&e, 5, 2, 1, true, "pm_card_chargeDeclined");
	json_t *out;
	char id[HBK_ID_MAX];
	struct hbk_error err;
	CHECK_INT(book(&e, &req, id, &out, &err), HBK_EDECLINED);
	CHECK_STR(err.code, "payment_declined");
	CHECK(out != NULL);
	CHECK_STR(hbk_json_str(out, "status", ""), "FAILED");
	CHECK_STR(hbk_json_str(json_object_get(out, "failure"), "code", ""), "payment_declined");
	CHECK_INT(minor_of(out, "paid"), 0);
	int delta[NIGHTS_SEEN] = {0};
	check_moved(&e, before, delta);
	CHECK_INT(partner_bookings(&e, id), 0);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM partner_sim_bookings", NULL), 0);
	CHECK_INT(query_int(e.store,
			    "SELECT count(*) FROM payment_sim_intents WHERE booking_id = ?1"
			    " AND amount_received = 0",
			    id),
		  1);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM bookings WHERE id = ?1 AND status = "
				     "'FAILED'",
			    id),
		  1);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM sagas", NULL), 0);
	json_decref(out);

	/* A card number is refused outright, before anything is written. */
	long long n_events = events_count(&e);
	req = request(&e, 5, 2, 1, true, "4242 4242 4242 4242");
	CHECK_INT(book(&e, &req, id, &out, &err), HBK_EINVAL);
	CHECK(out == NULL);
	json_decref(out);
	out = NULL;
	CHECK_STR(err.code, "card_number_refused");
	CHECK(strstr(err.message, "4242") == NULL);
	CHECK_INT(events_count(&e), n_events);
	env_close(&e);
}

static void test_partner_rejects(void)
{
	struct env e;
	if (!env_open(&e, "partnerfail", "partner: {faults: {fail: book}}")) {
		env_close(&e);
		return;
	}
	long long before[NIGHTS_SEEN];
	snapshot(&e, before);
	struct hbk_book_request req = request(&e, 7, 3, 1, true, "pm_card_visa");
	json_t *out;
	char id[HBK_ID_MAX];
	struct hbk_error err;
	CHECK_INT(book(&e, &req, id, &out, &err), HBK_EDECLINED);
	CHECK_STR(err.code, "partner_rejected");
	CHECK_STR(hbk_json_str(out, "status", ""), "FAILED");
	CHECK_STR(hbk_json_str(json_object_get(out, "failure"), "code", ""), "partner_rejected");
	CHECK_INT(minor_of(out, "paid"), 0);
	int delta[NIGHTS_SEEN] = {0};
	check_moved(&e, before, delta);
	CHECK_INT(partner_bookings(&e, id), 0);
	CHECK_INT(intents(&e, id), 1);
	CHECK_INT(query_int(e.store,
			    "SELECT count(*) FROM payment_sim_intents WHERE booking_id = ?1"
			    " AND status = 'canceled' AND amount_received = 0",
			    id),
		  1);
	CHECK_INT(query_int(e.store,
			    "SELECT count(*) FROM events WHERE stream = ?1"
			    " AND type = 'hbk.booking.payment_voided.v1'",
			    id),
		  1);
	json_decref(out);
	env_close(&e);
}

static void test_update(void)
{
	struct env e;
	if (!env_open(&e, "update", "")) {
		env_close(&e);
		return;
	}
	long long before[NIGHTS_SEEN];
	snapshot(&e, before);
	struct hbk_book_request req = request(&e, 10, 3, 1, true, "pm_card_visa");
	json_t *out;
	char id[HBK_ID_MAX];
	struct hbk_error err;
	CHECK_INT(book(&e, &req, id, &out, &err), HBK_OK);
	int64_t total3 = minor_of(out, "total");
	json_decref(out);

	/*
	 * Nights 10-12 become 11-14: 10 is given back, 11-12 stay held once, 13-14 taken.
	 * With no room left on 11 and 12 the move must still fit: the booking already
	 * holds its room on those nights. before[] is adjusted to match.
	 */
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "UPDATE inventory SET allotment = 0 WHERE hotel_id = '" HOTEL "'"
		 " AND room_type = '" ROOM "' AND night IN (%d, %d)",
		 e.today + 11, e.today + 12);
	CHECK_INT(hbk_store_exec(e.store, sql, &err), HBK_OK);
	before[11] = before[12] = 1;
	struct hbk_update_request up = {.set_checkin = true, .set_checkout = true,
					.checkin = e.today + 11, .checkout = e.today + 15,
					.if_match = 1};
	hbk_error_clear(&err);
	hbk_result r = hbk_update(e.engine, id, &up, &out, &err);
	if (r != HBK_OK)
		fprintf(stderr, "  update: %s\n", err.message);
	CHECK_INT(r, HBK_OK);
	CHECK_STR(hbk_json_str(out, "status", ""), "CONFIRMED");
	CHECK_INT(hbk_json_int(out, "version", -1), 2);
	CHECK_INT(hbk_json_int(out, "nights", -1), 4);
	int64_t total4 = minor_of(out, "total");
	CHECK(total4 > total3);
	CHECK_INT(minor_of(out, "paid") - minor_of(out, "refunded"), total4);
	int moved[NIGHTS_SEEN] = {[11] = -1, [12] = -1, [13] = -1, [14] = -1};
	check_moved(&e, before, moved);
	CHECK_INT(partner_bookings(&e, id), 1);
	CHECK_INT(query_int(e.store,
			    "SELECT count(*) FROM partner_sim_bookings WHERE client_reference = ?1"
			    " AND total_minor = (SELECT total_minor FROM bookings WHERE id = ?1)",
			    id),
		  1);
	CHECK_INT(query_int(e.store,
			    "SELECT sum(amount_received) FROM payment_sim_intents WHERE booking_id = ?1",
			    id),
		  total4);
	json_decref(out);

	/* A stale If-Match is refused. */
	up = (struct hbk_update_request){.set_checkout = true, .checkout = e.today + 13,
					 .if_match = 1};
	CHECK_INT(hbk_update(e.engine, id, &up, &out, &err), HBK_ECONFLICT);
	CHECK(out == NULL);
	json_decref(out);
	out = NULL;
	CHECK_STR(err.code, "stale_version");

	/* Shorter: 11-12 only, the difference refunded. */
	up.if_match = 2;
	CHECK_INT(hbk_update(e.engine, id, &up, &out, &err), HBK_OK);
	CHECK_INT(hbk_json_int(out, "version", -1), 3);
	int64_t total2 = minor_of(out, "total");
	CHECK(total2 < total4);
	CHECK(minor_of(out, "refunded") > 0);
	CHECK_INT(minor_of(out, "paid") - minor_of(out, "refunded"), total2);
	int shorter[NIGHTS_SEEN] = {[11] = -1, [12] = -1};
	check_moved(&e, before, shorter);
	CHECK_INT(query_int(e.store,
			    "SELECT sum(amount_received) - sum(amount_refunded)"
			    " FROM payment_sim_intents WHERE booking_id = ?1",
			    id),
		  total2);
	json_decref(out);

	/* Only the guest's email: one guest_updated event, a new version, nothing else moves. */
	long long n_events = change_events(&e);
	up = (struct hbk_update_request){.set_email = true, .if_match = -1};
	hbk_copy(up.guest.email, sizeof(up.guest.email), "ana.silva@example.org");
	CHECK_INT(hbk_update(e.engine, id, &up, &out, &err), HBK_OK);
	CHECK_INT(hbk_json_int(out, "version", -1), 4);
	CHECK_INT(minor_of(out, "total"), total2);
	CHECK_STR(hbk_json_str(json_object_get(out, "guest"), "email", ""),
		  "ana.silva@example.org");
	CHECK_STR(hbk_json_str(json_object_get(out, "guest"), "name", ""), "Ana Silva");
	CHECK_INT(change_events(&e), n_events + 1);
	CHECK_INT(query_int(e.store,
			    "SELECT count(*) FROM events WHERE stream = ?1"
			    " AND type = 'hbk.booking.guest_updated.v1'",
			    id),
		  1);
	check_moved(&e, before, shorter);
	json_decref(out);

	/* A bad email changes nothing. */
	hbk_copy(up.guest.email, sizeof(up.guest.email), "not-an-email");
	CHECK_INT(hbk_update(e.engine, id, &up, &out, &err), HBK_EINVAL);
	json_decref(out);
	out = NULL;
	CHECK_STR(err.code, "invalid_email");
	CHECK_INT(change_events(&e), n_events + 1);
	up = (struct hbk_update_request){.if_match = -1};
	CHECK_INT(hbk_update(e.engine, id, &up, &out, &err), HBK_EINVAL);
	json_decref(out);
	out = NULL;
	env_close(&e);
}

static void test_cancel(void)
{
	struct env e;
	if (!env_open(&e, "cancel", "")) {
		env_close(&e);
		return;
	}
	long long before[NIGHTS_SEEN];
	snapshot(&e, before);
	/* Check-in in 2 days: inside the 3 free days, so the first night is due. */
	struct hbk_book_request req = request(&e, 2, 3, 1, true, "pm_card_visa");
	json_t *out;
	char id[HBK_ID_MAX];
	struct hbk_error err;
	CHECK_INT(book(&e, &req, id, &out, &err), HBK_OK);
	int64_t total = minor_of(out, "total");
	json_decref(out);

	long long n_events = events_count(&e);
	CHECK_INT(hbk_cancel(e.engine, id, "plans changed", true, -1, &out, &err), HBK_OK);
	CHECK(json_is_true(json_object_get(out, "dry_run")));
	int64_t penalty = minor_of(out, "penalty");
	int64_t refund = minor_of(out, "refund");
	CHECK(penalty > 0 && penalty < total);
	CHECK_INT(refund, total - penalty);
	CHECK_STR(hbk_json_str(json_object_get(out, "booking"), "status", ""), "CONFIRMED");
	CHECK_INT(events_count(&e), n_events);
	json_decref(out);
	int held[NIGHTS_SEEN] = {[2] = -1, [3] = -1, [4] = -1};
	check_moved(&e, before, held);

	CHECK_INT(hbk_cancel(e.engine, id, "plans changed", false, 1, &out, &err), HBK_OK);
	CHECK_STR(hbk_json_str(out, "status", ""), "CANCELLED");
	CHECK_INT(hbk_json_int(out, "version", -1), 2);
	CHECK_INT(minor_of(out, "refunded"), total - penalty);
	CHECK_INT(minor_of(out, "paid") - minor_of(out, "refunded"), penalty);
	CHECK_INT(minor_of(json_object_get(out, "cancellation"), "penalty"), penalty);
	json_decref(out);
	int none[NIGHTS_SEEN] = {0};
	check_moved(&e, before, none);
	CHECK_INT(query_int(e.store,
			    "SELECT count(*) FROM partner_sim_bookings WHERE client_reference = ?1"
			    " AND status = 'CANCELLED'",
			    id),
		  1);
	CHECK_INT(query_int(e.store,
			    "SELECT amount_refunded FROM payment_sim_intents WHERE booking_id = ?1",
			    id),
		  total - penalty);

	/* Twice: a conflict, and nothing more is written. */
	n_events = events_count(&e);
	CHECK_INT(hbk_cancel(e.engine, id, NULL, false, -1, &out, &err), HBK_ECONFLICT);
	CHECK(out == NULL);
	json_decref(out);
	out = NULL;
	CHECK_STR(err.code, "invalid_state");
	CHECK_INT(hbk_cancel(e.engine, id, NULL, true, -1, &out, &err), HBK_ECONFLICT);
	json_decref(out);
	out = NULL;
	struct hbk_update_request up = {.set_checkout = true, .checkout = e.today + 4,
					.if_match = -1};
	CHECK_INT(hbk_update(e.engine, id, &up, &out, &err), HBK_ECONFLICT);
	json_decref(out);
	out = NULL;
	CHECK_INT(events_count(&e), n_events);
	check_moved(&e, before, none);

	/* Unknown and malformed ids. */
	char unknown[HBK_ID_MAX];
	hbk_id_new("BK", unknown);
	CHECK_INT(hbk_cancel(e.engine, unknown, NULL, false, -1, &out, &err), HBK_ENOTFOUND);
	json_decref(out);
	out = NULL;
	CHECK_INT(hbk_cancel(e.engine, "bk-nope", NULL, true, -1, &out, &err), HBK_ENOTFOUND);
	json_decref(out);
	out = NULL;
	CHECK_INT(hbk_update(e.engine, unknown, &up, &out, &err), HBK_ENOTFOUND);
	json_decref(out);
	out = NULL;
	CHECK_INT(hbk_booking_view(e.engine, unknown, &out, &err), HBK_ENOTFOUND);
	json_decref(out);
	out = NULL;
	CHECK_INT(hbk_history(e.engine, unknown, &out, &err), HBK_ENOTFOUND);
	json_decref(out);
	out = NULL;
	CHECK_INT(events_count(&e), n_events);
	env_close(&e);
}

static void test_cancel_non_refundable(void)
{
	struct env e;
	if (!env_open(&e, "nrf", "")) {
		env_close(&e);
		return;
	}
	struct hbk_book_request req = request(&e, 20, 2, 1, false, "pm_card_visa");
	json_t *out;
	char id[HBK_ID_MAX];
	struct hbk_error err;
	CHECK_INT(book(&e, &req, id, &out, &err), HBK_OK);
	int64_t total = minor_of(out, "total");
	CHECK(total > 0);
	json_decref(out);

	CHECK_INT(hbk_cancel(e.engine, id, NULL, true, -1, &out, &err), HBK_OK);
	CHECK_INT(minor_of(out, "penalty"), total);
	CHECK_INT(minor_of(out, "refund"), 0);
	json_decref(out);
	CHECK_INT(hbk_cancel(e.engine, id, NULL, false, -1, &out, &err), HBK_OK);
	CHECK_STR(hbk_json_str(out, "status", ""), "CANCELLED");
	CHECK_INT(minor_of(out, "refunded"), 0);
	CHECK_INT(minor_of(out, "paid"), total);
	json_decref(out);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM payment_sim_refunds", NULL), 0);
	env_close(&e);
}

static void test_no_availability(void)
{
	struct env e;
	if (!env_open(&e, "full", "")) {
		env_close(&e);
		return;
	}
	struct hbk_error err;
	char sql[200];
	snprintf(sql, sizeof(sql),
		 "UPDATE inventory SET allotment = 1 WHERE hotel_id = '" HOTEL "'"
		 " AND room_type = '" ROOM "' AND night = %d",
		 e.today + 12);
	CHECK_INT(hbk_store_exec(e.store, sql, &err), HBK_OK);
	long long before[NIGHTS_SEEN];
	snapshot(&e, before);
	CHECK_INT(before[12], 1);
	long long n_events = events_count(&e);

	struct hbk_book_request req = request(&e, 11, 3, 2, true, "pm_card_visa");
	json_t *out;
	char id[HBK_ID_MAX];
	CHECK_INT(book(&e, &req, id, &out, &err), HBK_ECONFLICT);
	CHECK(out == NULL);
	json_decref(out);
	out = NULL;
	CHECK_STR(err.code, "no_availability");
	CHECK_INT(events_count(&e), n_events);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM bookings", NULL), 0);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM sagas", NULL), 0);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM payment_sim_intents", NULL), 0);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM partner_sim_bookings", NULL), 0);
	int none[NIGHTS_SEEN] = {0};
	check_moved(&e, before, none);

	/* One room still fits, and takes the last one. */
	req.stay.rooms = 1;
	CHECK_INT(book(&e, &req, id, &out, &err), HBK_OK);
	json_decref(out);
	CHECK_INT(allotment(&e, ROOM, e.today + 12), 0);
	CHECK_INT(book(&e, &req, id, &out, &err), HBK_ECONFLICT);
	json_decref(out);
	out = NULL;
	CHECK_INT(allotment(&e, ROOM, e.today + 12), 0);
	CHECK_INT(allotment(&e, ROOM, e.today + 11), before[11] - 1);
	env_close(&e);
}

/*
 * Runs hbk_book in a child that dies by SIGKILL at kill_at, then recovers
 * in this process and checks the outcome.
 */
static void crash_and_recover(const char *name, const char *kill_at, const char *payment_method,
			      enum hbk_booking_status expected)
{
	struct env e;
	if (!env_open(&e, name, "")) {
		env_close(&e);
		return;
	}
	long long before[NIGHTS_SEEN];
	snapshot(&e, before);
	/* The child opens its own connection: none is shared across fork. */
	hbk_engine_close(e.engine);
	e.engine = NULL;
	e.store = NULL;

	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct hbk_engine *engine = NULL;
		struct hbk_error err;
		json_t *out = NULL;
		setenv("HBK_FAULT_KILL_AT", kill_at, 1);
		if (hbk_engine_open(e.cfg, 0, &engine, &err) != HBK_OK)
			_exit(10);
		struct hbk_book_request req = request(&e, 10, 3, 1, true, payment_method);
		hbk_book(engine, &req, &out, &err);
		_exit(11); /* not killed: the hook did not fire */
	}
	unsetenv("HBK_FAULT_KILL_AT");
	int status = 0;
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status));
	CHECK_INT(WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status), SIGKILL);

	if (!env_reopen(&e)) {
		env_close(&e);
		return;
	}
	CHECK(e.engine->kill_at == NULL);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM bookings", NULL), 1);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM bookings WHERE status = 'PENDING'", NULL),
		  1);
	char id[HBK_ID_MAX] = "";
	sqlite3_stmt *stmt = NULL;
	if (hbk_store_prepare(e.store, "SELECT id FROM bookings", &stmt, NULL) == HBK_OK) {
		if (sqlite3_step(stmt) == SQLITE_ROW)
			hbk_copy(id, sizeof(id), hbk_column_text(stmt, 0));
		sqlite3_finalize(stmt);
	}
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM sagas WHERE booking_id = ?1", id), 1);
	CHECK_INT(query_int(e.store, "SELECT owner_pid FROM sagas WHERE booking_id = ?1", id), pid);
	int held[NIGHTS_SEEN] = {[10] = -1, [11] = -1, [12] = -1};
	check_moved(&e, before, held);

	int resumed = -1;
	struct hbk_error err;
	hbk_error_clear(&err);
	hbk_result r = hbk_engine_recover(e.engine, &resumed, &err);
	if (r != HBK_OK)
		fprintf(stderr, "  recover: %s\n", err.message);
	CHECK_INT(r, HBK_OK);
	CHECK_INT(resumed, 1);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM sagas", NULL), 0);

	struct hbk_booking b;
	CHECK_INT(hbk_booking_get(e.engine, id, &b, &err), HBK_OK);
	CHECK_STR(hbk_booking_status_name(b.status), hbk_booking_status_name(expected));
	CHECK_INT(intents(&e, id), 1);
	CHECK_INT(query_int(e.store, "SELECT count(*) FROM payment_sim_intents", NULL), 1);
	if (expected == HBK_BOOKING_CONFIRMED) {
		CHECK_INT(partner_bookings(&e, id), 1);
		CHECK_INT(query_int(e.store, "SELECT count(*) FROM partner_sim_bookings", NULL), 1);
		CHECK_INT(query_int(e.store,
				    "SELECT amount_received FROM payment_sim_intents"
				    " WHERE booking_id = ?1",
				    id),
			  b.total.minor);
		CHECK_INT(hbk_booking_paid(&b).minor, b.total.minor);
		CHECK_INT(b.npayments, 1);
		check_moved(&e, before, held);
	} else {
		CHECK_STR(b.failure_code, "payment_declined");
		CHECK_INT(query_int(e.store, "SELECT count(*) FROM partner_sim_bookings", NULL), 0);
		int none[NIGHTS_SEEN] = {0};
		check_moved(&e, before, none);
	}
	json_t *view = NULL;
	CHECK_INT(hbk_booking_view(e.engine, id, &view, &err), HBK_OK);
	CHECK_STR(hbk_json_str(view, "status", ""), hbk_booking_status_name(expected));
	json_decref(view);

	/* A second recovery finds nothing to do. */
	CHECK_INT(hbk_engine_recover(e.engine, &resumed, &err), HBK_OK);
	CHECK_INT(resumed, 0);
	env_close(&e);
}

static void test_crash_after_partner_book(void)
{
	crash_and_recover("kill-partner", "partner_book", "pm_card_visa", HBK_BOOKING_CONFIRMED);
}

static void test_crash_after_authorize(void)
{
	crash_and_recover("kill-authorize", "authorize", "pm_card_visa", HBK_BOOKING_CONFIRMED);
}

static void test_crash_after_declined_authorize(void)
{
	crash_and_recover("kill-declined", "authorize", "pm_card_chargeDeclined",
			  HBK_BOOKING_FAILED);
}

UNIT_TESTS(UNIT_T(test_book_confirmed), UNIT_T(test_book_declined), UNIT_T(test_partner_rejects),
	   UNIT_T(test_update), UNIT_T(test_cancel), UNIT_T(test_cancel_non_refundable),
	   UNIT_T(test_no_availability), UNIT_T(test_crash_after_partner_book),
	   UNIT_T(test_crash_after_authorize), UNIT_T(test_crash_after_declined_authorize));
