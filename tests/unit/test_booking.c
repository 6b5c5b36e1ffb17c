/*
 * test_booking.c - proves the booking aggregate is a correct pure state
 * machine: folding the events that commands.c and saga.c record (same
 * types, same data shapes) drives hbk_booking_next_step() through the
 * create, compensation, cancel and update paths of DESIGN.md section 4,
 * one expected step after each event; the rules (changeable states, stay
 * and guest checks), the booking JSON of section 5, unknown events and
 * policy penalties are checked on hand-built values. No store, no I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/core.h"
#include "hbk/events.h"
#include "hbk/json.h"
#include "hbk/reservation.h"
#include "unit.h"

#define T0_MS 1796083200000LL /* 2026-12-01T00:00:00Z */

#define STAY                                                                                       \
	"\"room_type\":\"DBL\",\"board\":\"BB\",\"refundable\":true,\"rooms\":1,"                  \
	"\"checkin\":\"2026-12-01\",\"checkout\":\"2026-12-04\","                                 \
	"\"guests\":{\"adults\":2,\"children\":0}"
#define EUR(a) "{\"amount\":\"" a "\",\"currency\":\"EUR\"}"

static const char requested_json[] =
	"{" STAY ",\"hotel\":{\"id\":\"H-LIS-0001\",\"name\":\"Hotel Lisboa\",\"city\":\"LIS\"},"
	"\"room_name\":\"Double Room\","
	"\"guest\":{\"name\":\"Ana Silva\",\"email\":\"ana@example.com\",\"phone\":\"+351912345678\"},"
	"\"total\":" EUR("360.00") ","
	"\"cancellation_policy\":[{\"from\":\"2026-11-28T00:00:00Z\",\"penalty\":" EUR("120.00") "}],"
	"\"payment_method\":\"pm_card_visa\",\"partner\":\"sandbox\",\"payment_provider\":\"sandbox\"}";

static void init(struct hbk_booking *b)
{
	memset(b, 0, sizeof(*b));
	b->charge_payment = -1;
	hbk_copy(b->id, sizeof(b->id), "BK-01TEST");
}

/* Applies event "hbk.booking.<name>" with JSON data at the next sequence;
 * callers check the result (some tests expect a refusal). */
static hbk_result apply(struct hbk_booking *b, const char *name, const char *data_json)
{
	char type[HBK_EVENT_TYPE_MAX];
	struct hbk_error err;
	json_error_t jerr;
	json_t *data = json_loads(data_json, 0, &jerr);
	if (!data) {
		fprintf(stderr, "  bad test JSON for %s: %s\n", name, jerr.text);
		return HBK_EINTERNAL;
	}
	snprintf(type, sizeof(type), "hbk.booking.%s", name);
	hbk_error_clear(&err);
	hbk_result r = hbk_booking_apply(b, type, data, b->sequence + 1,
					 T0_MS - 86400000LL * 20 + b->sequence * 1000, &err);
	json_decref(data);
	return r;
}

/* Applies an event that must succeed, then expects a next step. */
#define STEP_AFTER(b, name, data, step)                                                            \
	do {                                                                                       \
		CHECK_INT(apply((b), (name), (data)), HBK_OK);                                     \
		CHECK_STR(hbk_saga_step_name(hbk_booking_next_step(b)), hbk_saga_step_name(step)); \
	} while (0)

static const char held[] = "{\"hold\":\"current\",\"stay\":{" STAY "}}";
static const char released[] = "{\"hold\":\"current\",\"stay\":{" STAY "}}";
static const char authorized[] =
	"{\"reference\":\"pi_1\",\"amount\":" EUR("360.00") ",\"status\":\"requires_capture\"}";
static const char booked[] = "{\"name\":\"sandbox\",\"reference\":\"102-555\"}";
static const char captured[] = "{\"reference\":\"pi_1\",\"amount\":" EUR("360.00") "}";

/* Drives a booking to CONFIRMED through the create path. */
static void confirmed_booking(struct hbk_booking *b)
{
	init(b);
	CHECK_INT(apply(b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(b, "rooms_held.v1", held), HBK_OK);
	CHECK_INT(apply(b, "payment_authorized.v1", authorized), HBK_OK);
	CHECK_INT(apply(b, "partner_booked.v1", booked), HBK_OK);
	CHECK_INT(apply(b, "payment_captured.v1", captured), HBK_OK);
	CHECK_INT(apply(b, "confirmed.v1", "{}"), HBK_OK);
	CHECK_INT(b->status, HBK_BOOKING_CONFIRMED);
	CHECK_INT(hbk_booking_next_step(b), HBK_STEP_DONE);
}

static void test_create_happy_path(void)
{
	struct hbk_booking b;
	init(&b);
	CHECK_INT(hbk_booking_next_step(&b), HBK_STEP_DONE);
	STEP_AFTER(&b, "requested.v1", requested_json, HBK_STEP_AUTHORIZE);
	CHECK_INT(b.status, HBK_BOOKING_PENDING);
	CHECK_INT(b.saga, HBK_SAGA_CREATE);
	CHECK_INT(b.version, 0);
	CHECK_INT(b.total.minor, 36000);
	CHECK_STR(b.stay.hotel_id, "H-LIS-0001");
	CHECK_INT(b.stay.checkout - b.stay.checkin, 3);
	CHECK_INT(b.policy.count, 1);
	STEP_AFTER(&b, "rooms_held.v1", held, HBK_STEP_AUTHORIZE);
	CHECK(b.rooms_held);
	STEP_AFTER(&b, "payment_authorized.v1", authorized, HBK_STEP_PARTNER_BOOK);
	CHECK_INT(b.npayments, 1);
	CHECK_INT(b.payments[0].authorized, 36000);
	STEP_AFTER(&b, "partner_booked.v1", booked, HBK_STEP_CAPTURE);
	CHECK_STR(b.partner_reference, "102-555");
	STEP_AFTER(&b, "payment_captured.v1", captured, HBK_STEP_CONFIRM);
	CHECK_INT(hbk_booking_paid(&b).minor, 36000);
	STEP_AFTER(&b, "confirmed.v1", "{}", HBK_STEP_DONE);
	CHECK_INT(b.status, HBK_BOOKING_CONFIRMED);
	CHECK_INT(b.version, 1);
	CHECK_INT(b.sequence, 6);
	/* Notifications are history only. */
	STEP_AFTER(&b, "notification_sent.v1",
		   "{\"kind\":\"confirmation\",\"channel\":\"email\",\"to\":\"ana@example.com\"}",
		   HBK_STEP_DONE);
	CHECK_INT(b.version, 1);
	CHECK_INT(b.sequence, 7);

	/* A partial capture is not yet a confirmed payment. */
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "payment_authorized.v1", authorized), HBK_OK);
	CHECK_INT(apply(&b, "partner_booked.v1", booked), HBK_OK);
	STEP_AFTER(&b, "payment_captured.v1", "{\"reference\":\"pi_1\",\"amount\":" EUR("100.00") "}",
		   HBK_STEP_CAPTURE);
}

