/*
 * applier.c - the events topic into this instance's store.
 *
 * Each store has an instance id of its own, made when it first runs an
 * applier, and consumes the events topic in the group hbkd-<id>: a store
 * that was here before resumes where it committed, and a store made
 * afresh (a deleted file) is a new group that reads the topic from the
 * beginning and so rebuilds its read model. An offset is committed only
 * after the store's transaction that applied the message; a crash in
 * between means the message comes again, and the apply function finds its
 * event already there. The instance's own events come back too and are
 * skipped the same way.
 *
 * A store that is busy or unavailable is waited for, with a growing,
 * jittered delay: skipping would leave a hole in the read model. A message
 * that is not an event, or an event that cannot be applied, goes to the
 * dead-letter topic with its reason and origin, and the partition moves on.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hbk/applier.h"
#include "hbk/bus.h"

#define APPLY_POLL_MS	      200
#define APPLY_BACKOFF_MIN     100
#define APPLY_BACKOFF_MAX     5000
#define APPLY_SESSION_MS      10000
#define DEAD_LETTER_FLUSH_MS  10000
#define APPLY_LAG_EVERY_MS    1000
#define INSTANCE_GROUP_PREFIX "hbkd-"

struct hbk_applier {
	pthread_t thread;
	atomic_bool stopping;
	struct hbk_store *store;
	struct hbk_kafka *consumer, *dead_letters;
	char dlq_topic[HBK_KAFKA_TOPIC_MAX];
	hbk_apply_fn apply;
	char group[64];
	_Atomic int64_t applied, skipped, dead_lettered, retries, lag;
	/* Per partition: the offset after the last message handled and
	 * committed here (0: none yet). */
	_Atomic int64_t next[HBK_APPLIER_PARTITIONS_MAX];
};

static const char identity_schema[] = "CREATE TABLE IF NOT EXISTS bus_identity ("
				      " id INTEGER PRIMARY KEY CHECK (id = 1),"
				      " instance TEXT NOT NULL"
				      ");";

