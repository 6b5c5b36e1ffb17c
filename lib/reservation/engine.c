/*
 * engine.c - the store and adapters a saga needs, and crash recovery.
 *
 * Every process that opens the engine first looks for sagas whose owning
 * process is gone (killed, crashed) and runs them to their end, so no
 * booking stays PENDING for good.
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

hbk_result hbk_engine_recover(struct hbk_engine *engine, int *resumed, struct hbk_error *err)
{
	struct orphan {
		char id[HBK_ID_MAX];
		long pid;
		long long start;
	} orphans[RECOVER_BATCH_MAX];
	int count = 0;
	sqlite3_stmt *stmt;
	long me;
	long long my_start;

	*resumed = 0;
	process_identity(&me, &my_start);
	hbk_result rc = hbk_store_prepare(engine->store,
					  "SELECT booking_id, owner_pid, owner_start FROM sagas"
					  " ORDER BY started_ms LIMIT ?",
					  &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int(stmt, 1, RECOVER_BATCH_MAX);
	while (sqlite3_step(stmt) == SQLITE_ROW && count < RECOVER_BATCH_MAX) {
		long pid = (long)sqlite3_column_int64(stmt, 1);
		long long start = sqlite3_column_int64(stmt, 2);
		if ((pid == me && start == my_start) || process_alive(pid, start))
			continue;
		hbk_copy(orphans[count].id, sizeof(orphans[count].id), hbk_column_text(stmt, 0));
		orphans[count].pid = pid;
		orphans[count].start = start;
		count++;
	}
	hbk_stmt_done(stmt);

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
	return last;
}

hbk_result hbk_engine_adopt(struct hbk_engine *engine, int64_t idle_ms,
			    bool (*mine)(void *ctx, const char *hotel_id),
			    void (*run)(void *ctx, const char *id), void *ctx, int *adopted,
			    struct hbk_error *err)
{
	struct orphan {
		char id[HBK_ID_MAX];
		long pid;
		long long start;
	} *orphans = NULL;
	int count = 0, cap = 0;
	sqlite3_stmt *stmt;
	long me;
	long long my_start;

	*adopted = 0;
	process_identity(&me, &my_start);
	hbk_result rc = hbk_store_prepare(engine->store,
					  "SELECT s.booking_id, s.owner_pid, s.owner_start, b.hotel_id"
					  " FROM sagas s JOIN bookings b ON b.id = s.booking_id"
					  " WHERE b.updated_ms < ? ORDER BY s.started_ms",
					  &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, hbk_now_ms() - idle_ms);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		long pid = (long)sqlite3_column_int64(stmt, 1);
		long long start = sqlite3_column_int64(stmt, 2);
		if ((pid == me && start == my_start) || (pid != 0 && process_alive(pid, start)) ||
		    !mine(ctx, hbk_column_text(stmt, 3)))
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 64;
			orphans = hbk_xrealloc(orphans, (size_t)cap * sizeof(*orphans));
		}
		hbk_copy(orphans[count].id, sizeof(orphans[count].id), hbk_column_text(stmt, 0));
		orphans[count].pid = pid;
		orphans[count].start = start;
		count++;
	}
	hbk_stmt_done(stmt);
	for (int i = 0; i < count; i++) {
		if (!claim(engine->store, orphans[i].id, orphans[i].pid, orphans[i].start))
			continue;
		run(ctx, orphans[i].id);
		(*adopted)++;
	}
	free(orphans);
	return HBK_OK;
}
