/*
 * outbox.c - the notices table: notices whose delivery failed, waiting for
 * a retry ("pending", with the time of the next attempt) or for an
 * operator ("parked", after the last attempt), and those delivered later
 * ("sent"). A row holds the rendered message, so a retry sends exactly
 * what the guest would have received; no credential is ever stored.
 */
#include <stdlib.h>
#include <string.h>

#include "channels.h"
#include "hbk/notify.h"

/* Listings are for people: this bounds one. */
#define LIST_MAX_ROWS 1000
/* Notices delivered late are kept this long for the record, then dropped,
 * so the table holds only what is pending, parked or recent. */
#define SENT_KEEP_MS (30LL * 24 * 3600 * 1000)

hbk_result hbk_notify_migrate(struct hbk_store *store, struct hbk_error *err)
{
	return hbk_store_exec(store,
			      "CREATE TABLE IF NOT EXISTS notices ("
			      " id INTEGER PRIMARY KEY AUTOINCREMENT,"
			      " booking_id TEXT NOT NULL,"
			      " kind TEXT NOT NULL,"
			      " channel TEXT NOT NULL,"
			      " recipient TEXT NOT NULL,"
			      " subject TEXT NOT NULL DEFAULT '',"
			      " message TEXT NOT NULL,"
			      " status TEXT NOT NULL,"
			      " attempts INTEGER NOT NULL,"
			      " last_error TEXT NOT NULL DEFAULT '',"
			      " next_attempt_ms INTEGER NOT NULL,"
			      " created_ms INTEGER NOT NULL,"
			      " updated_ms INTEGER NOT NULL);"
			      "CREATE INDEX IF NOT EXISTS notices_due"
			      " ON notices (status, next_attempt_ms);",
			      err);
}

void notice_row_free(struct notice_row *row)
{
	if (!row)
		return;
	free(row->booking_id);
	free(row->kind);
	free(row->channel);
	free(row->recipient);
	free(row->subject);
	free(row->message);
	free(row->status);
	memset(row, 0, sizeof(*row));
}

