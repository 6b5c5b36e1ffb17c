/*
 * cluster.c - hbkd with kafka.brokers set: commands through Kafka.
 *
 * A write request does not change the store where it arrives. Its worker
 * publishes a command on the commands topic, keyed by the hotel, and parks
 * the request (a waiter). Every instance consumes that topic in one
 * consumer group, so each hotel's commands reach one instance, the owner
 * of the hotel's partition, in the order they were published. The owner's
 * decider thread hands each command to worker 0, which decides it with the
 * engine a single instance uses (commands.c): the rooms are taken in a
 * store that holds every event of the hotel, so two instances never sell
 * the same room. The events leave through the outbox relay to the events
 * topic and every instance's applier writes them into its own store.
 * A parked request is answered when its outcome is in its own store: the
 * booking's saga ended, or the command's rejection event arrived.
 *
 * When a partition moves here, the decider first waits until the applier
 * has applied the events topic up to its end as it is then, so it decides
 * on everything the previous owner decided. Then, and every second, it
 * adopts the sagas in flight of its hotels that no process here runs and
 * that had no event for twice the session timeout: the previous owner
 * died, or lost the partition and finished what it could.
 *
 * The offset of a command is committed after worker 0 recorded its
 * decision; a command that comes again is found in the decided commands
 * and skipped.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "hbk/bus.h"
#include "hbk/config.h"
#include "server.h"

#define DECIDE_POLL_MS	     200
#define CATCH_UP_CHECK_MS    20
#define KAFKA_RETRY_MS	     500
#define WAITER_TICK_US	     2000
#define DEAD_LETTER_FLUSH_MS 10000
#define ADOPT_EVERY_MS	     1000
#define PARTITIONS_MAX	     HBK_APPLIER_PARTITIONS_MAX

enum job { JOB_NONE, JOB_DECIDE, JOB_ADOPT };

struct cluster {
	struct server *server;
	struct hbk_kafka_config kafka;
	struct hbk_kafka *consumer; /* the commands, in group kafka.group */
	struct hbk_kafka *producer; /* dead letters, and questions to the brokers */
	pthread_t thread;
	bool started;
	atomic_bool stopping;

	/* What the decider hands to worker 0, and its answer. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum job job;
	int left_logged; /* sagas adoption left alone, as last logged */
	const struct hbk_event *job_event;
	bool job_done;
	bool job_running;

	/* The partitions of the commands topic decided here (decider thread;
	 * read by worker 0 while a job runs, which the lock orders). */
	int32_t owned[PARTITIONS_MAX];
	int nowned;
	int32_t partitions; /* of the commands topic */
};

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* ---- the decider: worker 0's side ---- */

static bool hotel_is_mine(void *ctx, const char *hotel_id)
{
	struct cluster *c = ctx;
	if (c->partitions <= 0)
		return false;
	int32_t p = hbk_kafka_partition_of(hotel_id, c->partitions);
	for (int i = 0; i < c->nowned; i++)
		if (c->owned[i] == p)
			return true;
	return false;
}

static void adopt_start(void *ctx, const char *id)
{
	struct cluster *c = ctx;
	command_run_saga(&c->server->workers[0], id);
}

static void adopt(struct cluster *c)
{
	struct hbk_error err = {0};
	int adopted = 0;
	struct worker *w = &c->server->workers[0];
	if (hbk_engine_adopt(w->engine, 2 * (int64_t)c->kafka.session_timeout_ms, hotel_is_mine,
			     adopt_start, c, &adopted, &err) != HBK_OK)
		server_log_event(c->server, "error", "cluster",
				 "cannot adopt the sagas in flight: %s", err.message);
	else if (adopted > 0)
		server_log_event(c->server, "info", "cluster",
				 "adopted %d saga(s) in flight of this instance's hotels", adopted);
	/* Said once, not every second, until what is left alone changes. */
	if (w->engine->left.count != c->left_logged)
		server_log_sagas_left(c->server, w->engine);
	c->left_logged = w->engine->left.count;
	atomic_fetch_add(&c->server->metrics->sagas_adopted, adopted);
}

