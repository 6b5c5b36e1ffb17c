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

hbk_result hbk_events_append(struct hbk_store *store, struct hbk_event *ev, int64_t expected,
			     struct hbk_error *err)
{
	sqlite3_stmt *stmt = NULL;
	hbk_result rc;

	HBK_ASSERT(store->tx_depth > 0);
	HBK_ASSERT(ev->data != NULL && ev->type[0] && ev->subject[0]);

	rc = hbk_store_prepare(
	    store, "SELECT COALESCE(MAX(sequence), 0) FROM events WHERE stream = ?", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, ev->subject);
	int64_t current = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
	hbk_stmt_done(stmt);
	if (current < 0)
		return hbk_store_fail(store, err, "event store");
	if (current != expected)
		return hbk_fail(err, HBK_ECONFLICT, "stale_version",
				"%s changed meanwhile (at %lld, expected %lld)", ev->subject,
				(long long)current, (long long)expected);

	hbk_id_new("EV", ev->id);
	ev->sequence = expected + 1;
	if (!ev->time_ms)
		ev->time_ms = hbk_now_ms();
	char *data = hbk_json_dumps(ev->data);
	rc = hbk_store_prepare(
	    store,
	    "INSERT INTO events (id, stream, sequence, type, time_ms, partitionkey,"
	    " correlationid, causationid, data) VALUES (?,?,?,?,?,?,?,?,?)",
	    &stmt, err);
	if (rc == HBK_OK) {
		hbk_bind_text(stmt, 1, ev->id);
		hbk_bind_text(stmt, 2, ev->subject);
		sqlite3_bind_int64(stmt, 3, ev->sequence);
		hbk_bind_text(stmt, 4, ev->type);
		sqlite3_bind_int64(stmt, 5, ev->time_ms);
		hbk_bind_text(stmt, 6, ev->partitionkey);
		hbk_bind_text(stmt, 7, ev->correlationid);
		hbk_bind_text(stmt, 8, ev->causationid);
		hbk_bind_text(stmt, 9, data);
		int step = sqlite3_step(stmt);
		if (step == SQLITE_CONSTRAINT)
			rc = hbk_fail(err, HBK_ECONFLICT, "stale_version", "%s changed meanwhile",
				      ev->subject);
		else if (step != SQLITE_DONE)
			rc = hbk_store_fail(store, err, "event store");
		hbk_stmt_done(stmt);
	}
	free(data);
	return rc;
}

hbk_result hbk_events_insert(struct hbk_store *store, const struct hbk_event *ev, bool *inserted,
			     struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	HBK_ASSERT(store->tx_depth > 0);
	HBK_ASSERT(ev->id[0] && ev->subject[0] && ev->sequence > 0);
	*inserted = false;
	char *data = hbk_json_dumps(ev->data);
	/* Published already: it came from the bus. A known id is a redelivery. */
	hbk_result rc = hbk_store_prepare(
	    store,
	    "INSERT INTO events (id, stream, sequence, type, time_ms, partitionkey, correlationid,"
	    " causationid, data, published) VALUES (?,?,?,?,?,?,?,?,?,1) ON CONFLICT (id) DO NOTHING",
	    &stmt, err);
	if (rc == HBK_OK) {
		hbk_bind_text(stmt, 1, ev->id);
		hbk_bind_text(stmt, 2, ev->subject);
		sqlite3_bind_int64(stmt, 3, ev->sequence);
		hbk_bind_text(stmt, 4, ev->type);
		sqlite3_bind_int64(stmt, 5, ev->time_ms);
		hbk_bind_text(stmt, 6, ev->partitionkey);
		hbk_bind_text(stmt, 7, ev->correlationid);
		hbk_bind_text(stmt, 8, ev->causationid);
		hbk_bind_text(stmt, 9, data);
		int step = sqlite3_step(stmt);
		if (step == SQLITE_CONSTRAINT)
			rc = hbk_fail(err, HBK_ECONFLICT, "stale_version",
				      "%s already has an event at sequence %lld (not %s)", ev->subject,
				      (long long)ev->sequence, ev->id);
		else if (step != SQLITE_DONE)
			rc = hbk_store_fail(store, err, "event store");
		else
			*inserted = sqlite3_changes(store->db) == 1;
		hbk_stmt_done(stmt);
	}
	free(data);
	return rc;
}

hbk_result hbk_events_read(struct hbk_store *store, const char *stream, hbk_event_fn fn, void *ctx,
			   struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store,
	    "SELECT id, sequence, type, time_ms, partitionkey, correlationid, causationid, data"
	    " FROM events WHERE stream = ? ORDER BY sequence",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, stream);
	int step;
	while (rc == HBK_OK && (step = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct hbk_event ev = {0};
		hbk_copy(ev.id, sizeof(ev.id), hbk_column_text(stmt, 0));
		hbk_copy(ev.subject, sizeof(ev.subject), stream);
		ev.sequence = sqlite3_column_int64(stmt, 1);
		hbk_copy(ev.type, sizeof(ev.type), hbk_column_text(stmt, 2));
		ev.time_ms = sqlite3_column_int64(stmt, 3);
		hbk_copy(ev.partitionkey, sizeof(ev.partitionkey), hbk_column_text(stmt, 4));
		hbk_copy(ev.correlationid, sizeof(ev.correlationid), hbk_column_text(stmt, 5));
		hbk_copy(ev.causationid, sizeof(ev.causationid), hbk_column_text(stmt, 6));
		const char *data = hbk_column_text(stmt, 7);
		ev.data = hbk_json_loads(data, strlen(data), err);
		if (!ev.data) {
			rc = HBK_EINTERNAL;
			break;
		}
		rc = fn(&ev, ctx, err);
		hbk_event_clear(&ev);
	}
	if (rc == HBK_OK && step != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "event store");
	hbk_stmt_done(stmt);
	return rc;
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