static void test_payment_declined(void)
{
	struct hbk_booking b;
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "rooms_held.v1", held), HBK_OK);
	STEP_AFTER(&b, "compensation_started.v1",
		   "{\"code\":\"payment_declined\",\"message\":\"card declined (generic_decline)\"}",
		   HBK_STEP_RELEASE);
	CHECK(b.compensating);
	CHECK_STR(b.failure_code, "payment_declined");
	CHECK_INT(b.status, HBK_BOOKING_PENDING);
	/* DESIGN.md: "failure" only once the booking is FAILED. */
	json_t *pending_view = hbk_booking_json(&b);
	CHECK(json_object_get(pending_view, "failure") == NULL);
	json_decref(pending_view);
	STEP_AFTER(&b, "rooms_released.v1", released, HBK_STEP_FAIL);
	CHECK(!b.rooms_held);
	STEP_AFTER(&b, "failed.v1", "{\"code\":\"payment_declined\",\"message\":\"card declined\"}",
		   HBK_STEP_DONE);
	CHECK_INT(b.status, HBK_BOOKING_FAILED);
	CHECK(!b.compensating);
	CHECK_STR(b.failure_code, "payment_declined");
	CHECK_INT(b.version, 0);
}

static void test_partner_failure_after_authorization(void)
{
	struct hbk_booking b;
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "rooms_held.v1", held), HBK_OK);
	CHECK_INT(apply(&b, "payment_authorized.v1", authorized), HBK_OK);
	STEP_AFTER(&b, "compensation_started.v1",
		   "{\"code\":\"partner_rejected\",\"message\":\"hotel refused\"}",
		   HBK_STEP_PAYMENT_VOID);
	STEP_AFTER(&b, "payment_voided.v1", "{\"reference\":\"pi_1\"}", HBK_STEP_RELEASE);
	CHECK(b.payments[0].voided);
	STEP_AFTER(&b, "rooms_released.v1", released, HBK_STEP_FAIL);
	STEP_AFTER(&b, "failed.v1", "{\"code\":\"partner_rejected\",\"message\":\"hotel refused\"}",
		   HBK_STEP_DONE);
	CHECK_INT(b.status, HBK_BOOKING_FAILED);
	CHECK_INT(hbk_booking_paid(&b).minor, 0);

	/* Capture failing after the partner booked: cancel there, then void. */
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "rooms_held.v1", held), HBK_OK);
	CHECK_INT(apply(&b, "payment_authorized.v1", authorized), HBK_OK);
	CHECK_INT(apply(&b, "partner_booked.v1", booked), HBK_OK);
	STEP_AFTER(&b, "compensation_started.v1",
		   "{\"code\":\"payment_unavailable\",\"message\":\"timeout\"}",
		   HBK_STEP_PARTNER_CANCEL);
	STEP_AFTER(&b, "partner_cancelled.v1",
		   "{\"reference\":\"102-555\",\"penalty\":" EUR("0.00") "}", HBK_STEP_PAYMENT_VOID);
	STEP_AFTER(&b, "payment_voided.v1", "{\"reference\":\"pi_1\"}", HBK_STEP_RELEASE);
	STEP_AFTER(&b, "rooms_released.v1", released, HBK_STEP_FAIL);
}

