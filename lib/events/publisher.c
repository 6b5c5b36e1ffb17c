/*
 * publisher.c - the outbox relay: every event committed to the events
 * table reaches the events topic, in commit order, at least once.
 *
 * A saga commits its events to SQLite and never waits on Kafka; this
 * thread, with its own connection, reads what is not yet published in
 * position order, sends it through the idempotent producer, and marks it
 * published only after the brokers acknowledged all of it. A failure
 * leaves the rows unpublished and the same batch is sent again after a
 * bounded, jittered backoff: a consumer may see an event twice (it
 * deduplicates on the id) but never misses one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hbk/bus.h"
#include "hbk/json.h"
#include "hbk/publisher.h"

#define PUBLISH_BATCH_MAX   256
#define PUBLISH_FLUSH_MS    1000 /* a wait on the brokers, repeated while they are away */
#define PUBLISH_IDLE_MS	    20	 /* how often an idle relay looks for new rows */
#define PUBLISH_BACKOFF_MIN 100
#define PUBLISH_BACKOFF_MAX 5000

struct hbk_publisher {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool woken; /* under lock: events were committed since the last look */
	bool stopping;
	int64_t drain_deadline_ms; /* when stopping: give up after this */
	struct hbk_store *store;
	struct hbk_kafka *producer;
	char topic[128];
	/* The relay thread's own: the batch read, and what of it is queued in
	 * the producer but not yet acknowledged. */
	struct hbk_event batch[PUBLISH_BATCH_MAX];
	int nbatch;
	int in_flight;
	int64_t in_flight_last;
	/* Read by metrics from other threads. */
	_Atomic int64_t published, failures, pending;
	_Atomic bool failing;
	char last_error[HBK_ERROR_MESSAGE_MAX]; /* under lock */
};

/* Keeps a copy of an unpublished event in the relay's batch. */
static hbk_result batch_add(const struct hbk_event *ev, void *ctx, struct hbk_error *err)
{
	struct hbk_publisher *p = ctx;
	(void)err;
	HBK_ASSERT(p->nbatch < PUBLISH_BATCH_MAX);
	p->batch[p->nbatch] = *ev;
	json_incref(ev->data);
	p->nbatch++;
	return HBK_OK;
}

/* The events after the last published one, oldest first; returns how many. */
static int batch_read(struct hbk_publisher *p, struct hbk_error *err)
{
	p->nbatch = 0;
	hbk_result rc = hbk_events_unpublished(p->store, PUBLISH_BATCH_MAX, batch_add, p, err);
	if (rc == HBK_OK)
		return p->nbatch;
	for (int i = 0; i < p->nbatch; i++)
		hbk_event_clear(&p->batch[i]);
	return -1;
}

static hbk_result mark_published(struct hbk_store *store, int64_t last_position,
				 struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_begin(store, true, err);
	if (rc != HBK_OK)
		return rc;
	/* Positions grow with every commit, so nothing unpublished can
	 * appear below a position already read. */
	rc = hbk_store_prepare(
	    store, "UPDATE events SET published = 1 WHERE published = 0 AND position <= ?1", &stmt,
	    err);
	if (rc == HBK_OK) {
		sqlite3_bind_int64(stmt, 1, last_position);
		rc = hbk_store_step_done(store, stmt, "outbox", err);
		hbk_stmt_done(stmt);
	}
	if (rc != HBK_OK) {
		hbk_store_rollback(store);
		return rc;
	}
	return hbk_store_commit(store, err);
}

static int64_t pending_count(struct hbk_store *store)
{
	sqlite3_stmt *stmt;
	int64_t n = 0;
	if (hbk_store_prepare(store, "SELECT COUNT(*) FROM events WHERE published = 0", &stmt,
			      NULL) != HBK_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	hbk_stmt_done(stmt);
	return n;
}

/* A stopping relay waits no longer than its drain deadline. */
static int flush_timeout_ms(struct hbk_publisher *p)
{
	int64_t timeout_ms = PUBLISH_FLUSH_MS;
	pthread_mutex_lock(&p->lock);
	if (p->stopping && p->drain_deadline_ms - hbk_now_ms() < timeout_ms)
		timeout_ms = p->drain_deadline_ms - hbk_now_ms();
	pthread_mutex_unlock(&p->lock);
	return timeout_ms > 0 ? (int)timeout_ms : 0;
}

/*
 * Sends one batch; returns how many events were published, or -1. A batch
 * the brokers have not acknowledged in time stays in flight in the
 * producer, which retries it by itself (and, being idempotent, writes it
 * once): the next call waits for it again instead of sending it twice.
 */
static int publish_once(struct hbk_publisher *p, struct hbk_error *err)
{
	if (!p->in_flight) {
		int n = batch_read(p, err);
		if (n <= 0)
			return n;
		hbk_result rc = HBK_OK;
		int queued = 0;
		while (rc == HBK_OK && queued < n) {
			rc = hbk_kafka_produce(p->producer, p->topic, &p->batch[queued], err);
			queued += rc == HBK_OK;
		}
		if (queued)
			p->in_flight_last = p->batch[queued - 1].position;
		for (int i = 0; i < n; i++)
			hbk_event_clear(&p->batch[i]);
		if (!queued)
			return -1;
		p->in_flight = queued;
	}
	hbk_result rc = hbk_kafka_flush(p->producer, flush_timeout_ms(p), err);
	if (rc != HBK_OK && strcmp(err->code, "kafka_timeout") == 0)
		return -1;
	int n = p->in_flight;
	p->in_flight = 0; /* acknowledged, or refused: then read and sent again */
	if (rc == HBK_OK)
		rc = mark_published(p->store, p->in_flight_last, err);
	return rc == HBK_OK ? n : -1;
}

static void wait_ms(struct hbk_publisher *p, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->lock);
	if (!p->stopping && !p->woken)
		pthread_cond_timedwait(&p->wake, &p->lock, &until);
	p->woken = false;
	pthread_mutex_unlock(&p->lock);
}

