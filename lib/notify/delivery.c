/*
 * delivery.c - hbkd's delivery thread: sends the notices its workers
 * queue in the notices table, off their event loops.
 *
 * A send is a blocking exchange (a whole SMTP session per mail, up to a
 * 2 s connect timeout; an SNS request; a maildir write and its flush), which
 * on a worker's loop would hold every request and saga it serves. The
 * workers' notifiers only store the rendered notice, in the transaction
 * that records the booking's outcome, and kick this thread once it is
 * committed. The thread has its own store connection and notifier, so its
 * sends and its channel breakers are its own; it claims due notices in
 * batches (the claim leases them, so an `hbk-admin notify retry` running
 * at the same time skips them) and records each outcome as a retry
 * would. Between passes it rests PASS_GAP_MS, so that under load each
 * pass finds full batches. Unprompted, it looks for due retries every
 * HBK_NOTIFY_PASS_EVERY_MS.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "hbk/config.h"
#include "hbk/notify.h"
#include "hbk/store.h"

#include "channels.h"

/* Batches one pass claims at most before it looks at the clock and the
 * stop flag again; a pass never runs unbounded under a steady stream. */
#define PASS_BATCHES_MAX 16
/*
 * After a pass the thread rests this long before the next, kicked or not,
 * so that under load notices gather into full batches. A pass has fixed
 * costs whatever it sends: two commits (the claim and the outcomes), each
 * of which may checkpoint the WAL while holding the workers' write lock,
 * and the maildir's two syncs. A lone notice still goes out at once.
 */
#define PASS_GAP_MS 200

struct hbk_notify_delivery {
	struct hbk_store *store;       /* owned; this thread's connection */
	struct hbk_notifier *notifier; /* owned */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool kicked;   /* under lock: notices were queued since the last pass */
	bool stopping; /* under lock */
	int64_t pruned_ms;
};

void notify_delivery_kick(struct hbk_notify_delivery *delivery)
{
	HBK_ASSERT(delivery != NULL);
	pthread_mutex_lock(&delivery->lock);
	if (!delivery->kicked) {
		delivery->kicked = true;
		pthread_cond_signal(&delivery->wake);
	}
	pthread_mutex_unlock(&delivery->lock);
}

/* Sends what is due, a batch at a time, until a batch comes back short.
 * A store failure ends the pass: the next one tries again. */
static void pass(struct hbk_notify_delivery *delivery)
{
	struct hbk_error err = {0};
	int64_t now_ms = hbk_now_ms();

	if (now_ms - delivery->pruned_ms >= HBK_NOTIFY_PASS_EVERY_MS) {
		delivery->pruned_ms = now_ms;
		notices_prune_sent(delivery->store, now_ms, &err);
	}
	for (int batch = 0; batch < PASS_BATCHES_MAX; batch++) {
		int claimed = 0, sent = 0;
		if (notify_deliver_due(delivery->notifier, delivery->store, NOTICES_CLAIM_MAX,
				       &claimed, &sent, &err) != HBK_OK ||
		    claimed < NOTICES_CLAIM_MAX)
			return;
	}
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Waits PASS_GAP_MS, kicks or not, unless the thread is stopping; called
 * and returns with delivery->lock held. */
static void rest_after_pass(struct hbk_notify_delivery *delivery)
{
	struct timespec deadline;

	deadline_after(&deadline, PASS_GAP_MS);
	while (!delivery->stopping) {
		if (pthread_cond_timedwait(&delivery->wake, &delivery->lock, &deadline) ==
		    ETIMEDOUT)
			return;
	}
}

static void *delivery_main(void *arg)
{
	struct hbk_notify_delivery *delivery = arg;
	struct timespec deadline;

	pthread_mutex_lock(&delivery->lock);
	while (!delivery->stopping) {
		deadline_after(&deadline, HBK_NOTIFY_PASS_EVERY_MS);
		while (!delivery->kicked && !delivery->stopping) {
			if (pthread_cond_timedwait(&delivery->wake, &delivery->lock, &deadline) ==
			    ETIMEDOUT)
				break;
		}
		delivery->kicked = false;
		pthread_mutex_unlock(&delivery->lock);
		pass(delivery);
		pthread_mutex_lock(&delivery->lock);
		rest_after_pass(delivery);
	}
	pthread_mutex_unlock(&delivery->lock);
	/* What the workers queued before they stopped goes out now. */
	pass(delivery);
	return NULL;
}

static void delivery_free(struct hbk_notify_delivery *delivery)
{
	hbk_notifier_close(delivery->notifier);
	hbk_store_close(delivery->store);
	pthread_cond_destroy(&delivery->wake);
	pthread_mutex_destroy(&delivery->lock);
	free(delivery);
}

hbk_result hbk_notify_delivery_start(const struct hbk_config *cfg, pthread_mutex_t *write_lock,
				     struct hbk_notify_delivery **out, struct hbk_error *err)
{
	pthread_condattr_t attr;

	HBK_ASSERT(cfg != NULL && out != NULL);
	*out = NULL;
	struct hbk_notify_delivery *delivery = hbk_xcalloc(1, sizeof(*delivery));
	pthread_mutex_init(&delivery->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&delivery->wake, &attr);
	pthread_condattr_destroy(&attr);
	hbk_result rc = hbk_store_open(hbk_config_store_path(cfg), 0,
				       &delivery->store, err);
	if (rc == HBK_OK)
		rc = hbk_notifier_open(cfg, &delivery->notifier, err);
	if (rc != HBK_OK) {
		delivery_free(delivery);
		return rc;
	}
	delivery->store->cache_statements = true;
	delivery->store->write_lock = write_lock;
	/* Sharing a write lock, it leaves the checkpoints to the process
	 * (hbkd's main thread): one here would run under the lock, at the
	 * end of any commit, and hold every writer meanwhile. */
	if (write_lock)
		sqlite3_wal_autocheckpoint(delivery->store->db, 0);
	hbk_notifier_set_store(delivery->notifier, delivery->store);
	if (pthread_create(&delivery->thread, NULL, delivery_main, delivery) != 0) {
		delivery_free(delivery);
		return hbk_fail(err, HBK_EINTERNAL, "thread", "cannot start the notice delivery");
	}
	*out = delivery;
	return HBK_OK;
}

void hbk_notify_delivery_stop(struct hbk_notify_delivery *delivery)
{
	if (!delivery)
		return;
	pthread_mutex_lock(&delivery->lock);
	delivery->stopping = true;
	pthread_cond_signal(&delivery->wake);
	pthread_mutex_unlock(&delivery->lock);
	pthread_join(delivery->thread, NULL);
	delivery_free(delivery);
}
