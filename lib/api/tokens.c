/*
 * tokens.c - API bearer tokens: created once and shown once, kept as a
 * SHA-256, checked in constant time.
 *
 * Creating and revoking a token are events too (hbk.token.created.v1,
 * hbk.token.revoked.v1 on the stream "token:<name>", keyed by the name),
 * appended in the transaction that changes the table, so that every hbkd
 * of a cluster applies them (hbk_token_replicate) and accepts the same
 * tokens. An event carries the token's SHA-256, never the token.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hbk/api.h"
#include "hbk/events.h"
#include "hbk/json.h"
#include "hbk/store.h"

#define TOKEN_RANDOM_BYTES 32
#define TOKEN_SET_MAX	   1024
#define SHA256_BYTES	   32
#define SHA256_HEX	   (SHA256_BYTES * 2 + 1)

static const char created_type[] = "hbk.token.created.v1";
static const char revoked_type[] = "hbk.token.revoked.v1";
static const char stream_prefix[] = "token:";

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

static void hash_hex(const unsigned char hash[SHA256_BYTES], char hex[SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < SHA256_BYTES; i++) {
		hex[2 * i] = digits[hash[i] >> 4];
		hex[2 * i + 1] = digits[hash[i] & 15];
	}
	hex[SHA256_BYTES * 2] = '\0';
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The hash of 64 lowercase hex digits; false for anything else. */
static bool hex_hash(const char *hex, unsigned char hash[SHA256_BYTES])
{
	if (strlen(hex) != SHA256_BYTES * 2)
		return false;
	for (int i = 0; i < SHA256_BYTES; i++) {
		int high = hex_digit(hex[2 * i]), low = hex_digit(hex[2 * i + 1]);
		if (high < 0 || low < 0)
			return false;
		hash[i] = (unsigned char)(high << 4 | low);
	}
	return true;
}

/* The token's event, at_ms being when the table changed; data is taken. */
static hbk_result append(struct hbk_store *store, const char *type, const char *name, int64_t at_ms,
			 json_t *data, struct hbk_error *err)
{
	struct hbk_event ev;
	memset(&ev, 0, sizeof(ev));
	hbk_copy(ev.type, sizeof(ev.type), type);
	hbk_format(ev.subject, sizeof(ev.subject), "%s%s", stream_prefix, name);
	hbk_copy(ev.partitionkey, sizeof(ev.partitionkey), name);
	ev.time_ms = at_ms;
	ev.data = data;
	hbk_result rc = hbk_events_append_next(store, &ev, err);
	hbk_event_clear(&ev);
	return rc;
}

