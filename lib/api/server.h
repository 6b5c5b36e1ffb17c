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

/* What became of the commands this instance decided (cluster mode). */
enum command_outcome {
	COMMAND_ACCEPTED,      /* decided: the booking's events are recorded */
	COMMAND_REJECTED,      /* refused: a hbk.command.rejected.v1 event */
	COMMAND_DUPLICATE,     /* decided before: skipped */
	COMMAND_DEAD_LETTERED, /* not a command: sent to the dead letters */
	COMMAND_OUTCOME_COUNT,
};

struct metrics {
	atomic_ullong requests[ROUTE_COUNT][METRIC_METHODS]
			      [METRIC_STATUS_MAX - METRIC_STATUS_MIN + 1];
	struct histogram duration[ROUTE_COUNT];
	atomic_ullong bookings[OUTCOME_COUNT];
	struct histogram saga_steps[HBK_STEP_CANCEL_ABANDON + 1];
	struct histogram store;
	atomic_ullong store_batches;	  /* groups of writes committed */
	atomic_ullong store_transactions; /* the transactions they held */
	atomic_int connections;
	atomic_int in_flight;
	struct hbk_publisher *publisher; /* the outbox relay, with kafka.brokers set */
	struct hbk_applier *applier;	 /* the events topic into the store, likewise */
	atomic_ullong commands[COMMAND_OUTCOME_COUNT];
	atomic_ullong sagas_adopted;
	atomic_int partitions_owned;
};

void metrics_observe(struct histogram *h, int64_t duration_us);
void metrics_request(struct metrics *m, enum route route, const char *method, int status,
		     int64_t duration_us);
void metrics_render(struct metrics *m, struct hbk_buf *out);

struct server;
struct worker;

/*
 * A request parked until its command's outcome is in this store
 * (cluster.c). The handler allocates it as the first member of its own
 * record; settle is called on the worker's loop with what happened and
 * returns true once it answered the request.
 */
enum waiter_news {
	WAITER_WRITTEN, /* the brokers acknowledged the command */
	WAITER_REFUSED, /* they did not: reason says why */
	WAITER_CHANGED, /* the store changed: look for the outcome */
	WAITER_EXPIRED, /* kafka.command_timeout_ms passed */
};
struct waiter {
	struct waiter *next;
	struct worker *worker;
	bool (*settle)(struct waiter *w, enum waiter_news news, const char *reason);
	char command_id[HBK_ID_MAX];
	int64_t deadline_ms;
	bool delivered; /* the delivery report came */
	bool looked;	/* settled once with WAITER_CHANGED */
	bool answered;
};

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
	/* Cluster mode (cluster.c). */
	struct hbk_kafka *commands; /* this worker's producer of commands */
	struct waiter *waiters;	    /* requests waiting for their command */
	struct event *waiter_tick;  /* looks at them while there are some */
	int64_t data_version;	    /* the store's, at the last look */
	struct event *decide;	    /* worker 0: the decider posted a job */
	/* Answers waiting for the open batch's commit (server.c), in order. */
	struct http_exchange *held, **held_tail;
	/* Write requests waiting for the end of the turn (routes.c), in order. */
	struct deferred_write *writes, **writes_tail;
	struct event *write_retry;   /* the write lock was busy: try again */
	atomic_bool wants_write_lock; /* set meanwhile; its holder wakes us */
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
	bool clustered;			      /* kafka.brokers is set */
	struct cluster *cluster;	      /* then: the command decider */
	int log_fd;
	char log_path[1024];
	int64_t started_ms;
};

/* The application callbacks of the transport (routes.c). */
bool app_handle(void *ctx, struct http_exchange *ex);
struct deferred_write;
/* Runs the turn's write requests in the open batch. */
void app_run_writes(struct worker *w);
/* Answers the turn's write requests with err instead. */
void app_fail_writes(struct worker *w, const struct hbk_error *err);
/* Holds ex's answer while the worker's batch is open (worker_flush). */
bool app_hold(void *ctx, struct http_exchange *ex);
/* Makes ex's answer the store's failure. */
void app_fail(struct http_exchange *ex, const struct hbk_error *err);
void app_log(void *ctx, const struct http_request *req, const struct http_response *resp,
	     int64_t duration_us);
void app_refuse(void *ctx, int status, const char *code, const char *detail,
		struct http_response *resp);

/* Cluster mode (cluster.c): the command decider and the waiters;
 * cluster_start() prepares every worker for them too. */
hbk_result cluster_start(struct server *server, const struct hbk_kafka_config *kafka,
			 struct hbk_error *err);
void cluster_stop(struct server *server);
hbk_result cluster_worker_init(struct worker *worker, struct hbk_error *err);
void cluster_worker_free(struct worker *worker);
/* Publishes command and parks w until settle answers. */
hbk_result cluster_send(struct worker *worker, const struct hbk_event *command, struct waiter *w,
			struct hbk_error *err);

/*
 * Commands (commands.c): what the API publishes, and how the owner of a
 * hotel's partition decides them on worker 0.
 */
#define COMMAND_CREATE	"hbk.command.booking.create.v1"
#define COMMAND_UPDATE	"hbk.command.booking.update.v1"
#define COMMAND_CANCEL	"hbk.command.booking.cancel.v1"
#define REJECTION_EVENT "hbk.command.rejected.v1"

hbk_result commands_migrate(struct hbk_store *store, struct hbk_error *err);
/* Fills a command (new id, time now) of type for booking_id; takes data. */
void command_make(struct hbk_event *command, const char *type, const char *booking_id,
		  const char *hotel_id, const char *request_id, json_t *data);
/* Whether ev is a command this version decides: else a dead letter. */
hbk_result command_check(const struct hbk_event *ev, struct hbk_error *err);
/* Decides ev with worker's engine and records the decision. */
void command_decide(struct worker *worker, const struct hbk_event *ev);
/* Runs a booking's saga on worker's loop, counted in flight. */
void command_run_saga(struct worker *worker, const char *id);
/* The refusal of command_id as recorded here: HBK_ENOTFOUND when none. */
hbk_result command_rejection(struct hbk_store *store, const char *command_id,
			     struct hbk_error *rejection, struct hbk_error *err);

/* Writes one JSON log line (atomic append); takes line. */
void server_log_line(struct server *server, json_t *line);
/* Writes {"time", "level", "msg", "detail"} with detail formatted. */
void server_log_event(struct server *server, const char *level, const char *msg, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));
/* Logs, one warning line each, the sagas engine's last recovery or
 * adoption left alone (they began with other providers). */
void server_log_sagas_left(struct server *server, const struct hbk_engine *engine);
/* Writes len bytes, one whole line ending in a newline. */
void server_write_log(struct server *server, const char *text, size_t len);

#endif
