/*
 * engine.c - the store and adapters a saga needs, and crash recovery.
 *
 * Every process that opens the engine first looks for sagas whose owning
 * process is gone (killed, crashed) and runs them to their end, so no
 * booking stays PENDING for good. Only a process with the partner and
 * payment provider a saga began with resumes it: one configured otherwise
 * (a plain hbk without the configuration of the hbkd that began it) would
 * book, void or refund where the booking never was. It leaves the saga
 * alone and lists it in engine->left, for the tool to say so.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/config.h"
#include "hbk/notify.h"
#include "internal.h"

#define RECOVER_BATCH_MAX 64

hbk_result hbk_engine_open(const struct hbk_config *cfg, int flags, struct hbk_engine **out,
			   struct hbk_error *err)
{
	struct hbk_engine *engine = hbk_xcalloc(1, sizeof(*engine));
	hbk_result rc;

	engine->cfg = cfg;
	const char *kill_at = getenv("HBK_FAULT_KILL_AT");
	engine->kill_at = kill_at && *kill_at ? kill_at : NULL;
	engine->group_commit = true;
	rc = hbk_store_open(hbk_config_store_path(cfg),
			    flags & HBK_ENGINE_CREATE ? HBK_STORE_CREATE : 0, &engine->store, err);
	if (rc == HBK_OK)
		rc = hbk_partner_open(cfg, engine->store, &engine->partner, err);
	if (rc == HBK_OK)
		rc = hbk_payment_open(cfg, engine->store, &engine->payment, err);
	if (rc == HBK_OK)
		rc = hbk_notifier_open(cfg, &engine->notifier, err);
	if (rc == HBK_OK)
		hbk_notifier_set_store(engine->notifier, engine->store);
	if (rc != HBK_OK) {
		hbk_engine_close(engine);
		return rc;
	}
	if (!(flags & HBK_ENGINE_NO_RECOVER)) {
		/* Recovery problems must not stop the command at hand. */
		struct hbk_error recover_err = {0};
		int resumed = 0;
		hbk_engine_recover(engine, &resumed, &recover_err);
	}
	*out = engine;
	return HBK_OK;
}

void hbk_engine_close(struct hbk_engine *engine)
{
	if (!engine)
		return;
	if (engine->partner.ops)
		hbk_partner_close(&engine->partner);
	if (engine->payment.ops)
		hbk_payment_close(&engine->payment);
	hbk_notifier_close(engine->notifier);
	hbk_store_close(engine->store);
	free(engine);
}

/* Takes over a dead owner's saga; false when someone else got it first. */
static bool claim(struct hbk_store *store, const char *id, long pid, long long start)
{
	sqlite3_stmt *stmt;
	long me;
	long long my_start;
	bool claimed = false;
	process_identity(&me, &my_start);
	if (hbk_store_begin(store, true, NULL) != HBK_OK)
		return false;
	if (hbk_store_prepare(store,
			      "UPDATE sagas SET owner_pid = ?, owner_start = ?, updated_ms = ?"
			      " WHERE booking_id = ? AND owner_pid = ? AND owner_start = ?",
			      &stmt, NULL) == HBK_OK) {
		sqlite3_bind_int64(stmt, 1, me);
		sqlite3_bind_int64(stmt, 2, my_start);
		sqlite3_bind_int64(stmt, 3, hbk_now_ms());
		hbk_bind_text(stmt, 4, id);
		sqlite3_bind_int64(stmt, 5, pid);
		sqlite3_bind_int64(stmt, 6, start);
		claimed = sqlite3_step(stmt) == SQLITE_DONE && sqlite3_changes(store->db) == 1;
		hbk_stmt_done(stmt);
	}
	if (claimed && hbk_store_commit(store, NULL) == HBK_OK)
		return true;
	hbk_store_rollback(store);
	return false;
}

/* A saga in flight whose owner is gone. */
struct orphan {
	char id[HBK_ID_MAX];
	long pid;
	long long start;
};

/*
 * Does the saga's recorded provider match ours? recorded is its identity
 * ('' when not recorded: an older store or another instance's saga), kind
 * the adapter the booking names ('' when none).
 */
static bool same_provider(const char *recorded, const char *kind, const char *identity,
			  const char *name)
{
	if (recorded[0] != '\0')
		return strcmp(recorded, identity) == 0;
	return kind[0] == '\0' || strcmp(kind, name) == 0;
}

/* Lists a saga left alone in engine->left. */
static void left_add(struct hbk_engine *engine, const char *id, const char *partner,
		     const char *payment)
{
	struct hbk_sagas_left *left = &engine->left;
	if (left->count < HBK_SAGAS_LEFT_SHOWN) {
		struct hbk_saga_left *one = &left->sagas[left->count];
		hbk_copy(one->id, sizeof(one->id), id);
		hbk_copy(one->partner, sizeof(one->partner), partner);
		hbk_copy(one->payment, sizeof(one->payment), payment);
	}
	left->count++;
}