/* Commits the transaction when rc is HBK_OK, else rolls it back. */
static hbk_result tx_end(struct hbk_store *store, hbk_result rc, struct hbk_error *err)
{
	if (store->tx_depth == 0)
		return rc;
	if (rc == HBK_OK)
		return hbk_store_commit(store, err);
	hbk_store_rollback(store);
	return rc;
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
				      "invalid token name '%.*s' (letters, digits, '.', '_', '-')",
				      hbk_utf8_cut(name, 64), name);
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
	hbk_result rc = hbk_store_begin(store, true, err);
	if (rc == HBK_OK)
		rc = hbk_store_prepare(
		    store,
		    "INSERT INTO api_tokens (name, sha256, created_ms, revoked_ms, changed_ms)"
		    " VALUES (?1, ?2, ?3, NULL, ?3) ON CONFLICT (name) DO UPDATE SET"
		    " sha256 = ?2, created_ms = ?3, revoked_ms = NULL, changed_ms = ?3"
		    " WHERE revoked_ms IS NOT NULL",
		    &stmt, err);
	if (rc == HBK_OK) {
		hbk_bind_text(stmt, 1, name);
		sqlite3_bind_blob(stmt, 2, hash, SHA256_BYTES, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 3, now);
		if (sqlite3_step(stmt) != SQLITE_DONE)
			rc = hbk_store_fail(store, err, "tokens");
		else if (sqlite3_changes(store->db) == 0)
			rc = hbk_fail(err, HBK_ECONFLICT, "token_exists",
				      "a token named '%s' exists; revoke it first", name);
		hbk_stmt_done(stmt);
	}
	if (rc == HBK_OK) {
		char hex[SHA256_HEX];
		hash_hex(hash, hex);
		rc = append(store, created_type, name, now,
			    json_pack("{s:s, s:s}", "name", name, "sha256", hex), err);
	}
	rc = tx_end(store, rc, err);
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
	int64_t now = hbk_now_ms();
	hbk_result rc = hbk_store_begin(store, true, err);
	if (rc == HBK_OK)
		rc = hbk_store_prepare(store,
				       "UPDATE api_tokens SET revoked_ms = ?2, changed_ms = ?2"
				       " WHERE name = ?1 AND revoked_ms IS NULL",
				       &stmt, err);
	if (rc == HBK_OK) {
		hbk_bind_text(stmt, 1, name);
		sqlite3_bind_int64(stmt, 2, now);
		if (sqlite3_step(stmt) != SQLITE_DONE)
			rc = hbk_store_fail(store, err, "tokens");
		else if (sqlite3_changes(store->db) == 0)
			rc = hbk_fail(err, HBK_ENOTFOUND, "not_found",
				      "no active token named '%.*s'", hbk_utf8_cut(name, 64), name);
		hbk_stmt_done(stmt);
	}
	if (rc == HBK_OK)
		rc = append(store, revoked_type, name, now, json_pack("{s:s}", "name", name), err);
	return tx_end(store, rc, err);
}

/*
 * A token changed by an event from elsewhere: changed_ms is made greater
 * than any in the table, whatever the writer's clock said, so that every
 * server's token set (hbk_token_set_refresh) sees the change.
 */
static hbk_result apply_token(struct hbk_store *store, const struct hbk_event *ev, void *ctx,
			      struct hbk_error *err)
{
	bool created = *(const bool *)ctx;
	const char *name = hbk_json_str(ev->data, "name", "");
	unsigned char hash[SHA256_BYTES];
	if (!name_valid(name) || strcmp(name, ev->partitionkey) != 0 ||
	    (created && !hex_hash(hbk_json_str(ev->data, "sha256", ""), hash)))
		return hbk_fail(err, HBK_EINVAL, "invalid_event",
				"event %s (%s): no valid token name or hash", ev->id, ev->type);
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store,
	    created ? "INSERT INTO api_tokens (name, sha256, created_ms, revoked_ms, changed_ms)"
		      " VALUES (?1, ?2, ?3, NULL, MAX(?3, (SELECT COALESCE(MAX(changed_ms), 0) + 1"
		      " FROM api_tokens))) ON CONFLICT (name) DO UPDATE SET sha256 = ?2,"
		      " created_ms = ?3, revoked_ms = NULL, changed_ms = excluded.changed_ms"
		    : "UPDATE api_tokens SET revoked_ms = ?3, changed_ms = MAX(?3, (SELECT"
		      " COALESCE(MAX(changed_ms), 0) + 1 FROM api_tokens)) WHERE name = ?1"
		      " AND revoked_ms IS NULL AND ?2 IS NULL",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, name);
	if (created)
		sqlite3_bind_blob(stmt, 2, hash, SHA256_BYTES, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 3, ev->time_ms);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "tokens");
	hbk_stmt_done(stmt);
	OPENSSL_cleanse(hash, sizeof(hash));
	return rc;
}

hbk_result hbk_token_replicate(struct hbk_store *store, const struct hbk_event *ev, bool *applied,
			       struct hbk_error *err)
{
	HBK_ASSERT(store->tx_depth > 0);
	*applied = false;
	bool created = strcmp(ev->type, created_type) == 0;
	if (!created && strcmp(ev->type, revoked_type) != 0)
		return hbk_fail(err, HBK_EINVAL, "unknown_event_type",
				"no handler for events of type %s", ev->type);
	return hbk_events_apply_new(store, ev, applied, apply_token, &created, err);
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
