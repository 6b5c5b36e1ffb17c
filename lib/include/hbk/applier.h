/*
 * applier.h - the events topic into this instance's store (lib/events/
 * applier.c): how every hbkd of a cluster keeps its read model of what
 * the others decided.
 */
#ifndef HBK_APPLIER_H
#define HBK_APPLIER_H

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/events.h"

struct hbk_applier;

/* Partitions of the events topic whose progress the applier reports. */
#define HBK_APPLIER_PARTITIONS_MAX 256

/*
 * Applies one event inside the applier's write transaction. *applied is
 * false for one already in the store (this instance's own, or a
 * redelivery). HBK_EUNAVAILABLE is retried; any other failure sends the
 * message to the dead letters.
 */
typedef hbk_result (*hbk_apply_fn)(struct hbk_store *store, const struct hbk_event *ev,
				   bool *applied, struct hbk_error *err);

struct hbk_applier_stats {
	int64_t applied;       /* events written into the store */
	int64_t skipped;       /* already there */
	int64_t dead_lettered; /* sent to the dead-letter topic */
	int64_t retries;       /* transient failures retried */
	int64_t lag;	       /* messages on the topic not read yet (read each second) */
	char group[64];	       /* the consumer group: hbkd-<store instance> */
};

/*
 * Starts a thread with its own connection to the store at store_path that
 * consumes kafka->topic_events in the group of this store (a store made
 * afresh reads the topic from its beginning, a store that was here before
 * goes on where it stopped), applies each event with apply and commits
 * the offset after the store's transaction. What cannot be applied goes
 * to kafka->topic_dlq with its reason and origin.
 */
hbk_result hbk_applier_start(const char *store_path, const struct hbk_kafka_config *kafka,
			     hbk_apply_fn apply, struct hbk_applier **out, struct hbk_error *err);

/* A snapshot of the counters (for /metrics); thread-safe. */
void hbk_applier_stats(struct hbk_applier *applier, struct hbk_applier_stats *stats);

/*
 * True when every message before high[p] of each partition p < n has been
 * applied here: what a new owner of a partition waits for before deciding.
 */
bool hbk_applier_reached(struct hbk_applier *applier, const int64_t *high, int n);

/* Stops the thread, leaves the group and frees the applier. NULL is fine. */
void hbk_applier_stop(struct hbk_applier *applier);

#endif
