/*
 * store.c - the SQLite event store.
 *
 * `position` gives one global order over all streams (what a projection
 * rebuild or a bus replays); (stream, sequence) is unique, which is what
 * makes a concurrent append at the same version fail instead of forking
 * the stream.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/events.h"
#include "hbk/json.h"

static const char events_schema[] = "CREATE TABLE IF NOT EXISTS events ("
				    " position INTEGER PRIMARY KEY AUTOINCREMENT,"
				    " id TEXT NOT NULL UNIQUE,"
				    " stream TEXT NOT NULL,"
				    " sequence INTEGER NOT NULL CHECK (sequence > 0),"
				    " type TEXT NOT NULL,"
				    " time_ms INTEGER NOT NULL,"
				    " partitionkey TEXT NOT NULL,"
				    " correlationid TEXT NOT NULL DEFAULT '',"
				    " causationid TEXT NOT NULL DEFAULT '',"
				    " data TEXT NOT NULL,"
				    " published INTEGER NOT NULL DEFAULT 0,"
				    " UNIQUE (stream, sequence)"
				    ");";

hbk_result hbk_events_migrate(struct hbk_store *store, struct hbk_error *err)
{
	return hbk_store_exec(store, events_schema, err);
}

void hbk_event_clear(struct hbk_event *ev)
{
	json_decref(ev->data);
	memset(ev, 0, sizeof(*ev));
}

/*
 * Writes ev's row; *step is SQLITE_CONSTRAINT when its stream already
 * holds that sequence. An id already there is left as it is.
 */
static hbk_result insert_row(struct hbk_store *store, const struct hbk_event *ev, bool published,
			     int *step, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store,
	    "INSERT INTO events (id, stream, sequence, type, time_ms, partitionkey, correlationid,"
	    " causationid, data, published) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO "
	    "NOTHING",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	char *data = hbk_json_dumps(ev->data);
	hbk_bind_text(stmt, 1, ev->id);
	hbk_bind_text(stmt, 2, ev->subject);
	sqlite3_bind_int64(stmt, 3, ev->sequence);
	hbk_bind_text(stmt, 4, ev->type);
	sqlite3_bind_int64(stmt, 5, ev->time_ms);
	hbk_bind_text(stmt, 6, ev->partitionkey);
	hbk_bind_text(stmt, 7, ev->correlationid);
	hbk_bind_text(stmt, 8, ev->causationid);
	hbk_bind_text(stmt, 9, data);
	sqlite3_bind_int(stmt, 10, published);
	*step = sqlite3_step(stmt);
	if (*step != SQLITE_DONE && *step != SQLITE_CONSTRAINT)
		rc = hbk_store_fail(store, err, "event store");
	hbk_stmt_done(stmt);
	free(data);
	return rc;
}

hbk_result hbk_events_version(struct hbk_store *store, const char *stream, int64_t *version,
			      struct hbk_error *err)
{
	sqlite3_stmt *stmt = NULL;
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT COALESCE(MAX(sequence), 0) FROM events WHERE stream = ?", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, stream);
	*version = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
	hbk_stmt_done(stmt);
	return *version < 0 ? hbk_store_fail(store, err, "event store") : HBK_OK;
}

hbk_result hbk_events_append(struct hbk_store *store, struct hbk_event *ev, int64_t expected,
			     struct hbk_error *err)
{
	HBK_ASSERT(store->tx_depth > 0);
	HBK_ASSERT(ev->data != NULL && ev->type[0] && ev->subject[0]);

	int64_t current;
	hbk_result rc = hbk_events_version(store, ev->subject, &current, err);
	if (rc != HBK_OK)
		return rc;
	if (current != expected)
		return hbk_fail(err, HBK_ECONFLICT, "stale_version",
				"%s changed meanwhile (at %lld, expected %lld)", ev->subject,
				(long long)current, (long long)expected);

	hbk_id_new("EV", ev->id);
	ev->sequence = expected + 1;
	if (!ev->time_ms)
		ev->time_ms = hbk_now_ms();
	int step;
	rc = insert_row(store, ev, false, &step, err);
	if (rc == HBK_OK && step == SQLITE_CONSTRAINT)
		rc = hbk_fail(err, HBK_ECONFLICT, "stale_version", "%s changed meanwhile",
			      ev->subject);
	return rc;
}

hbk_result hbk_events_insert(struct hbk_store *store, const struct hbk_event *ev, bool *inserted,
			     struct hbk_error *err)
{
	HBK_ASSERT(store->tx_depth > 0);
	HBK_ASSERT(ev->id[0] && ev->subject[0] && ev->sequence > 0);
	int step;
	/* Published already: it came from the bus. A known id is a redelivery. */
	hbk_result rc = insert_row(store, ev, true, &step, err);
	if (rc == HBK_OK && step == SQLITE_CONSTRAINT)
		rc = hbk_fail(err, HBK_ECONFLICT, "stale_version",
			      "%s already has an event at sequence %lld (not %s)", ev->subject,
			      (long long)ev->sequence, ev->id);
	*inserted = rc == HBK_OK && sqlite3_changes(store->db) == 1;
	return rc;
}