/* This store's instance id, made on first use. */
static hbk_result store_instance(struct hbk_store *store, char out[HBK_ID_MAX],
				 struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	char fresh[HBK_ID_MAX];
	hbk_id_new("IN", fresh);
	hbk_result rc = hbk_store_exec(store, identity_schema, err);
	if (rc == HBK_OK)
		rc = hbk_store_prepare(store,
				       "INSERT INTO bus_identity (id, instance) VALUES (1, ?1)"
				       " ON CONFLICT (id) DO UPDATE SET instance = instance"
				       " RETURNING instance",
				       &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, fresh);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		hbk_copy(out, HBK_ID_MAX, hbk_column_text(stmt, 0));
	else
		rc = hbk_store_fail(store, err, "instance id");
	hbk_stmt_done(stmt);
	return rc;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* One event in one transaction; HBK_EUNAVAILABLE means try again. */
static hbk_result apply_one(struct hbk_applier *a, const struct hbk_event *ev, bool *applied,
			    struct hbk_error *err)
{
	hbk_result rc = hbk_store_begin(a->store, true, err);
	if (rc != HBK_OK)
		return rc;
	rc = a->apply(a->store, ev, applied, err);
	if (rc == HBK_OK)
		return hbk_store_commit(a->store, err);
	hbk_store_rollback(a->store);
	return rc;
}

static void dead_letter(struct hbk_applier *a, const struct hbk_kafka_message *msg,
			const char *reason)
{
	struct hbk_error err = {0};
	int backoff_ms = APPLY_BACKOFF_MIN;
	/* A dead letter must be written before the offset moves past it. */
	while (!atomic_load(&a->stopping)) {
		if (hbk_kafka_dead_letter(a->dead_letters, a->dlq_topic, msg, reason, &err) ==
			HBK_OK &&
		    hbk_kafka_flush(a->dead_letters, DEAD_LETTER_FLUSH_MS, &err) == HBK_OK) {
			a->dead_lettered++;
			return;
		}
		a->retries++;
		sleep_ms(backoff_ms);
		backoff_ms =
		    backoff_ms * 2 > APPLY_BACKOFF_MAX ? APPLY_BACKOFF_MAX : backoff_ms * 2;
	}
}

/* Applies ev, waiting out a busy store; HBK_EUNAVAILABLE only when stopping. */
static hbk_result apply_retrying(struct hbk_applier *a, const struct hbk_event *ev, bool *applied,
				 struct hbk_error *err)
{
	int backoff_ms = APPLY_BACKOFF_MIN;
	hbk_result rc;
	while ((rc = apply_one(a, ev, applied, err)) == HBK_EUNAVAILABLE &&
	       !atomic_load(&a->stopping)) {
		a->retries++;
		sleep_ms(backoff_ms / 2 + (int)(random() % (backoff_ms / 2 + 1)));
		backoff_ms =
		    backoff_ms * 2 > APPLY_BACKOFF_MAX ? APPLY_BACKOFF_MAX : backoff_ms * 2;
	}
	return rc;
}

/* Applies or dead-letters one message; false when stopping first. */
static bool handle(struct hbk_applier *a, const struct hbk_kafka_message *msg)
{
	struct hbk_event ev;
	struct hbk_error err = {0};
	bool applied = false;
	hbk_result rc = hbk_kafka_message_event(msg, &ev, &err);
	if (rc == HBK_OK)
		rc = apply_retrying(a, &ev, &applied, &err);
	hbk_event_clear(&ev);
	if (rc == HBK_EUNAVAILABLE)
		return false; /* stopping: the message comes again */
	if (rc == HBK_OK) {
		if (applied)
			a->applied++;
		else
			a->skipped++;
		return true;
	}
	char reason[HBK_ERROR_CODE_MAX + HBK_ERROR_MESSAGE_MAX + 4];
	hbk_format(reason, sizeof(reason), "%s: %s", err.code, err.message);
	dead_letter(a, msg, reason);
	return !atomic_load(&a->stopping);
}

static void *consume(void *arg)
{
	struct hbk_applier *a = arg;
	int64_t lag_read_ms = 0;
	while (!atomic_load(&a->stopping)) {
		struct hbk_kafka_message *msg = NULL;
		struct hbk_error err = {0};
		int64_t lag;
		if (hbk_now_ms() - lag_read_ms >= APPLY_LAG_EVERY_MS &&
		    hbk_kafka_lag(a->consumer, &lag, &err) == HBK_OK) {
			a->lag = lag;
			lag_read_ms = hbk_now_ms();
		}
		if (hbk_kafka_poll(a->consumer, APPLY_POLL_MS, &msg, &err) != HBK_OK) {
			sleep_ms(APPLY_BACKOFF_MAX);
			continue;
		}
		if (!msg)
			continue;
		/* Not committed when stopping half-way: the message comes again. */
		if (handle(a, msg)) {
			struct hbk_kafka_origin origin;
			for (int tries = 0;
			     tries < 3 && hbk_kafka_commit(a->consumer, msg, &err) != HBK_OK;
			     tries++)
				sleep_ms(APPLY_BACKOFF_MIN);
			hbk_kafka_message_origin(msg, &origin);
			if (origin.partition >= 0 && origin.partition < HBK_APPLIER_PARTITIONS_MAX)
				atomic_store(&a->next[origin.partition], origin.offset + 1);
		}
		hbk_kafka_message_free(msg);
	}
	return NULL;
}

static void applier_free(struct hbk_applier *a)
{
	hbk_kafka_free(a->consumer);
	hbk_kafka_free(a->dead_letters);
	hbk_store_close(a->store);
	free(a);
}

hbk_result hbk_applier_start(const char *store_path, const struct hbk_kafka_config *kafka,
			     hbk_apply_fn apply, struct hbk_applier **out, struct hbk_error *err)
{
	struct hbk_applier *a = hbk_xcalloc(1, sizeof(*a));
	char instance[HBK_ID_MAX];
	const char *topics[] = {kafka->topic_events, NULL};
	a->apply = apply;
	hbk_copy(a->dlq_topic, sizeof(a->dlq_topic), kafka->topic_dlq);
	hbk_result rc = hbk_store_open(store_path, HBK_STORE_NO_RECOVER, &a->store, err);
	if (rc == HBK_OK) {
		a->store->cache_statements = true;
		rc = store_instance(a->store, instance, err);
	}
	if (rc == HBK_OK) {
		hbk_format(a->group, sizeof(a->group), INSTANCE_GROUP_PREFIX "%s", instance);
		rc = hbk_kafka_consumer_new(kafka->brokers, a->group, topics, APPLY_SESSION_MS,
					    &a->consumer, err);
	}
	if (rc == HBK_OK)
		rc = hbk_kafka_producer_new(kafka->brokers, &a->dead_letters, err);
	if (rc == HBK_OK && pthread_create(&a->thread, NULL, consume, a) != 0)
		rc = hbk_fail(err, HBK_EINTERNAL, "thread", "cannot start the event applier");
	if (rc != HBK_OK) {
		applier_free(a);
		return rc;
	}
	*out = a;
	return HBK_OK;
}

void hbk_applier_stats(struct hbk_applier *a, struct hbk_applier_stats *stats)
{
	stats->applied = a->applied;
	stats->skipped = a->skipped;
	stats->dead_lettered = a->dead_lettered;
	stats->retries = a->retries;
	stats->lag = a->lag;
	hbk_copy(stats->group, sizeof(stats->group), a->group);
}

bool hbk_applier_reached(struct hbk_applier *a, const int64_t *high, int n)
{
	for (int p = 0; p < n && p < HBK_APPLIER_PARTITIONS_MAX; p++)
		if (high[p] > 0 && atomic_load(&a->next[p]) < high[p])
			return false;
	return true;
}

void hbk_applier_stop(struct hbk_applier *a)
{
	if (!a)
		return;
	atomic_store(&a->stopping, true);
	pthread_join(a->thread, NULL);
	applier_free(a);
}
