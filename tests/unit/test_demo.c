/*
 * test_demo.c - proves that hbk_inventory_seed_demo writes a complete,
 * plausible and deterministic catalog: it seeds a store in a temporary
 * directory with 400 nights from a fixed Monday and checks the rows with
 * SQL (counts, ranges, weekend and season prices, currency units, boards,
 * policies, blackouts), that a second seeding replaces the first with
 * identical content, and that a failure part-way leaves the old catalog.
 */
#include <stdint.h>
#include <stdlib.h>

#include "hbk/inventory.h"
#include "unit.h"

#define DEMO_DAYS   400
#define DEMO_HOTELS 210

static struct hbk_store *shared_store;
static int store_serial;

/* 2026-03-02, a Monday: the range covers a summer, a Christmas and a winter. */
static hbk_date demo_from(void)
{
	return hbk_date_from_ymd(2026, 3, 2);
}

static struct hbk_store *open_store(void)
{
	char path[512];
	struct hbk_store *store = NULL;
	struct hbk_error err = {0};

	hbk_format(path, sizeof(path), "%s/demo-%d.db", unit_tmpdir(), ++store_serial);
	hbk_result rc = hbk_store_open(path, HBK_STORE_CREATE | HBK_STORE_NO_RECOVER, &store, &err);
	CHECK_INT(rc, HBK_OK);
	if (rc != HBK_OK) {
		fprintf(stderr, "open: %s\n", err.message);
		exit(1);
	}
	return store;
}

static hbk_result seed(struct hbk_store *store, hbk_date from, int days)
{
	struct hbk_error err = {0};
	hbk_result rc = hbk_inventory_seed_demo(store, from, days, NULL, NULL, &err);
	if (rc != HBK_OK)
		fprintf(stderr, "seed: %s\n", err.message);
	return rc;
}

/* The store seeded once with 400 nights, shared by the read-only tests. */
static struct hbk_store *seeded_store(void)
{
	if (!shared_store) {
		shared_store = open_store();
		CHECK_INT(seed(shared_store, demo_from(), DEMO_DAYS), HBK_OK);
	}
	return shared_store;
}

/* The first column of the first row; ?1 and ?2 (when used) are a and b.
 * A failing query yields INT64_MIN, which no check below accepts. */
static int64_t query_int(struct hbk_store *store, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *stmt = NULL;
	int64_t value = INT64_MIN;

	if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		fprintf(stderr, "query: %s: %s\n", sql, sqlite3_errmsg(store->db));
		return value;
	}
	int params = sqlite3_bind_parameter_count(stmt);
	if (params >= 1)
		sqlite3_bind_int64(stmt, 1, a);
	if (params >= 2)
		sqlite3_bind_int64(stmt, 2, b);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}

static int64_t count(struct hbk_store *store, const char *sql)
{
	return query_int(store, sql, demo_from(), DEMO_DAYS);
}

/* FNV-1a over every column of every row: equal digests mean equal tables. */
static uint64_t digest_query(struct hbk_store *store, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *stmt = NULL;
	uint64_t hash = 0xcbf29ce484222325ULL;

	if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
		fprintf(stderr, "digest: %s: %s\n", sql, sqlite3_errmsg(store->db));
		return 0;
	}
	int params = sqlite3_bind_parameter_count(stmt);
	if (params >= 1)
		sqlite3_bind_int64(stmt, 1, a);
	if (params >= 2)
		sqlite3_bind_int64(stmt, 2, b);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		for (int col = 0; col < sqlite3_column_count(stmt); col++) {
			const unsigned char *text = sqlite3_column_text(stmt, col);
			for (const unsigned char *p = text; p && *p; p++)
				hash = (hash ^ *p) * 0x100000001b3ULL;
			hash = (hash ^ 0x1f) * 0x100000001b3ULL; /* column separator */
		}
		hash = (hash ^ 0x1e) * 0x100000001b3ULL; /* row separator */
	}
	sqlite3_finalize(stmt);
	return hash;
}

static uint64_t catalog_digest(struct hbk_store *store)
{
	static const char *const tables[] = {
	    "SELECT * FROM cities ORDER BY code",
	    "SELECT * FROM hotels ORDER BY id",
	    "SELECT * FROM room_types ORDER BY hotel_id, code",
	    "SELECT * FROM boards ORDER BY hotel_id, code",
	    "SELECT * FROM inventory ORDER BY hotel_id, room_type, night",
	    "SELECT * FROM blackouts ORDER BY hotel_id, night",
	};
	uint64_t hash = 0;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		hash = hash * 31 + digest_query(store, tables[i], 0, 0);
	return hash;
}

