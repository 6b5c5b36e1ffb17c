/*
 * idempotency.h (internal) - Idempotency-Key records of hbkd.
 */
#ifndef HBK_API_IDEMPOTENCY_H
#define HBK_API_IDEMPOTENCY_H

#include "hbk/core.h"
#include "hbk/store.h"

#define IDEMPOTENCY_FINGERPRINT_BYTES 32

enum idempotency_state {
	IDEMPOTENCY_NEW,	 /* claimed: run the request, then complete */
	IDEMPOTENCY_REPLAY,	 /* done before: answer rec again */
	IDEMPOTENCY_IN_PROGRESS, /* another request with the key is running: 409 */
	IDEMPOTENCY_MISMATCH,	 /* the key was used with another request: 422 */
};

struct idempotency_record {
	int status;
	char *body; /* owned */
	char location[160];
	char etag[32];
};

hbk_result idempotency_migrate(struct hbk_store *store, struct hbk_error *err);
bool idempotency_key_valid(const char *key);
void idempotency_fingerprint(const char *method, const char *path, const char *body, size_t len,
			     unsigned char out[IDEMPOTENCY_FINGERPRINT_BYTES]);
hbk_result idempotency_claim(struct hbk_store *store, const char *key,
			     const unsigned char fingerprint[IDEMPOTENCY_FINGERPRINT_BYTES],
			     enum idempotency_state *state, struct idempotency_record *rec,
			     struct hbk_error *err);
hbk_result idempotency_complete(struct hbk_store *store, const char *key, int status,
				const char *body, const char *location, const char *etag,
				struct hbk_error *err);
void idempotency_record_free(struct idempotency_record *rec);

#endif