static void test_failure_after_capture(void)
{
	struct hbk_booking b;
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "rooms_held.v1", held), HBK_OK);
	CHECK_INT(apply(&b, "payment_authorized.v1", authorized), HBK_OK);
	CHECK_INT(apply(&b, "partner_booked.v1", booked), HBK_OK);
	CHECK_INT(apply(&b, "payment_captured.v1", captured), HBK_OK);
	STEP_AFTER(&b, "compensation_started.v1", "{\"code\":\"failed\",\"message\":\"x\"}",
		   HBK_STEP_PARTNER_CANCEL);
	STEP_AFTER(&b, "partner_cancelled.v1",
		   "{\"reference\":\"102-555\",\"penalty\":" EUR("0.00") "}",
		   HBK_STEP_PAYMENT_REFUND);
	CHECK(b.partner_cancelled);
	/* A partial refund leaves more to refund. */
	STEP_AFTER(&b, "payment_refunded.v1",
		   "{\"reference\":\"pi_1\",\"refund\":\"re_1\",\"amount\":" EUR("60.00") "}",
		   HBK_STEP_PAYMENT_REFUND);
	STEP_AFTER(&b, "payment_refunded.v1",
		   "{\"reference\":\"pi_1\",\"refund\":\"re_2\",\"amount\":" EUR("300.00") "}",
		   HBK_STEP_RELEASE);
	CHECK_INT(hbk_booking_refunded(&b).minor, 36000);
	STEP_AFTER(&b, "rooms_released.v1", released, HBK_STEP_FAIL);
	STEP_AFTER(&b, "failed.v1", "{\"code\":\"failed\",\"message\":\"x\"}", HBK_STEP_DONE);

	/* Not booked at the partner: straight to the refund. */
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "rooms_held.v1", held), HBK_OK);
	CHECK_INT(apply(&b, "payment_authorized.v1", authorized), HBK_OK);
	CHECK_INT(apply(&b, "payment_captured.v1", captured), HBK_OK);
	STEP_AFTER(&b, "compensation_started.v1", "{\"code\":\"failed\",\"message\":\"x\"}",
		   HBK_STEP_PAYMENT_REFUND);
}

/* An authorization that went unanswered: the void finds it first, and
 * whatever it finds settles the doubt. */
static void test_unanswered_authorization(void)
{
	static const char unanswered[] =
	    "{\"code\":\"payment_unavailable\",\"message\":\"timeout\",\"step\":\"authorize\","
	    "\"partner_uncertain\":false,\"payment_key\":\"BK-1:authorize\"}";
	struct hbk_booking b;

	/* Found held: recorded as the booking's, voided, then the rooms. */
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "rooms_held.v1", held), HBK_OK);
	int64_t last_event_ms = b.updated_ms;
	STEP_AFTER(&b, "compensation_started.v1", unanswered, HBK_STEP_PAYMENT_VOID);
	CHECK(b.payment_uncertain);
	CHECK_STR(b.payment_key, "BK-1:authorize");
	CHECK_INT(b.payment_since_ms, last_event_ms);
	STEP_AFTER(&b, "payment_authorized.v1", authorized, HBK_STEP_PAYMENT_VOID);
	STEP_AFTER(&b, "payment_voided.v1", "{\"reference\":\"pi_1\",\"found\":true}",
		   HBK_STEP_RELEASE);
	CHECK(!b.payment_uncertain);
	CHECK(b.payments[0].voided);
	STEP_AFTER(&b, "rooms_released.v1", released, HBK_STEP_FAIL);

	/* Nothing held under the key: nothing to void. */
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "rooms_held.v1", held), HBK_OK);
	STEP_AFTER(&b, "compensation_started.v1", unanswered, HBK_STEP_PAYMENT_VOID);
	STEP_AFTER(&b, "payment_voided.v1", "{\"reference\":\"\",\"found\":false}",
		   HBK_STEP_RELEASE);
	CHECK(!b.payment_uncertain);
	CHECK_INT(b.npayments, 0);

	/* The lookup refused for good: recorded, and the rest goes on. */
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "rooms_held.v1", held), HBK_OK);
	STEP_AFTER(&b, "compensation_started.v1", unanswered, HBK_STEP_PAYMENT_VOID);
	STEP_AFTER(&b, "compensation_step_failed.v1",
		   "{\"step\":\"payment_void\",\"code\":\"payment_auth\",\"message\":\"x\"}",
		   HBK_STEP_RELEASE);

	/* A declined card is an answer: no doubt, no lookup. */
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "rooms_held.v1", held), HBK_OK);
	STEP_AFTER(
	    &b, "compensation_started.v1",
	    "{\"code\":\"payment_declined\",\"message\":\"declined\",\"step\":\"authorize\"}",
	    HBK_STEP_RELEASE);
	CHECK(!b.payment_uncertain);

	/* A void naming no payment without a lookup is corrupt. */
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "payment_voided.v1", "{\"reference\":\"\"}"), HBK_EINTERNAL);
}

