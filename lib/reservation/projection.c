/*
 * projection.c - loading the aggregate from its events, appending new
 * ones, and keeping the booking view projection in the same transaction;
 * the saga registry.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hbk/json.h"
#include "internal.h"

/*
 * The aggregates this process last loaded or wrote, so that a change to a
 * booking folds only the events recorded since, not its whole history.
 * An entry is a hint, never trusted: a load reads the stream from the
 * entry's last event on and keeps the entry only when that event is still
 * there under the same id (events are immutable, ids unique). An entry left
 * by a transaction that rolled back, or by another store file, is thrown
 * away.
 *
 * A booking may live in either of two slots, one per hash of its id. A new
 * entry takes the free one, or else evicts the entry with the shorter
 * history: that one is the cheaper to fold again. With one slot, every new
 * booking evicted whatever it hashed to, and a booking changed hundreds of
 * times was folded from its first event again and again, under the write
 * lock.
 */
#define BOOKING_CACHE_SLOTS 4096

struct cached_booking {
	bool used;
	char event_id[HBK_ID_MAX]; /* the id of the last event folded into b */
	struct hbk_booking b;
};

static struct cached_booking booking_cache[BOOKING_CACHE_SLOTS];
static pthread_mutex_t booking_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The two slots id may live in (FNV-1a, and its bits folded the other way). */
static void cache_slots(const char *id, struct cached_booking *slots[2])
{
	uint32_t hash = 2166136261u;
	for (const char *p = id; *p; p++)
		hash = (hash ^ (unsigned char)*p) * 16777619u;
	uint32_t other = (hash >> 16 | hash << 16) * 2654435761u;
	slots[0] = &booking_cache[hash % BOOKING_CACHE_SLOTS];
	slots[1] = &booking_cache[other % BOOKING_CACHE_SLOTS];
}

/* The slot holding id, or NULL; the caller holds booking_cache_lock. */
static struct cached_booking *cache_find(struct cached_booking *slots[2], const char *id)
{
	for (int i = 0; i < 2; i++)
		if (slots[i]->used && strcmp(slots[i]->b.id, id) == 0)
			return slots[i];
	return NULL;
}

/* Where a booking not cached goes: a free slot, or the shorter history. */
static struct cached_booking *cache_victim(struct cached_booking *slots[2])
{
	if (!slots[0]->used)
		return slots[0];
	if (!slots[1]->used)
		return slots[1];
	return slots[0]->b.sequence <= slots[1]->b.sequence ? slots[0] : slots[1];
}

static bool cache_get(const char *id, struct hbk_booking *b, char event_id[HBK_ID_MAX])
{
	struct cached_booking *slots[2];
	cache_slots(id, slots);
	pthread_mutex_lock(&booking_cache_lock);
	struct cached_booking *slot = cache_find(slots, id);
	if (slot) {
		*b = slot->b;
		memcpy(event_id, slot->event_id, HBK_ID_MAX);
	}
	pthread_mutex_unlock(&booking_cache_lock);
	HBK_ASSERT(!slot || b->sequence > 0);
	return slot != NULL;
}

static void cache_put(const struct hbk_booking *b, const char *event_id)
{
	struct cached_booking *slots[2];
	HBK_ASSERT(b->sequence > 0 && event_id[0]);
	cache_slots(b->id, slots);
	pthread_mutex_lock(&booking_cache_lock);
	struct cached_booking *slot = cache_find(slots, b->id);
	if (!slot)
		slot = cache_victim(slots);
	slot->used = true;
	slot->b = *b;
	hbk_copy(slot->event_id, sizeof(slot->event_id), event_id);
	pthread_mutex_unlock(&booking_cache_lock);
}

/* A fold from `from` on: the event at `from` (when above 0) must be the one
 * already folded, named last_id; the later ones are applied. */
struct fold_ctx {
	struct hbk_booking *b;
	int64_t from;
	bool matched;
	char last_id[HBK_ID_MAX];
};

static hbk_result fold(const struct hbk_event *ev, void *ctx, struct hbk_error *err)
{
	struct fold_ctx *f = ctx;
	if (f->from > 0 && !f->matched) {
		if (ev->sequence != f->from || strcmp(ev->id, f->last_id) != 0)
			return hbk_fail(err, HBK_ECONFLICT, "stale_cache", "cached %s is stale",
					f->b->id);
		f->matched = true;
		return HBK_OK;
	}
	hbk_result rc = hbk_booking_apply(f->b, ev->type, ev->data, ev->sequence, ev->time_ms, err);
	if (rc == HBK_OK)
		hbk_copy(f->last_id, sizeof(f->last_id), ev->id);
	return rc;
}