static void test_seed_catalog_shape(void)
{
	struct hbk_store *store = seeded_store();

	CHECK_INT(count(store, "SELECT COUNT(*) FROM hotels"), DEMO_HOTELS);
	CHECK(count(store, "SELECT COUNT(*) FROM cities") >= 14);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM cities WHERE code IN ('LIS','OPO','MAD','BCN',"
			       "'PAR','ROM','MIL','BER','AMS','LON','NYC','TYO','DXB','PRG')"),
		  14);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM cities c WHERE (SELECT COUNT(*) FROM hotels h"
			       " WHERE h.city = c.code) <> 15"),
		  0);
	CHECK_INT(count(store,
			"SELECT COUNT(*) FROM hotels WHERE id NOT GLOB"
			" 'H-[A-Z][A-Z][A-Z]-[0-9][0-9][0-9][0-9]' OR substr(id, 3, 3) <> city"),
		  0);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM hotels h JOIN cities c ON c.code = h.city"
			       " WHERE h.currency = c.currency"),
		  DEMO_HOTELS);
	CHECK_INT(count(store, "SELECT COUNT(DISTINCT code) FROM hotels"), DEMO_HOTELS);
	CHECK_INT(count(store, "SELECT COUNT(DISTINCT city || name) FROM hotels"), DEMO_HOTELS);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM hotels WHERE stars NOT BETWEEN 2 AND 5"
			       " OR free_cancel_days NOT BETWEEN 1 AND 7"
			       " OR nrf_discount_pct NOT BETWEEN 0 AND 15 OR address = ''"
			       " OR length(name) < 5"),
		  0);
	CHECK(count(store, "SELECT COUNT(DISTINCT stars) FROM hotels") >= 3);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM hotels h WHERE (SELECT COUNT(*) FROM"
			       " room_types r WHERE r.hotel_id = h.id) NOT BETWEEN 3 AND 6"),
		  0);
	CHECK_INT(count(store,
			"SELECT COUNT(*) FROM room_types WHERE total_rooms NOT BETWEEN 5 AND 40"
			" OR NOT ((code = 'SGL' AND capacity = 1)"
			" OR (code IN ('DBL', 'TWN') AND capacity = 2)"
			" OR (code = 'TRP' AND capacity = 3)"
			" OR (code = 'FAM' AND capacity = 4 AND max_children = 2)"
			" OR (code = 'STE' AND capacity IN (2, 4)))"
			" OR max_children >= capacity"),
		  0);
	CHECK_INT(count(store, "SELECT COUNT(DISTINCT code) FROM room_types"), 6);
}

static void test_seed_inventory_nights(void)
{
	struct hbk_store *store = seeded_store();

	CHECK_INT(count(store,
			"SELECT COUNT(*) FROM room_types r WHERE (SELECT COUNT(*) FROM"
			" inventory i WHERE i.hotel_id = r.hotel_id AND i.room_type = r.code)"
			" <> ?2"),
		  0);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM inventory"),
		  count(store, "SELECT COUNT(*) FROM room_types") * DEMO_DAYS);
	CHECK_INT(count(store, "SELECT MIN(night) FROM inventory"), demo_from());
	CHECK_INT(count(store, "SELECT MAX(night) FROM inventory"), demo_from() + DEMO_DAYS - 1);
	CHECK_INT(
	    count(store, "SELECT COUNT(*) FROM inventory WHERE allotment < 0 OR price_minor <= 0"),
	    0);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM inventory i JOIN room_types r"
			       " ON r.hotel_id = i.hotel_id AND r.code = i.room_type"
			       " WHERE i.allotment > r.total_rooms"),
		  0);
	/* Most nights are wide open, some are partly sold. */
	int64_t lower = count(store, "SELECT COUNT(*) FROM inventory i JOIN room_types r"
				     " ON r.hotel_id = i.hotel_id AND r.code = i.room_type"
				     " WHERE i.allotment < r.total_rooms");
	int64_t rows = count(store, "SELECT COUNT(*) FROM inventory");
	CHECK(lower > 0);
	CHECK(lower < rows / 4);
}

