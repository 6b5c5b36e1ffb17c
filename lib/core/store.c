/*
 * store.c - opening the shared SQLite file and running each context's
 * schema; transactions and statement helpers.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hbk/api.h"
#include "hbk/events.h"
#include "hbk/inventory.h"
#include "hbk/notify.h"
#include "hbk/partner.h"
#include "hbk/payment.h"
#include "hbk/reservation.h"
#include "hbk/store.h"

/* Bump when a context's schema changes; each migrate is idempotent. */
#define HBK_SCHEMA_VERSION    8
#define STORE_BUSY_TIMEOUT_MS 30000

typedef hbk_result (*migrate_fn)(struct hbk_store *store, struct hbk_error *err);

/* Every context that owns tables, in dependency order. */
static const migrate_fn migrations[] = {
    hbk_inventory_migrate,   hbk_events_migrate,      hbk_reservation_migrate,
    hbk_partner_sim_migrate, hbk_payment_sim_migrate, hbk_api_migrate,         hbk_notify_migrate,
};

hbk_result hbk_store_fail(struct hbk_store *store, struct hbk_error *err, const char *what)
{
	int code = sqlite3_errcode(store->db);
	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		return hbk_fail(err, HBK_EUNAVAILABLE, "store_busy", "%s: store is busy: %s", what,
				sqlite3_errmsg(store->db));
	if (code == SQLITE_FULL || code == SQLITE_IOERR || code == SQLITE_CANTOPEN ||
	    code == SQLITE_READONLY)
		return hbk_fail(err, HBK_EUNAVAILABLE, "store_unavailable", "%s: %s", what,
				sqlite3_errmsg(store->db));
	return hbk_fail(err, HBK_EINTERNAL, "store_error", "%s: %s", what,
			sqlite3_errmsg(store->db));
}

hbk_result hbk_store_run(struct hbk_store *store, const char *sql, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(store, sql, &stmt, err);
	if (rc != HBK_OK)
		return rc;
	rc = hbk_store_step_done(store, stmt, "store", err);
	hbk_stmt_done(stmt);
	return rc;
}

hbk_result hbk_store_exec(struct hbk_store *store, const char *sql, struct hbk_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(store->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		hbk_result rc = hbk_store_fail(store, err, "store");
		sqlite3_free(msg);
		return rc;
	}
	return HBK_OK;
}

/*
 * The stores open in this process, so that hbk_stmt_done() can find a
 * statement's cache from its connection. Written at open and close only.
 */
#define STORES_OPEN_MAX 64
static _Atomic(struct hbk_store *) stores_open[STORES_OPEN_MAX];
static pthread_mutex_t stores_lock = PTHREAD_MUTEX_INITIALIZER;

static void stores_add(struct hbk_store *store)
{
	pthread_mutex_lock(&stores_lock);
	for (int i = 0; i < STORES_OPEN_MAX; i++)
		if (!atomic_load(&stores_open[i])) {
			atomic_store(&stores_open[i], store);
			break;
		}
	pthread_mutex_unlock(&stores_lock);
}

static void stores_remove(struct hbk_store *store)
{
	pthread_mutex_lock(&stores_lock);
	for (int i = 0; i < STORES_OPEN_MAX; i++)
		if (atomic_load(&stores_open[i]) == store)
			atomic_store(&stores_open[i], NULL);
	pthread_mutex_unlock(&stores_lock);
}

hbk_result hbk_store_prepare(struct hbk_store *store, const char *sql, sqlite3_stmt **out,
			     struct hbk_error *err)
{
	/* In a write transaction on the shared writer, its statements serve:
	 * the write lock makes them this thread's for now. */
	if (store->db != store->own_db) {
		HBK_ASSERT(store->writer && store->db == store->writer->db);
		return hbk_store_prepare(store->writer, sql, out, err);
	}
	if (store->cache_statements) {
		for (int i = 0; i < store->ncached; i++) {
			struct hbk_store_cached_stmt *c = &store->cached[i];
			if (c->sql == sql && !c->in_use) {
				c->in_use = true;
				*out = c->stmt;
				return HBK_OK;
			}
		}
	}
	bool keep = store->cache_statements && store->ncached < HBK_STORE_STMT_CACHE_MAX;
	if (sqlite3_prepare_v3(store->db, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, out,
			       NULL) != SQLITE_OK) {
		*out = NULL;
		return hbk_store_fail(store, err, "store");
	}
	if (keep)
		store->cached[store->ncached++] =
		    (struct hbk_store_cached_stmt){.sql = sql, .stmt = *out, .in_use = true};
	return HBK_OK;
}

