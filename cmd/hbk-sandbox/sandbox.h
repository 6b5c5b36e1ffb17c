/*
 * sandbox.h - what the files of hbk-sandbox share.
 *
 * hbk-sandbox serves the simulators of lib/partner and lib/payment (the
 * same code the embedded default links in) over the providers' real
 * protocols, plus an SNS Publish endpoint and an SMTP sink. Each protocol
 * is an "area": a path prefix, a function naming the endpoint a request
 * is for (the key of its faults), a handler, the protocol's own error body
 * and a view of its state for GET /__sandbox/state.
 *
 * main.c owns the server, the faults and the dispatch: it finds the area,
 * applies the endpoint's faults (latency and jitter by a timer on the
 * loop, error_rate as a 500 in the protocol's error shape, timeout_rate by
 * doing the request but holding its answer until the client has given
 * up), then calls the handler,
 * which fills ex->resp synchronously.
 */
#ifndef HBK_SANDBOX_H
#define HBK_SANDBOX_H

#include <jansson.h>

#include "hbk/config.h"
#include "hbk/http.h"
#include "hbk/partner.h"
#include "hbk/payment.h"
#include "hbk/store.h"

#define SANDBOX_ENDPOINTS_MAX 48

struct evconnlistener;

/* Faults of one endpoint ("partner.bookings.create", or an area's "*"). */
struct sandbox_faults {
	char endpoint[64];
	int latency_ms;
	int jitter_ms;
	double error_rate;   /* answered 500 in the protocol's error shape */
	double timeout_rate; /* done, but answered only after 60 s */
	double decline_rate; /* payment: authorizations declined */
	double throttle_rate; /* answered 429 with Retry-After: 1 */
};

struct sandbox {
	struct event_base *base;
	struct hbk_store *store; /* the simulators' state (in memory by default) */
	struct hbk_config *cfg;
	struct hbk_partner partner; /* the sandbox adapters on store */
	struct hbk_payment payment;
	/* Credentials the protocols check. */
	const char *partner_key, *partner_secret;
	const char *payment_key;    /* sk_test_... */
	const char *webhook_url;    /* where payment events are posted; NULL: nowhere */
	const char *webhook_secret; /* whsec_... */
	int nfaults;
	struct sandbox_faults faults[SANDBOX_ENDPOINTS_MAX];
	/* Requests received per endpoint name (faults included). */
	json_t *requests;
	/* Messages the SNS endpoint and the SMTP sink received. */
	json_t *sns_messages;
	json_t *smtp_messages;
	struct evconnlistener *smtp_listener;
};

struct sandbox_area {
	const char *name;   /* "partner", "payment", "sns" */
	const char *prefix; /* "/hotel-api/1.0/", "/v1/", "/sns/" */
	/* The endpoint a request is for, e.g. "partner.bookings.create";
	 * NULL: no such route (the handler is then still called, to answer
	 * 404 or 405 in the protocol's shape). */
	const char *(*endpoint)(const struct http_request *req);
	void (*handle)(struct sandbox *sb, struct http_exchange *ex, const char *endpoint);
	/* Fills resp with the protocol's error body. */
	void (*error)(struct http_response *resp, int status, const char *code,
		      const char *message);
	/* The area's records for GET /__sandbox/state (new reference). */
	json_t *(*state)(struct sandbox *sb);
};

extern const struct sandbox_area sandbox_partner_area;
extern const struct sandbox_area sandbox_payment_area;
extern const struct sandbox_area sandbox_sns_area;

/* The faults of an endpoint: its own, else its area's "*", else none. */
const struct sandbox_faults *sandbox_faults_for(const struct sandbox *sb, const char *endpoint);

/* A JSON answer: takes body (json_decref'd). */
void sandbox_json(struct http_response *resp, int status, json_t *body);

/* The SMTP sink (smtp.c): listens on fd on sb->base, records each message
 * in sb->smtp_messages. */
hbk_result sandbox_smtp_start(struct sandbox *sb, int fd, struct hbk_error *err);
/* Stops accepting (before the loop is freed). */
void sandbox_smtp_stop(struct sandbox *sb);

#endif