static void test_seed_weekend_and_season(void)
{
	struct hbk_store *store = seeded_store();
	hbk_date monday = hbk_date_from_ymd(2026, 10, 12);

	CHECK_INT(hbk_date_weekday(monday), 0);
	/* Friday (+4) against Wednesday (+2) and Saturday (+5) against Tuesday
	 * (+1) of the same week, for every room of every hotel. */
	static const char pairs[] = "SELECT COUNT(*) FROM inventory w JOIN inventory e"
				    " ON e.hotel_id = w.hotel_id AND e.room_type = w.room_type"
				    " WHERE w.night = ?1 + %d AND e.night = ?1 + %d"
				    " AND e.price_minor %s w.price_minor";
	char sql[512];
	int64_t rooms = count(store, "SELECT COUNT(*) FROM room_types");
	hbk_format(sql, sizeof(sql), pairs, 2, 4, ">");
	CHECK_INT(query_int(store, sql, monday, 0), rooms);
	hbk_format(sql, sizeof(sql), pairs, 1, 5, ">");
	CHECK_INT(query_int(store, sql, monday, 0), rooms);
	hbk_format(sql, sizeof(sql), pairs, 0, 3, "<>");
	CHECK(query_int(store, sql, monday, 0) > 0); /* weekday noise exists */

	/* Summer is dearer than October, which is dearer than February. */
	static const char lisbon_avg[] =
	    "SELECT AVG(price_minor) FROM inventory"
	    " WHERE hotel_id GLOB 'H-LIS-*' AND night BETWEEN ?1 AND ?2";
	int64_t july = query_int(store, lisbon_avg, hbk_date_from_ymd(2026, 7, 1),
				 hbk_date_from_ymd(2026, 7, 31));
	int64_t october = query_int(store, lisbon_avg, hbk_date_from_ymd(2026, 10, 1),
				    hbk_date_from_ymd(2026, 10, 31));
	int64_t february = query_int(store, lisbon_avg, hbk_date_from_ymd(2027, 2, 1),
				     hbk_date_from_ymd(2027, 2, 28));
	CHECK(july > october);
	CHECK(october > february);
	CHECK(february > 0);
}

static void test_seed_currency_units(void)
{
	struct hbk_store *store = seeded_store();

	CHECK_INT(hbk_currency_exponent("JPY"), 0);
	CHECK_INT(
	    count(store, "SELECT COUNT(*) FROM cities WHERE code = 'TYO' AND currency = 'JPY'"), 1);
	CHECK_INT(count(store,
			"SELECT COUNT(*) FROM cities WHERE (code, country, currency) IN"
			" (VALUES ('LIS', 'PT', 'EUR'), ('LON', 'GB', 'GBP'),"
			" ('NYC', 'US', 'USD'), ('DXB', 'AE', 'AED'), ('PRG', 'CZ', 'CZK'))"),
		  5);
	/* A Tokyo room costs thousands of yen, not hundreds of thousands (which
	 * would be yen written as if they had two decimals). */
	CHECK(
	    count(store, "SELECT MIN(price_minor) FROM inventory WHERE hotel_id GLOB 'H-TYO-*'") >=
	    3000);
	CHECK(
	    count(store, "SELECT MAX(price_minor) FROM inventory WHERE hotel_id GLOB 'H-TYO-*'") <=
	    300000);
	/* Euros are counted in cents: a Lisbon night is tens to hundreds of euros. */
	CHECK(
	    count(store, "SELECT MIN(price_minor) FROM inventory WHERE hotel_id GLOB 'H-LIS-*'") >=
	    2000);
	CHECK(
	    count(store, "SELECT MAX(price_minor) FROM inventory WHERE hotel_id GLOB 'H-LIS-*'") <=
	    200000);
	/* Prices are whole units of each currency: whole yen, whole euros. */
	CHECK_INT(count(store, "SELECT COUNT(*) FROM inventory i JOIN hotels h ON h.id = i.hotel_id"
			       " WHERE h.currency <> 'JPY' AND i.price_minor % 100 <> 0"),
		  0);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM boards b JOIN hotels h ON h.id = b.hotel_id"
			       " WHERE h.currency <> 'JPY' AND b.supplement_minor % 100 <> 0"),
		  0);
	CHECK(count(store, "SELECT MIN(supplement_minor) FROM boards WHERE code = 'BB'"
			   " AND hotel_id GLOB 'H-TYO-*'") >= 500);
}