/* On worker 0's loop: runs the job the decider posted. */
static void run_job(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct cluster *c = w->server->cluster;
	(void)fd;
	(void)what;
	pthread_mutex_lock(&c->lock);
	enum job job = c->job;
	const struct hbk_event *ev = c->job_event;
	c->job_running = job != JOB_NONE;
	pthread_mutex_unlock(&c->lock);
	if (job == JOB_DECIDE)
		command_decide(w, ev);
	else if (job == JOB_ADOPT)
		adopt(c);
	pthread_mutex_lock(&c->lock);
	c->job = JOB_NONE;
	c->job_done = true;
	c->job_running = false;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* ---- the decider thread ---- */

/* Hands a job to worker 0 and waits for it; false when stopping first. */
static bool post_job(struct cluster *c, enum job job, const struct hbk_event *ev)
{
	pthread_mutex_lock(&c->lock);
	c->job = job;
	c->job_event = ev;
	c->job_done = false;
	pthread_mutex_unlock(&c->lock);
	event_active(c->server->workers[0].decide, EV_READ, 0);
	pthread_mutex_lock(&c->lock);
	/* Stopping: a job worker 0 has not started is withdrawn (its loop may
	 * be gone); one it runs is waited for, as it reads the command. */
	while (!c->job_done && (c->job_running || !atomic_load(&c->stopping))) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cond, &c->lock, &until);
	}
	bool done = c->job_done;
	c->job = JOB_NONE;
	pthread_mutex_unlock(&c->lock);
	return done;
}

/*
 * Waits until the applier has applied the events topic up to its end as
 * it is now: what the previous owners of new partitions decided.
 */
static bool catch_up(struct cluster *c)
{
	int64_t high[PARTITIONS_MAX];
	int n = 0;
	struct hbk_error err = {0};
	int64_t started = hbk_now_ms();
	while (!atomic_load(&c->stopping) &&
	       hbk_kafka_high_watermarks(c->producer, c->kafka.topic_events, high, PARTITIONS_MAX,
					 &n, c->kafka.timeout_ms, &err) != HBK_OK)
		sleep_ms(KAFKA_RETRY_MS);
	while (!atomic_load(&c->stopping) &&
	       !hbk_applier_reached(c->server->metrics->applier, high, n))
		sleep_ms(CATCH_UP_CHECK_MS);
	if (atomic_load(&c->stopping))
		return false;
	server_log_event(c->server, "info", "cluster", "caught up with %s in %lld ms",
			 c->kafka.topic_events, (long long)(hbk_now_ms() - started));
	return true;
}

static void describe_owned(const struct cluster *c, char *out, size_t size)
{
	size_t len = 0;
	out[0] = '\0';
	for (int i = 0; i < c->nowned && len + 12 < size; i++)
		len +=
		    (size_t)snprintf(out + len, size - len, "%s%d", i ? "," : "", (int)c->owned[i]);
	if (c->nowned == 0)
		hbk_copy(out, size, "none");
}

/*
 * Follows the group's assignment: partitions new here are decided only
 * after catching up, and their sagas in flight are adopted. False when
 * stopping.
 */
static bool follow_assignment(struct cluster *c)
{
	int32_t parts[PARTITIONS_MAX];
	int n = 0;
	struct hbk_error err = {0};
	if (hbk_kafka_assignment(c->consumer, c->kafka.topic_commands, parts, PARTITIONS_MAX, &n,
				 &err) != HBK_OK)
		return true;
	bool gained = false;
	for (int i = 0; i < n; i++) {
		bool had = false;
		for (int j = 0; j < c->nowned && !had; j++)
			had = c->owned[j] == parts[i];
		gained |= !had;
	}
	if (!gained && n == c->nowned)
		return true;
	int64_t high[PARTITIONS_MAX];
	int count = 0;
	if (gained) {
		while (!atomic_load(&c->stopping) &&
		       hbk_kafka_high_watermarks(c->producer, c->kafka.topic_commands, high,
						 PARTITIONS_MAX, &count, c->kafka.timeout_ms,
						 &err) != HBK_OK)
			sleep_ms(KAFKA_RETRY_MS);
		if (atomic_load(&c->stopping) || !catch_up(c))
			return false;
	}
	pthread_mutex_lock(&c->lock);
	memcpy(c->owned, parts, (size_t)n * sizeof(*parts));
	c->nowned = n;
	if (count > 0)
		c->partitions = count;
	pthread_mutex_unlock(&c->lock);
	char list[512];
	describe_owned(c, list, sizeof(list));
	server_log_event(c->server, "info", "cluster", "deciding the commands of %s partitions %s",
			 c->kafka.topic_commands, list);
	atomic_store(&c->server->metrics->partitions_owned, n);
	return !gained || post_job(c, JOB_ADOPT, NULL);
}

