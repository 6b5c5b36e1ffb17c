/*
 * server.c - hbkd's process: the listening socket, worker threads (each
 * with its own event loop, store connection and engine), signals, the log.
 *
 * Workers share nothing but the listening socket, the metrics (atomics)
 * and the log descriptor; SQLite's locking orders their writes to the one
 * store. SIGTERM stops accepting, lets in-flight requests and their sagas
 * finish, then exits; SIGHUP reopens the log file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "hbk/config.h"
#include "hbk/json.h"
#include "hbk/notify.h"
#include "server.h"

#define DRAIN_CHECK_MS	    20
#define DRAIN_LIMIT_MS	    30000
#define LISTEN_BACKLOG	    1024
#define LOG_LINE_MAX	    4096
#define LOG_DETAIL_MAX	    512
#define PUBLISHER_DRAIN_MS  10000
#define CHECKPOINT_EVERY_MS 100

void server_write_log(struct server *server, const char *text, size_t len)
{
	/* One write per line: O_APPEND keeps concurrent lines whole. */
	ssize_t n = write(server->log_fd, text, len);
	(void)n;
}

void server_log_line(struct server *server, json_t *line)
{
	char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(line);
	if (!text)
		return;
	size_t len = strlen(text);
	if (len < LOG_LINE_MAX) {
		text[len] = '\n';
		/* One write per line: O_APPEND keeps concurrent lines whole. */
		ssize_t n = write(server->log_fd, text, len + 1);
		(void)n;
	}
	free(text);
}

void server_log_event(struct server *server, const char *level, const char *msg, const char *fmt,
		      ...)
{
	char time[HBK_TIME_STR], text[2 * LOG_DETAIL_MAX], detail[LOG_DETAIL_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* The detail may quote outside text (an error message, a peer's
	 * address): valid UTF-8, cut on a character, as jansson requires. */
	hbk_utf8_copy(detail, sizeof(detail), text, strlen(text));
	hbk_time_format(hbk_now_ms(), time);
	server_log_line(server, json_pack("{s:s, s:s, s:s, s:s}", "time", time, "level", level,
					  "msg", msg, "detail", detail));
}

void server_log_sagas_left(struct server *server, const struct hbk_engine *engine)
{
	char line[4 * HBK_PROVIDER_IDENTITY_MAX + 256];
	for (int i = 0; i < engine->left.count && i < HBK_SAGAS_LEFT_SHOWN; i++) {
		hbk_saga_left_describe(engine, i, line, sizeof(line));
		server_log_event(server, "warn", "recovery", "%s", line);
	}
	if (engine->left.count > HBK_SAGAS_LEFT_SHOWN)
		server_log_event(server, "warn", "recovery",
				 "%d more saga(s) left alone for the same reason",
				 engine->left.count - HBK_SAGAS_LEFT_SHOWN);
}

static hbk_result open_log(struct server *server, struct hbk_error *err)
{
	if (!server->log_path[0]) {
		server->log_fd = STDERR_FILENO;
		return HBK_OK;
	}
	int fd = open(server->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return hbk_fail(err, HBK_EUNAVAILABLE, "log", "cannot open log file %s: %s",
				server->log_path, strerror(errno));
	if (server->log_fd > STDERR_FILENO) {
		/* Swap in place, so a worker writing now never sees a closed fd. */
		dup2(fd, server->log_fd);
		close(fd);
	} else {
		server->log_fd = fd;
	}
	return HBK_OK;
}

/* The saga environment of a worker: retries wait on its event loop. */
struct deferred {
	void (*fn)(void *arg);
	void *arg;
};

static void run_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct deferred *d = arg;
	(void)fd;
	(void)what;
	void (*fn)(void *) = d->fn;
	void *fn_arg = d->arg;
	free(d);
	fn(fn_arg);
}

static void worker_defer(void *ctx, int delay_ms, void (*fn)(void *arg), void *arg)
{
	struct worker *w = ctx;
	struct deferred *d = hbk_xmalloc(sizeof(*d));
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
	d->fn = fn;
	d->arg = arg;
	if (event_base_once(w->base, -1, EV_TIMEOUT, run_deferred, d, &tv) != 0) {
		free(d);
		fn(arg);
	}
}

static void on_step(void *ctx, enum hbk_saga_step step, int64_t duration_us, hbk_result result)
{
	struct worker *w = ctx;
	(void)result;
	metrics_observe(&w->server->metrics->saga_steps[step], duration_us);
}

static void on_statement(void *ctx, const char *sql, sqlite3_uint64 ns)
{
	(void)sql;
	metrics_observe(&((struct metrics *)ctx)->store, (int64_t)(ns / 1000));
}

static int trace_store(unsigned mask, void *ctx, void *stmt, void *ns)
{
	(void)mask;
	(void)stmt;
	on_statement(ctx, NULL, *(sqlite3_uint64 *)ns);
	return 0;
}

static void drain_check(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)what;
	int in_flight = atomic_load(&w->server->metrics->in_flight);
	/* Done when no client is connected and no saga of any worker runs. */
	if (http_server_connections(w->http) == 0 && in_flight <= 0) {
		event_base_loopbreak(w->base);
		return;
	}
	struct timeval tv = {0, DRAIN_CHECK_MS * 1000};
	evtimer_add(w->drain_check, &tv);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	(void)fd;
	(void)what;
	if (w->draining)
		return;
	w->draining = true;
	http_server_drain(w->http);
	drain_check(-1, 0, w);
	struct timeval limit = {DRAIN_LIMIT_MS / 1000, 0};
	event_base_loopexit(w->base, &limit);
}