void hbk_stmt_done(sqlite3_stmt *stmt)
{
	if (!stmt)
		return;
	sqlite3 *db = sqlite3_db_handle(stmt);
	for (int i = 0; i < STORES_OPEN_MAX; i++) {
		struct hbk_store *store =
		    atomic_load_explicit(&stores_open[i], memory_order_acquire);
		if (!store || store->own_db != db || !store->cache_statements)
			continue;
		for (int k = 0; k < store->ncached; k++)
			if (store->cached[k].stmt == stmt) {
				sqlite3_reset(stmt);
				sqlite3_clear_bindings(stmt);
				store->cached[k].in_use = false;
				return;
			}
	}
	sqlite3_finalize(stmt);
}

/* Opens the batch on the shared writer, whose lock the caller took; the
 * lock is held until hbk_store_batch_end(). */
static hbk_result batch_open_locked(struct hbk_store *store, struct hbk_error *err)
{
	store->db = store->writer->db;
	hbk_result rc = hbk_store_exec(store, "BEGIN IMMEDIATE", err);
	if (rc != HBK_OK) {
		store->db = store->own_db;
		pthread_mutex_unlock(store->write_lock);
		return rc;
	}
	store->batch_open = true;
	store->batch_failed = false;
	store->batch_txns = 0;
	store->holds_write_lock = true;
	return HBK_OK;
}

static hbk_result batch_open(struct hbk_store *store, struct hbk_error *err)
{
	HBK_ASSERT(store->write_lock && store->writer);
	pthread_mutex_lock(store->write_lock);
	return batch_open_locked(store, err);
}

hbk_result hbk_store_batch_try(struct hbk_store *store, bool *opened, struct hbk_error *err)
{
	HBK_ASSERT(store->batching && store->write_lock && store->writer);
	*opened = store->batch_open;
	if (store->batch_open || pthread_mutex_trylock(store->write_lock) != 0)
		return HBK_OK;
	hbk_result rc = batch_open_locked(store, err);
	*opened = rc == HBK_OK;
	return rc;
}

static hbk_result batch_begin(struct hbk_store *store, struct hbk_error *err)
{
	if (!store->batch_open) {
		hbk_result rc = batch_open(store, err);
		if (rc != HBK_OK)
			return rc;
	}
	if (store->batch_failed)
		return hbk_fail(err, HBK_EUNAVAILABLE, "store_unavailable",
				"store: an earlier write of this batch failed");
	hbk_result rc = hbk_store_run(store, "SAVEPOINT tx", err);
	if (rc == HBK_OK)
		store->tx_depth = 1;
	return rc;
}

hbk_result hbk_store_begin(struct hbk_store *store, bool write, struct hbk_error *err)
{
	HBK_ASSERT(store->tx_depth == 0);
	if (store->batching && (write || store->batch_open))
		return batch_begin(store, err);
	HBK_ASSERT(store->db == store->own_db);
	bool locked = write && store->write_lock;
	if (locked) {
		pthread_mutex_lock(store->write_lock);
		if (store->writer)
			store->db = store->writer->db;
	}
	hbk_result rc = hbk_store_exec(store, write ? "BEGIN IMMEDIATE" : "BEGIN", err);
	if (rc == HBK_OK) {
		store->tx_depth = 1;
		store->holds_write_lock = locked;
	} else if (locked) {
		store->db = store->own_db;
		pthread_mutex_unlock(store->write_lock);
	}
	return rc;
}

/* Ends a transaction's hold on the process's write lock, and gives the
 * shared writer back before another thread may take it. */
static void tx_end(struct hbk_store *store)
{
	store->db = store->own_db;
	if (store->holds_write_lock)
		pthread_mutex_unlock(store->write_lock);
	store->holds_write_lock = false;
	store->tx_depth = 0;
}