static void test_seed_boards(void)
{
	struct hbk_store *store = seeded_store();

	CHECK_INT(
	    count(store, "SELECT COUNT(*) FROM boards WHERE code = 'RO' AND supplement_minor = 0"),
	    DEMO_HOTELS);
	CHECK_INT(count(store,
			"SELECT COUNT(*) FROM boards WHERE code NOT IN ('RO','BB','HB','FB','AI')"
			" OR (code <> 'RO' AND supplement_minor <= 0)"),
		  0);
	CHECK_INT(count(store, "SELECT COUNT(DISTINCT code) FROM boards"), 5);
	/* Within a hotel, supplements rise from RO to AI. */
	CHECK_INT(count(store,
			"WITH b AS (SELECT hotel_id, supplement_minor,"
			" instr('RO BB HB FB AI', code) AS rank FROM boards)"
			" SELECT COUNT(*) FROM b x JOIN b y ON y.hotel_id = x.hotel_id"
			" AND y.rank > x.rank WHERE y.supplement_minor <= x.supplement_minor"),
		  0);
	CHECK(count(store, "SELECT COUNT(*) FROM boards WHERE code <> 'RO'") > DEMO_HOTELS);
}

static void test_seed_policies_and_blackouts(void)
{
	struct hbk_store *store = seeded_store();

	CHECK(count(store, "SELECT COUNT(*) FROM hotels WHERE sells_refundable = 1") >
	      DEMO_HOTELS / 2);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM hotels WHERE sells_refundable = 0"
			       " AND nrf_discount_pct = 0"),
		  0);
	/* One of each kind in Lisbon, where tests look for them. */
	CHECK(count(store, "SELECT COUNT(*) FROM hotels WHERE city = 'LIS' AND sells_refundable = 1"
			   " AND nrf_discount_pct > 0") > 0);
	CHECK(count(store, "SELECT COUNT(*) FROM hotels WHERE city = 'LIS' AND sells_refundable = 1"
			   " AND nrf_discount_pct = 0") > 0);
	CHECK(count(store, "SELECT COUNT(*) FROM hotels WHERE city = 'LIS' AND sells_refundable = 0"
			   " AND nrf_discount_pct > 0") > 0);

	CHECK_INT(count(store, "SELECT COUNT(*) FROM hotels WHERE id = 'H-LIS-0001' AND stars = 4"
			       " AND sells_refundable = 1 AND nrf_discount_pct > 0"
			       " AND free_cancel_days = 3"),
		  1);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM room_types WHERE hotel_id = 'H-LIS-0001'"
			       " AND code IN ('SGL', 'DBL', 'FAM')"),
		  3);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM blackouts WHERE hotel_id = 'H-LIS-0001'"
			       " AND night < ?1 + 60"),
		  0);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM inventory i JOIN room_types r"
			       " ON r.hotel_id = i.hotel_id AND r.code = i.room_type"
			       " WHERE i.hotel_id = 'H-LIS-0001' AND i.night < ?1 + 60"
			       " AND i.allotment < r.total_rooms"),
		  0);

	int64_t blackout_hotels = count(store, "SELECT COUNT(DISTINCT hotel_id) FROM blackouts");
	CHECK(blackout_hotels >= 5);
	CHECK(blackout_hotels < DEMO_HOTELS / 2);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM blackouts WHERE night NOT BETWEEN ?1 + 20"
			       " AND ?1 + 123 OR reason = ''"
			       " OR hotel_id NOT IN (SELECT id FROM hotels)"),
		  0);
}

static void count_progress(int done, int total, void *ctx)
{
	int *calls = ctx;
	/* calls[0] counts calls, calls[1] the last done, calls[2] bad values. */
	if (done != calls[1] + 1 || total != DEMO_HOTELS)
		calls[2]++;
	calls[0]++;
	calls[1] = done;
}

static void test_seed_progress_and_short_range(void)
{
	struct hbk_store *store = open_store();
	struct hbk_error err = {0};
	int calls[3] = {0, 0, 0};
	hbk_date from = demo_from() + 100;

	CHECK_INT(hbk_inventory_seed_demo(store, from, 30, count_progress, calls, &err), HBK_OK);
	CHECK_INT(calls[0], DEMO_HOTELS);
	CHECK_INT(calls[1], DEMO_HOTELS);
	CHECK_INT(calls[2], 0);
	CHECK_INT(query_int(store,
			    "SELECT COUNT(*) FROM inventory WHERE night NOT BETWEEN ?1 AND ?2",
			    from, from + 29),
		  0);
	CHECK_INT(query_int(store,
			    "SELECT COUNT(*) FROM blackouts WHERE night NOT BETWEEN ?1 AND ?2",
			    from, from + 29),
		  0);

	/* Nights do not depend on where the range starts: 30 nights from day
	 * 100 are the same as those nights of the 400 from day 0 (H-LIS-0001
	 * aside, which keeps its first 60 nights of any range wide open). */
	static const char nights[] = "SELECT * FROM inventory WHERE night BETWEEN ?1 AND ?2"
				     " AND hotel_id <> 'H-LIS-0001'"
				     " ORDER BY hotel_id, room_type, night";
	uint64_t fresh = digest_query(store, nights, from, from + 29);
	uint64_t shared = digest_query(seeded_store(), nights, from, from + 29);
	CHECK(fresh == shared);
	hbk_store_close(store);
}