/* Wakes, or makes sure to wake soon, a worker that waits for the lock. */
#define WRITE_RETRY_MS 1

static void on_write_retry(evutil_socket_t fd, short what, void *arg)
{
	/* Nothing: the turn this ends runs worker_flush. */
	(void)fd;
	(void)what;
	(void)arg;
}

/* The lock went free: the other workers waiting for it try again now. */
static void wake_writers(struct worker *w)
{
	struct server *server = w->server;
	for (int i = 0; i < server->nworkers; i++) {
		struct worker *other = &server->workers[i];
		if (other != w && atomic_exchange(&other->wants_write_lock, false))
			event_active(other->write_retry, EV_TIMEOUT, 0);
	}
}

/*
 * Group commit: what a turn of the loop wrote is one transaction. The
 * turn's write requests run at its end, in one batch, once the write lock
 * is free (a busy lock never blocks the loop: its reads go on, and the
 * writes wait for the next turn); other writes of the turn (a saga's
 * record when an upstream answers) open the batch themselves. The answers
 * given while the batch is open wait for its commit. Should the commit
 * fail, what the process holds in memory (sagas in flight, cached
 * bookings) no longer matches the store: the answers say the store
 * failed, and hbkd stops at once, so that the next start recovers those
 * sagas from what the store does hold.
 */