static void dead_letter(struct cluster *c, const struct hbk_kafka_message *msg, const char *reason)
{
	struct hbk_error err = {0};
	while (!atomic_load(&c->stopping)) {
		if (hbk_kafka_dead_letter(c->producer, c->kafka.topic_dlq, msg, reason, &err) ==
			HBK_OK &&
		    hbk_kafka_flush(c->producer, DEAD_LETTER_FLUSH_MS, &err) == HBK_OK) {
			atomic_fetch_add(&c->server->metrics->commands[COMMAND_DEAD_LETTERED], 1);
			return;
		}
		sleep_ms(KAFKA_RETRY_MS);
	}
}

/* Decides one command; false when stopping before it was. */
static bool handle(struct cluster *c, const struct hbk_kafka_message *msg)
{
	struct hbk_event ev;
	struct hbk_error err = {0};
	bool decided = true;
	struct hbk_kafka_origin origin;
	hbk_kafka_message_origin(msg, &origin);
	if (hbk_kafka_message_event(msg, &ev, &err) == HBK_OK &&
	    command_check(&ev, &err) == HBK_OK && c->partitions > 0 &&
	    hbk_kafka_partition_of(ev.partitionkey, c->partitions) != origin.partition)
		/* Another partitioner: this hotel's other commands are decided
		 * elsewhere, so this one cannot be decided here. */
		hbk_fail(&err, HBK_EINVAL, "wrong_partition",
			 "command %s for %s is on partition %d, but hbkd sends that key to "
			 "partition %d (librdkafka's consistent_random partitioner, CRC32)",
			 ev.id, ev.partitionkey, (int)origin.partition,
			 (int)hbk_kafka_partition_of(ev.partitionkey, c->partitions));
	if (err.code[0]) {
		char reason[HBK_ERROR_CODE_MAX + HBK_ERROR_MESSAGE_MAX + 4];
		hbk_format(reason, sizeof(reason), "%s: %s", err.code, err.message);
		dead_letter(c, msg, reason);
	} else {
		decided = post_job(c, JOB_DECIDE, &ev);
	}
	hbk_event_clear(&ev);
	return decided && !atomic_load(&c->stopping);
}

static void *decide_loop(void *arg)
{
	struct cluster *c = arg;
	int64_t adopted_ms = hbk_now_ms();
	while (!atomic_load(&c->stopping) && !atomic_load(&c->server->draining)) {
		struct hbk_kafka_message *msg = NULL;
		struct hbk_error err = {0};
		if (hbk_kafka_poll(c->consumer, DECIDE_POLL_MS, &msg, &err) != HBK_OK) {
			sleep_ms(KAFKA_RETRY_MS);
			continue;
		}
		/* Before any command of a partition new here. */
		if (!follow_assignment(c)) {
			hbk_kafka_message_free(msg);
			break;
		}
		if (c->nowned > 0 && hbk_now_ms() - adopted_ms >= ADOPT_EVERY_MS) {
			adopted_ms = hbk_now_ms();
			if (!post_job(c, JOB_ADOPT, NULL)) {
				hbk_kafka_message_free(msg);
				break;
			}
		}
		if (!msg)
			continue;
		if (handle(c, msg))
			for (int tries = 0;
			     tries < 3 && hbk_kafka_commit(c->consumer, msg, &err) != HBK_OK;
			     tries++)
				sleep_ms(100);
		hbk_kafka_message_free(msg);
	}
	/* Leaving the group now hands the partitions to the others at once. */
	hbk_kafka_free(c->consumer);
	c->consumer = NULL;
	return NULL;
}

hbk_result cluster_start(struct server *server, const struct hbk_kafka_config *kafka,
			 struct hbk_error *err)
{
	struct cluster *c = hbk_xcalloc(1, sizeof(*c));
	const char *topics[] = {kafka->topic_commands, NULL};
	c->server = server;
	c->kafka = *kafka;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	server->cluster = c;
	hbk_result rc = hbk_kafka_producer_new(kafka->brokers, &c->producer, err);
	if (rc == HBK_OK)
		rc = hbk_kafka_consumer_new(kafka->brokers, kafka->group, topics,
					    kafka->session_timeout_ms, &c->consumer, err);
	/* The workers' side first: the decider posts to worker 0 at once. */
	for (int i = 0; rc == HBK_OK && i < server->nworkers; i++)
		rc = cluster_worker_init(&server->workers[i], err);
	if (rc == HBK_OK && pthread_create(&c->thread, NULL, decide_loop, c) != 0)
		rc = hbk_fail(err, HBK_EINTERNAL, "thread", "cannot start the command decider");
	c->started = rc == HBK_OK;
	return rc;
}