static void test_cancel_path(void)
{
	struct hbk_booking b;
	confirmed_booking(&b);
	STEP_AFTER(&b, "cancel_requested.v1",
		   "{\"reason\":\"plans changed\",\"penalty\":" EUR("120.00") ",\"refund\":" EUR(
			   "240.00") "}",
		   HBK_STEP_PARTNER_CANCEL);
	CHECK_INT(b.saga, HBK_SAGA_CANCEL);
	CHECK_INT(b.penalty.minor, 12000);
	CHECK_STR(b.cancel_reason, "plans changed");
	STEP_AFTER(&b, "partner_cancelled.v1",
		   "{\"reference\":\"102-555\",\"penalty\":" EUR("120.00") "}",
		   HBK_STEP_PAYMENT_REFUND);
	STEP_AFTER(&b, "payment_refunded.v1",
		   "{\"reference\":\"pi_1\",\"refund\":\"re_1\",\"amount\":" EUR("200.00") "}",
		   HBK_STEP_PAYMENT_REFUND);
	STEP_AFTER(&b, "payment_refunded.v1",
		   "{\"reference\":\"pi_1\",\"refund\":\"re_2\",\"amount\":" EUR("40.00") "}",
		   HBK_STEP_RELEASE);
	STEP_AFTER(&b, "rooms_released.v1", released, HBK_STEP_CANCEL_COMMIT);
	STEP_AFTER(&b, "cancelled.v1", "{\"reason\":\"plans changed\",\"penalty\":" EUR("120.00") "}",
		   HBK_STEP_DONE);
	CHECK_INT(b.status, HBK_BOOKING_CANCELLED);
	CHECK_INT(b.version, 2);
	CHECK_INT(hbk_booking_paid(&b).minor - hbk_booking_refunded(&b).minor, 12000);

	/* A penalty of the whole total refunds nothing. */
	confirmed_booking(&b);
	STEP_AFTER(&b, "cancel_requested.v1",
		   "{\"reason\":\"\",\"penalty\":" EUR("360.00") ",\"refund\":" EUR("0.00") "}",
		   HBK_STEP_PARTNER_CANCEL);
	STEP_AFTER(&b, "partner_cancelled.v1",
		   "{\"reference\":\"102-555\",\"penalty\":" EUR("360.00") "}", HBK_STEP_RELEASE);

	/* The partner refusing to cancel leaves the booking CONFIRMED. */
	confirmed_booking(&b);
	STEP_AFTER(&b, "cancel_requested.v1",
		   "{\"reason\":\"\",\"penalty\":" EUR("0.00") ",\"refund\":" EUR("360.00") "}",
		   HBK_STEP_PARTNER_CANCEL);
	STEP_AFTER(&b, "compensation_started.v1",
		   "{\"code\":\"partner_rejected\",\"message\":\"no\"}", HBK_STEP_CANCEL_ABANDON);
	STEP_AFTER(&b, "cancel_abandoned.v1", "{\"code\":\"partner_rejected\",\"message\":\"no\"}",
		   HBK_STEP_DONE);
	CHECK_INT(b.status, HBK_BOOKING_CONFIRMED);
	CHECK_INT(b.version, 1);
	CHECK(!b.compensating);
	CHECK_INT(hbk_booking_check_changeable(&b, "cancel", NULL), HBK_OK);
}

#define NEW_STAY                                                                                   \
	"\"room_type\":\"DBL\",\"board\":\"BB\",\"refundable\":true,\"rooms\":1,"                  \
	"\"checkin\":\"2026-12-01\",\"checkout\":\"2026-12-05\","                                 \
	"\"guests\":{\"adults\":2,\"children\":0}"
#define SHORT_STAY                                                                                 \
	"\"room_type\":\"DBL\",\"board\":\"BB\",\"refundable\":true,\"rooms\":1,"                  \
	"\"checkin\":\"2026-12-01\",\"checkout\":\"2026-12-03\","                                 \
	"\"guests\":{\"adults\":2,\"children\":0}"

static const char update_up[] =
	"{" NEW_STAY ",\"room_name\":\"Double Room\",\"total\":" EUR("480.00") ","
	"\"cancellation_policy\":[{\"from\":\"2026-11-28T00:00:00Z\",\"penalty\":" EUR("120.00") "}],"
	"\"stay_changes\":true}";
static const char held_new_up[] = "{\"hold\":\"new\",\"stay\":{" NEW_STAY "}}";

static void test_update_price_increase(void)
{
	struct hbk_booking b;
	confirmed_booking(&b);
	STEP_AFTER(&b, "update_requested.v1", update_up, HBK_STEP_UPDATE_CHARGE);
	CHECK_INT(b.saga, HBK_SAGA_UPDATE);
	CHECK(b.stay_changes);
	CHECK_INT(b.new_total.minor, 48000);
	STEP_AFTER(&b, "rooms_held.v1", held_new_up, HBK_STEP_UPDATE_CHARGE);
	CHECK(b.new_rooms_held);
	STEP_AFTER(&b, "payment_authorized.v1",
		   "{\"reference\":\"pi_2\",\"amount\":" EUR("120.00") ",\"status\":\"requires_capture\"}",
		   HBK_STEP_PARTNER_MODIFY);
	CHECK_INT(b.charge_payment, 1);
	STEP_AFTER(&b, "partner_modified.v1", "{\"reference\":\"102-555\"}",
		   HBK_STEP_UPDATE_CAPTURE);
	STEP_AFTER(&b, "payment_captured.v1", "{\"reference\":\"pi_2\",\"amount\":" EUR("120.00") "}",
		   HBK_STEP_UPDATE_COMMIT);
	STEP_AFTER(&b, "rooms_released.v1", released, HBK_STEP_UPDATE_COMMIT);
	STEP_AFTER(&b, "updated.v1",
		   "{\"stay\":{" NEW_STAY "},\"room_name\":\"Double Room\",\"total\":" EUR("480.00") ","
		   "\"cancellation_policy\":[]}",
		   HBK_STEP_DONE);
	CHECK_INT(b.status, HBK_BOOKING_CONFIRMED);
	CHECK_INT(b.version, 2);
	CHECK_INT(b.total.minor, 48000);
	CHECK_INT(b.stay.checkout - b.stay.checkin, 4);
	CHECK(b.rooms_held);
	CHECK(!b.new_rooms_held);
	CHECK_INT(hbk_booking_paid(&b).minor, 48000);
}

