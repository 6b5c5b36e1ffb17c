/*
 * test_search_model.c - proves that a store keeping the search read model
 * in memory answers every search exactly as SQLite does, while another
 * connection (standing for another process) takes rooms, prunes the
 * change log past the model, blacks a hotel out and adds nights: the same
 * query through a connection without the model must give the same text,
 * whether the search opens its read transaction or joins one that has
 * read already (as hbkd's do).
 */
#include <stdint.h>
#include <stdlib.h>

#include "hbk/inventory.h"
#include "unit.h"

#define MODEL_DAYS 40

/* 2026-03-02; searches pass their own clock, so no date is in the past. */
static hbk_date seed_from(void)
{
	return hbk_date_from_ymd(2026, 3, 2);
}

static const int64_t now_ms = 1767225600000; /* 2026-01-01T00:00:00Z */

struct pair {
	struct hbk_store *sql;	 /* plain: every search runs SQL */
	struct hbk_store *model; /* keeps the model */
};

static struct hbk_store *open_at(const char *path)
{
	struct hbk_store *store = NULL;
	struct hbk_error err = {0};
	if (hbk_store_open(path, HBK_STORE_CREATE | HBK_STORE_NO_RECOVER, &store, &err) != HBK_OK) {
		fprintf(stderr, "open %s: %s\n", path, err.message);
		exit(1);
	}
	return store;
}

static struct pair open_pair(void)
{
	static int serial;
	char path[512];
	struct hbk_error err = {0};
	hbk_format(path, sizeof(path), "%s/model-%d.db", unit_tmpdir(), ++serial);
	struct pair p = {.sql = open_at(path)};
	if (hbk_inventory_seed_demo(p.sql, seed_from(), MODEL_DAYS, NULL, NULL, &err) != HBK_OK) {
		fprintf(stderr, "seed: %s\n", err.message);
		exit(1);
	}
	p.model = open_at(path);
	p.model->keep_search_model = true;
	return p;
}

static struct hbk_search_query query(const char *city, int checkin_offset, int nights)
{
	struct hbk_search_query q = {.checkin = seed_from() + checkin_offset,
				     .checkout = seed_from() + checkin_offset + nights,
				     .adults = 2,
				     .rooms = 1,
				     .limit = 500};
	hbk_copy(q.city, sizeof(q.city), city);
	return q;
}

/* The search's text, or "error: <code>" when it fails. Caller frees. */
static char *search(struct hbk_store *store, const struct hbk_search_query *q)
{
	struct hbk_buf out;
	struct hbk_error err = {0};
	hbk_buf_init(&out, 0);
	if (hbk_search_text(store, q, now_ms, &out, &err) != HBK_OK) {
		hbk_buf_reset(&out);
		hbk_buf_printf(&out, "error: %s", err.code);
	}
	char *text = strdup(out.data ? out.data : "");
	hbk_buf_free(&out);
	return text;
}

/*
 * The search's text from inside a read transaction that has read already,
 * as hbkd searches after checking the request's token: the model then
 * tells from SQLite's data version whether anything changed at all.
 */
static char *search_after_read(struct hbk_store *store, const struct hbk_search_query *q)
{
	struct hbk_error err = {0};
	sqlite3_stmt *stmt = NULL;
	CHECK_INT(hbk_store_begin(store, false, &err), HBK_OK);
	CHECK_INT(sqlite3_prepare_v2(store->db, "SELECT COUNT(*) FROM cities", -1, &stmt, NULL),
		  SQLITE_OK);
	CHECK_INT(sqlite3_step(stmt), SQLITE_ROW);
	char *text = search(store, q);
	sqlite3_finalize(stmt);
	hbk_store_rollback(store);
	return text;
}

/* The answers are the same (the model's both ways); returns how many
 * offers the text holds. */
static int same(struct pair *p, const struct hbk_search_query *q)
{
	/* After a change elsewhere, the first of the model's is one that
	 * joins a read: it must see the change by the data version alone. */
	char *a = search(p->sql, q), *c = search_after_read(p->model, q), *b = search(p->model, q);
	char *d = search_after_read(p->model, q);
	CHECK_STR(b, a);
	CHECK_STR(c, a);
	CHECK_STR(d, a);
	int offers = 0;
	for (const char *s = a; (s = strstr(s, "\"offer_id\"")); s++)
		offers++;
	free(a);
	free(b);
	free(c);
	free(d);
	return offers;
}

static int64_t query_int(struct hbk_store *store, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int64_t value = INT64_MIN;
	if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return value;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}

static void exec(struct hbk_store *store, const char *sql)
{
	struct hbk_error err = {0};
	hbk_result rc = hbk_store_exec(store, sql, &err);
	CHECK_INT(rc, HBK_OK);
	if (rc != HBK_OK)
		fprintf(stderr, "%s: %s\n", sql, err.message);
}

/* Takes every room of one room type on one night, from the plain connection. */
static void sell_out(struct hbk_store *store, const char *hotel, const char *room, hbk_date night)
{
	struct hbk_error err = {0};
	char sql[256];
	hbk_format(sql, sizeof(sql),
		   "SELECT allotment FROM inventory WHERE hotel_id = '%s' AND room_type = '%s'"
		   " AND night = %d",
		   hotel, room, night);
	int64_t left = query_int(store, sql);
	CHECK(left > 0);
	CHECK_INT(hbk_store_begin(store, true, &err), HBK_OK);
	CHECK_INT(hbk_inventory_hold(store, hotel, room, night, night + 1, (int)left, &err),
		  HBK_OK);
	CHECK_INT(hbk_store_commit(store, &err), HBK_OK);
}