void cluster_stop(struct server *server)
{
	struct cluster *c = server->cluster;
	if (!c)
		return;
	atomic_store(&c->stopping, true);
	if (c->started)
		pthread_join(c->thread, NULL);
	hbk_kafka_free(c->consumer);
	hbk_kafka_free(c->producer);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
	server->cluster = NULL;
}

/* ---- waiters: the API's side ---- */

static void waiter_free(struct waiter *w)
{
	free(w); /* the first member of what routes.c allocated */
}

/* The brokers' word on a command (inside hbk_kafka_serve, on the worker). */
static void on_delivery(void *opaque, const char *reason)
{
	struct waiter *w = opaque;
	w->delivered = true;
	if (w->answered)
		return;
	if (reason)
		w->answered = w->settle(w, WAITER_REFUSED, reason);
	else
		w->answered = w->settle(w, WAITER_WRITTEN, NULL);
}

/* Whether another connection committed since the last look. */
static bool store_changed(struct worker *worker)
{
	sqlite3_stmt *stmt;
	int64_t version = -1;
	if (hbk_store_prepare(worker->engine->store, "PRAGMA data_version", &stmt, NULL) != HBK_OK)
		return true;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		version = sqlite3_column_int64(stmt, 0);
	hbk_stmt_done(stmt);
	bool changed = version != worker->data_version;
	worker->data_version = version;
	return changed;
}

static void waiter_tick(evutil_socket_t fd, short what, void *arg)
{
	struct worker *worker = arg;
	(void)fd;
	(void)what;
	hbk_kafka_serve(worker->commands);
	bool changed = store_changed(worker);
	int64_t now = hbk_now_ms();
	for (struct waiter **p = &worker->waiters; *p;) {
		struct waiter *w = *p;
		if (!w->answered && w->delivered && (changed || !w->looked)) {
			w->looked = true;
			w->answered = w->settle(w, WAITER_CHANGED, NULL);
		}
		if (!w->answered && now >= w->deadline_ms)
			w->answered = w->settle(w, WAITER_EXPIRED, NULL);
		if (w->answered && w->delivered) {
			*p = w->next;
			waiter_free(w);
		} else {
			p = &w->next;
		}
	}
	if (worker->waiters) {
		struct timeval tv = {0, WAITER_TICK_US};
		evtimer_add(worker->waiter_tick, &tv);
	}
}

hbk_result cluster_send(struct worker *worker, const struct hbk_event *command, struct waiter *w,
			struct hbk_error *err)
{
	struct cluster *c = worker->server->cluster;
	hbk_copy(w->command_id, sizeof(w->command_id), command->id);
	w->worker = worker;
	w->deadline_ms = hbk_now_ms() + c->kafka.command_timeout_ms;
	hbk_result rc =
	    hbk_kafka_produce_tracked(worker->commands, c->kafka.topic_commands, command, w, err);
	if (rc != HBK_OK)
		return rc;
	w->next = worker->waiters;
	worker->waiters = w;
	if (!evtimer_pending(worker->waiter_tick, NULL)) {
		struct timeval tv = {0, WAITER_TICK_US};
		evtimer_add(worker->waiter_tick, &tv);
	}
	return HBK_OK;
}

int cluster_timeout_ms(const struct worker *worker)
{
	return worker->server->cluster->kafka.command_timeout_ms;
}

hbk_result cluster_worker_init(struct worker *worker, struct hbk_error *err)
{
	struct cluster *c = worker->server->cluster;
	hbk_result rc = hbk_kafka_producer_new(c->kafka.brokers, &worker->commands, err);
	if (rc != HBK_OK)
		return rc;
	hbk_kafka_on_delivery(worker->commands, on_delivery);
	worker->waiter_tick = evtimer_new(worker->base, waiter_tick, worker);
	worker->decide = event_new(worker->base, -1, 0, run_job, worker);
	if (!worker->waiter_tick || !worker->decide)
		return hbk_fail(err, HBK_EINTERNAL, "event", "cannot create the cluster events");
	return HBK_OK;
}

void cluster_worker_free(struct worker *worker)
{
	/* The requests are gone: a late delivery report must not answer them. */
	if (worker->commands) {
		hbk_kafka_on_delivery(worker->commands, NULL);
		hbk_kafka_free(worker->commands);
	}
	while (worker->waiters) {
		struct waiter *w = worker->waiters;
		worker->waiters = w->next;
		waiter_free(w);
	}
	if (worker->waiter_tick)
		event_free(worker->waiter_tick);
	if (worker->decide)
		event_free(worker->decide);
	worker->commands = NULL;
	worker->waiter_tick = worker->decide = NULL;
}
