/*
 * test_store.c - group commit across transactions (hbkd's workers): the
 * transactions of a batch are savepoints of one transaction on the shared
 * writer, invisible elsewhere until hbk_store_batch_end() commits them all.
 */
#include <stdlib.h>

#include "hbk/store.h"
#include "stores.h"
#include "unit.h"

struct stores {
	pthread_mutex_t lock;
	struct hbk_store *writer; /* the shared connection */
	struct hbk_store *worker; /* batches on it */
	struct hbk_store *other;  /* another process's view */
};

static struct hbk_store *open_store(const char *name)
{
	char path[512];
	struct hbk_store *store = NULL;
	struct hbk_error err = {0};
	hbk_format(path, sizeof(path), "%s/%s.db", unit_tmpdir(), name);
	CHECK_INT(hbk_store_open(path, HBK_STORE_CREATE | HBK_STORE_NO_RECOVER, &store, &err),
		  HBK_OK);
	return store;
}

static void stores_open(struct stores *s, const char *name)
{
	struct hbk_error err = {0};
	pthread_mutex_init(&s->lock, NULL);
	s->writer = open_store(name);
	s->worker = open_store(name);
	s->other = open_store(name);
	s->worker->write_lock = &s->lock;
	s->worker->writer = s->writer;
	s->worker->batching = true;
	CHECK_INT(hbk_store_exec(s->other, "CREATE TABLE notes (text TEXT NOT NULL)", &err),
		  HBK_OK);
}

static void stores_close(struct stores *s)
{
	hbk_store_close(s->other);
	hbk_store_close(s->worker);
	hbk_store_close(s->writer);
	pthread_mutex_destroy(&s->lock);
}

/* One write transaction of the worker: adds text, commits or rolls back. */
static hbk_result note(struct stores *s, const char *text, bool commit)
{
	struct hbk_error err = {0};
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_begin(s->worker, true, &err);
	if (rc != HBK_OK)
		return rc;
	rc = hbk_store_prepare(s->worker, "INSERT INTO notes (text) VALUES (?1)", &stmt, &err);
	if (rc == HBK_OK) {
		hbk_bind_text(stmt, 1, text);
		rc = hbk_store_step_done(s->worker, stmt, "notes", &err);
		hbk_stmt_done(stmt);
	}
	if (rc == HBK_OK && commit)
		return hbk_store_commit(s->worker, &err);
	hbk_store_rollback(s->worker);
	return rc;
}

static char *notes(struct hbk_store *store)
{
	return stores_dump(store, "SELECT text FROM notes ORDER BY rowid");
}

static void check_notes(struct hbk_store *store, const char *want)
{
	char *got = notes(store);
	CHECK_STR(got, want);
	free(got);
}

static void test_a_batch_commits_its_transactions_at_once(void)
{
	struct stores s;
	struct hbk_error err = {0};
	stores_open(&s, "batch");

	CHECK_INT(note(&s, "a", true), HBK_OK);
	CHECK(s.worker->batch_open);
	CHECK(s.worker->holds_write_lock);
	CHECK_INT(s.worker->tx_depth, 0);
	CHECK_INT(note(&s, "b", false), HBK_OK); /* rolled back alone */
	CHECK_INT(note(&s, "c", true), HBK_OK);
	CHECK_INT(s.worker->batch_txns, 2);
	/* The worker reads what its batch wrote; nobody else does yet. */
	check_notes(s.worker, "a|\nc|\n");
	check_notes(s.other, "");
	CHECK(pthread_mutex_trylock(&s.lock) != 0);

	CHECK_INT(hbk_store_batch_end(s.worker, &err), HBK_OK);
	CHECK(!s.worker->batch_open);
	CHECK(!s.worker->holds_write_lock);
	CHECK(s.worker->db == s.worker->own_db);
	check_notes(s.other, "a|\nc|\n");
	CHECK_INT(pthread_mutex_trylock(&s.lock), 0);
	pthread_mutex_unlock(&s.lock);

	/* With no batch open, ending one does nothing; reads stay on the
	 * store's own connection and open none. */
	CHECK_INT(hbk_store_batch_end(s.worker, &err), HBK_OK);
	check_notes(s.worker, "a|\nc|\n");
	CHECK(!s.worker->batch_open);
	stores_close(&s);
}

static void test_a_read_transaction_opens_no_batch_but_joins_an_open_one(void)
{
	struct stores s;
	struct hbk_error err = {0};
	stores_open(&s, "reads");

	CHECK_INT(hbk_store_begin(s.worker, false, &err), HBK_OK);
	CHECK(!s.worker->batch_open);
	CHECK(s.worker->db == s.worker->own_db);
	CHECK_INT(hbk_store_commit(s.worker, &err), HBK_OK);

	CHECK_INT(note(&s, "x", true), HBK_OK);
	CHECK_INT(hbk_store_begin(s.worker, false, &err), HBK_OK);
	check_notes(s.worker, "x|\n");
	CHECK_INT(hbk_store_commit(s.worker, &err), HBK_OK);
	CHECK(s.worker->batch_open);
	CHECK_INT(hbk_store_batch_end(s.worker, &err), HBK_OK);
	check_notes(s.other, "x|\n");
	stores_close(&s);
}

static void test_a_batch_sqlite_rolled_back_records_nothing_and_says_so(void)
{
	struct stores s;
	struct hbk_error err = {0};
	stores_open(&s, "lost");

	CHECK_INT(note(&s, "kept?", true), HBK_OK);
	CHECK_INT(hbk_store_begin(s.worker, true, &err), HBK_OK);
	/* What SQLite does on an I/O error or a full disk: the whole
	 * transaction is rolled back under the savepoints. */
	CHECK_INT(hbk_store_exec(s.worker, "ROLLBACK", &err), HBK_OK);
	hbk_store_rollback(s.worker);
	CHECK(s.worker->batch_failed);
	CHECK_INT(note(&s, "after", true), HBK_EUNAVAILABLE);

	hbk_error_clear(&err);
	CHECK_INT(hbk_store_batch_end(s.worker, &err), HBK_EUNAVAILABLE);
	CHECK_STR(err.code, "store_unavailable");
	CHECK(!s.worker->batch_open);
	CHECK(!s.worker->holds_write_lock);
	check_notes(s.other, "");

	/* The next batch starts afresh. */
	CHECK_INT(note(&s, "next", true), HBK_OK);
	CHECK_INT(hbk_store_batch_end(s.worker, &err), HBK_OK);
	check_notes(s.other, "next|\n");
	stores_close(&s);
}

UNIT_TESTS(UNIT_T(test_a_batch_commits_its_transactions_at_once),
	   UNIT_T(test_a_read_transaction_opens_no_batch_but_joins_an_open_one),
	   UNIT_T(test_a_batch_sqlite_rolled_back_records_nothing_and_says_so));