static void worker_flush(struct worker *w)
{
	struct hbk_store *store = w->engine->store;
	for (;;) {
		if (w->writes && !store->batch_open) {
			struct hbk_error err = {0};
			bool opened = false;
			if (hbk_store_batch_try(store, &opened, &err) != HBK_OK) {
				app_fail_writes(w, &err);
			} else if (!opened) {
				atomic_store(&w->wants_write_lock, true);
				struct timeval tv = {0, WRITE_RETRY_MS * 1000};
				evtimer_add(w->write_retry, &tv);
			}
		}
		if (store->batch_open && w->writes)
			app_run_writes(w);
		if (!store->batch_open && !w->held)
			return;
		struct hbk_error err = {0};
		int txns = store->batch_txns;
		hbk_result rc = hbk_store_batch_end(store, &err);
		wake_writers(w);
		if (rc == HBK_OK && txns > 0) {
			atomic_fetch_add(&w->server->metrics->store_batches, 1);
			atomic_fetch_add(&w->server->metrics->store_transactions,
					 (unsigned long long)txns);
		}
		/* What the batch recorded goes to Kafka now, not at the relay's
		 * next look. */
		if (rc == HBK_OK && txns > 0 && w->server->metrics->publisher)
			hbk_publisher_wake(w->server->metrics->publisher);
		struct http_exchange *held = w->held;
		w->held = NULL;
		while (held) {
			struct http_exchange *ex = held;
			held = ex->next;
			ex->next = NULL;
			if (rc != HBK_OK)
				app_fail(ex, &err);
			http_exchange_finish(ex);
		}
		if (rc != HBK_OK) {
			server_log_event(w->server, "error", "store",
					 "%s; stopping: the next start recovers the sagas in flight",
					 err.message);
			_exit(hbk_exit_code(HBK_EINTERNAL));
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	while (event_base_loop(w->base, EVLOOP_ONCE) == 0) {
		worker_flush(w);
		if (event_base_got_break(w->base) || event_base_got_exit(w->base))
			break;
	}
	/* Writes whose clients left still run (their sagas must end). */
	worker_flush(w);
	while (w->writes) {
		struct timespec wait = {0, WRITE_RETRY_MS * 1000000L};
		nanosleep(&wait, NULL);
		worker_flush(w);
	}
	return NULL;
}

static hbk_result worker_init(struct server *server, struct worker *w, int index,
			      struct hbk_error *err)
{
	w->index = index;
	w->server = server;
	/* In cluster mode a saga is resumed by its hotel's owner (cluster.c). */
	int flags = index == 0 && !server->clustered ? 0 : HBK_ENGINE_NO_RECOVER;
	hbk_result rc = hbk_engine_open(server->cfg, flags, &w->engine, err);
	if (rc != HBK_OK)
		return rc;
	if (!(flags & HBK_ENGINE_NO_RECOVER))
		server_log_sagas_left(server, w->engine);
	w->base = event_base_new();
	if (!w->base)
		return hbk_fail(err, HBK_EINTERNAL, "event_base", "cannot create an event loop");
	/* Remote partner and payment calls run on this worker's loop. */
	hbk_partner_attach(&w->engine->partner, w->base);
	hbk_payment_attach(&w->engine->payment, w->base);
	w->engine->store->cache_statements = true;
	w->engine->store->keep_search_model = true;
	w->engine->store->write_lock = &server->write_lock;
	w->engine->store->writer = server->writer;
	w->engine->store->batching = true;
	w->engine->join_start = true;
	w->saga_env.defer = worker_defer;
	w->saga_env.ctx = w;
	w->engine->saga_env = &w->saga_env;
	w->engine->on_step = on_step;
	w->engine->on_step_ctx = w;
	sqlite3_trace_v2(w->engine->store->db, SQLITE_TRACE_PROFILE, trace_store, server->metrics);
	w->tokens = hbk_token_set_new();
	struct http_app app = {
	    .handle = app_handle, .hold = app_hold, .log = app_log, .refuse = app_refuse, .ctx = w};
	w->http = http_server_new(w->base, server->listen_fd, &server->limits, &app);
	w->stop = event_new(w->base, -1, 0, on_stop, w);
	w->drain_check = evtimer_new(w->base, drain_check, w);
	w->write_retry = evtimer_new(w->base, on_write_retry, w);
	w->writes_tail = &w->writes;
	if (!w->http || !w->stop || !w->drain_check || !w->write_retry)
		return hbk_fail(err, HBK_EINTERNAL, "http", "cannot start the HTTP server");
	/* Guest notices are queued here and sent by the delivery thread. */
	if (w->engine->notifier)
		hbk_notifier_queue_to(w->engine->notifier, server->delivery);
	return HBK_OK;
}

static void worker_free(struct worker *w)
{
	cluster_worker_free(w);
	http_server_free(w->http);
	if (w->stop)
		event_free(w->stop);
	if (w->drain_check)
		event_free(w->drain_check);
	if (w->write_retry)
		event_free(w->write_retry);
	hbk_token_set_free(w->tokens);
	if (w->engine) {
		hbk_partner_attach(&w->engine->partner, NULL);
		hbk_payment_attach(&w->engine->payment, NULL);
	}
	if (w->base)
		event_base_free(w->base);
	hbk_engine_close(w->engine);
	memset(w, 0, sizeof(*w));
}

struct signals {
	struct server *server;
	struct event_base *base;
	bool stopping;
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct signals *s = arg;
	struct server *server = s->server;
	struct hbk_error err = {0};
	(void)what;
	if (sig == SIGHUP) {
		if (open_log(server, &err) != HBK_OK)
			server_log_event(server, "error", "log", "%s", err.message);
		else
			server_log_event(server, "info", "log", "log file reopened");
		return;
	}
	if (s->stopping)
		return;
	s->stopping = true;
	atomic_store(&server->draining, true);
	server_log_event(server, "info", "shutdown", "signal %d: draining %d worker(s)", (int)sig,
			 server->nworkers);
	for (int i = 0; i < server->nworkers; i++)
		event_active(server->workers[i].stop, EV_READ, 0);
	event_base_loopbreak(s->base);
}

/*
 * The shared writer never checkpoints: a commit that crossed SQLite's
 * automatic threshold would copy the WAL into the file and sync it while
 * every writer waits. The main thread does it instead, on its own
 * connection, without waiting for readers or writers (PASSIVE), so the
 * WAL is copied while the writers go on. But a WAL is only started over
 * by a writer that finds all of it copied, which never happens while
 * writers keep appending: once it has grown past WAL_RESTART_FRAMES, the
 * process's writers are held for a second pass, which copies only what
 * came in during the first one, and the next write starts the WAL over.
 * That pass syncs the file and holds the writers 10-40 ms; a full load
 * appends some 16,000 frames a second, so the WAL may grow to 256 MiB
 * and the writers are held every few seconds rather than three times a
 * second.
 */
#define WAL_RESTART_FRAMES 65536 /* 256 MiB of 4 KiB pages */

static void checkpoint(evutil_socket_t fd, short what, void *arg)
{
	struct server *server = arg;
	sqlite3 *db = server->checkpointer->db;
	int frames = 0;
	(void)fd;
	(void)what;
	if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, NULL) !=
		SQLITE_OK ||
	    frames < WAL_RESTART_FRAMES)
		return;
	pthread_mutex_lock(&server->write_lock);
	sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	pthread_mutex_unlock(&server->write_lock);
}