hbk_result hbk_store_commit(struct hbk_store *store, struct hbk_error *err)
{
	HBK_ASSERT(store->tx_depth > 0);
	hbk_result rc = store->batch_open ? hbk_store_run(store, "RELEASE tx", err)
					 : hbk_store_exec(store, "COMMIT", err);
	if (rc != HBK_OK) {
		hbk_store_rollback(store);
		return rc;
	}
	if (store->batch_open) {
		store->tx_depth = 0;
		store->batch_txns++;
		return HBK_OK;
	}
	tx_end(store);
	return HBK_OK;
}

void hbk_store_rollback(struct hbk_store *store)
{
	if (store->tx_depth == 0)
		return;
	if (store->batch_open) {
		sqlite3_exec(store->db, "ROLLBACK TO tx; RELEASE tx", NULL, NULL, NULL);
		store->tx_depth = 0;
		/* Some errors (I/O, a full disk) make SQLite roll back the whole
		 * transaction: the batch's earlier transactions are gone too. */
		if (sqlite3_get_autocommit(store->db))
			store->batch_failed = true;
		return;
	}
	sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
	tx_end(store);
}

hbk_result hbk_store_batch_end(struct hbk_store *store, struct hbk_error *err)
{
	if (!store->batch_open)
		return HBK_OK;
	HBK_ASSERT(store->tx_depth == 0);
	hbk_result rc = HBK_OK;
	if (store->batch_failed)
		rc = hbk_fail(err, HBK_EUNAVAILABLE, "store_unavailable",
			      "store: a write failed and SQLite rolled back its batch");
	else
		rc = hbk_store_exec(store, "COMMIT", err);
	if (rc != HBK_OK && !sqlite3_get_autocommit(store->db))
		sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
	store->batch_open = false;
	store->batch_failed = false;
	store->batch_txns = 0;
	tx_end(store);
	return rc;
}

hbk_result hbk_store_join(struct hbk_store *store, bool *owned, struct hbk_error *err)
{
	*owned = false;
	if (store->tx_depth > 0)
		return HBK_OK;
	hbk_result rc = hbk_store_begin(store, true, err);
	*owned = rc == HBK_OK;
	return rc;
}

hbk_result hbk_store_leave(struct hbk_store *store, bool owned, bool commit, struct hbk_error *err)
{
	if (!owned)
		return HBK_OK;
	if (!commit) {
		hbk_store_rollback(store);
		return HBK_OK;
	}
	struct hbk_error commit_err = {0};
	hbk_result rc = hbk_store_commit(store, &commit_err);
	if (rc != HBK_OK && err)
		*err = commit_err;
	return rc;
}

hbk_result hbk_store_step_done(struct hbk_store *store, sqlite3_stmt *stmt, const char *what,
			       struct hbk_error *err)
{
	if (sqlite3_step(stmt) != SQLITE_DONE)
		return hbk_store_fail(store, err, what);
	return HBK_OK;
}

void hbk_bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
	if (text)
		sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, index);
}

const char *hbk_column_text(sqlite3_stmt *stmt, int index)
{
	const unsigned char *text = sqlite3_column_text(stmt, index);
	return text ? (const char *)text : "";
}

/*
 * Waits for another writer: short sleeps first (a write transaction here
 * lasts well under a millisecond), growing to 2 ms, for at most
 * STORE_BUSY_TIMEOUT_MS. SQLite's own busy timeout sleeps whole
 * milliseconds from the start, which costs a busy server its latency.
 */
static int busy_wait(void *ctx, int count)
{
	(void)ctx;
	int64_t us = count < 20 ? 50 : count < 100 ? 250 : 2000;
	int64_t waited_us = count < 20	  ? count * 50
			    : count < 100 ? 1000 + (count - 20) * 250
					  : 21000 + (count - 100) * 2000;
	if (waited_us >= (int64_t)STORE_BUSY_TIMEOUT_MS * 1000)
		return 0;
	struct timespec ts = {0, us * 1000};
	nanosleep(&ts, NULL);
	return 1;
}