hbk_result hbk_events_apply_new(struct hbk_store *store, const struct hbk_event *ev, bool *applied,
				hbk_event_apply_fn apply, void *ctx, struct hbk_error *err)
{
	bool inserted;
	HBK_ASSERT(store->tx_depth > 0);
	*applied = false;
	hbk_result rc = hbk_events_insert(store, ev, &inserted, err);
	if (rc != HBK_OK || !inserted) /* a redelivery changes nothing */
		return rc;
	rc = apply(store, ev, ctx, err);
	*applied = rc == HBK_OK;
	return rc;
}

bool hbk_events_known(struct hbk_store *store, const char *id)
{
	sqlite3_stmt *stmt;
	if (hbk_store_prepare(store, "SELECT 1 FROM events WHERE id = ?", &stmt, NULL) != HBK_OK)
		return false;
	hbk_bind_text(stmt, 1, id);
	bool known = sqlite3_step(stmt) == SQLITE_ROW;
	hbk_stmt_done(stmt);
	return known;
}

#define EVENT_COLUMNS                                                                              \
	"position, id, stream, sequence, type, time_ms, partitionkey, correlationid, causationid," \
	" data"

/* An event from a row of EVENT_COLUMNS; the caller clears it. */
static hbk_result event_from_row(sqlite3_stmt *stmt, struct hbk_event *ev, struct hbk_error *err)
{
	memset(ev, 0, sizeof(*ev));
	ev->position = sqlite3_column_int64(stmt, 0);
	hbk_copy(ev->id, sizeof(ev->id), hbk_column_text(stmt, 1));
	hbk_copy(ev->subject, sizeof(ev->subject), hbk_column_text(stmt, 2));
	ev->sequence = sqlite3_column_int64(stmt, 3);
	hbk_copy(ev->type, sizeof(ev->type), hbk_column_text(stmt, 4));
	ev->time_ms = sqlite3_column_int64(stmt, 5);
	hbk_copy(ev->partitionkey, sizeof(ev->partitionkey), hbk_column_text(stmt, 6));
	hbk_copy(ev->correlationid, sizeof(ev->correlationid), hbk_column_text(stmt, 7));
	hbk_copy(ev->causationid, sizeof(ev->causationid), hbk_column_text(stmt, 8));
	const char *data = hbk_column_text(stmt, 9);
	ev->data = hbk_json_loads(data, strlen(data), err);
	return ev->data ? HBK_OK : HBK_EINTERNAL;
}

/* Calls fn for each row of stmt (EVENT_COLUMNS), stopping at a failure. */
static hbk_result read_rows(struct hbk_store *store, sqlite3_stmt *stmt, hbk_event_fn fn, void *ctx,
			    struct hbk_error *err)
{
	hbk_result rc = HBK_OK;
	int step;
	while (rc == HBK_OK && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct hbk_event ev;
		rc = event_from_row(stmt, &ev, err);
		if (rc == HBK_OK)
			rc = fn(&ev, ctx, err);
		hbk_event_clear(&ev);
	}
	if (rc == HBK_OK && step != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "event store");
	hbk_stmt_done(stmt);
	return rc;
}

hbk_result hbk_events_unpublished(struct hbk_store *store, int max, hbk_event_fn fn, void *ctx,
				  struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(store,
					  "SELECT " EVENT_COLUMNS " FROM events WHERE published = 0"
					  " ORDER BY position LIMIT ?",
					  &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int(stmt, 1, max);
	return read_rows(store, stmt, fn, ctx, err);
}

hbk_result hbk_events_read(struct hbk_store *store, const char *stream, hbk_event_fn fn, void *ctx,
			   struct hbk_error *err)
{
	return hbk_events_read_from(store, stream, 1, fn, ctx, err);
}

hbk_result hbk_events_read_from(struct hbk_store *store, const char *stream, int64_t from_sequence,
				hbk_event_fn fn, void *ctx, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	HBK_ASSERT(from_sequence > 0);
	hbk_result rc = hbk_store_prepare(store,
					  "SELECT " EVENT_COLUMNS
					  " FROM events WHERE stream = ? AND sequence >= ?"
					  " ORDER BY sequence",
					  &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, stream);
	sqlite3_bind_int64(stmt, 2, from_sequence);
	return read_rows(store, stmt, fn, ctx, err);
}

json_t *hbk_event_json(const struct hbk_event *ev)
{
	char time[HBK_TIME_STR];
	hbk_time_format(ev->time_ms, time);
	json_t *json =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "specversion", "1.0", "id",
		      ev->id, "source", HBK_EVENT_SOURCE, "type", ev->type, "subject", ev->subject,
		      "time", time, "datacontenttype", "application/json", "sequence",
		      (json_int_t)ev->sequence, "partitionkey", ev->partitionkey);
	if (ev->correlationid[0])
		json_object_set_new(json, "correlationid", json_string(ev->correlationid));
	if (ev->causationid[0])
		json_object_set_new(json, "causationid", json_string(ev->causationid));
	json_object_set(json, "data", ev->data);
	return json;
}

hbk_result hbk_events_append_next(struct hbk_store *store, struct hbk_event *ev,
				  struct hbk_error *err)
{
	int64_t version;
	hbk_result rc = hbk_events_version(store, ev->subject, &version, err);
	return rc == HBK_OK ? hbk_events_append(store, ev, version, err) : rc;
}
