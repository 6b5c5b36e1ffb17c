/*
 * test_replica.c - proves that a store applying another store's booking
 * events (hbk_booking_replicate, what every cluster instance does with the
 * events topic) ends with the same booking views and the same inventory,
 * night by night, as the store that decided them: through bookings,
 * a cancel, a declined card (rooms held then released), an update that
 * moves dates and room type, and a guest change. Applying everything
 * again changes nothing, and an event whose predecessor is missing is
 * refused. Each store seeds the demo catalog itself, whose events (hotel
 * streams, test_catalog_events.c) are not the booking events compared here.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hbk/config.h"
#include "hbk/json.h"
#include "hbk/reservation.h"
#include "stores.h"
#include "unit.h"

#define HOTEL	  "H-LIS-0001"
#define SEED_DAYS 60

struct replica {
	struct hbk_store *store;
	int applied, refused;
	hbk_result last_rc;
	char last_code[HBK_ERROR_CODE_MAX];
};

static struct hbk_store *seeded_store(const char *name, hbk_date today)
{
	char path[512];
	struct hbk_store *store = NULL;
	struct hbk_error err = {0};
	hbk_format(path, sizeof(path), "%s/%s.db", unit_tmpdir(), name);
	CHECK_INT(hbk_store_open(path, HBK_STORE_CREATE | HBK_STORE_NO_RECOVER, &store, &err),
		  HBK_OK);
	CHECK_INT(hbk_inventory_seed_demo(store, today, SEED_DAYS, NULL, NULL, &err), HBK_OK);
	return store;
}

/* Applies one event to the replica in a transaction of its own. */
static hbk_result replicate(const struct hbk_event *ev, void *ctx, struct hbk_error *unused)
{
	struct replica *r = ctx;
	struct hbk_error err = {0};
	bool applied = false;
	(void)unused;
	hbk_result rc = hbk_store_begin(r->store, true, &err);
	if (rc == HBK_OK)
		rc = hbk_booking_replicate(r->store, ev, &applied, &err);
	if (rc == HBK_OK)
		rc = hbk_store_commit(r->store, &err);
	else
		hbk_store_rollback(r->store);
	r->applied += applied;
	r->refused += rc != HBK_OK;
	r->last_rc = rc;
	hbk_copy(r->last_code, sizeof(r->last_code), err.code);
	return HBK_OK;
}

static struct hbk_book_request request(hbk_date checkin, int nights, const char *room,
				       const char *payment_method)
{
	struct hbk_book_request req;
	memset(&req, 0, sizeof(req));
	hbk_copy(req.stay.hotel_id, sizeof(req.stay.hotel_id), HOTEL);
	hbk_copy(req.stay.room_type, sizeof(req.stay.room_type), room);
	hbk_copy(req.stay.board, sizeof(req.stay.board), "RO");
	req.stay.refundable = true;
	req.stay.checkin = checkin;
	req.stay.checkout = checkin + nights;
	req.stay.adults = 2;
	req.stay.rooms = 1;
	hbk_copy(req.guest.name, sizeof(req.guest.name), "Rui Replica");
	hbk_copy(req.guest.email, sizeof(req.guest.email), "rui@example.com");
	hbk_copy(req.payment_method, sizeof(req.payment_method), payment_method);
	return req;
}

/* Books and returns the booking's id in id ("" when it failed). */
static hbk_result book(struct hbk_engine *engine, struct hbk_book_request req, char id[HBK_ID_MAX])
{
	struct hbk_error err = {0};
	json_t *out = NULL;
	hbk_result rc = hbk_book(engine, &req, &out, &err);
	hbk_copy(id, HBK_ID_MAX, out ? hbk_json_str(out, "id", "") : "");
	json_decref(out);
	return rc;
}