void hbk_saga_left_describe(const struct hbk_engine *engine, int i, char *out, size_t size)
{
	HBK_ASSERT(i >= 0 && i < engine->left.count && i < HBK_SAGAS_LEFT_SHOWN);
	const struct hbk_saga_left *one = &engine->left.sagas[i];
	hbk_format(out, size,
		   "saga of %s left alone: it began with partner %s and payment %s; this process "
		   "has partner %s and payment %s (run it with the configuration it began with)",
		   one->id, one->partner, one->payment, engine->partner.identity,
		   engine->payment.identity);
}

/*
 * The sagas in flight no live process here runs (their owner died, or is
 * another instance: pid 0), oldest first, at most max, of bookings with no
 * event since idle_before (ms) and, when mine is given, of hotels it
 * accepts. Those that began with other providers than the engine's are
 * left alone (engine->left). *out is the caller's to free.
 */
static hbk_result orphans_find(struct hbk_engine *engine, int64_t idle_before, int max,
			       bool (*mine)(void *ctx, const char *hotel_id), void *ctx,
			       struct orphan **out, int *count, struct hbk_error *err)
{
	struct hbk_store *store = engine->store;
	sqlite3_stmt *stmt;
	long me;
	long long my_start;
	int cap = 0;
	*out = NULL;
	*count = 0;
	process_identity(&me, &my_start);
	hbk_result rc =
	    hbk_store_prepare(store,
			      "SELECT s.booking_id, s.owner_pid, s.owner_start, b.hotel_id,"
			      " s.partner, s.payment,"
			      " COALESCE(json_extract(b.doc, '$.partner.name'), ''),"
			      " COALESCE(json_extract(b.doc, '$.payment.provider'), '')"
			      " FROM sagas s JOIN bookings b ON b.id = s.booking_id"
			      " WHERE b.updated_ms < ? ORDER BY s.started_ms",
			      &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, idle_before);
	while (*count < max && sqlite3_step(stmt) == SQLITE_ROW) {
		long pid = (long)sqlite3_column_int64(stmt, 1);
		long long start = sqlite3_column_int64(stmt, 2);
		if ((pid == me && start == my_start) || (pid != 0 && process_alive(pid, start)) ||
		    (mine && !mine(ctx, hbk_column_text(stmt, 3))))
			continue;
		const char *partner = hbk_column_text(stmt, 4), *payment = hbk_column_text(stmt, 5);
		const char *partner_kind = hbk_column_text(stmt, 6);
		const char *payment_kind = hbk_column_text(stmt, 7);
		if (!same_provider(partner, partner_kind, engine->partner.identity,
				   engine->partner.ops->name) ||
		    !same_provider(payment, payment_kind, engine->payment.identity,
				   engine->payment.ops->name)) {
			left_add(engine, hbk_column_text(stmt, 0),
				 partner[0] ? partner : partner_kind,
				 payment[0] ? payment : payment_kind);
			continue;
		}
		if (*count == cap) {
			cap = cap ? cap * 2 : 64;
			*out = hbk_xrealloc(*out, (size_t)cap * sizeof(**out));
		}
		struct orphan *o = &(*out)[(*count)++];
		hbk_copy(o->id, sizeof(o->id), hbk_column_text(stmt, 0));
		o->pid = pid;
		o->start = start;
	}
	hbk_stmt_done(stmt);
	return HBK_OK;
}

hbk_result hbk_engine_recover(struct hbk_engine *engine, int *resumed, struct hbk_error *err)
{
	struct orphan *orphans;
	int count;
	*resumed = 0;
	memset(&engine->left, 0, sizeof(engine->left));
	hbk_result rc =
	    orphans_find(engine, INT64_MAX, RECOVER_BATCH_MAX, NULL, NULL, &orphans, &count, err);
	if (rc != HBK_OK)
		return rc;

	hbk_result last = HBK_OK;
	for (int i = 0; i < count; i++) {
		if (!claim(engine->store, orphans[i].id, orphans[i].pid, orphans[i].start))
			continue;
		struct hbk_error saga_err = {0};
		hbk_result saga_rc = hbk_saga_run(engine, orphans[i].id, &saga_err);
		/* An update or cancel that ends refused is still a finished saga. */
		if (saga_rc == HBK_OK || saga_err.code[0])
			(*resumed)++;
		if (saga_rc != HBK_OK && saga_rc != HBK_EDECLINED && saga_rc != HBK_ECONFLICT) {
			last = saga_rc;
			*err = saga_err;
		}
	}
	free(orphans);
	return last;
}

hbk_result hbk_engine_adopt(struct hbk_engine *engine, int64_t idle_ms,
			    bool (*mine)(void *ctx, const char *hotel_id),
			    void (*run)(void *ctx, const char *id), void *ctx, int *adopted,
			    struct hbk_error *err)
{
	struct orphan *orphans;
	int count;
	*adopted = 0;
	memset(&engine->left, 0, sizeof(engine->left));
	hbk_result rc = orphans_find(engine, hbk_now_ms() - idle_ms, INT32_MAX, mine, ctx, &orphans,
				     &count, err);
	if (rc != HBK_OK)
		return rc;
	for (int i = 0; i < count; i++) {
		if (!claim(engine->store, orphans[i].id, orphans[i].pid, orphans[i].start))
			continue;
		run(ctx, orphans[i].id);
		(*adopted)++;
	}
	free(orphans);
	return HBK_OK;
}
