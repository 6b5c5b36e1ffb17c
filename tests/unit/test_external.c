/*
 * test_external.c - proves hbk_payment_external(), what hbkd's payment
 * webhook applies: a refund made at the provider raises the booking's
 * refunded amount once (by event id and by refund id), refunds hbk made
 * itself are not counted again, nothing beyond what was captured is taken
 * back, a void of a captured payment changes nothing, and a payment no
 * booking has is ignored. Bookings are made on a real embedded store with
 * the sandbox adapters; results are read back from the booking and the
 * event and webhook tables.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/json.h"
#include "hbk/reservation.h"
#include "hbk/store.h"
#include "unit.h"

struct env {
	struct hbk_config *cfg;
	struct hbk_engine *engine;
};

static bool env_open(struct env *e, const char *name)
{
	char home[512];
	struct hbk_error err = {0};
	memset(e, 0, sizeof(*e));
	unsetenv("HBK_TODAY");
	snprintf(home, sizeof(home), "%s/%s", unit_tmpdir(), name);
	CHECK(mkdir(home, 0700) == 0);
	setenv("HBK_HOME", home, 1);
	hbk_result r = hbk_config_load_string("", name, &e->cfg, &err);
	if (r == HBK_OK)
		r = hbk_engine_open(e->cfg, HBK_ENGINE_CREATE, &e->engine, &err);
	if (r == HBK_OK)
		r = hbk_inventory_seed_demo(e->engine->store, hbk_date_today(), 60, NULL, NULL,
					    &err);
	CHECK_INT(r, HBK_OK);
	return r == HBK_OK;
}

static void env_close(struct env *e)
{
	hbk_engine_close(e->engine);
	hbk_config_free(e->cfg);
}

/* Books 3 nights in 10 days; fills the booking. */
static bool book(struct env *e, struct hbk_booking *b)
{
	struct hbk_book_request req;
	struct hbk_error err = {0};
	json_t *out = NULL;
	memset(&req, 0, sizeof(req));
	hbk_copy(req.stay.hotel_id, sizeof(req.stay.hotel_id), "H-LIS-0001");
	hbk_copy(req.stay.room_type, sizeof(req.stay.room_type), "DBL");
	hbk_copy(req.stay.board, sizeof(req.stay.board), "BB");
	req.stay.refundable = true;
	req.stay.checkin = hbk_date_today() + 10;
	req.stay.checkout = req.stay.checkin + 3;
	req.stay.adults = 2;
	req.stay.rooms = 1;
	hbk_copy(req.guest.name, sizeof(req.guest.name), "Ana Silva");
	hbk_copy(req.guest.email, sizeof(req.guest.email), "ana@example.com");
	hbk_copy(req.payment_method, sizeof(req.payment_method), "pm_card_visa");
	hbk_result r = hbk_book(e->engine, &req, &out, &err);
	CHECK_INT(r, HBK_OK);
	if (r == HBK_OK)
		r = hbk_booking_get(e->engine, hbk_json_str(out, "id", ""), b, &err);
	json_decref(out);
	return r == HBK_OK && b->npayments == 1;
}

static struct hbk_external_payment refund_event(const char *event_id, const struct hbk_booking *b)
{
	struct hbk_external_payment ext;
	memset(&ext, 0, sizeof(ext));
	hbk_copy(ext.event_id, sizeof(ext.event_id), event_id);
	hbk_copy(ext.event_type, sizeof(ext.event_type), "charge.refunded");
	ext.kind = HBK_EXTERNAL_REFUND;
	hbk_copy(ext.booking_id, sizeof(ext.booking_id), b->id);
	hbk_copy(ext.intent_id, sizeof(ext.intent_id), b->payments[0].reference);
	return ext;
}

static int64_t refunded(struct env *e, const char *id)
{
	struct hbk_booking b;
	struct hbk_error err = {0};
	if (hbk_booking_get(e->engine, id, &b, &err) != HBK_OK)
		return -1;
	return hbk_booking_refunded(&b).minor;
}

static void test_refund_applied_once(void)
{
	struct env e;
	struct hbk_booking b;
	struct hbk_error err = {0};
	const char *outcome = NULL;
	char booking_id[HBK_ID_MAX];
	if (!env_open(&e, "once") || !book(&e, &b)) {
		env_close(&e);
		return;
	}
	struct hbk_external_payment ext = refund_event("evt_1", &b);
	ext.nrefunds = 1;
	hbk_copy(ext.refunds[0].id, HBK_PAYMENT_REF_MAX, "re_dashboard_1");
	ext.refunds[0].amount_minor = 1500;
	CHECK_INT(hbk_payment_external(e.engine, &ext, &outcome, booking_id, &err), HBK_OK);
	CHECK_STR(outcome, "applied");
	CHECK_STR(booking_id, b.id);
	CHECK_INT(refunded(&e, b.id), 1500);

	/* Redelivered: nothing more. */
	CHECK_INT(hbk_payment_external(e.engine, &ext, &outcome, booking_id, &err), HBK_OK);
	CHECK_STR(outcome, "duplicate");
	CHECK_INT(refunded(&e, b.id), 1500);

	/* A later event lists the old refund and a new one: only the new counts.
	 * Its amount is more than is left: only what is left is recorded. */
	ext = refund_event("evt_2", &b);
	ext.nrefunds = 2;
	hbk_copy(ext.refunds[0].id, HBK_PAYMENT_REF_MAX, "re_dashboard_2");
	ext.refunds[0].amount_minor = b.total.minor * 2;
	hbk_copy(ext.refunds[1].id, HBK_PAYMENT_REF_MAX, "re_dashboard_1");
	ext.refunds[1].amount_minor = 1500;
	CHECK_INT(hbk_payment_external(e.engine, &ext, &outcome, booking_id, &err), HBK_OK);
	CHECK_STR(outcome, "applied");
	CHECK_INT(refunded(&e, b.id), b.total.minor);

	/* The booking's projection agrees with its events. */
	sqlite3_stmt *stmt = NULL;
	CHECK_INT(hbk_store_prepare(e.engine->store,
				    "SELECT refunded_minor FROM bookings WHERE id = ?1", &stmt,
				    &err),
		  HBK_OK);
	hbk_bind_text(stmt, 1, b.id);
	CHECK_INT(sqlite3_step(stmt), SQLITE_ROW);
	CHECK_INT(sqlite3_column_int64(stmt, 0), b.total.minor);
	hbk_stmt_done(stmt);
	env_close(&e);
}