hbk_result notices_add(struct hbk_store *store, const struct notice_row *row,
		       const char *last_error, const char *status, int64_t next_attempt_ms,
		       long long *id, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	bool owned = false;
	int64_t now_ms = hbk_now_ms();

	HBK_ASSERT(store != NULL && row != NULL && status != NULL);
	hbk_result rc = hbk_store_join(store, &owned, err);
	if (rc != HBK_OK)
		return rc;
	rc = hbk_store_prepare(
	    store,
	    "INSERT INTO notices (booking_id, kind, channel, recipient, subject,"
	    " message, status, attempts, last_error, next_attempt_ms,"
	    " created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    &stmt, err);
	if (rc == HBK_OK) {
		hbk_bind_text(stmt, 1, row->booking_id);
		hbk_bind_text(stmt, 2, row->kind);
		hbk_bind_text(stmt, 3, row->channel);
		hbk_bind_text(stmt, 4, row->recipient);
		hbk_bind_text(stmt, 5, row->subject ? row->subject : "");
		hbk_bind_text(stmt, 6, row->message);
		hbk_bind_text(stmt, 7, status);
		sqlite3_bind_int(stmt, 8, row->attempts);
		hbk_bind_text(stmt, 9, last_error ? last_error : "");
		sqlite3_bind_int64(stmt, 10, next_attempt_ms);
		sqlite3_bind_int64(stmt, 11, now_ms);
		sqlite3_bind_int64(stmt, 12, now_ms);
		rc = hbk_store_step_done(store, stmt, "store notice", err);
		hbk_stmt_done(stmt);
		if (rc == HBK_OK && id)
			*id = (long long)sqlite3_last_insert_rowid(store->db);
	}
	hbk_result left = hbk_store_leave(store, owned, rc == HBK_OK, rc == HBK_OK ? err : NULL);
	return rc == HBK_OK ? left : rc;
}

hbk_result notices_drop(struct hbk_store *store, long long id, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	bool owned = false;

	hbk_result rc = hbk_store_join(store, &owned, err);
	if (rc != HBK_OK)
		return rc;
	rc = hbk_store_prepare(store, "DELETE FROM notices WHERE id = ?", &stmt, err);
	if (rc == HBK_OK) {
		sqlite3_bind_int64(stmt, 1, id);
		rc = hbk_store_step_done(store, stmt, "drop notice", err);
		hbk_stmt_done(stmt);
	}
	hbk_result left = hbk_store_leave(store, owned, rc == HBK_OK, rc == HBK_OK ? err : NULL);
	return rc == HBK_OK ? left : rc;
}

static char *column_dup(sqlite3_stmt *stmt, int index)
{
	return hbk_xstrdup(hbk_column_text(stmt, index));
}

#define ROW_COLUMNS "id, booking_id, kind, channel, recipient, subject, message, status, attempts"

static void read_row(sqlite3_stmt *stmt, struct notice_row *row)
{
	row->id = sqlite3_column_int64(stmt, 0);
	row->booking_id = column_dup(stmt, 1);
	row->kind = column_dup(stmt, 2);
	row->channel = column_dup(stmt, 3);
	row->recipient = column_dup(stmt, 4);
	row->subject = column_dup(stmt, 5);
	row->message = column_dup(stmt, 6);
	row->status = column_dup(stmt, 7);
	row->attempts = sqlite3_column_int(stmt, 8);
}

hbk_result notices_get(struct hbk_store *store, long long id, struct notice_row *row,
		       struct hbk_error *err)
{
	sqlite3_stmt *stmt;

	memset(row, 0, sizeof(*row));
	hbk_result rc = hbk_store_prepare(store, "SELECT " ROW_COLUMNS " FROM notices WHERE id = ?",
					  &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, id);
	int step = sqlite3_step(stmt);
	if (step == SQLITE_ROW)
		read_row(stmt, row);
	else if (step == SQLITE_DONE)
		rc = hbk_fail(err, HBK_ENOTFOUND, "notice_not_found", "no notice %lld", id);
	else
		rc = hbk_store_fail(store, err, "read notice");
	hbk_stmt_done(stmt);
	return rc;
}

/* Moves one pending notice's next attempt from due_ms to lease_until_ms;
 * false when another process changed it first. */
static hbk_result claim_one(struct hbk_store *store, long long id, int64_t due_ms,
			    int64_t lease_until_ms, bool *claimed, struct hbk_error *err)
{
	sqlite3_stmt *stmt;

	*claimed = false;
	hbk_result rc =
	    hbk_store_prepare(store,
			      "UPDATE notices SET next_attempt_ms = ?, updated_ms = ?"
			      " WHERE id = ? AND status = 'pending' AND next_attempt_ms = ?",
			      &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, lease_until_ms);
	sqlite3_bind_int64(stmt, 2, hbk_now_ms());
	sqlite3_bind_int64(stmt, 3, id);
	sqlite3_bind_int64(stmt, 4, due_ms);
	rc = hbk_store_step_done(store, stmt, "claim notice", err);
	hbk_stmt_done(stmt);
	if (rc == HBK_OK)
		*claimed = sqlite3_changes(store->db) == 1;
	return rc;
}

hbk_result notices_claim_due(struct hbk_store *store, int64_t now_ms, int64_t lease_ms, int max,
			     struct notice_row *rows, int *count, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	bool owned = false;
	int64_t due_ms[NOTICES_CLAIM_MAX];

	HBK_ASSERT(max > 0 && max <= NOTICES_CLAIM_MAX && rows != NULL && count != NULL);
	*count = 0;
	hbk_result rc = hbk_store_join(store, &owned, err);
	if (rc != HBK_OK)
		return rc;
	rc = hbk_store_prepare(store,
			       "SELECT " ROW_COLUMNS ", next_attempt_ms FROM notices"
			       " WHERE status = 'pending' AND next_attempt_ms <= ?"
			       " ORDER BY next_attempt_ms, id LIMIT ?",
			       &stmt, err);
	if (rc == HBK_OK) {
		sqlite3_bind_int64(stmt, 1, now_ms);
		sqlite3_bind_int(stmt, 2, max);
		int step;
		while (*count < max && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
			memset(&rows[*count], 0, sizeof(rows[*count]));
			read_row(stmt, &rows[*count]);
			due_ms[*count] = sqlite3_column_int64(stmt, 9);
			(*count)++;
		}
		hbk_stmt_done(stmt);
	}
	/* Keep only the rows this process claimed. */
	int kept = 0;
	for (int i = 0; i < *count; i++) {
		bool claimed = false;
		if (rc == HBK_OK)
			rc = claim_one(store, rows[i].id, due_ms[i], now_ms + lease_ms, &claimed,
				       err);
		if (claimed && rc == HBK_OK) {
			if (kept != i)
				rows[kept] = rows[i];
			kept++;
		} else {
			notice_row_free(&rows[i]);
		}
	}
	*count = kept;
	hbk_result left = hbk_store_leave(store, owned, rc == HBK_OK, rc == HBK_OK ? err : NULL);
	if (rc == HBK_OK)
		rc = left;
	if (rc != HBK_OK) {
		for (int i = 0; i < kept; i++)
			notice_row_free(&rows[i]);
		*count = 0;
	}
	return rc;
}

hbk_result notices_prune_sent(struct hbk_store *store, int64_t now_ms, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	bool owned = false;

	hbk_result rc = hbk_store_join(store, &owned, err);
	if (rc != HBK_OK)
		return rc;
	rc = hbk_store_prepare(
	    store, "DELETE FROM notices WHERE status = 'sent' AND updated_ms < ?", &stmt, err);
	if (rc == HBK_OK) {
		sqlite3_bind_int64(stmt, 1, now_ms - SENT_KEEP_MS);
		rc = hbk_store_step_done(store, stmt, "prune notices", err);
		hbk_stmt_done(stmt);
	}
	hbk_result left = hbk_store_leave(store, owned, rc == HBK_OK, rc == HBK_OK ? err : NULL);
	return rc == HBK_OK ? left : rc;
}

hbk_result notices_parked_ids(struct hbk_store *store, int max, long long *ids, int *count,
			      struct hbk_error *err)
{
	sqlite3_stmt *stmt;

	*count = 0;
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT id FROM notices WHERE status = 'parked' ORDER BY id LIMIT ?", &stmt,
	    err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int(stmt, 1, max);
	int step = SQLITE_DONE;
	while (*count < max && (step = sqlite3_step(stmt)) == SQLITE_ROW)
		ids[(*count)++] = sqlite3_column_int64(stmt, 0);
	if (*count < max && step != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "list parked notices");
	hbk_stmt_done(stmt);
	return rc;
}

hbk_result notices_record(struct hbk_store *store, long long id, bool sent, const char *error,
			  const char *status, int64_t next_attempt_ms, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	bool owned = false;

	hbk_result rc = hbk_store_join(store, &owned, err);
	if (rc != HBK_OK)
		return rc;
	rc = hbk_store_prepare(store,
			       "UPDATE notices SET status = ?, attempts = attempts + 1,"
			       " last_error = ?, next_attempt_ms = ?, updated_ms = ? WHERE id = ?",
			       &stmt, err);
	if (rc == HBK_OK) {
		hbk_bind_text(stmt, 1, sent ? "sent" : status);
		hbk_bind_text(stmt, 2, sent ? "" : error ? error : "");
		sqlite3_bind_int64(stmt, 3, next_attempt_ms);
		sqlite3_bind_int64(stmt, 4, hbk_now_ms());
		sqlite3_bind_int64(stmt, 5, id);
		rc = hbk_store_step_done(store, stmt, "record notice", err);
		hbk_stmt_done(stmt);
	}
	hbk_result left = hbk_store_leave(store, owned, rc == HBK_OK, rc == HBK_OK ? err : NULL);
	return rc == HBK_OK ? left : rc;
}

static json_t *time_or_null(int64_t ms)
{
	char text[HBK_TIME_STR];

	if (ms <= 0)
		return json_null();
	hbk_time_format(ms, text);
	return json_string(text);
}

hbk_result hbk_notify_list(struct hbk_store *store, bool parked_only, json_t **out,
			   struct hbk_error *err)
{
	sqlite3_stmt *stmt;

	HBK_ASSERT(store != NULL && out != NULL);
	*out = NULL;
	hbk_result rc = hbk_store_prepare(
	    store,
	    "SELECT id, booking_id, kind, channel, recipient, status, attempts, last_error,"
	    " next_attempt_ms, created_ms, updated_ms FROM notices"
	    " WHERE (? = 0 OR status = 'parked') ORDER BY id DESC LIMIT ?",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int(stmt, 1, parked_only ? 1 : 0);
	sqlite3_bind_int(stmt, 2, LIST_MAX_ROWS);
	json_t *notices = json_array();
	int step;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *status = hbk_column_text(stmt, 5);
		int64_t next_ms = sqlite3_column_int64(stmt, 8);
		json_t *row =
		    json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:o, s:o}", "id",
			      (json_int_t)sqlite3_column_int64(stmt, 0), "booking_id",
			      hbk_column_text(stmt, 1), "kind", hbk_column_text(stmt, 2), "channel",
			      hbk_column_text(stmt, 3), "recipient", hbk_column_text(stmt, 4),
			      "status", status, "attempts", sqlite3_column_int(stmt, 6),
			      "last_error", hbk_column_text(stmt, 7), "next_attempt_at",
			      strcmp(status, "pending") == 0 ? time_or_null(next_ms) : json_null(),
			      "created_at", time_or_null(sqlite3_column_int64(stmt, 9)),
			      "updated_at", time_or_null(sqlite3_column_int64(stmt, 10)));
		HBK_ASSERT(row != NULL);
		json_array_append_new(notices, row);
	}
	if (step != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "list notices");
	hbk_stmt_done(stmt);
	if (rc != HBK_OK) {
		json_decref(notices);
		return rc;
	}
	*out = json_pack("{s:o}", "notices", notices);
	return HBK_OK;
}

hbk_result hbk_notify_metrics(struct hbk_store *store, struct hbk_buf *out, struct hbk_error *err)
{
	static const char *const statuses[] = {"pending", "parked", "sent"};
	long long counts[3] = {0, 0, 0};
	sqlite3_stmt *stmt;

	HBK_ASSERT(store != NULL && out != NULL);
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT status, COUNT(*) FROM notices GROUP BY status", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	int step;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW)
		for (size_t i = 0; i < 3; i++)
			if (strcmp(hbk_column_text(stmt, 0), statuses[i]) == 0)
				counts[i] = sqlite3_column_int64(stmt, 1);
	if (step != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "count notices");
	hbk_stmt_done(stmt);
	if (rc != HBK_OK)
		return rc;
	hbk_buf_puts(out, "# HELP hbk_notify_notices Guest notices kept in the store, by status.\n"
			  "# TYPE hbk_notify_notices gauge\n");
	for (size_t i = 0; i < 3; i++)
		hbk_buf_printf(out, "hbk_notify_notices{status=\"%s\"} %lld\n", statuses[i],
			       counts[i]);
	return HBK_OK;
}