hbk_result booking_load(struct hbk_store *store, const char *id, struct hbk_booking *b,
			struct hbk_error *err)
{
	struct fold_ctx f = {.b = b};
	if (cache_get(id, b, f.last_id)) {
		struct hbk_error stale = {0};
		f.from = b->sequence;
		if (hbk_events_read_from(store, id, f.from, fold, &f, &stale) == HBK_OK &&
		    f.matched) {
			if (b->sequence > f.from)
				cache_put(b, f.last_id);
			return HBK_OK;
		}
	}
	memset(b, 0, sizeof(*b));
	b->charge_payment = -1;
	hbk_copy(b->id, sizeof(b->id), id);
	memset(&f, 0, sizeof(f));
	f.b = b;
	hbk_result rc = hbk_events_read(store, id, fold, &f, err);
	if (rc == HBK_OK && b->sequence == 0)
		return hbk_fail(err, HBK_ENOTFOUND, "not_found", "no booking %s", id);
	if (rc == HBK_OK)
		cache_put(b, f.last_id);
	return rc;
}

void booking_keys_of(const struct hbk_booking *b, struct booking_keys *keys)
{
	memset(keys, 0, sizeof(*keys));
	keys->status = b->status;
	keys->stay = b->stay;
	hbk_copy(keys->email, sizeof(keys->email), b->guest.email);
}

/*
 * The projection's statements, from the widest to the narrowest: a row's
 * indexes are rewritten only when the statement sets their columns, and
 * most events change neither the stay, the email nor the status.
 */
static const char project_upsert_sql[] =
    "INSERT INTO bookings (id, status, version, sequence, hotel_id, room_type, checkin,"
    " checkout, rooms, email, total_minor, paid_minor, refunded_minor, currency,"
    " created_ms, updated_ms, doc) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,"
    "?14,?15,?16,?17) ON CONFLICT (id) DO UPDATE SET status = ?2, version = ?3,"
    " sequence = ?4, hotel_id = ?5, room_type = ?6, checkin = ?7, checkout = ?8,"
    " rooms = ?9, email = ?10, total_minor = ?11, paid_minor = ?12,"
    " refunded_minor = ?13, currency = ?14, updated_ms = ?16, doc = ?17";
static const char project_status_sql[] =
    "UPDATE bookings SET status = ?2, version = ?3, sequence = ?4, total_minor = ?11,"
    " paid_minor = ?12, refunded_minor = ?13, currency = ?14, updated_ms = ?16, doc = ?17"
    " WHERE id = ?1";
static const char project_row_sql[] =
    "UPDATE bookings SET version = ?3, sequence = ?4, total_minor = ?11,"
    " paid_minor = ?12, refunded_minor = ?13, currency = ?14, updated_ms = ?16, doc = ?17"
    " WHERE id = ?1";

static hbk_result project_with(struct hbk_store *store, const char *sql,
			       const struct hbk_booking *b, const char *doc, bool *changed,
			       struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(store, sql, &stmt, err);
	if (rc != HBK_OK)
		return rc;
	/* Unused parameters of the narrower statements bind to nothing. */
	hbk_bind_text(stmt, 1, b->id);
	hbk_bind_text(stmt, 2, hbk_booking_status_name(b->status));
	sqlite3_bind_int64(stmt, 3, b->version);
	sqlite3_bind_int64(stmt, 4, b->sequence);
	if (sql == project_upsert_sql) {
		hbk_bind_text(stmt, 5, b->stay.hotel_id);
		hbk_bind_text(stmt, 6, b->stay.room_type);
		sqlite3_bind_int(stmt, 7, b->stay.checkin);
		sqlite3_bind_int(stmt, 8, b->stay.checkout);
		sqlite3_bind_int(stmt, 9, b->stay.rooms);
		hbk_bind_text(stmt, 10, b->guest.email);
		sqlite3_bind_int64(stmt, 15, b->created_ms);
	}
	sqlite3_bind_int64(stmt, 11, b->total.minor);
	sqlite3_bind_int64(stmt, 12, hbk_booking_paid(b).minor);
	sqlite3_bind_int64(stmt, 13, hbk_booking_refunded(b).minor);
	hbk_bind_text(stmt, 14, b->total.currency);
	sqlite3_bind_int64(stmt, 16, b->updated_ms);
	sqlite3_bind_text(stmt, 17, doc, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "booking projection");
	*changed = rc == HBK_OK && sqlite3_changes(store->db) > 0;
	hbk_stmt_done(stmt);
	return rc;
}

