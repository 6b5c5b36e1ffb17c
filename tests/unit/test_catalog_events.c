/*
 * test_catalog_events.c - proves that the catalog, inventory and token
 * changes hbk-admin makes are events another store can be built from: an
 * empty store applying a demo store's events (hbk_inventory_replicate)
 * ends with the same cities, hotels, room types, boards, blackouts and
 * nights, and applying them again changes nothing; a nights event applied
 * by a store whose bookings hold rooms the writer's did not keeps those
 * rooms out of the allotment; a malformed event is refused and leaves
 * nothing; a token created and revoked on one store is accepted and then
 * refused by another's token set (hbk_token_replicate), and no event holds
 * the token itself.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/api.h"
#include "hbk/events.h"
#include "hbk/inventory.h"
#include "stores.h"
#include "unit.h"

#define SEED_DAYS 30
#define HOTEL	  "H-LIS-0001"

struct apply {
	struct hbk_store *store;
	hbk_result (*fn)(struct hbk_store *store, const struct hbk_event *ev, bool *applied,
			 struct hbk_error *err);
	int applied, refused;
	hbk_result last_rc;
};

static struct hbk_store *open_store(const char *name)
{
	char path[512];
	struct hbk_store *store = NULL;
	struct hbk_error err = {0};
	hbk_format(path, sizeof(path), "%s/%s.db", unit_tmpdir(), name);
	CHECK_INT(hbk_store_open(path, HBK_STORE_CREATE | HBK_STORE_NO_RECOVER, &store, &err),
		  HBK_OK);
	return store;
}

/* Applies one event in a transaction of its own, as the applier does. */
static hbk_result apply_one(const struct hbk_event *ev, void *ctx, struct hbk_error *unused)
{
	struct apply *a = ctx;
	struct hbk_error err = {0};
	bool applied = false;
	(void)unused;
	hbk_result rc = hbk_store_begin(a->store, true, &err);
	if (rc == HBK_OK)
		rc = a->fn(a->store, ev, &applied, &err);
	if (rc == HBK_OK)
		rc = hbk_store_commit(a->store, &err);
	else
		hbk_store_rollback(a->store);
	a->applied += applied;
	a->refused += rc != HBK_OK;
	a->last_rc = rc;
	return HBK_OK;
}

static const char *const catalog_queries[] = {
    "SELECT * FROM cities ORDER BY code",
    "SELECT * FROM hotels ORDER BY id",
    "SELECT * FROM room_types ORDER BY hotel_id, code",
    "SELECT * FROM boards ORDER BY hotel_id, code",
    "SELECT * FROM blackouts ORDER BY hotel_id, night",
    "SELECT hotel_id, room_type, night, allotment, price_minor FROM inventory"
    " ORDER BY 1, 2, 3",
};

static void check_same_catalog(struct hbk_store *a, struct hbk_store *b)
{
	for (size_t i = 0; i < sizeof(catalog_queries) / sizeof(catalog_queries[0]); i++)
		stores_check_same(a, b, catalog_queries[i]);
}

static void test_an_empty_store_applying_the_events_gets_the_same_catalog(void)
{
	struct hbk_error err = {0};
	struct hbk_store *writer = open_store("writer"), *reader = open_store("reader");
	CHECK_INT(hbk_inventory_seed_demo(writer, hbk_date_today(), SEED_DAYS, NULL, NULL, &err),
		  HBK_OK);
	char *events = stores_dump(writer, "SELECT type, COUNT(*) FROM events GROUP BY type");
	CHECK_STR(events, "hbk.catalog.hotel_synced.v1|210|\nhbk.inventory.nights_set.v1|210|\n");
	free(events);

	struct apply a = {.store = reader, .fn = hbk_inventory_replicate};
	stores_replay(writer, "hotel:%", apply_one, &a);
	CHECK_INT(a.refused, 0);
	CHECK_INT(a.applied, 420);
	check_same_catalog(writer, reader);
	stores_check_same(writer, reader,
			  "SELECT id, stream, sequence, type, data FROM events ORDER BY position");

	/* Everything again: a redelivery changes nothing. */
	stores_replay(writer, "hotel:%", apply_one, &a);
	CHECK_INT(a.refused, 0);
	CHECK_INT(a.applied, 420);
	check_same_catalog(writer, reader);
	hbk_store_close(writer);
	hbk_store_close(reader);
}

static int64_t night_value(struct hbk_store *store, const char *column, hbk_date night)
{
	char sql[256];
	sqlite3_stmt *stmt = NULL;
	int64_t value = -1;
	hbk_format(sql, sizeof(sql),
		   "SELECT %s FROM inventory WHERE hotel_id = '" HOTEL "' AND room_type = 'DBL'"
		   " AND night = ?1",
		   column);
	if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int(stmt, 1, night);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}