static void test_update_price_decrease(void)
{
	struct hbk_booking b;
	confirmed_booking(&b);
	STEP_AFTER(&b, "update_requested.v1",
		   "{" SHORT_STAY ",\"room_name\":\"Double Room\",\"total\":" EUR("240.00") ","
		   "\"cancellation_policy\":[],\"stay_changes\":true}",
		   HBK_STEP_PARTNER_MODIFY);
	STEP_AFTER(&b, "rooms_held.v1", "{\"hold\":\"new\",\"stay\":{" SHORT_STAY "}}",
		   HBK_STEP_PARTNER_MODIFY);
	STEP_AFTER(&b, "partner_modified.v1", "{\"reference\":\"102-555\"}",
		   HBK_STEP_PAYMENT_REFUND);
	STEP_AFTER(&b, "payment_refunded.v1",
		   "{\"reference\":\"pi_1\",\"refund\":\"re_1\",\"amount\":" EUR("120.00") "}",
		   HBK_STEP_UPDATE_COMMIT);
	STEP_AFTER(&b, "rooms_released.v1", released, HBK_STEP_UPDATE_COMMIT);
	STEP_AFTER(&b, "updated.v1",
		   "{\"stay\":{" SHORT_STAY "},\"room_name\":\"Double Room\",\"total\":" EUR(
			   "240.00") ",\"cancellation_policy\":[]}",
		   HBK_STEP_DONE);
	CHECK_INT(b.total.minor, 24000);
	CHECK_INT(b.version, 2);
	CHECK_INT(b.stay.checkout - b.stay.checkin, 2);
	CHECK_INT(hbk_booking_paid(&b).minor - hbk_booking_refunded(&b).minor, 24000);

	/* Same price, no inventory move: modify then commit. */
	confirmed_booking(&b);
	STEP_AFTER(&b, "update_requested.v1",
		   "{" STAY ",\"room_name\":\"Double Room\",\"total\":" EUR("360.00") ","
		   "\"cancellation_policy\":[],\"stay_changes\":false}",
		   HBK_STEP_PARTNER_MODIFY);
	STEP_AFTER(&b, "partner_modified.v1", "{\"reference\":\"102-555\"}", HBK_STEP_UPDATE_COMMIT);
}

static void test_update_compensation(void)
{
	struct hbk_booking b;
	confirmed_booking(&b);
	CHECK_INT(apply(&b, "update_requested.v1", update_up), HBK_OK);
	CHECK_INT(apply(&b, "rooms_held.v1", held_new_up), HBK_OK);
	STEP_AFTER(&b, "payment_authorized.v1",
		   "{\"reference\":\"pi_2\",\"amount\":" EUR("120.00") ",\"status\":\"requires_capture\"}",
		   HBK_STEP_PARTNER_MODIFY);
	STEP_AFTER(&b, "compensation_started.v1",
		   "{\"code\":\"partner_rejected\",\"message\":\"cannot modify\"}",
		   HBK_STEP_PAYMENT_VOID);
	STEP_AFTER(&b, "payment_voided.v1", "{\"reference\":\"pi_2\"}", HBK_STEP_UPDATE_ABANDON);
	CHECK(!b.payments[0].voided);
	CHECK(b.payments[1].voided);
	STEP_AFTER(&b, "rooms_released.v1", "{\"hold\":\"new\",\"stay\":{" NEW_STAY "}}",
		   HBK_STEP_UPDATE_ABANDON);
	CHECK(!b.new_rooms_held);
	CHECK(b.rooms_held);
	STEP_AFTER(&b, "update_abandoned.v1",
		   "{\"code\":\"partner_rejected\",\"message\":\"cannot modify\"}", HBK_STEP_DONE);
	CHECK_INT(b.status, HBK_BOOKING_CONFIRMED);
	CHECK_INT(b.version, 1);
	CHECK_INT(b.total.minor, 36000);
	CHECK_INT(b.stay.checkout - b.stay.checkin, 3);
	CHECK_INT(hbk_booking_paid(&b).minor, 36000);

	/* The charge itself declined: nothing to void. */
	confirmed_booking(&b);
	CHECK_INT(apply(&b, "update_requested.v1", update_up), HBK_OK);
	STEP_AFTER(&b, "compensation_started.v1",
		   "{\"code\":\"payment_declined\",\"message\":\"declined\"}", HBK_STEP_UPDATE_ABANDON);

	/* The charge went unanswered: found held, voided, then abandoned. */
	confirmed_booking(&b);
	CHECK_INT(apply(&b, "update_requested.v1", update_up), HBK_OK);
	STEP_AFTER(&b, "compensation_started.v1",
		   "{\"code\":\"payment_unavailable\",\"message\":\"timeout\",\"step\":"
		   "\"update_charge\",\"payment_key\":\"BK-1:charge:7\"}",
		   HBK_STEP_PAYMENT_VOID);
	STEP_AFTER(
	    &b, "payment_authorized.v1",
	    "{\"reference\":\"pi_2\",\"amount\":" EUR("120.00") ",\"status\":\"requires_capture\"}",
	    HBK_STEP_PAYMENT_VOID);
	CHECK_INT(b.charge_payment, 1);
	STEP_AFTER(&b, "payment_voided.v1", "{\"reference\":\"pi_2\",\"found\":true}",
		   HBK_STEP_UPDATE_ABANDON);
	CHECK(b.payments[1].voided);
	CHECK(!b.payments[0].voided);
}