static hbk_result limits_from(const struct hbk_config *cfg, struct http_limits *limits,
			      struct hbk_error *err)
{
	long long body, conns, idle;
	hbk_result rc =
	    hbk_config_get_int(cfg, "server.max_body_bytes", 65536, 1, 64 << 20, &body, err);
	if (rc == HBK_OK)
		rc = hbk_config_get_int(cfg, "server.max_connections", 1024, 1, 1 << 20, &conns,
					err);
	if (rc == HBK_OK)
		rc = hbk_config_get_int(cfg, "server.idle_timeout_ms", 30000, 100, 3600000, &idle,
					err);
	limits->max_body_bytes = (size_t)body;
	limits->max_header_bytes = 8192;
	limits->idle_timeout_ms = (int)idle;
	limits->request_timeout_ms = (int)(idle < 10000 ? idle : 10000);
	limits->max_connections = (int)conns;
	return rc;
}

/*
 * What the applier does with an event from the events topic: a booking
 * event decided by another instance is replicated, as are the catalog,
 * inventory and token changes hbk-admin made on another store; a
 * command's refusal is stored for the request that waits for it; anything
 * else is not an event this version knows, and goes to the dead letters.
 */
static hbk_result apply_event(struct hbk_store *store, const struct hbk_event *ev, bool *applied,
			      struct hbk_error *err)
{
	if (strncmp(ev->type, "hbk.booking.", 12) == 0)
		return hbk_booking_replicate(store, ev, applied, err);
	if (strncmp(ev->type, "hbk.catalog.", 12) == 0 ||
	    strncmp(ev->type, "hbk.inventory.", 14) == 0)
		return hbk_inventory_replicate(store, ev, applied, err);
	if (strncmp(ev->type, "hbk.token.", 10) == 0)
		return hbk_token_replicate(store, ev, applied, err);
	if (strcmp(ev->type, REJECTION_EVENT) == 0)
		return hbk_events_insert(store, ev, applied, err);
	*applied = false;
	return hbk_fail(err, HBK_EINVAL, "unknown_event_type", "no handler for events of type %s",
			ev->type);
}

