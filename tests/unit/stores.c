/*
 * stores.c - replaying one store's events and comparing two stores, for
 * the unit tests of replication (stores.h).
 */
#include <stdlib.h>
#include <string.h>

#include "stores.h"
#include "unit.h"

void stores_replay(struct hbk_store *from, const char *pattern, hbk_event_fn fn, void *ctx)
{
	sqlite3_stmt *stmt = NULL;
	struct hbk_error err = {0};
	CHECK_INT(hbk_store_prepare(from,
				    "SELECT stream FROM events WHERE stream LIKE ?1 GROUP BY stream"
				    " ORDER BY MIN(position)",
				    &stmt, &err),
		  HBK_OK);
	hbk_bind_text(stmt, 1, pattern);
	while (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
		char stream[HBK_EVENT_KEY_MAX];
		hbk_copy(stream, sizeof(stream), hbk_column_text(stmt, 0));
		CHECK_INT(hbk_events_read(from, stream, fn, ctx, &err), HBK_OK);
	}
	hbk_stmt_done(stmt);
}

char *stores_dump(struct hbk_store *store, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	struct hbk_buf out;
	hbk_buf_init(&out, 0);
	if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return strdup("(query failed)");
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(stmt); i++) {
			const unsigned char *text = sqlite3_column_text(stmt, i);
			hbk_buf_puts(&out, text ? (const char *)text : "NULL");
			hbk_buf_putc(&out, '|');
		}
		hbk_buf_putc(&out, '\n');
	}
	sqlite3_finalize(stmt);
	return hbk_buf_detach(&out);
}

void stores_check_same(struct hbk_store *a, struct hbk_store *b, const char *sql)
{
	char *x = stores_dump(a, sql), *y = stores_dump(b, sql);
	CHECK(strlen(x) > 10);
	CHECK(strcmp(x, y) == 0);
	if (strcmp(x, y) != 0)
		fprintf(stderr, "  differs: %s\n", sql);
	free(x);
	free(y);
}