static int schema_version(struct hbk_store *store)
{
	sqlite3_stmt *stmt;
	int version = -1;
	if (sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return version;
}

static hbk_result migrate(struct hbk_store *store, struct hbk_error *err)
{
	int version = schema_version(store);
	if (version == HBK_SCHEMA_VERSION)
		return HBK_OK;
	if (version > HBK_SCHEMA_VERSION)
		return hbk_fail(err, HBK_EINVAL, "store_version",
				"store %s has schema version %d, newer than this hbk (%d)",
				store->path, version, HBK_SCHEMA_VERSION);
	hbk_result rc = hbk_store_begin(store, true, err);
	if (rc != HBK_OK)
		return rc;
	/* Another process may have migrated while we waited for the lock. */
	if (schema_version(store) != HBK_SCHEMA_VERSION) {
		for (size_t i = 0; rc == HBK_OK && i < sizeof(migrations) / sizeof(migrations[0]);
		     i++)
			rc = migrations[i](store, err);
		if (rc == HBK_OK) {
			char sql[64];
			hbk_format(sql, sizeof(sql), "PRAGMA user_version = %d",
				   HBK_SCHEMA_VERSION);
			rc = hbk_store_exec(store, sql, err);
		}
	}
	if (rc != HBK_OK) {
		hbk_store_rollback(store);
		return rc;
	}
	return hbk_store_commit(store, err);
}

/* mkdir -p of the directory holding path. */
static hbk_result make_parent(const char *path, struct hbk_error *err)
{
	char dir[4096];
	if (!hbk_copy(dir, sizeof(dir), path))
		return hbk_fail(err, HBK_EINVAL, "store_path", "store path too long");
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return HBK_OK;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return hbk_fail(err, HBK_EUNAVAILABLE, "store_path", "cannot create %s: %s",
					dir, strerror(errno));
		*p = '/';
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return hbk_fail(err, HBK_EUNAVAILABLE, "store_path", "cannot create %s: %s", dir,
				strerror(errno));
	return HBK_OK;
}

/*
 * Before SQLite's first use: no global memory statistics, whose one mutex
 * every allocation of every connection would otherwise take.
 */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_initialize();
}

hbk_result hbk_store_open(const char *path, int flags, struct hbk_store **out,
			  struct hbk_error *err)
{
	static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
	hbk_result rc;

	pthread_once(&setup_once, sqlite_setup);
	if (access(path, F_OK) != 0) {
		if (!(flags & HBK_STORE_CREATE))
			return hbk_fail(
			    err, HBK_ENOTFOUND, "no_store",
			    "no store at %s (run 'hbk-admin init --demo' to create one)", path);
		rc = make_parent(path, err);
		if (rc != HBK_OK)
			return rc;
	}
	struct hbk_store *store = hbk_xcalloc(1, sizeof(*store));
	if (!hbk_copy(store->path, sizeof(store->path), path)) {
		free(store);
		return hbk_fail(err, HBK_EINVAL, "store_path", "store path too long");
	}
	int open_flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
			 (flags & HBK_STORE_CREATE ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &store->db, open_flags, NULL) != SQLITE_OK) {
		rc =
		    hbk_fail(err, HBK_EUNAVAILABLE, "store_unavailable", "cannot open store %s: %s",
			     path, store->db ? sqlite3_errmsg(store->db) : "out of memory");
		hbk_store_close(store);
		return rc;
	}
	store->own_db = store->db;
	sqlite3_busy_handler(store->db, busy_wait, store);
	sqlite3_extended_result_codes(store->db, 0);
	rc = hbk_store_exec(store,
			    "PRAGMA journal_mode = WAL;"
			    "PRAGMA synchronous = NORMAL;"
			    "PRAGMA foreign_keys = OFF;"
			    "PRAGMA temp_store = MEMORY;"
			    "PRAGMA cache_size = -65536;",
			    err);
	if (rc == HBK_OK)
		rc = migrate(store, err);
	if (rc != HBK_OK) {
		hbk_error_prefix(err, "%s", path);
		hbk_store_close(store);
		return rc;
	}
	stores_add(store);
	*out = store;
	return HBK_OK;
}

void hbk_store_close(struct hbk_store *store)
{
	if (!store)
		return;
	HBK_ASSERT(store->tx_depth == 0);
	HBK_ASSERT(store->db == store->own_db || !store->own_db);
	stores_remove(store);
	for (int i = 0; i < store->ncached; i++)
		sqlite3_finalize(store->cached[i].stmt);
	sqlite3_close_v2(store->db);
	hbk_search_model_free(store->search_model);
	free(store);
}
