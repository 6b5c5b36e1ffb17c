/*
 * applier.c - the events topic into this instance's store.
 *
 * Each store has an instance id of its own, made when it first runs an
 * applier, and consumes the events topic in the group hbkd-<id>: a store
 * that was here before resumes where it committed, and a store made
 * afresh (a deleted file) is a new group that reads the topic from the
 * beginning and so rebuilds its read model. What has arrived is applied in
 * one transaction (up to 256 messages), and an offset is committed only
 * after that transaction; a crash in between means the messages come
 * again, and the apply function finds their events already there. The instance's own events come
 * back too and are skipped the same way.
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
#define APPLY_BATCH_MAX	      256
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

/* What became of one message of a batch. */
struct item {
	struct hbk_kafka_message *msg;
	struct hbk_event ev;
	bool valid;   /* it carries an event */
	bool applied; /* written (false: already there) */
	bool dead;    /* for the dead letters, with reason */
	char reason[HBK_ERROR_CODE_MAX + HBK_ERROR_MESSAGE_MAX + 4];
};

static void mark_dead(struct item *it, const struct hbk_error *err)
{
	it->dead = true;
	hbk_format(it->reason, sizeof(it->reason), "%s: %s", err->code, err->message);
}

/*
 * Applies a batch in one transaction, each event under a savepoint of its
 * own: one that cannot be applied is undone alone and marked for the dead
 * letters. HBK_EUNAVAILABLE (a busy store) undoes the whole batch.
 */
static hbk_result apply_once(struct hbk_applier *a, struct item *items, int n,
			     struct hbk_error *err)
{
	struct hbk_store *store = a->store;
	hbk_result rc = hbk_store_begin(store, true, err);
	for (int i = 0; rc == HBK_OK && i < n; i++) {
		struct item *it = &items[i];
		struct hbk_error why = {0};
		it->applied = false;
		it->dead = !it->valid;
		if (!it->valid)
			continue;
		rc = hbk_store_run(store, "SAVEPOINT apply", err);
		if (rc != HBK_OK)
			break;
		hbk_result one = a->apply(store, &it->ev, &it->applied, &why);
		if (one == HBK_OK) {
			rc = hbk_store_run(store, "RELEASE apply", err);
		} else if (one == HBK_EUNAVAILABLE) {
			*err = why;
			rc = one;
		} else {
			it->applied = false;
			mark_dead(it, &why);
			rc = hbk_store_exec(store, "ROLLBACK TO apply; RELEASE apply", err);
		}
	}
	if (rc == HBK_OK)
		return hbk_store_commit(store, err);
	if (store->tx_depth > 0)
		hbk_store_rollback(store);
	return rc;
}

/* Applies a batch, waiting out a busy store; false when stopping first. */
static bool apply_batch(struct hbk_applier *a, struct item *items, int n)
{
	struct hbk_error err = {0};
	int backoff_ms = APPLY_BACKOFF_MIN;
	for (int i = 0; i < n; i++) {
		items[i].valid =
		    hbk_kafka_message_event(items[i].msg, &items[i].ev, &err) == HBK_OK;
		if (!items[i].valid)
			mark_dead(&items[i], &err);
	}
	hbk_result rc;
	while ((rc = apply_once(a, items, n, &err)) == HBK_EUNAVAILABLE &&
	       !atomic_load(&a->stopping)) {
		a->retries++;
		sleep_ms(backoff_ms / 2 + (int)(random() % (backoff_ms / 2 + 1)));
		backoff_ms =
		    backoff_ms * 2 > APPLY_BACKOFF_MAX ? APPLY_BACKOFF_MAX : backoff_ms * 2;
	}
	if (rc == HBK_EUNAVAILABLE)
		return false; /* stopping: the messages come again */
	if (rc != HBK_OK) {
		/* The store refused the batch itself: each goes alone. */
		for (int i = 0; i < n; i++)
			if (items[i].valid)
				mark_dead(&items[i], &err);
	}
	for (int i = 0; i < n; i++) {
		if (items[i].dead)
			dead_letter(a, items[i].msg, items[i].reason);
		else if (items[i].applied)
			a->applied++;
		else
			a->skipped++;
	}
	return !atomic_load(&a->stopping);
}

/* Commits the offset after the last message of each partition in items. */
static void commit_batch(struct hbk_applier *a, struct item *items, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		struct hbk_kafka_origin origin;
		struct hbk_error err = {0};
		bool later = false;
		hbk_kafka_message_origin(items[i].msg, &origin);
		for (int j = i + 1; j < n && !later; j++) {
			struct hbk_kafka_origin other;
			hbk_kafka_message_origin(items[j].msg, &other);
			later = other.partition == origin.partition &&
				strcmp(other.topic, origin.topic) == 0;
		}
		if (later)
			continue;
		for (int tries = 0;
		     tries < 3 && hbk_kafka_commit(a->consumer, items[i].msg, &err) != HBK_OK;
		     tries++)
			sleep_ms(APPLY_BACKOFF_MIN);
		if (origin.partition >= 0 && origin.partition < HBK_APPLIER_PARTITIONS_MAX)
			atomic_store(&a->next[origin.partition], origin.offset + 1);
	}
}

static void *consume(void *arg)
{
	struct hbk_applier *a = arg;
	struct item *items = hbk_xcalloc(APPLY_BATCH_MAX, sizeof(*items));
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
		/* What else has arrived goes in the same transaction. */
		int n = 0;
		do {
			memset(&items[n], 0, sizeof(items[n]));
			items[n++].msg = msg;
			msg = NULL;
		} while (n < APPLY_BATCH_MAX &&
			 hbk_kafka_poll(a->consumer, 0, &msg, &err) == HBK_OK && msg);
		/* Not committed when stopping half-way: the messages come again. */
		if (apply_batch(a, items, n))
			commit_batch(a, items, n);
		for (int i = 0; i < n; i++) {
			hbk_event_clear(&items[i].ev);
			hbk_kafka_message_free(items[i].msg);
		}
	}
	free(items);
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
