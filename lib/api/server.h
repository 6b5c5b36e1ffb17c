/*
 * server.h (internal) - what the files of hbkd's server share.
 */
#ifndef HBK_API_SERVER_INTERNAL_H
#define HBK_API_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <jansson.h>

#include "hbk/api.h"
#include "hbk/applier.h"
#include "hbk/http.h"
#include "hbk/publisher.h"
#include "hbk/reservation.h"
#include "hbk/server.h"

/* Routes, for metrics labels and dispatch. */
enum route {
	ROUTE_OFFERS,
	ROUTE_BOOKINGS,
	ROUTE_BOOKING,
	ROUTE_CANCEL,
	ROUTE_EVENTS,
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_METRICS,
	ROUTE_WEBHOOK_PAYMENTS,
	ROUTE_NONE, /* unknown paths and transport refusals */
	ROUTE_COUNT,
};

extern const char *const route_names[ROUTE_COUNT];

#define METRIC_BUCKETS	  14
#define METRIC_STATUS_MIN 100
#define METRIC_STATUS_MAX 599
#define METRIC_METHODS	  6 /* GET POST PATCH PUT DELETE other */

struct histogram {
	atomic_ullong buckets[METRIC_BUCKETS]; /* cumulative at scrape, not here */
	atomic_ullong count;
	atomic_ullong sum_us;
};

enum outcome { OUTCOME_CONFIRMED, OUTCOME_FAILED, OUTCOME_REJECTED, OUTCOME_COUNT };

struct metrics {
	atomic_ullong requests[ROUTE_COUNT][METRIC_METHODS]
			      [METRIC_STATUS_MAX - METRIC_STATUS_MIN + 1];
	struct histogram duration[ROUTE_COUNT];
	atomic_ullong bookings[OUTCOME_COUNT];
	struct histogram saga_steps[HBK_STEP_CANCEL_ABANDON + 1];
	struct histogram store;
	atomic_int connections;
	atomic_int in_flight;
	struct hbk_publisher *publisher; /* the outbox relay, with kafka.brokers set */
	struct hbk_applier *applier;	 /* the events topic into the store, likewise */
};

void metrics_observe(struct histogram *h, int64_t duration_us);
void metrics_request(struct metrics *m, enum route route, const char *method, int status,
		     int64_t duration_us);
void metrics_render(struct metrics *m, struct hbk_buf *out);

struct server;

struct worker {
	int index;
	pthread_t thread;
	struct server *server;
	struct event_base *base;
	struct http_server *http;
	struct hbk_engine *engine;
	struct hbk_token_set *tokens;
	struct hbk_saga_env saga_env;
	struct event *stop;
	struct event *drain_check;
	bool draining;
};

struct server {
	const struct hbk_config *cfg;
	int listen_fd;
	int nworkers;
	struct worker workers[HBK_SERVER_WORKERS_MAX];
	struct metrics *metrics;
	struct http_limits limits;
	atomic_bool draining;
	pthread_mutex_t write_lock; /* the workers' writers take turns here */
	struct hbk_store *writer;   /* ... on this one connection */
	/* Copies the WAL back into the file off the writers' path (main thread). */
	struct hbk_store *checkpointer;
	struct hbk_notify_delivery *delivery; /* sends the guest notices */
	int log_fd;
	char log_path[1024];
	int64_t started_ms;
};

/* The application callbacks of the transport (routes.c). */
bool app_handle(void *ctx, struct http_exchange *ex);
void app_log(void *ctx, const struct http_request *req, const struct http_response *resp,
	     int64_t duration_us);
void app_refuse(void *ctx, int status, const char *code, const char *detail,
		struct http_response *resp);

/* Writes one JSON log line (atomic append); takes line. */
void server_log_line(struct server *server, json_t *line);
/* Writes len bytes, one whole line ending in a newline. */
void server_write_log(struct server *server, const char *text, size_t len);

#endif