/*
 * With kafka.brokers set, every event committed here is relayed to the
 * events topic, every event there is applied here, and write requests
 * become commands decided by their hotel's owner (cluster.c).
 */
static hbk_result start_kafka(struct server *server, struct hbk_error *err)
{
	struct hbk_kafka_config kafka;
	hbk_result rc = hbk_config_kafka(server->cfg, &kafka, err);
	if (rc != HBK_OK || !kafka.brokers[0])
		return rc;
	const char *path = hbk_config_store_path(server->cfg);
	rc = hbk_publisher_start(path, kafka.brokers, kafka.topic_events,
				 &server->metrics->publisher, err);
	if (rc == HBK_OK)
		rc = hbk_applier_start(path, &kafka, apply_event, &server->metrics->applier, err);
	if (rc == HBK_OK)
		rc = cluster_start(server, &kafka, err);
	if (rc == HBK_OK) {
		struct hbk_applier_stats stats;
		hbk_applier_stats(server->metrics->applier, &stats);
		server_log_event(server, "info", "kafka",
				 "relaying events to %s and applying them from it as %s, on %s",
				 kafka.topic_events, stats.group, kafka.brokers);
		server_log_event(server, "info", "kafka",
				 "sending commands to %s; deciding them in group %s",
				 kafka.topic_commands, kafka.group);
	}
	return rc;
}

/* After the workers drained: what they committed gets 10 s to reach Kafka. */
static void stop_kafka(struct server *server)
{
	cluster_stop(server);
	hbk_applier_stop(server->metrics->applier);
	server->metrics->applier = NULL;
	if (!server->metrics->publisher)
		return;
	int64_t left = hbk_publisher_stop(server->metrics->publisher, PUBLISHER_DRAIN_MS);
	server->metrics->publisher = NULL;
	if (left != 0)
		server_log_event(
		    server, "warn", "kafka",
		    "%lld event(s) not relayed: they wait in the store for the next start",
		    (long long)left);
}

hbk_result hbk_server_run(const struct hbk_config *cfg, const struct hbk_server_options *opts,
			  struct hbk_error *err)
{
	struct server *server = hbk_xcalloc(1, sizeof(*server));
	struct signals signals = {server, NULL, false};
	struct event *sig_events[4] = {0};
	struct event *checkpoint_timer = NULL;
	hbk_result rc;

	server->cfg = cfg;
	server->listen_fd = -1;
	pthread_mutex_init(&server->write_lock, NULL);
	server->log_fd = STDERR_FILENO;
	server->metrics = hbk_xcalloc(1, sizeof(*server->metrics));
	server->started_ms = hbk_now_ms();
	const char *log_path =
	    opts->log_path ? opts->log_path : hbk_config_get(cfg, "log.file", "");
	hbk_copy(server->log_path, sizeof(server->log_path), log_path);
	const char *listen = opts->listen ? opts->listen : getenv("HBK_LISTEN");
	if (!listen || !*listen)
		listen = hbk_config_get(cfg, "server.listen", "127.0.0.1:8080");
	int workers = opts->workers > 0 ? opts->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (workers < 1)
		workers = 1;
	if (workers > HBK_SERVER_WORKERS_MAX)
		workers = HBK_SERVER_WORKERS_MAX;

