/*
 * tokens.c - API bearer tokens: created once and shown once, kept as a
 * SHA-256, checked in constant time.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hbk/api.h"
#include "hbk/store.h"

#define TOKEN_RANDOM_BYTES 32
#define TOKEN_SET_MAX	   1024
#define SHA256_BYTES	   32

static const char tokens_schema[] =
    "CREATE TABLE IF NOT EXISTS api_tokens ("
    " name TEXT PRIMARY KEY,"
    " sha256 BLOB NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " revoked_ms INTEGER,"
    " changed_ms INTEGER NOT NULL" /* created or revoked: what servers watch */
    ");";

hbk_result hbk_tokens_migrate(struct hbk_store *store, struct hbk_error *err)
{
	return hbk_store_exec(store, tokens_schema, err);
}

static void sha256(const char *text, unsigned char out[SHA256_BYTES])
{
	unsigned int len = 0;
	HBK_ASSERT(EVP_Digest(text, strlen(text), out, &len, EVP_sha256(), NULL) == 1);
	HBK_ASSERT(len == SHA256_BYTES);
}

static bool name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len >= HBK_TOKEN_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			    *p))
			return false;
	return true;
}

hbk_result hbk_token_create(struct hbk_store *store, const char *name, char token[HBK_TOKEN_MAX],
			    struct hbk_error *err)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char random[TOKEN_RANDOM_BYTES + 1] = {0};
	unsigned char hash[SHA256_BYTES];
	sqlite3_stmt *stmt;
	size_t o = 0;

	if (!name_valid(name))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_name", "name",
				      "invalid token name '%.64s' (letters, digits, '.', '_', '-')",
				      name);
	hbk_random_bytes(random, TOKEN_RANDOM_BYTES);
	memcpy(token, "hbk_", 4);
	o = 4;
	for (int i = 0; i < TOKEN_RANDOM_BYTES; i += 3) {
		uint32_t v = (uint32_t)random[i] << 16 | (uint32_t)random[i + 1] << 8 |
			     (i + 2 < TOKEN_RANDOM_BYTES ? random[i + 2] : 0);
		int chars = i + 2 < TOKEN_RANDOM_BYTES ? 4 : 3;
		for (int c = 0; c < chars; c++)
			token[o++] = b64[(v >> (18 - 6 * c)) & 63];
	}
	token[o] = '\0';
	HBK_ASSERT(o < HBK_TOKEN_MAX);
	sha256(token, hash);
	OPENSSL_cleanse(random, sizeof(random));

	int64_t now = hbk_now_ms();
	hbk_result rc = hbk_store_prepare(
	    store,
	    "INSERT INTO api_tokens (name, sha256, created_ms, revoked_ms, changed_ms)"
	    " VALUES (?1, ?2, ?3, NULL, ?3) ON CONFLICT (name) DO UPDATE SET"
	    " sha256 = ?2, created_ms = ?3, revoked_ms = NULL, changed_ms = ?3"
	    " WHERE revoked_ms IS NOT NULL",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, name);
	sqlite3_bind_blob(stmt, 2, hash, SHA256_BYTES, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 3, now);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "tokens");
	else if (sqlite3_changes(store->db) == 0)
		rc = hbk_fail(err, HBK_ECONFLICT, "token_exists",
			      "a token named '%s' exists; revoke it first", name);
	hbk_stmt_done(stmt);
	if (rc != HBK_OK)
		OPENSSL_cleanse(token, HBK_TOKEN_MAX);
	return rc;
}