static void test_check_changeable(void)
{
	struct hbk_booking b;
	struct hbk_error err;

	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(hbk_booking_check_changeable(&b, "update", &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "booking_busy");
	CHECK(strstr(err.message, "cannot update booking BK-01TEST") != NULL);

	confirmed_booking(&b);
	CHECK_INT(hbk_booking_check_changeable(&b, "update", &err), HBK_OK);
	CHECK_INT(hbk_booking_check_changeable(&b, "cancel", &err), HBK_OK);

	CHECK_INT(apply(&b, "update_requested.v1", update_up), HBK_OK);
	CHECK_INT(hbk_booking_check_changeable(&b, "cancel", &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "booking_busy");

	confirmed_booking(&b);
	CHECK_INT(apply(&b, "cancel_requested.v1",
			"{\"reason\":\"\",\"penalty\":" EUR("0.00") ",\"refund\":" EUR("360.00") "}"),
		  HBK_OK);
	CHECK_INT(apply(&b, "cancelled.v1", "{\"reason\":\"\",\"penalty\":" EUR("0.00") "}"),
		  HBK_OK);
	CHECK_INT(hbk_booking_check_changeable(&b, "cancel", &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "invalid_state");
	CHECK(strstr(err.message, "it is CANCELLED") != NULL);

	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	CHECK_INT(apply(&b, "compensation_started.v1", "{\"code\":\"x\",\"message\":\"y\"}"),
		  HBK_OK);
	CHECK_INT(apply(&b, "failed.v1", "{\"code\":\"x\",\"message\":\"y\"}"), HBK_OK);
	CHECK_INT(hbk_booking_check_changeable(&b, "update", &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "invalid_state");
	CHECK(strstr(err.message, "it is FAILED") != NULL);
}

static struct hbk_stay good_stay(hbk_date today)
{
	struct hbk_stay s = {.hotel_id = "H-LIS-0001", .room_type = "DBL", .board = "BB",
			     .refundable = true, .checkin = today + 10, .checkout = today + 13,
			     .adults = 2, .children = 0, .rooms = 1};
	return s;
}

static void stay_refused(const struct hbk_stay *s, hbk_date today, const char *code,
			 const char *field)
{
	struct hbk_error err;
	hbk_error_clear(&err);
	CHECK_INT(hbk_stay_check(s, today, &err), HBK_EINVAL);
	CHECK_STR(err.code, code);
	CHECK_STR(err.field, field);
}

static void test_stay_check(void)
{
	hbk_date today = hbk_date_from_ymd(2026, 6, 1);
	struct hbk_stay s = good_stay(today);
	CHECK_INT(hbk_stay_check(&s, today, NULL), HBK_OK);
	s.checkin = today; /* today is bookable */
	CHECK_INT(hbk_stay_check(&s, today, NULL), HBK_OK);

	s = good_stay(today);
	s.checkout = s.checkin;
	stay_refused(&s, today, "invalid_dates", "checkout");
	s.checkout = s.checkin - 1;
	stay_refused(&s, today, "invalid_dates", "checkout");

	s = good_stay(today);
	s.checkin = today - 1;
	stay_refused(&s, today, "invalid_dates", "checkin");

	s = good_stay(today);
	s.checkout = s.checkin + 30;
	CHECK_INT(hbk_stay_check(&s, today, NULL), HBK_OK);
	s.checkout = s.checkin + 31;
	stay_refused(&s, today, "invalid_dates", "checkout");

	s = good_stay(today);
	s.adults = 0;
	stay_refused(&s, today, "invalid_guests", "adults");
	s = good_stay(today);
	s.rooms = 3;
	s.adults = 2;
	stay_refused(&s, today, "invalid_guests", "adults");
	s.adults = 3;
	CHECK_INT(hbk_stay_check(&s, today, NULL), HBK_OK);

	s = good_stay(today);
	s.rooms = 0;
	stay_refused(&s, today, "invalid_rooms", "rooms");
	s.rooms = HBK_MAX_ROOMS + 1;
	s.adults = HBK_MAX_ROOMS + 1;
	stay_refused(&s, today, "invalid_rooms", "rooms");

	s = good_stay(today);
	s.children = -1;
	stay_refused(&s, today, "invalid_guests", "children");
	s.children = HBK_MAX_GUESTS - 1;
	stay_refused(&s, today, "invalid_guests", "children");
	s.children = HBK_MAX_GUESTS - 2;
	CHECK_INT(hbk_stay_check(&s, today, NULL), HBK_OK);
}

static void guest_refused(const char *name, const char *email, const char *phone,
			  const char *code, const char *field)
{
	struct hbk_guest g;
	struct hbk_error err;
	memset(&g, 0, sizeof(g));
	hbk_copy(g.name, sizeof(g.name), name);
	hbk_copy(g.email, sizeof(g.email), email);
	hbk_copy(g.phone, sizeof(g.phone), phone);
	hbk_error_clear(&err);
	CHECK_INT(hbk_guest_check(&g, &err), HBK_EINVAL);
	CHECK_STR(err.code, code);
	CHECK_STR(err.field, field);
}

static void test_guest_check(void)
{
	struct hbk_guest g = {.name = "Ana Silva", .email = "ana@example.com",
			      .phone = "+351 912 345 678"};
	CHECK_INT(hbk_guest_check(&g, NULL), HBK_OK);
	hbk_copy(g.name, sizeof(g.name), "Jo\xc3\xa3o Gon\xc3\xa7\x61lves");
	g.phone[0] = '\0';
	CHECK_INT(hbk_guest_check(&g, NULL), HBK_OK);

	guest_refused("", "ana@example.com", "", "invalid_guest", "guest");
	guest_refused("Ana\nSilva", "ana@example.com", "", "invalid_guest", "guest");
	guest_refused("Ana\tSilva", "ana@example.com", "", "invalid_guest", "guest");
	guest_refused("Ana\x1b[31mSilva", "ana@example.com", "", "invalid_guest", "guest");
	guest_refused("Ana\x7fSilva", "ana@example.com", "", "invalid_guest", "guest");
	guest_refused("Ana \xc3", "ana@example.com", "", "invalid_guest", "guest");
	guest_refused("Ana Silva", "ana.example.com", "", "invalid_email", "email");
	guest_refused("Ana Silva", "", "", "invalid_email", "email");
	guest_refused("Ana Silva", "ana@example.com", "call me", "invalid_phone", "phone");
	guest_refused("Ana Silva", "ana@example.com", "4242 4242 4242 4242", "invalid_phone",
		      "phone");
}

static bool money_is(const json_t *obj, const char *key, const char *amount,
		     const char *currency)
{
	const json_t *m = json_object_get(obj, key);
	return json_is_object(m) && json_object_size(m) == 2 &&
	       json_is_string(json_object_get(m, "amount")) &&
	       strcmp(json_string_value(json_object_get(m, "amount")), amount) == 0 &&
	       strcmp(hbk_json_str(m, "currency", ""), currency) == 0;
}

static void test_booking_json(void)
{
	struct hbk_booking b;
	confirmed_booking(&b);
	json_t *j = hbk_booking_json(&b);
	CHECK_STR(hbk_json_str(j, "id", ""), "BK-01TEST");
	CHECK_STR(hbk_json_str(j, "status", ""), "CONFIRMED");
	CHECK(json_is_integer(json_object_get(j, "version")));
	CHECK_INT(hbk_json_int(j, "version", -1), 1);
	const json_t *hotel = json_object_get(j, "hotel");
	CHECK_STR(hbk_json_str(hotel, "id", ""), "H-LIS-0001");
	CHECK_STR(hbk_json_str(hotel, "name", ""), "Hotel Lisboa");
	CHECK_STR(hbk_json_str(hotel, "city", ""), "LIS");
	CHECK_STR(hbk_json_str(j, "room_type", ""), "DBL");
	CHECK_STR(hbk_json_str(j, "board", ""), "BB");
	CHECK_INT(hbk_json_int(j, "rooms", -1), 1);
	CHECK_STR(hbk_json_str(j, "checkin", ""), "2026-12-01");
	CHECK_STR(hbk_json_str(j, "checkout", ""), "2026-12-04");
	CHECK_INT(hbk_json_int(j, "nights", -1), 3);
	const json_t *guests = json_object_get(j, "guests");
	CHECK_INT(hbk_json_int(guests, "adults", -1), 2);
	CHECK_INT(hbk_json_int(guests, "children", -1), 0);
	const json_t *guest = json_object_get(j, "guest");
	CHECK_STR(hbk_json_str(guest, "name", ""), "Ana Silva");
	CHECK_STR(hbk_json_str(guest, "email", ""), "ana@example.com");
	CHECK_STR(hbk_json_str(guest, "phone", ""), "+351912345678");
	CHECK(money_is(j, "total", "360.00", "EUR"));
	CHECK(money_is(j, "paid", "360.00", "EUR"));
	CHECK(money_is(j, "refunded", "0.00", "EUR"));
	const json_t *policy = json_object_get(j, "cancellation_policy");
	CHECK(json_is_array(policy));
	CHECK_INT(json_array_size(policy), 1);
	CHECK_STR(hbk_json_str(json_array_get(policy, 0), "from", ""), "2026-11-28T00:00:00Z");
	CHECK(money_is(json_array_get(policy, 0), "penalty", "120.00", "EUR"));
	const json_t *partner = json_object_get(j, "partner");
	CHECK_STR(hbk_json_str(partner, "name", ""), "sandbox");
	CHECK_STR(hbk_json_str(partner, "reference", ""), "102-555");
	const json_t *payment = json_object_get(j, "payment");
	CHECK_STR(hbk_json_str(payment, "provider", ""), "sandbox");
	CHECK_STR(hbk_json_str(payment, "reference", ""), "pi_1");
	CHECK(json_object_get(j, "failure") == NULL);
	int64_t ms;
	CHECK(hbk_time_parse(hbk_json_str(j, "created_at", ""), &ms));
	CHECK_INT(ms, T0_MS - 86400000LL * 20);
	CHECK(hbk_time_parse(hbk_json_str(j, "updated_at", ""), &ms));
	CHECK_INT(ms, T0_MS - 86400000LL * 20 + 5000);
	json_decref(j);

	/* Before anything is booked, references are absent; failure only once FAILED. */
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	j = hbk_booking_json(&b);
	CHECK_STR(hbk_json_str(j, "status", ""), "PENDING");
	CHECK(json_is_null(json_object_get(json_object_get(j, "partner"), "reference")));
	CHECK(json_is_null(json_object_get(json_object_get(j, "payment"), "reference")));
	CHECK(json_object_get(j, "failure") == NULL);
	CHECK(money_is(j, "paid", "0.00", "EUR"));
	json_decref(j);
	CHECK_INT(apply(&b, "compensation_started.v1",
			"{\"code\":\"payment_declined\",\"message\":\"card declined\"}"),
		  HBK_OK);
	CHECK_INT(apply(&b, "failed.v1", "{\"code\":\"payment_declined\",\"message\":\"x\"}"),
		  HBK_OK);
	j = hbk_booking_json(&b);
	CHECK_STR(hbk_json_str(j, "status", ""), "FAILED");
	const json_t *failure = json_object_get(j, "failure");
	CHECK_STR(hbk_json_str(failure, "code", ""), "payment_declined");
	CHECK_STR(hbk_json_str(failure, "message", ""), "card declined");
	json_decref(j);
}

static void test_unknown_and_corrupt_events(void)
{
	struct hbk_booking b;
	struct hbk_error err;
	json_t *empty = json_object();
	init(&b);
	CHECK_INT(apply(&b, "requested.v1", requested_json), HBK_OK);
	int64_t seq = b.sequence;

	CHECK_INT(hbk_booking_apply(&b, "hbk.booking.exploded.v1", empty, seq + 1, T0_MS, &err),
		  HBK_EINTERNAL);
	CHECK_STR(err.code, "unknown_event");
	CHECK(strstr(err.message, "hbk.booking.exploded.v1") != NULL);
	CHECK_INT(hbk_booking_apply(&b, "hbk.inventory.confirmed.v1", empty, seq + 1, T0_MS, &err),
		  HBK_EINTERNAL);
	CHECK_STR(err.code, "unknown_event");
	CHECK_INT(hbk_booking_apply(&b, "hbk.booking.confirmed.v2", empty, seq + 1, T0_MS, &err),
		  HBK_EINTERNAL);
	CHECK_INT(hbk_booking_apply(&b, "confirmed.v1", empty, seq + 1, T0_MS, &err),
		  HBK_EINTERNAL);
	CHECK_INT(b.sequence, seq);
	CHECK_INT(b.status, HBK_BOOKING_PENDING);

	/* A capture of a payment never authorized is corrupt history. */
	CHECK_INT(apply(&b, "payment_captured.v1", captured), HBK_EINTERNAL);
	CHECK_INT(apply(&b, "payment_voided.v1", "{\"reference\":\"pi_9\"}"), HBK_EINTERNAL);
	CHECK_INT(b.sequence, seq);

	struct hbk_booking c;
	init(&c);
	CHECK_INT(apply(&c, "requested.v1",
			"{\"room_type\":\"DBL\",\"checkin\":\"2026-02-30\",\"checkout\":"
			"\"2026-03-02\",\"total\":" EUR("1.00") ",\"cancellation_policy\":[]}"),
		  HBK_EINTERNAL);
	json_decref(empty);
}

static void test_policy_penalty_at(void)
{
	struct hbk_policy policy = {0};
	int64_t from1 = T0_MS - 3 * 86400000LL, from2 = T0_MS;
	struct hbk_money m = hbk_policy_penalty_at(&policy, "EUR", T0_MS);
	CHECK_INT(m.minor, 0);
	CHECK_STR(m.currency, "EUR");

	policy.count = 2;
	/* Deliberately out of order: the highest penalty in force applies. */
	policy.entries[0].from_ms = from2;
	policy.entries[0].penalty = hbk_money_make(36000, "EUR");
	policy.entries[1].from_ms = from1;
	policy.entries[1].penalty = hbk_money_make(12000, "EUR");
	CHECK_INT(hbk_policy_penalty_at(&policy, "EUR", from1 - 1).minor, 0);
	CHECK_STR(hbk_policy_penalty_at(&policy, "EUR", from1 - 1).currency, "EUR");
	CHECK_INT(hbk_policy_penalty_at(&policy, "EUR", from1).minor, 12000);
	CHECK_INT(hbk_policy_penalty_at(&policy, "EUR", from1 + 1).minor, 12000);
	CHECK_INT(hbk_policy_penalty_at(&policy, "EUR", from2 - 1).minor, 12000);
	CHECK_INT(hbk_policy_penalty_at(&policy, "EUR", from2).minor, 36000);
	CHECK_INT(hbk_policy_penalty_at(&policy, "EUR", from2 + 86400000LL).minor, 36000);

	/* JSON round trip in whole seconds. */
	json_t *j = hbk_policy_json(&policy);
	struct hbk_policy back;
	CHECK_INT(hbk_policy_from_json(j, "EUR", &back, NULL), HBK_OK);
	CHECK_INT(back.count, 2);
	CHECK_INT(back.entries[0].from_ms, from2);
	CHECK_INT(back.entries[1].penalty.minor, 12000);
	CHECK_INT(hbk_policy_from_json(j, "USD", &back, NULL), HBK_EINVAL);
	json_decref(j);
}

static void test_names(void)
{
	CHECK_STR(hbk_booking_status_name(HBK_BOOKING_PENDING), "PENDING");
	CHECK_STR(hbk_booking_status_name(HBK_BOOKING_CONFIRMED), "CONFIRMED");
	CHECK_STR(hbk_booking_status_name(HBK_BOOKING_CANCELLED), "CANCELLED");
	CHECK_STR(hbk_booking_status_name(HBK_BOOKING_FAILED), "FAILED");
	CHECK_STR(hbk_saga_step_name(HBK_STEP_AUTHORIZE), "authorize");
	CHECK_STR(hbk_saga_step_name(HBK_STEP_PARTNER_BOOK), "partner_book");
	CHECK_STR(hbk_saga_step_name(HBK_STEP_CANCEL_ABANDON), "cancel_abandon");
	CHECK_STR(hbk_saga_step_name((enum hbk_saga_step)99), "unknown");
}

UNIT_TESTS(UNIT_T(test_create_happy_path), UNIT_T(test_payment_declined),
	   UNIT_T(test_partner_failure_after_authorization), UNIT_T(test_failure_after_capture),
	   UNIT_T(test_unanswered_authorization), UNIT_T(test_cancel_path),
	   UNIT_T(test_update_price_increase), UNIT_T(test_update_price_decrease),
	   UNIT_T(test_update_compensation), UNIT_T(test_check_changeable), UNIT_T(test_stay_check),
	   UNIT_T(test_guest_check), UNIT_T(test_booking_json),
	   UNIT_T(test_unknown_and_corrupt_events), UNIT_T(test_policy_penalty_at),
	   UNIT_T(test_names));
