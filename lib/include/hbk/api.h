/*
 * api.h - the HTTP API of hbkd (DESIGN.md section 5), shared by the server
 * (lib/api/server*.c, used by hbkd) and the REST client the tools use in
 * remote mode (lib/api/client.c).
 *
 * Routes and bodies:
 *   GET  /v1/offers?city=&hotel=&checkin=&checkout=&adults=&children=&rooms=
 *                  &max_price=&refundable=true|false&sort=price|stars|name&limit=
 *        200 {"offers":[...]}                         (hbk search -o json)
 *   POST /v1/bookings  {"offer_id":"OF1...","guest":{"name","email","phone"},
 *                       "payment_method":"pm_..."}    Idempotency-Key honoured
 *        201 booking, Location: /v1/bookings/{id}, ETag: "<version>"
 *   GET  /v1/bookings/{id}                            200 booking, ETag
 *   GET  /v1/bookings?status=&hotel=&checkin_from=&checkin_to=&email=&limit=&cursor=
 *        200 {"bookings":[...],"next_cursor":"BK-..."|null}
 *   PATCH /v1/bookings/{id} {"checkin","checkout","room_type",
 *                            "guests":{"adults","children"},
 *                            "guest":{"name","email","phone"}}   (all optional)
 *        If-Match: "<version>" (412 when stale)   200 booking
 *   POST /v1/bookings/{id}/cancel {"reason":"...","dry_run":false}
 *        200 booking, or with dry_run {"booking","penalty","refund","dry_run":true}
 *   GET  /v1/bookings/{id}/events                     200 {"id","events":[...]}
 *   GET  /healthz /readyz /metrics                    no token needed
 *
 * Errors are RFC 9457 application/problem+json:
 *   {"type":"https://hbk.invalid/problems/<code>","title":"...","status":N,
 *    "detail":"<the library's message>","code":"<code>","errors":[{"field","detail"}]}
 * plus "booking" (the booking JSON) when a saga ended FAILED, so a client
 * can print the booking exactly as the embedded mode does.
 */
#ifndef HBK_API_H
#define HBK_API_H

#include <jansson.h>

#include "hbk/core.h"

#define HBK_API_PROBLEM_BASE "https://hbk.invalid/problems/"

/*
 * The HTTP status for a library result and error code:
 *   HBK_EINVAL 422 (400 for "invalid_json", "invalid_body", "usage"),
 *   HBK_EAUTH 401, HBK_ENOTFOUND 404, HBK_ECONFLICT 409 ("stale_version"
 *   under If-Match: 412), HBK_EDECLINED 402 (payment) or 502 (partner),
 *   HBK_EUNAVAILABLE 503, anything else 500.
 */
int hbk_api_status(hbk_result result, const char *code);

/* The result a client reports for an HTTP status (the inverse, by class). */
hbk_result hbk_api_result(int status);

/* The problem document for an error; booking (borrowed, may be NULL) is
 * embedded as "booking". New reference. */
json_t *hbk_api_problem(int status, const struct hbk_error *err, const json_t *booking);

/* ------------------------------------------------------------------------
 * API tokens. A token is shown once, at creation; the store keeps only its
 * SHA-256. All users have the same role, so a token only has a name.
 */
struct hbk_store;

#define HBK_TOKEN_MAX 64      /* "hbk_" + 43 base64url characters + NUL */
#define HBK_TOKEN_NAME_MAX 65 /* [A-Za-z0-9._-]{1,64} */

/* The API context's tables: tokens and Idempotency-Key records. */
hbk_result hbk_api_migrate(struct hbk_store *store, struct hbk_error *err);
hbk_result hbk_tokens_migrate(struct hbk_store *store, struct hbk_error *err);
/* Creates a token named name; fails HBK_ECONFLICT when an active one has it.
 * Creating and revoking are events (hbk.token.*), in their own transaction. */
hbk_result hbk_token_create(struct hbk_store *store, const char *name,
			    char token[HBK_TOKEN_MAX], struct hbk_error *err);
/* {"tokens":[{"name","created_at","revoked_at"|null}]} */
hbk_result hbk_token_list(struct hbk_store *store, json_t **out, struct hbk_error *err);
hbk_result hbk_token_revoke(struct hbk_store *store, const char *name, struct hbk_error *err);
/*
 * Applies hbk.token.created.v1 or hbk.token.revoked.v1 from another store
 * (the bus): stores the event (*applied false and nothing else when it is
 * there already) and creates or revokes the token it names. In the
 * caller's write transaction; ev is borrowed.
 */
struct hbk_event;
hbk_result hbk_token_replicate(struct hbk_store *store, const struct hbk_event *ev, bool *applied,
			       struct hbk_error *err);

/*
 * The active tokens' hashes, held in memory by a server and refreshed when
 * the table changes. Checking compares the presented token's hash with
 * every active hash in constant time.
 */
struct hbk_token_set;
struct hbk_token_set *hbk_token_set_new(void);
void hbk_token_set_free(struct hbk_token_set *set);
/* Reloads the set when the tokens table changed since the last call. */
hbk_result hbk_token_set_refresh(struct hbk_token_set *set, struct hbk_store *store,
				 struct hbk_error *err);
/* True when token is active; name (may be NULL) gets its name. */
bool hbk_token_set_check(const struct hbk_token_set *set, const char *token,
			 char name[HBK_TOKEN_NAME_MAX]);

#endif
