/*
 * store.h - the SQLite file every embedded tool shares.
 *
 * WAL mode, a generous busy timeout and short IMMEDIATE transactions let
 * many hbk processes use one file at once. Each bounded context owns its
 * tables and registers its schema; hbk_store_open() creates or migrates.
 */
#ifndef HBK_STORE_H
#define HBK_STORE_H

#include <pthread.h>

#include <sqlite3.h>

#include "hbk/core.h"

struct hbk_config;

#define HBK_STORE_STMT_CACHE_MAX 96

struct hbk_store_cached_stmt {
	const char *sql; /* the static SQL text it was prepared from */
	sqlite3_stmt *stmt;
	bool in_use;
};

struct hbk_search_model;

struct hbk_store {
	/* The connection in use: own_db, or the shared writer's during a write
	 * transaction. */
	sqlite3 *db;
	sqlite3 *own_db;
	char path[4096];
	int tx_depth;
	/* Prepared statements kept for reuse (a long-running server turns it on). */
	bool cache_statements;
	int ncached;
	struct hbk_store_cached_stmt cached[HBK_STORE_STMT_CACHE_MAX];
	/* Serializes this process's writers before SQLite's file lock does
	 * (optional; shared by the connections of one process). */
	pthread_mutex_t *write_lock;
	bool holds_write_lock;
	/*
	 * Optional, with write_lock: one connection all of the process's write
	 * transactions run on, under write_lock. In WAL mode a connection drops
	 * its page cache whenever another one has written, so writers taking
	 * turns on their own connections would each read back the pages the
	 * other just wrote; one writer keeps its cache. Borrowed.
	 */
	struct hbk_store *writer;
	/*
	 * Group commit across requests (hbkd's workers; needs writer and
	 * write_lock). With batching set, the first transaction to write opens
	 * one transaction on the writer (the batch), and every transaction
	 * after it runs inside it as a savepoint until hbk_store_batch_end()
	 * commits them all at once; meanwhile every statement of this store,
	 * reads too, runs on the writer, and nothing of the batch is durable
	 * nor visible to other connections.
	 */
	bool batching;
	bool batch_open;
	bool batch_failed; /* SQLite rolled the batch back: it ends in failure */
	int batch_txns;	   /* transactions the batch holds */
	/* The search read model in memory (lib/inventory/model.c), for a
	 * long-running process that sets keep_search_model; built on first use. */
	bool keep_search_model;
	struct hbk_search_model *search_model;
};

enum hbk_store_flags {
	HBK_STORE_CREATE = 1 << 0,     /* create the file when missing (hbk-admin init) */
	HBK_STORE_NO_RECOVER = 1 << 1, /* do not resume orphaned sagas on open */
};

/*
 * Opens (and with HBK_STORE_CREATE creates) the store and brings its
 * schema up to date. Without HBK_STORE_CREATE a missing file fails with
 * HBK_ENOTFOUND and a hint to run `hbk-admin init`.
 * Returns a store the caller closes with hbk_store_close().
 */
hbk_result hbk_store_open(const char *path, int flags, struct hbk_store **out,
			  struct hbk_error *err);
void hbk_store_close(struct hbk_store *store);

/* BEGIN IMMEDIATE (writers) or DEFERRED (readers); nesting not allowed.
 * Inside an open batch: a savepoint of it. */
hbk_result hbk_store_begin(struct hbk_store *store, bool write, struct hbk_error *err);
hbk_result hbk_store_commit(struct hbk_store *store, struct hbk_error *err);
void hbk_store_rollback(struct hbk_store *store);

/*
 * Opens a batch unless another connection of the process is writing:
 * *opened tells whether one is open now (a failure to begin is returned).
 */
hbk_result hbk_store_batch_try(struct hbk_store *store, bool *opened, struct hbk_error *err);

/*
 * Commits the open batch, if any, and gives the writer back. On failure
 * nothing of the batch was recorded (err says why). No transaction of the
 * store may be open.
 */
hbk_result hbk_store_batch_end(struct hbk_store *store, struct hbk_error *err);

/*
 * Joins the caller's write transaction, or begins one: *owned tells
 * hbk_store_leave() whether this call began it (adapters that may run
 * inside a command's transaction use the pair).
 */
hbk_result hbk_store_join(struct hbk_store *store, bool *owned, struct hbk_error *err);
/* Ends what hbk_store_join() began: commits when commit, else rolls back;
 * nothing when !owned. A failed commit is returned with err filled. */
hbk_result hbk_store_leave(struct hbk_store *store, bool owned, bool commit, struct hbk_error *err);
/* Steps a statement that returns no rows. */
hbk_result hbk_store_step_done(struct hbk_store *store, sqlite3_stmt *stmt, const char *what,
			       struct hbk_error *err);

/*
 * Prepares sql (static text: with cache_statements on, the statement is
 * kept and reused); on failure fills err with the SQLite message. Every
 * statement is given back with hbk_stmt_done(), never sqlite3_finalize().
 */
hbk_result hbk_store_prepare(struct hbk_store *store, const char *sql, sqlite3_stmt **out,
			     struct hbk_error *err);
/* Gives a statement back: resets a cached one, finalizes any other. */
void hbk_stmt_done(sqlite3_stmt *stmt);

/* Runs one statement of static SQL text without results, prepared once
 * where statements are kept (savepoints on a hot path). */
hbk_result hbk_store_run(struct hbk_store *store, const char *sql, struct hbk_error *err);
/* Runs SQL text without results (schema, pragmas). */
hbk_result hbk_store_exec(struct hbk_store *store, const char *sql, struct hbk_error *err);
/* Maps the last SQLite error to err (BUSY: HBK_EUNAVAILABLE, else internal). */
hbk_result hbk_store_fail(struct hbk_store *store, struct hbk_error *err, const char *what);

/* Binds text or NULL. */
void hbk_bind_text(sqlite3_stmt *stmt, int index, const char *text);
/* Column text or "" (never NULL). Borrowed until the next step. */
const char *hbk_column_text(sqlite3_stmt *stmt, int index);

#endif