static void test_seed_rejects_bad_input(void)
{
	struct hbk_store *store = seeded_store();
	struct hbk_error err = {0};

	CHECK_INT(hbk_inventory_seed_demo(store, demo_from(), 0, NULL, NULL, &err), HBK_EINVAL);
	CHECK_STR(err.field, "days");
	CHECK(err.message[0] != '\0');
	hbk_error_clear(&err);
	CHECK_INT(hbk_inventory_seed_demo(store, demo_from(), -5, NULL, NULL, &err), HBK_EINVAL);
	CHECK_INT(hbk_inventory_seed_demo(store, demo_from(), 1000000, NULL, NULL, &err),
		  HBK_EINVAL);
	CHECK_INT(store->tx_depth, 0);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM hotels"), DEMO_HOTELS);
}

static void test_seed_is_deterministic(void)
{
	struct hbk_store *store = seeded_store();
	struct hbk_error err = {0};
	uint64_t first = catalog_digest(store);
	int64_t first_sum = count(store, "SELECT SUM(price_minor) + SUM(allotment) FROM inventory");

	/* Other contexts' tables are not the seed's business. */
	CHECK_INT(hbk_store_exec(store,
				 "CREATE TABLE test_marker (x); INSERT INTO test_marker"
				 " VALUES (42)",
				 &err),
		  HBK_OK);

	CHECK_INT(seed(store, demo_from(), DEMO_DAYS), HBK_OK);
	CHECK(catalog_digest(store) == first);
	CHECK_INT(count(store, "SELECT SUM(price_minor) + SUM(allotment) FROM inventory"),
		  first_sum);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM hotels"), DEMO_HOTELS);
	CHECK_INT(count(store, "SELECT COUNT(*) FROM inventory"),
		  count(store, "SELECT COUNT(*) FROM room_types") * DEMO_DAYS);
	CHECK_INT(count(store, "SELECT x FROM test_marker"), 42);

	/* Another file, the same catalog. */
	struct hbk_store *other = open_store();
	CHECK_INT(seed(other, demo_from(), DEMO_DAYS), HBK_OK);
	CHECK(catalog_digest(other) == first);

	/* The digest does see a change: another start date moves every row. */
	CHECK_INT(seed(other, demo_from() + 1, DEMO_DAYS), HBK_OK);
	CHECK(catalog_digest(other) != first);
	hbk_store_close(other);
}

static void test_seed_rolls_back_on_failure(void)
{
	struct hbk_store *store = seeded_store();
	struct hbk_error err = {0};
	uint64_t before = catalog_digest(store);

	/* A blackout is written only after several hotels, so this fails half-way. */
	CHECK_INT(hbk_store_exec(store,
				 "CREATE TEMP TRIGGER test_fail BEFORE INSERT ON blackouts"
				 " BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
				 &err),
		  HBK_OK);
	hbk_result rc =
	    hbk_inventory_seed_demo(store, demo_from() + 7, DEMO_DAYS, NULL, NULL, &err);
	CHECK(rc != HBK_OK);
	CHECK(strstr(err.message, "injected failure") != NULL);
	CHECK_INT(store->tx_depth, 0);
	CHECK(sqlite3_get_autocommit(store->db) != 0);
	CHECK(catalog_digest(store) == before);

	CHECK_INT(hbk_store_exec(store, "DROP TRIGGER test_fail", &err), HBK_OK);
	CHECK_INT(seed(store, demo_from(), DEMO_DAYS), HBK_OK);
	CHECK(catalog_digest(store) == before);
}

static void test_close_shared_store(void)
{
	if (shared_store)
		hbk_store_close(shared_store);
	shared_store = NULL;
}

UNIT_TESTS(UNIT_T(test_seed_catalog_shape), UNIT_T(test_seed_inventory_nights),
	   UNIT_T(test_seed_weekend_and_season), UNIT_T(test_seed_currency_units),
	   UNIT_T(test_seed_boards), UNIT_T(test_seed_policies_and_blackouts),
	   UNIT_T(test_seed_progress_and_short_range), UNIT_T(test_seed_rejects_bad_input),
	   UNIT_T(test_seed_is_deterministic), UNIT_T(test_seed_rolls_back_on_failure),
	   UNIT_T(test_close_shared_store));
