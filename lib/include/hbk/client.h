/*
 * client.h - the REST client of hbkd (api.h) that the tools use in remote
 * mode: one function per command, answering the same JSON documents and
 * the same results as the embedded engine's commands in reservation.h.
 *
 * A client owns one libcurl easy handle, reused for every request so the
 * connection to hbkd stays open (keep-alive). It is not thread-safe: one
 * client per thread.
 *
 * Every command function returns HBK_OK and the document in *out (a new
 * reference the caller owns), or a failure with err filled:
 *   - hbkd answered a problem (RFC 9457): err->message is its "detail" (the
 *     library's message on the server), err->code its "code", err->field
 *     the first "errors" field, and the result hbk_api_result(status),
 *     refined by the code where the status alone is ambiguous. For
 *     book, view, update and cancel, a problem carrying "booking" (the saga
 *     ended FAILED) also sets *out to that booking, as the engine does.
 *   - hbkd could not be reached or did not answer in time: HBK_EUNAVAILABLE,
 *     "cannot reach hbkd at URL: <why>".
 *   - 401: HBK_EAUTH.
 *   - a 2xx that is not a JSON object: HBK_EINTERNAL.
 * The token is sent only in the Authorization header: it never appears in
 * err, whatever the server answers.
 */
#ifndef HBK_CLIENT_H
#define HBK_CLIENT_H

#include <jansson.h>

#include "hbk/core.h"
#include "hbk/inventory.h"
#include "hbk/reservation.h"

#define HBK_CLIENT_TIMEOUT_MS_DEFAULT 10000
/* The largest answer read from hbkd; a longer one is an error. */
#define HBK_CLIENT_RESPONSE_MAX_BYTES (16u * 1024u * 1024u)

struct hbk_client;

/*
 * Prepares a client for hbkd at url ("http://host:port", an optional path
 * prefix allowed; borrowed, copied). token (borrowed, copied; NULL or ""
 * for none) is sent as "Authorization: Bearer <token>". timeout_ms bounds
 * each request, connection included. Connects lazily, on the first request.
 * Returns a client the caller frees with hbk_client_close().
 */
hbk_result hbk_client_open(const char *url, const char *token, long timeout_ms,
			   struct hbk_client **out, struct hbk_error *err);
/* Closes the connection and wipes the token. Safe on NULL. */
void hbk_client_close(struct hbk_client *client);

/* The base URL, without a trailing slash. Borrowed. */
const char *hbk_client_url(const struct hbk_client *client);
/* The HTTP status of the last answer, 0 when there was none. */
int hbk_client_status(const struct hbk_client *client);

/* GET /v1/offers: {"offers":[...]}. Only the parameters set are sent. */
hbk_result hbk_client_search(struct hbk_client *client, const struct hbk_search_query *query,
			     json_t **out, struct hbk_error *err);

/*
 * POST /v1/bookings: the booking. idempotency_key (borrowed, may be NULL:
 * one is generated) is sent as Idempotency-Key, so the one retry after a
 * dropped connection never books twice.
 */
hbk_result hbk_client_book(struct hbk_client *client, const char *offer_id,
			   const struct hbk_guest *guest, const char *payment_method,
			   const char *idempotency_key, json_t **out, struct hbk_error *err);

/* GET /v1/bookings/{id}: the booking. */
hbk_result hbk_client_view(struct hbk_client *client, const char *id, json_t **out,
			   struct hbk_error *err);

/* GET /v1/bookings?...: {"bookings":[...],"next_cursor":...}. */
hbk_result hbk_client_list(struct hbk_client *client, const struct hbk_list_filter *filter,
			   json_t **out, struct hbk_error *err);

/* PATCH /v1/bookings/{id} with only the fields req sets; If-Match when
 * req->if_match >= 0. The booking. */
hbk_result hbk_client_update(struct hbk_client *client, const char *id,
			     const struct hbk_update_request *req, json_t **out,
			     struct hbk_error *err);

/* POST /v1/bookings/{id}/cancel: the cancelled booking, or with dry_run
 * {"booking","penalty","refund","dry_run":true}. reason may be NULL;
 * If-Match when if_match >= 0. */
hbk_result hbk_client_cancel(struct hbk_client *client, const char *id, const char *reason,
			     bool dry_run, int64_t if_match, json_t **out, struct hbk_error *err);

/* GET /v1/bookings/{id}/events: {"id":...,"events":[...]}. */
hbk_result hbk_client_history(struct hbk_client *client, const char *id, json_t **out,
			      struct hbk_error *err);

#endif