static void test_a_replica_ends_as_the_store_that_decided(void)
{
	char home[512], x[HBK_ID_MAX], y[HBK_ID_MAX], z[HBK_ID_MAX];
	struct hbk_config *cfg = NULL;
	struct hbk_engine *engine = NULL;
	struct hbk_error err = {0};
	json_t *out = NULL;

	hbk_format(home, sizeof(home), "%s/decider", unit_tmpdir());
	CHECK(mkdir(home, 0700) == 0);
	setenv("HBK_HOME", home, 1);
	CHECK_INT(hbk_config_load_string("", "replica", &cfg, &err), HBK_OK);
	CHECK_INT(hbk_engine_open(cfg, HBK_ENGINE_CREATE, &engine, &err), HBK_OK);
	if (!engine)
		return;
	hbk_date today = hbk_date_today();
	CHECK_INT(hbk_inventory_seed_demo(engine->store, today, SEED_DAYS, NULL, NULL, &err),
		  HBK_OK);
	struct hbk_store *replica_store = seeded_store("replica", today);

	CHECK_INT(book(engine, request(today + 5, 2, "DBL", "pm_card_visa"), x), HBK_OK);
	CHECK_INT(book(engine, request(today + 7, 3, "TWN", "pm_card_visa"), y), HBK_OK);
	CHECK(book(engine, request(today + 6, 2, "DBL", "pm_card_chargeDeclined"), z) != HBK_OK);
	CHECK_INT(hbk_cancel(engine, x, "plans changed", false, -1, &out, &err), HBK_OK);
	json_decref(out);
	struct hbk_update_request move = {.set_checkin = true,
					  .checkin = today + 8,
					  .set_checkout = true,
					  .checkout = today + 12,
					  .set_room_type = true,
					  .if_match = -1};
	hbk_copy(move.room_type, sizeof(move.room_type), "DBL");
	CHECK_INT(hbk_update(engine, y, &move, &out, &err), HBK_OK);
	json_decref(out);
	struct hbk_update_request phone = {.set_phone = true, .if_match = -1};
	hbk_copy(phone.guest.phone, sizeof(phone.guest.phone), "+351 912 000 111");
	CHECK_INT(hbk_update(engine, y, &phone, &out, &err), HBK_OK);
	json_decref(out);

	struct replica r = {.store = replica_store};
	stores_replay(engine->store, "BK-%", replicate, &r);
	CHECK_INT(r.refused, 0);
	char *events =
	    stores_dump(engine->store, "SELECT COUNT(*) FROM events WHERE stream LIKE 'BK-%'");
	CHECK_INT(r.applied, strtol(events, NULL, 10));
	free(events);
	stores_check_same(
	    engine->store, replica_store,
	    "SELECT id, status, version, sequence, hotel_id, room_type, checkin, checkout,"
	    " rooms, total_minor, paid_minor, refunded_minor, doc FROM bookings ORDER BY id");
	stores_check_same(engine->store, replica_store,
			  "SELECT hotel_id, room_type, night, allotment FROM inventory"
			  " WHERE hotel_id = '" HOTEL "' ORDER BY 1, 2, 3");
	stores_check_same(
	    engine->store, replica_store,
	    "SELECT id, stream, sequence, type, data FROM events WHERE stream LIKE 'BK-%'"
	    " ORDER BY stream, sequence");

	/* Everything again: a redelivery changes nothing. */
	int applied = r.applied;
	stores_replay(engine->store, "BK-%", replicate, &r);
	CHECK_INT(r.applied, applied);
	CHECK_INT(r.refused, 0);
	stores_check_same(engine->store, replica_store,
			  "SELECT hotel_id, room_type, night, allotment FROM inventory"
			  " WHERE hotel_id = '" HOTEL "' ORDER BY 1, 2, 3");

	hbk_store_close(replica_store);
	hbk_engine_close(engine);
	hbk_config_free(cfg);
}

static void test_an_event_whose_predecessor_is_missing_is_refused(void)
{
	hbk_date today = hbk_date_today();
	struct hbk_store *store = seeded_store("gap", today);
	struct replica r = {.store = store};
	struct hbk_event ev = {
	    .sequence = 2,
	    .time_ms = 1767225600000,
	};
	hbk_copy(ev.id, sizeof(ev.id), "EV-GAP-2");
	hbk_copy(ev.type, sizeof(ev.type), "hbk.booking.confirmed.v1");
	hbk_copy(ev.subject, sizeof(ev.subject), "BK-GAP");
	hbk_copy(ev.partitionkey, sizeof(ev.partitionkey), HOTEL);
	ev.data = json_object();
	replicate(&ev, &r, NULL);
	CHECK_INT(r.last_rc, HBK_ECONFLICT);
	CHECK_STR(r.last_code, "out_of_order");
	CHECK_INT(r.applied, 0);
	/* Refused means rolled back: the event is not kept. */
	char *left = stores_dump(store, "SELECT COUNT(*) FROM events WHERE stream LIKE 'BK-%'");
	CHECK_STR(left, "0|\n");
	free(left);
	hbk_event_clear(&ev);
	hbk_store_close(store);
}

UNIT_TESTS(UNIT_T(test_a_replica_ends_as_the_store_that_decided),
	   UNIT_T(test_an_event_whose_predecessor_is_missing_is_refused));
