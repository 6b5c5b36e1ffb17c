/*
 * upstream.h - outbound HTTP to one external service (the partner, the
 * payment provider, SNS) over libcurl.
 *
 * A process without an event loop (hbk, hbk-admin) sends synchronously:
 * hbk_upstream_send() calls back before it returns. hbkd attaches each
 * worker's event loop: requests then run on a curl multi handle driven by
 * that loop, so thousands can be in flight without a thread each.
 *
 * Every upstream name ("partner", "payment", "sns") has one circuit
 * breaker shared by every thread of the process: it opens after
 * breaker_failures consecutive failures (no answer, a timeout or a 5xx),
 * refuses calls at once while open (HBK_EUNAVAILABLE, code "circuit_open"),
 * lets one probe through after breaker_open_ms (half-open) and closes when
 * the probe succeeds. hbk_upstream_metrics() reports its state.
 *
 * Request and response bodies never reach a log line; neither do the
 * headers, which carry credentials.
 */
#ifndef HBK_UPSTREAM_H
#define HBK_UPSTREAM_H

#include "hbk/core.h"

struct event_base;
struct hbk_upstream;

#define HBK_UPSTREAM_HEADERS_MAX 12

struct hbk_upstream_options {
	const char *name;	/* "partner", "payment", "sns": breaker and metrics */
	const char *base_url;	/* prefix of every path, e.g. http://h:p/hotel-api/1.0 */
	int timeout_ms;		/* whole request (default 5000) */
	int connect_timeout_ms; /* default: timeout_ms, at most 2000 */
	int breaker_failures;	/* default 5 */
	int breaker_open_ms;	/* default 5000 */
};

struct hbk_upstream_request {
	const char *method;	  /* "GET", "POST", "PUT", "DELETE" */
	const char *path;	  /* appended to base_url; may carry a query */
	const char *content_type; /* NULL: no body */
	const char *body;
	size_t body_len;
	/* "Name: value" lines; copied when the request is sent. */
	int nheaders;
	char headers[HBK_UPSTREAM_HEADERS_MAX][512];
	/* SigV4 (SNS): CURLOPT_AWS_SIGV4 and CURLOPT_USERPWD; NULL: none. */
	const char *aws_sigv4;
	const char *userpwd;
};

struct hbk_upstream_response {
	long status;		 /* 0 when no answer came */
	struct hbk_buf body;	 /* decoded (gzip) */
	int retry_after_ms;	 /* Retry-After, or -1 */
	char content_type[128];
};

/*
 * One exchange. The caller embeds it, fills req, sets done and sends; in
 * done, rc is HBK_OK when an answer came (whatever its status: the adapter
 * maps statuses to results), or HBK_EUNAVAILABLE with err filled (timeout,
 * connection refused, circuit open). The call may be sent again after done
 * (a retry): the previous response is dropped first.
 */
struct hbk_upstream_call {
	struct hbk_upstream_request req;
	struct hbk_upstream_response resp;
	hbk_result rc;
	struct hbk_error err;
	void (*done)(struct hbk_upstream_call *call);
	void *arg;	    /* the caller's */
	void *handle;	    /* private: the curl easy handle */
	void *headers;	    /* private: the curl header list */
	struct hbk_upstream *up; /* private */
	struct hbk_upstream_call *prev, *next; /* private: calls in flight */
};

hbk_result hbk_upstream_new(const struct hbk_upstream_options *opt, struct hbk_upstream **out,
			    struct hbk_error *err);
/* Calls in flight are finished with HBK_EUNAVAILABLE first. */
void hbk_upstream_free(struct hbk_upstream *up);

/* Runs calls on base from now on (NULL: synchronous again). */
void hbk_upstream_attach(struct hbk_upstream *up, struct event_base *base);

/* Adds a "Name: value" header line to req. */
void hbk_upstream_header(struct hbk_upstream_request *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sends call->req; call->done runs exactly once. */
void hbk_upstream_send(struct hbk_upstream *up, struct hbk_upstream_call *call);

/* Frees what the call's response holds; the call can be reused. */
void hbk_upstream_call_reset(struct hbk_upstream_call *call);

/* Calls fn(arg) after delay_ms: on the attached loop, else by sleeping. */
void hbk_upstream_after(struct hbk_upstream *up, int delay_ms, void (*fn)(void *arg), void *arg);

/* Appends the breakers' state and counters in Prometheus text format:
 * hbk_upstream_circuit_state{upstream} (0 closed, 1 open, 2 half-open),
 * hbk_upstream_requests_total{upstream,outcome}, hbk_upstream_circuit_opened_total. */
void hbk_upstream_metrics(struct hbk_buf *out);

/* Lowercase hex SHA-256 of s (X-Signature) into hex (65 bytes). */
void hbk_sha256_hex(const char *s, size_t len, char hex[65]);
/* Lowercase hex HMAC-SHA256 (Stripe-Signature) into hex (65 bytes). */
void hbk_hmac_sha256_hex(const char *key, const char *msg, size_t len, char hex[65]);

#endif