	evthread_use_pthreads();
	signal(SIGPIPE, SIG_IGN);
	rc = limits_from(cfg, &server->limits, err);
	server->limits.open_connections = &server->metrics->connections;
	if (rc == HBK_OK)
		rc = open_log(server, err);
	if (rc == HBK_OK)
		rc = http_listen(listen, LISTEN_BACKLOG, &server->listen_fd, err);
	if (rc == HBK_OK)
		rc = hbk_store_open(hbk_config_store_path(cfg), 0, &server->writer, err);
	if (rc == HBK_OK)
		rc = hbk_store_open(hbk_config_store_path(cfg), 0, &server->checkpointer, err);
	if (rc == HBK_OK) {
		sqlite3_wal_autocheckpoint(server->writer->db, 0);
		server->writer->cache_statements = true;
		sqlite3_trace_v2(server->writer->db, SQLITE_TRACE_PROFILE, trace_store,
				 server->metrics);
	}
	if (rc == HBK_OK) {
		struct hbk_kafka_config kafka;
		rc = hbk_config_kafka(cfg, &kafka, err);
		server->clustered = kafka.brokers[0] != '\0';
	}
	if (rc == HBK_OK)
		rc = hbk_notify_delivery_start(cfg, &server->write_lock, &server->delivery, err);
	for (int i = 0; rc == HBK_OK && i < workers; i++) {
		rc = worker_init(server, &server->workers[i], i, err);
		server->nworkers = i + 1;
	}
	if (rc == HBK_OK)
		rc = start_kafka(server, err);
	if (rc == HBK_OK) {
		signals.base = event_base_new();
		int sigs[] = {SIGTERM, SIGINT, SIGHUP};
		for (int i = 0; i < 3; i++) {
			sig_events[i] = evsignal_new(signals.base, sigs[i], on_signal, &signals);
			evsignal_add(sig_events[i], NULL);
		}
		checkpoint_timer = event_new(signals.base, -1, EV_PERSIST, checkpoint, server);
		struct timeval every = {0, CHECKPOINT_EVERY_MS * 1000};
		if (!checkpoint_timer || event_add(checkpoint_timer, &every) != 0)
			/* Without it the writer must checkpoint itself. */
			sqlite3_wal_autocheckpoint(server->writer->db, 1000);
		/* Workers must not take the signals: block them before starting. */
		sigset_t set, old;
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &set, &old);
		for (int i = 0; i < server->nworkers; i++)
			pthread_create(&server->workers[i].thread, NULL, worker_main,
				       &server->workers[i]);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		char address[128];
		http_bound_address(server->listen_fd, address, sizeof(address));
		server_log_event(server, "info", "start",
				 "hbkd %s listening on %s with %d worker(s)", HBK_VERSION, address,
				 server->nworkers);
		if (opts->on_listen)
			opts->on_listen(opts->ctx, address);
		event_base_dispatch(signals.base);
		for (int i = 0; i < server->nworkers; i++)
			pthread_join(server->workers[i].thread, NULL);
		/* After the workers: what they queued last still goes out. */
		hbk_notify_delivery_stop(server->delivery);
		server->delivery = NULL;
		stop_kafka(server);
		server_log_event(server, "info", "stop", "hbkd stopped");
	}
	for (int i = 0; i < 4; i++)
		if (sig_events[i])
			event_free(sig_events[i]);
	if (checkpoint_timer)
		event_free(checkpoint_timer);
	if (signals.base)
		event_base_free(signals.base);
	stop_kafka(server);
	for (int i = 0; i < server->nworkers; i++)
		worker_free(&server->workers[i]);
	hbk_store_close(server->writer);
	hbk_store_close(server->checkpointer);
	hbk_notify_delivery_stop(server->delivery);
	if (server->listen_fd >= 0)
		close(server->listen_fd);
	if (server->log_fd > STDERR_FILENO)
		close(server->log_fd);
	free(server->metrics);
	pthread_mutex_destroy(&server->write_lock);
	free(server);
	return rc;
}