hbk_result hbk_token_list(struct hbk_store *store, json_t **out, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT name, created_ms, revoked_ms FROM api_tokens ORDER BY name", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	json_t *tokens = json_array();
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		char created[HBK_TIME_STR], revoked[HBK_TIME_STR];
		hbk_time_format(sqlite3_column_int64(stmt, 1), created);
		bool is_revoked = sqlite3_column_type(stmt, 2) != SQLITE_NULL;
		if (is_revoked)
			hbk_time_format(sqlite3_column_int64(stmt, 2), revoked);
		json_array_append_new(tokens,
				      json_pack("{s:s, s:s, s:s?, s:s}", "name",
						hbk_column_text(stmt, 0), "created_at", created,
						"revoked_at", is_revoked ? revoked : NULL, "status",
						is_revoked ? "revoked" : "active"));
	}
	hbk_stmt_done(stmt);
	*out = json_pack("{s:o}", "tokens", tokens);
	return HBK_OK;
}

hbk_result hbk_token_revoke(struct hbk_store *store, const char *name, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store,
	    "UPDATE api_tokens SET revoked_ms = ?2, changed_ms = ?2 WHERE name = ?1"
	    " AND revoked_ms IS NULL",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, name);
	sqlite3_bind_int64(stmt, 2, hbk_now_ms());
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "tokens");
	else if (sqlite3_changes(store->db) == 0)
		rc = hbk_fail(err, HBK_ENOTFOUND, "not_found", "no active token named '%.64s'",
			      name);
	hbk_stmt_done(stmt);
	return rc;
}

struct hbk_token_set {
	int count;
	int64_t stamp_rows, stamp_changed; /* what the table looked like when loaded */
	bool loaded;
	struct {
		char name[HBK_TOKEN_NAME_MAX];
		unsigned char sha256[SHA256_BYTES];
	} tokens[TOKEN_SET_MAX];
};

struct hbk_token_set *hbk_token_set_new(void)
{
	return hbk_xcalloc(1, sizeof(struct hbk_token_set));
}

void hbk_token_set_free(struct hbk_token_set *set)
{
	if (set)
		OPENSSL_cleanse(set, sizeof(*set));
	free(set);
}

hbk_result hbk_token_set_refresh(struct hbk_token_set *set, struct hbk_store *store,
				 struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT COUNT(*), COALESCE(MAX(changed_ms), 0) FROM api_tokens", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	int64_t rows = -1, changed = -1;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		rows = sqlite3_column_int64(stmt, 0);
		changed = sqlite3_column_int64(stmt, 1);
	}
	hbk_stmt_done(stmt);
	if (rows < 0)
		return hbk_store_fail(store, err, "tokens");
	if (set->loaded && rows == set->stamp_rows && changed == set->stamp_changed)
		return HBK_OK;

	rc = hbk_store_prepare(
	    store, "SELECT name, sha256 FROM api_tokens WHERE revoked_ms IS NULL LIMIT ?", &stmt,
	    err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int(stmt, 1, TOKEN_SET_MAX);
	set->count = 0;
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		if (sqlite3_column_bytes(stmt, 1) != SHA256_BYTES)
			continue;
		hbk_copy(set->tokens[set->count].name, HBK_TOKEN_NAME_MAX,
			 hbk_column_text(stmt, 0));
		memcpy(set->tokens[set->count].sha256, sqlite3_column_blob(stmt, 1), SHA256_BYTES);
		set->count++;
	}
	hbk_stmt_done(stmt);
	set->stamp_rows = rows;
	set->stamp_changed = changed;
	set->loaded = true;
	return HBK_OK;
}

bool hbk_token_set_check(const struct hbk_token_set *set, const char *token,
			 char name[HBK_TOKEN_NAME_MAX])
{
	unsigned char hash[SHA256_BYTES];
	int found = -1;
	if (!token || strlen(token) >= HBK_TOKEN_MAX * 4)
		return false;
	sha256(token, hash);
	/* Every active token is compared, each in constant time. */
	for (int i = 0; i < set->count; i++)
		if (CRYPTO_memcmp(hash, set->tokens[i].sha256, SHA256_BYTES) == 0)
			found = i;
	if (found >= 0 && name)
		hbk_copy(name, HBK_TOKEN_NAME_MAX, set->tokens[found].name);
	return found >= 0;
}