static void test_a_nights_event_keeps_the_rooms_the_applying_store_holds(void)
{
	struct hbk_error err = {0};
	hbk_date night = hbk_date_today() + 3;
	struct hbk_store *writer = open_store("held-writer"), *reader = open_store("held-reader");
	CHECK_INT(hbk_inventory_seed_demo(writer, hbk_date_today(), SEED_DAYS, NULL, NULL, &err),
		  HBK_OK);
	struct apply a = {.store = reader, .fn = hbk_inventory_replicate};
	stores_replay(writer, "hotel:%", apply_one, &a);

	/* The reader applies a booking of two rooms the writer has not seen. */
	CHECK_INT(hbk_store_begin(reader, true, &err), HBK_OK);
	CHECK_INT(hbk_inventory_hold(reader, HOTEL, "DBL", night, night + 1, 2, &err), HBK_OK);
	CHECK_INT(hbk_store_commit(reader, &err), HBK_OK);
	CHECK_INT(night_value(reader, "held", night), 2);

	/* The writer's partner now sells five rooms that night, at a new price. */
	CHECK_INT(hbk_store_begin(writer, true, &err), HBK_OK);
	CHECK_INT(hbk_inventory_sync_night(writer, HOTEL, "DBL", night, 5, 12345, NULL, &err),
		  HBK_OK);
	CHECK_INT(hbk_inventory_nights_event(writer, HOTEL, night, night + 1, &err), HBK_OK);
	CHECK_INT(hbk_store_commit(writer, &err), HBK_OK);

	a.applied = 0;
	stores_replay(writer, "hotel:%", apply_one, &a);
	CHECK_INT(a.applied, 1);
	CHECK_INT(a.refused, 0);
	CHECK_INT(night_value(reader, "allotment", night), 3);
	CHECK_INT(night_value(reader, "price_minor", night), 12345);
	/* When the writer applies the booking, the two meet. */
	CHECK_INT(hbk_store_begin(writer, true, &err), HBK_OK);
	CHECK_INT(hbk_inventory_hold(writer, HOTEL, "DBL", night, night + 1, 2, &err), HBK_OK);
	CHECK_INT(hbk_store_commit(writer, &err), HBK_OK);
	CHECK_INT(night_value(writer, "allotment", night), 3);
	hbk_store_close(writer);
	hbk_store_close(reader);
}

static void test_a_malformed_event_is_refused_and_leaves_nothing(void)
{
	struct hbk_store *store = open_store("malformed");
	struct apply a = {.store = store, .fn = hbk_inventory_replicate};
	struct hbk_event ev = {.sequence = 1, .time_ms = 1767225600000};
	hbk_copy(ev.id, sizeof(ev.id), "EV-BAD-1");
	hbk_copy(ev.type, sizeof(ev.type), "hbk.inventory.nights_set.v1");
	hbk_copy(ev.subject, sizeof(ev.subject), "hotel:" HOTEL);
	hbk_copy(ev.partitionkey, sizeof(ev.partitionkey), HOTEL);
	/* Two nights, one value. */
	ev.data = json_pack("{s:s, s:s, s:s, s:[{s:s, s:[i], s:[i], s:[i]}]}", "hotel_id", HOTEL,
			    "from", "2027-01-01", "to", "2027-01-03", "room_types", "code", "DBL",
			    "allotment", 3, "held", 0, "price_minor", 9000);
	apply_one(&ev, &a, NULL);
	CHECK_INT(a.last_rc, HBK_EINVAL);
	/* Another hotel's key. */
	json_object_set_new(ev.data, "to", json_string("2027-01-02"));
	hbk_copy(ev.partitionkey, sizeof(ev.partitionkey), "H-PAR-0001");
	apply_one(&ev, &a, NULL);
	CHECK_INT(a.last_rc, HBK_EINVAL);
	/* A type no one applies. */
	hbk_copy(ev.type, sizeof(ev.type), "hbk.inventory.guessed.v1");
	apply_one(&ev, &a, NULL);
	CHECK_INT(a.last_rc, HBK_EINVAL);
	CHECK_INT(a.applied, 0);
	char *left = stores_dump(store, "SELECT COUNT(*) FROM events");
	CHECK_STR(left, "0|\n");
	free(left);
	hbk_event_clear(&ev);
	hbk_store_close(store);
}

static void test_a_token_made_and_revoked_elsewhere_is_accepted_then_refused(void)
{
	struct hbk_error err = {0};
	char token[HBK_TOKEN_MAX], name[HBK_TOKEN_NAME_MAX];
	struct hbk_store *writer = open_store("token-writer"), *reader = open_store("token-reader");
	struct hbk_token_set *set = hbk_token_set_new();
	struct apply a = {.store = reader, .fn = hbk_token_replicate};

	CHECK_INT(hbk_token_create(writer, "ops-east", token, &err), HBK_OK);
	char *data = stores_dump(writer, "SELECT stream, partitionkey, type, data FROM events");
	CHECK(strstr(data, "token:ops-east|ops-east|hbk.token.created.v1|") == data);
	CHECK(strstr(data, token) == NULL);
	free(data);
	CHECK_INT(hbk_token_set_refresh(set, reader, &err), HBK_OK);
	CHECK(!hbk_token_set_check(set, token, NULL));

	stores_replay(writer, "token:%", apply_one, &a);
	CHECK_INT(a.applied, 1);
	CHECK_INT(hbk_token_set_refresh(set, reader, &err), HBK_OK);
	CHECK(hbk_token_set_check(set, token, name));
	CHECK_STR(name, "ops-east");

	CHECK_INT(hbk_token_revoke(writer, "ops-east", &err), HBK_OK);
	stores_replay(writer, "token:%", apply_one, &a);
	CHECK_INT(a.applied, 2);
	CHECK_INT(a.refused, 0);
	CHECK_INT(hbk_token_set_refresh(set, reader, &err), HBK_OK);
	CHECK(!hbk_token_set_check(set, token, NULL));
	/* A failed revoke writes no event. */
	CHECK(hbk_token_revoke(writer, "ops-east", &err) == HBK_ENOTFOUND);
	char *count = stores_dump(writer, "SELECT COUNT(*) FROM events");
	CHECK_STR(count, "2|\n");
	free(count);
	hbk_token_set_free(set);
	hbk_store_close(writer);
	hbk_store_close(reader);
}

UNIT_TESTS(UNIT_T(test_an_empty_store_applying_the_events_gets_the_same_catalog),
	   UNIT_T(test_a_nights_event_keeps_the_rooms_the_applying_store_holds),
	   UNIT_T(test_a_malformed_event_is_refused_and_leaves_nothing),
	   UNIT_T(test_a_token_made_and_revoked_elsewhere_is_accepted_then_refused));