static void test_model_answers_as_sql(void)
{
	struct pair p = open_pair();
	const char *cities[] = {"LIS", "PAR", "NYC", "TYO"};
	for (size_t i = 0; i < sizeof(cities) / sizeof(cities[0]); i++) {
		for (int nights = 1; nights <= 4; nights += 3) {
			struct hbk_search_query q = query(cities[i], 5 + (int)i, nights);
			CHECK(same(&p, &q) > 20);
			q.sort = HBK_SORT_STARS;
			q.rooms = 2;
			q.adults = 3;
			q.children = 2;
			q.limit = 7;
			CHECK(same(&p, &q) > 0);
			q.sort = HBK_SORT_NAME;
			q.refundable_only = true;
			hbk_copy(q.max_price, sizeof(q.max_price), "900");
			same(&p, &q);
		}
	}
	struct hbk_search_query q = query("", 3, 2);
	hbk_copy(q.hotel_id, sizeof(q.hotel_id), "H-LIS-0003");
	CHECK(same(&p, &q) > 0);
	hbk_copy(q.city, sizeof(q.city), "PAR"); /* a hotel outside the city: nothing */
	CHECK_INT(same(&p, &q), 0);
	hbk_copy(q.city, sizeof(q.city), "XXX");
	same(&p, &q);
	q = query("LIS", 3, 2);
	hbk_copy(q.hotel_id, sizeof(q.hotel_id), "H-NOPE-01");
	same(&p, &q);
	hbk_store_close(p.model);
	hbk_store_close(p.sql);
}

static void test_model_follows_other_writers(void)
{
	struct pair p = open_pair();
	struct hbk_search_query q = query("LIS", 10, 1);
	hbk_copy(q.hotel_id, sizeof(q.hotel_id), "H-LIS-0001");
	int before = same(&p, &q);
	CHECK(before > 0);

	/* Rooms taken elsewhere: applied from the change log. */
	sell_out(p.sql, "H-LIS-0001", "DBL", q.checkin);
	int after = same(&p, &q);
	CHECK(after < before);

	/* The log pruned past the model: the gap makes it build again. */
	exec(p.sql, "DELETE FROM inventory_changes");
	sell_out(p.sql, "H-LIS-0001", "TWN", q.checkin);
	CHECK(same(&p, &q) < after);

	/* A blackout is a catalog change. */
	exec(p.sql,
	     "INSERT INTO blackouts (hotel_id, night, reason) SELECT 'H-LIS-0001',"
	     " night, 'works' FROM inventory WHERE hotel_id = 'H-LIS-0001' LIMIT 1 OFFSET 10");
	CHECK_INT(same(&p, &q), 0);
	exec(p.sql, "DELETE FROM blackouts WHERE reason = 'works'");
	CHECK(same(&p, &q) > 0);

	/* A night added past the seeded range is sold at once. */
	struct hbk_error err = {0};
	struct hbk_search_query late = query("", MODEL_DAYS, 1);
	hbk_copy(late.hotel_id, sizeof(late.hotel_id), "H-LIS-0001");
	CHECK_INT(same(&p, &late), 0);
	CHECK_INT(hbk_store_begin(p.sql, true, &err), HBK_OK);
	CHECK_INT(hbk_inventory_sync_night(p.sql, "H-LIS-0001", "DBL", late.checkin, 4, 12000, NULL,
					   &err),
		  HBK_OK);
	CHECK_INT(hbk_store_commit(p.sql, &err), HBK_OK);
	CHECK(same(&p, &late) > 0);
	hbk_store_close(p.model);
	hbk_store_close(p.sql);
}

static void test_prune_keeps_the_newest(void)
{
	struct pair p = open_pair();
	struct hbk_error err = {0};
	struct hbk_search_query q = query("PAR", 2, 3);
	same(&p, &q);
	/* More changes than are kept: one per inventory row, each time. */
	while (query_int(p.sql, "SELECT COUNT(*) FROM inventory_changes") <=
	       HBK_INVENTORY_CHANGES_KEPT)
		exec(p.sql, "UPDATE inventory SET price_minor = price_minor + 1");
	int64_t newest = query_int(p.sql, "SELECT MAX(seq) FROM inventory_changes");
	CHECK(query_int(p.sql, "SELECT COUNT(*) FROM inventory_changes") >
	      HBK_INVENTORY_CHANGES_KEPT);
	CHECK_INT(hbk_store_begin(p.sql, true, &err), HBK_OK);
	CHECK_INT(hbk_inventory_prune_changes(p.sql, &err), HBK_OK);
	CHECK_INT(hbk_store_commit(p.sql, &err), HBK_OK);
	CHECK_INT(query_int(p.sql, "SELECT COUNT(*) FROM inventory_changes"),
		  HBK_INVENTORY_CHANGES_KEPT);
	CHECK_INT(query_int(p.sql, "SELECT MAX(seq) FROM inventory_changes"), newest);
	/* The model, behind the pruned rows, still answers as SQL does. */
	same(&p, &q);
	hbk_store_close(p.model);
	hbk_store_close(p.sql);
}

UNIT_TESTS(UNIT_T(test_model_answers_as_sql), UNIT_T(test_model_follows_other_writers),
	   UNIT_T(test_prune_keeps_the_newest));
