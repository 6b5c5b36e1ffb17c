/*
 * projection.c - loading the aggregate from its events, appending new
 * ones, and keeping the booking view projection in the same transaction;
 * the saga registry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hbk/json.h"
#include "internal.h"

static hbk_result fold(const struct hbk_event *ev, void *ctx, struct hbk_error *err)
{
	return hbk_booking_apply(ctx, ev->type, ev->data, ev->sequence, ev->time_ms, err);
}

hbk_result booking_load(struct hbk_store *store, const char *id, struct hbk_booking *b,
			struct hbk_error *err)
{
	memset(b, 0, sizeof(*b));
	b->charge_payment = -1;
	hbk_copy(b->id, sizeof(b->id), id);
	hbk_result rc = hbk_events_read(store, id, fold, b, err);
	if (rc == HBK_OK && b->sequence == 0)
		return hbk_fail(err, HBK_ENOTFOUND, "not_found", "no booking %s", id);
	return rc;
}

hbk_result booking_project(struct hbk_store *store, const struct hbk_booking *b,
			   struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	json_t *view = hbk_booking_json(b);
	char *doc = hbk_json_dumps(view);
	json_decref(view);
	hbk_result rc = hbk_store_prepare(
	    store,
	    "INSERT INTO bookings (id, status, version, sequence, hotel_id, room_type, checkin,"
	    " checkout, rooms, email, total_minor, paid_minor, refunded_minor, currency,"
	    " created_ms, updated_ms, doc) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,"
	    "?14,?15,?16,?17) ON CONFLICT (id) DO UPDATE SET status = ?2, version = ?3,"
	    " sequence = ?4, hotel_id = ?5, room_type = ?6, checkin = ?7, checkout = ?8,"
	    " rooms = ?9, email = ?10, total_minor = ?11, paid_minor = ?12,"
	    " refunded_minor = ?13, currency = ?14, updated_ms = ?16, doc = ?17",
	    &stmt, err);
	if (rc == HBK_OK) {
		hbk_bind_text(stmt, 1, b->id);
		hbk_bind_text(stmt, 2, hbk_booking_status_name(b->status));
		sqlite3_bind_int64(stmt, 3, b->version);
		sqlite3_bind_int64(stmt, 4, b->sequence);
		hbk_bind_text(stmt, 5, b->stay.hotel_id);
		hbk_bind_text(stmt, 6, b->stay.room_type);
		sqlite3_bind_int(stmt, 7, b->stay.checkin);
		sqlite3_bind_int(stmt, 8, b->stay.checkout);
		sqlite3_bind_int(stmt, 9, b->stay.rooms);
		hbk_bind_text(stmt, 10, b->guest.email);
		sqlite3_bind_int64(stmt, 11, b->total.minor);
		sqlite3_bind_int64(stmt, 12, hbk_booking_paid(b).minor);
		sqlite3_bind_int64(stmt, 13, hbk_booking_refunded(b).minor);
		hbk_bind_text(stmt, 14, b->total.currency);
		sqlite3_bind_int64(stmt, 15, b->created_ms);
		sqlite3_bind_int64(stmt, 16, b->updated_ms);
		hbk_bind_text(stmt, 17, doc);
		if (sqlite3_step(stmt) != SQLITE_DONE)
			rc = hbk_store_fail(store, err, "booking projection");
		hbk_stmt_done(stmt);
	}
	free(doc);
	return rc;
}

hbk_result booking_append(struct hbk_store *store, struct hbk_booking *b, struct event_batch *batch,
			  struct hbk_error *err)
{
	for (int i = 0; i < batch->count; i++) {
		struct hbk_event *ev = &batch->events[i];
		hbk_result rc = hbk_events_append(store, ev, b->sequence, err);
		if (rc == HBK_OK)
			rc = hbk_booking_apply(b, ev->type, ev->data, ev->sequence, ev->time_ms,
					       err);
		if (rc != HBK_OK)
			return rc;
	}
	return booking_project(store, b, err);
}

void process_identity(long *pid, long long *start)
{
	static long cached_pid;
	static long long cached_start = -1;
	long self = (long)getpid();
	if (cached_pid != self) {
		cached_pid = self;
		cached_start = -1;
	}
	if (cached_start < 0) {
		char path[64];
		hbk_format(path, sizeof(path), "/proc/%ld/stat", self);
		FILE *f = fopen(path, "r");
		char line[1024];
		cached_start = 0;
		if (f && fgets(line, sizeof(line), f)) {
			/* Field 22 (starttime) follows the ")" that ends comm. */
			char *p = strrchr(line, ')');
			for (int field = 2; p && field < 22; field++)
				p = strchr(p + 1, ' ');
			if (p)
				cached_start = strtoll(p + 1, NULL, 10);
		}
		if (f)
			fclose(f);
	}
	*pid = cached_pid;
	*start = cached_start;
}

bool process_alive(long pid, long long start)
{
	char path[64], line[1024];
	hbk_format(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool alive = false;
	if (fgets(line, sizeof(line), f)) {
		char *p = strrchr(line, ')');
		/* A zombie (state Z) is dead for our purposes. */
		bool zombie = p && p[1] == ' ' && p[2] == 'Z';
		for (int field = 2; p && field < 22; field++)
			p = strchr(p + 1, ' ');
		alive = p && !zombie && strtoll(p + 1, NULL, 10) == start;
	}
	fclose(f);
	return alive;
}

hbk_result saga_register(struct hbk_store *store, const char *booking_id, const char *kind,
			 struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	long pid;
	long long start;
	process_identity(&pid, &start);
	int64_t now = hbk_now_ms();
	hbk_result rc = hbk_store_prepare(
	    store,
	    "INSERT INTO sagas (booking_id, kind, owner_pid, owner_start, started_ms, updated_ms)"
	    " VALUES (?,?,?,?,?,?) ON CONFLICT (booking_id) DO UPDATE SET kind = excluded.kind,"
	    " owner_pid = excluded.owner_pid, owner_start = excluded.owner_start,"
	    " updated_ms = excluded.updated_ms",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, booking_id);
	hbk_bind_text(stmt, 2, kind);
	sqlite3_bind_int64(stmt, 3, pid);
	sqlite3_bind_int64(stmt, 4, start);
	sqlite3_bind_int64(stmt, 5, now);
	sqlite3_bind_int64(stmt, 6, now);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "saga registry");
	hbk_stmt_done(stmt);
	return rc;
}

hbk_result saga_unregister(struct hbk_store *store, const char *booking_id, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc =
	    hbk_store_prepare(store, "DELETE FROM sagas WHERE booking_id = ?", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, booking_id);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "saga registry");
	hbk_stmt_done(stmt);
	return rc;
}