static bool should_stop(struct hbk_publisher *p, bool idle)
{
	pthread_mutex_lock(&p->lock);
	bool stop = p->stopping && (idle || hbk_now_ms() >= p->drain_deadline_ms);
	pthread_mutex_unlock(&p->lock);
	return stop;
}

static void *relay(void *arg)
{
	struct hbk_publisher *p = arg;
	int backoff_ms = 0;
	/* A batch is "idle" when nothing was left to send: a stopping relay
	 * stops only then, or at the drain deadline. */
	for (;;) {
		struct hbk_error err = {0};
		int n = publish_once(p, &err);
		p->pending = pending_count(p->store);
		if (n >= 0) {
			p->published += n;
			p->failing = false;
			backoff_ms = 0;
			if (should_stop(p, n == 0))
				break;
			if (n < PUBLISH_BATCH_MAX)
				wait_ms(p, PUBLISH_IDLE_MS);
			continue;
		}
		p->failures++;
		p->failing = true;
		pthread_mutex_lock(&p->lock);
		hbk_copy(p->last_error, sizeof(p->last_error), err.message);
		pthread_mutex_unlock(&p->lock);
		if (should_stop(p, false))
			break;
		backoff_ms = backoff_ms ? backoff_ms * 2 : PUBLISH_BACKOFF_MIN;
		if (backoff_ms > PUBLISH_BACKOFF_MAX)
			backoff_ms = PUBLISH_BACKOFF_MAX;
		/* Full jitter over the upper half, so relays of many instances
		 * that failed together do not retry together. */
		wait_ms(p, backoff_ms / 2 + (int)(random() % (backoff_ms / 2 + 1)));
	}
	return NULL;
}

/* Frees what start made; hbk_kafka_free and hbk_store_close take NULL. */
static void publisher_free(struct hbk_publisher *p)
{
	hbk_kafka_free(p->producer);
	hbk_store_close(p->store);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p);
}

hbk_result hbk_publisher_start(const char *store_path, const char *brokers, const char *topic,
			       struct hbk_publisher **out, struct hbk_error *err)
{
	struct hbk_publisher *p = hbk_xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	hbk_result rc = HBK_OK;
	if (!hbk_copy(p->topic, sizeof(p->topic), topic))
		rc = hbk_fail(err, HBK_EINVAL, "kafka_config", "topic name too long: %s", topic);
	if (rc == HBK_OK)
		rc = hbk_store_open(store_path, HBK_STORE_NO_RECOVER, &p->store, err);
	if (rc == HBK_OK)
		rc = hbk_kafka_producer_new(brokers, &p->producer, err);
	/* Only the unpublished rows, so that finding them stays cheap however
	 * long the log grows; created here because only a relay needs it. */
	if (rc == HBK_OK)
		rc = hbk_store_exec(
		    p->store,
		    "CREATE INDEX IF NOT EXISTS events_unpublished ON events(position)"
		    " WHERE published = 0",
		    err);
	if (rc == HBK_OK) {
		p->store->cache_statements = true;
		if (pthread_create(&p->thread, NULL, relay, p) != 0)
			rc = hbk_fail(err, HBK_EINTERNAL, "thread",
				      "cannot start the outbox relay: %s", strerror(errno));
	}
	if (rc != HBK_OK) {
		publisher_free(p);
		return rc;
	}
	*out = p;
	return HBK_OK;
}

void hbk_publisher_wake(struct hbk_publisher *p)
{
	pthread_mutex_lock(&p->lock);
	p->woken = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

void hbk_publisher_stats(struct hbk_publisher *p, struct hbk_publisher_stats *stats)
{
	stats->published = p->published;
	stats->failures = p->failures;
	stats->pending = p->pending;
	stats->failing = p->failing;
	pthread_mutex_lock(&p->lock);
	hbk_copy(stats->last_error, sizeof(stats->last_error), p->last_error);
	pthread_mutex_unlock(&p->lock);
}

int64_t hbk_publisher_stop(struct hbk_publisher *p, int drain_ms)
{
	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	p->drain_deadline_ms = hbk_now_ms() + drain_ms;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	int64_t left = pending_count(p->store);
	publisher_free(p);
	return left;
}