hbk_result booking_project_over(struct hbk_store *store, const struct booking_keys *was,
				const struct hbk_booking *b, struct hbk_error *err)
{
	struct booking_keys now;
	const char *sql = project_upsert_sql;
	bool changed = false;

	HBK_ASSERT(store->tx_depth > 0);
	HBK_ASSERT(b->sequence > 0);
	booking_keys_of(b, &now);
	if (was && memcmp(&was->stay, &now.stay, sizeof(now.stay)) == 0 &&
	    strcmp(was->email, now.email) == 0)
		sql = was->status == now.status ? project_row_sql : project_status_sql;
	json_t *view = hbk_booking_json(b);
	char *doc = hbk_json_dumps(view);
	json_decref(view);
	hbk_result rc = project_with(store, sql, b, doc, &changed, err);
	/* A row missing (a store rebuilt from its events) is written whole. */
	if (rc == HBK_OK && !changed && sql != project_upsert_sql)
		rc = project_with(store, project_upsert_sql, b, doc, &changed, err);
	free(doc);
	return rc;
}

hbk_result booking_project(struct hbk_store *store, const struct hbk_booking *b,
			   struct hbk_error *err)
{
	return booking_project_over(store, NULL, b, err);
}

hbk_result booking_append(struct hbk_store *store, struct hbk_booking *b, struct event_batch *batch,
			  bool defer_projection, struct hbk_error *err)
{
	struct booking_keys was;
	bool known = b->sequence > 0;
	HBK_ASSERT(batch->count > 0);
	booking_keys_of(b, &was);
	for (int i = 0; i < batch->count; i++) {
		struct hbk_event *ev = &batch->events[i];
		hbk_result rc = hbk_events_append(store, ev, b->sequence, err);
		if (rc == HBK_OK)
			rc = hbk_booking_apply(b, ev->type, ev->data, ev->sequence, ev->time_ms,
					       err);
		if (rc != HBK_OK)
			return rc;
	}
	hbk_result rc =
	    defer_projection ? HBK_OK : booking_project_over(store, known ? &was : NULL, b, err);
	if (rc == HBK_OK)
		cache_put(b, batch->events[batch->count - 1].id);
	return rc;
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

/* Lists a saga as pid's (0: another instance's, which keeps a row that
 * is there). */
static hbk_result saga_list(struct hbk_store *store, const char *booking_id, const char *kind,
			    const char *partner, const char *payment, long pid, long long start,
			    struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	int64_t now = hbk_now_ms();
	hbk_result rc = hbk_store_prepare(
	    store,
	    pid == 0 ? "INSERT INTO sagas (booking_id, kind, owner_pid, owner_start, started_ms,"
		       " updated_ms, partner, payment) VALUES (?,?,?,?,?,?,?,?)"
		       " ON CONFLICT (booking_id) DO UPDATE SET"
		       " kind = excluded.kind, updated_ms = excluded.updated_ms"
		     : "INSERT INTO sagas (booking_id, kind, owner_pid, owner_start, started_ms,"
		       " updated_ms, partner, payment) VALUES (?,?,?,?,?,?,?,?)"
		       " ON CONFLICT (booking_id) DO UPDATE SET"
		       " kind = excluded.kind, owner_pid = excluded.owner_pid,"
		       " owner_start = excluded.owner_start, updated_ms = excluded.updated_ms,"
		       " partner = excluded.partner, payment = excluded.payment",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, booking_id);
	hbk_bind_text(stmt, 2, kind);
	sqlite3_bind_int64(stmt, 3, pid);
	sqlite3_bind_int64(stmt, 4, start);
	sqlite3_bind_int64(stmt, 5, now);
	sqlite3_bind_int64(stmt, 6, now);
	hbk_bind_text(stmt, 7, partner);
	hbk_bind_text(stmt, 8, payment);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "saga registry");
	hbk_stmt_done(stmt);
	return rc;
}

hbk_result saga_register(struct hbk_store *store, const char *booking_id, const char *kind,
			 const char *partner, const char *payment, struct hbk_error *err)
{
	long pid;
	long long start;
	process_identity(&pid, &start);
	return saga_list(store, booking_id, kind, partner, payment, pid, start, err);
}

hbk_result saga_register_remote(struct hbk_store *store, const char *booking_id, const char *kind,
				struct hbk_error *err)
{
	return saga_list(store, booking_id, kind, "", "", 0, 0, err);
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