static void test_own_refunds_not_counted_twice(void)
{
	struct env e;
	struct hbk_booking b;
	struct hbk_error err = {0};
	const char *outcome = NULL;
	char booking_id[HBK_ID_MAX];
	json_t *out = NULL;
	if (!env_open(&e, "own") || !book(&e, &b)) {
		env_close(&e);
		return;
	}
	/* hbk cancels: the saga refunds and records the refund's id. */
	CHECK_INT(hbk_cancel(e.engine, b.id, "change of plans", false, -1, &out, &err), HBK_OK);
	json_decref(out);
	int64_t before = refunded(&e, b.id);
	CHECK(before > 0);
	char id[HBK_ID_MAX];
	hbk_copy(id, sizeof(id), b.id); /* the load clears b first */
	CHECK_INT(hbk_booking_get(e.engine, id, &b, &err), HBK_OK);

	/* The provider's event about that very refund changes nothing. */
	sqlite3_stmt *stmt = NULL;
	CHECK_INT(
	    hbk_store_prepare(e.engine->store,
			      "SELECT json_extract(data, '$.refund') FROM events WHERE stream = ?1"
			      " AND type = 'hbk.booking.payment_refunded.v1'",
			      &stmt, &err),
	    HBK_OK);
	hbk_bind_text(stmt, 1, b.id);
	CHECK_INT(sqlite3_step(stmt), SQLITE_ROW);
	struct hbk_external_payment ext = refund_event("evt_own", &b);
	ext.nrefunds = 1;
	hbk_copy(ext.refunds[0].id, HBK_PAYMENT_REF_MAX, hbk_column_text(stmt, 0));
	ext.refunds[0].amount_minor = before;
	hbk_stmt_done(stmt);
	CHECK_INT(hbk_payment_external(e.engine, &ext, &outcome, booking_id, &err), HBK_OK);
	CHECK_STR(outcome, "unchanged");
	CHECK_INT(refunded(&e, b.id), before);
	env_close(&e);
}

static void test_void_and_unknown(void)
{
	struct env e;
	struct hbk_booking b;
	struct hbk_error err = {0};
	const char *outcome = NULL;
	char booking_id[HBK_ID_MAX];
	if (!env_open(&e, "void") || !book(&e, &b)) {
		env_close(&e);
		return;
	}
	/* A captured payment cannot be voided: nothing to record. */
	struct hbk_external_payment ext = refund_event("evt_void", &b);
	ext.kind = HBK_EXTERNAL_CANCEL;
	hbk_copy(ext.event_type, sizeof(ext.event_type), "payment_intent.canceled");
	CHECK_INT(hbk_payment_external(e.engine, &ext, &outcome, booking_id, &err), HBK_OK);
	CHECK_STR(outcome, "unchanged");

	/* Without metadata the booking is found by its payment. */
	ext = refund_event("evt_nometa", &b);
	ext.booking_id[0] = '\0';
	ext.nrefunds = 1;
	hbk_copy(ext.refunds[0].id, HBK_PAYMENT_REF_MAX, "re_x");
	ext.refunds[0].amount_minor = 100;
	CHECK_INT(hbk_payment_external(e.engine, &ext, &outcome, booking_id, &err), HBK_OK);
	CHECK_STR(outcome, "applied");
	CHECK_STR(booking_id, b.id);

	/* A payment no booking has. */
	ext = refund_event("evt_other", &b);
	ext.booking_id[0] = '\0';
	hbk_copy(ext.intent_id, sizeof(ext.intent_id), "pi_not_ours");
	CHECK_INT(hbk_payment_external(e.engine, &ext, &outcome, booking_id, &err), HBK_OK);
	CHECK_STR(outcome, "ignored");
	CHECK_STR(booking_id, "");
	CHECK_INT(refunded(&e, b.id), 100);

	/* Malformed: no event id. */
	ext.event_id[0] = '\0';
	CHECK_INT(hbk_payment_external(e.engine, &ext, &outcome, booking_id, &err), HBK_EINVAL);
	env_close(&e);
}

UNIT_TESTS(UNIT_T(test_refund_applied_once), UNIT_T(test_own_refunds_not_counted_twice),
	   UNIT_T(test_void_and_unknown));
