/*
 * idempotency.c - Idempotency-Key records for POST /v1/bookings.
 *
 * A key is claimed in one IMMEDIATE transaction, so of two requests racing
 * with one key exactly one runs; the other sees it in progress (409) or,
 * once it is done, gets the first response again. Records are kept 24 h;
 * a claim left in progress by a crashed server is taken over after 5 min.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "idempotency.h"

#define IDEMPOTENCY_TTL_MS   (24LL * 3600 * 1000)
#define IDEMPOTENCY_STALE_MS (5LL * 60 * 1000)

static const char idempotency_schema[] =
    "CREATE TABLE IF NOT EXISTS api_idempotency ("
    " key TEXT PRIMARY KEY,"
    " fingerprint BLOB NOT NULL," /* SHA-256 of method, path and body */
    " state TEXT NOT NULL,"	  /* in_progress | done */
    " status INTEGER,"
    " body TEXT,"
    " location TEXT,"
    " etag TEXT,"
    " created_ms INTEGER NOT NULL"
    ");";

hbk_result idempotency_migrate(struct hbk_store *store, struct hbk_error *err)
{
	return hbk_store_exec(store, idempotency_schema, err);
}

bool idempotency_key_valid(const char *key)
{
	size_t len = strlen(key);
	if (len == 0 || len > 255)
		return false;
	for (const char *p = key; *p; p++)
		if (*p < '!' || *p > '~')
			return false;
	return true;
}

void idempotency_fingerprint(const char *method, const char *path, const char *body, size_t len,
			     unsigned char out[IDEMPOTENCY_FINGERPRINT_BYTES])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	HBK_ASSERT(ctx != NULL);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, method, strlen(method) + 1);
	EVP_DigestUpdate(ctx, path, strlen(path) + 1);
	EVP_DigestUpdate(ctx, body, len);
	EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	HBK_ASSERT(n == IDEMPOTENCY_FINGERPRINT_BYTES);
}

void idempotency_record_free(struct idempotency_record *rec)
{
	free(rec->body);
	rec->body = NULL;
}

static hbk_result step(struct hbk_store *store, sqlite3_stmt *stmt, struct hbk_error *err)
{
	int rc = sqlite3_step(stmt);
	hbk_stmt_done(stmt);
	return rc == SQLITE_DONE ? HBK_OK : hbk_store_fail(store, err, "idempotency");
}

hbk_result idempotency_claim(struct hbk_store *store, const char *key,
			     const unsigned char fingerprint[IDEMPOTENCY_FINGERPRINT_BYTES],
			     enum idempotency_state *state, struct idempotency_record *rec,
			     struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	int64_t now = hbk_now_ms();
	memset(rec, 0, sizeof(*rec));
	hbk_result rc = hbk_store_begin(store, true, err);
	if (rc != HBK_OK)
		return rc;
	rc = hbk_store_prepare(store,
			       "SELECT fingerprint, state, status, body, location, etag, created_ms"
			       " FROM api_idempotency WHERE key = ?",
			       &stmt, err);
	if (rc != HBK_OK)
		goto fail;
	hbk_bind_text(stmt, 1, key);
	*state = IDEMPOTENCY_NEW;
	bool exists = false;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		int64_t created = sqlite3_column_int64(stmt, 6);
		bool done = strcmp(hbk_column_text(stmt, 1), "done") == 0;
		exists = true;
		if (now - created > IDEMPOTENCY_TTL_MS ||
		    (!done && now - created > IDEMPOTENCY_STALE_MS)) {
			*state = IDEMPOTENCY_NEW; /* expired, or abandoned: start afresh */
		} else if (sqlite3_column_bytes(stmt, 0) != IDEMPOTENCY_FINGERPRINT_BYTES ||
			   memcmp(sqlite3_column_blob(stmt, 0), fingerprint,
				  IDEMPOTENCY_FINGERPRINT_BYTES) != 0) {
			*state = IDEMPOTENCY_MISMATCH;
		} else if (!done) {
			*state = IDEMPOTENCY_IN_PROGRESS;
		} else {
			*state = IDEMPOTENCY_REPLAY;
			rec->status = sqlite3_column_int(stmt, 2);
			rec->body = hbk_xstrdup(hbk_column_text(stmt, 3));
			hbk_copy(rec->location, sizeof(rec->location), hbk_column_text(stmt, 4));
			hbk_copy(rec->etag, sizeof(rec->etag), hbk_column_text(stmt, 5));
		}
	}
	hbk_stmt_done(stmt);
	if (*state == IDEMPOTENCY_NEW) {
		rc = hbk_store_prepare(store,
				       exists
					   ? "UPDATE api_idempotency SET fingerprint = ?2,"
					     " state = 'in_progress', status = NULL, body = NULL,"
					     " location = NULL, etag = NULL, created_ms = ?3"
					     " WHERE key = ?1"
					   : "INSERT INTO api_idempotency (key, fingerprint, state,"
					     " created_ms) VALUES (?1, ?2, 'in_progress', ?3)",
				       &stmt, err);
		if (rc != HBK_OK)
			goto fail;
		hbk_bind_text(stmt, 1, key);
		sqlite3_bind_blob(stmt, 2, fingerprint, IDEMPOTENCY_FINGERPRINT_BYTES,
				  SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 3, now);
		rc = step(store, stmt, err);
		if (rc != HBK_OK)
			goto fail;
	}
	rc = hbk_store_commit(store, err);
	if (rc != HBK_OK)
		idempotency_record_free(rec);
	return rc;
fail:
	hbk_store_rollback(store);
	return rc;
}

hbk_result idempotency_complete(struct hbk_store *store, const char *key, int status,
				const char *body, const char *location, const char *etag,
				struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	/* A failure of ours (5xx) is not kept: the client may retry for real. */
	bool keep = status < 500;
	/* A write transaction, so that it waits its turn on the process's
	 * write lock instead of polling SQLite's lock. */
	hbk_result rc = hbk_store_begin(store, true, err);
	if (rc != HBK_OK)
		return rc;
	rc = hbk_store_prepare(
	    store,
	    keep ? "UPDATE api_idempotency SET state = 'done', status = ?2, body = ?3,"
		   " location = ?4, etag = ?5 WHERE key = ?1"
		 : "DELETE FROM api_idempotency WHERE key = ?1",
	    &stmt, err);
	if (rc != HBK_OK) {
		hbk_store_rollback(store);
		return rc;
	}
	hbk_bind_text(stmt, 1, key);
	if (keep) {
		sqlite3_bind_int(stmt, 2, status);
		hbk_bind_text(stmt, 3, body);
		hbk_bind_text(stmt, 4, location);
		hbk_bind_text(stmt, 5, etag);
	}
	rc = step(store, stmt, err);
	if (rc != HBK_OK) {
		hbk_store_rollback(store);
		return rc;
	}
	return hbk_store_commit(store, err);
}
