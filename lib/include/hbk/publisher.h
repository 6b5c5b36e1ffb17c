/*
 * publisher.h - the outbox relay from the events table to Kafka
 * (lib/events/publisher.c), run by hbkd when kafka.brokers is set.
 */
#ifndef HBK_PUBLISHER_H
#define HBK_PUBLISHER_H

#include "hbk/core.h"
#include "hbk/events.h"

struct hbk_publisher;

struct hbk_publisher_stats {
	int64_t published; /* events acknowledged by the brokers */
	int64_t failures;  /* batches that failed and will be sent again */
	int64_t pending;   /* events committed but not yet published */
	bool failing;	   /* the last batch failed */
	char last_error[HBK_ERROR_MESSAGE_MAX];
};

/*
 * Starts a thread with its own connection to the store at store_path that
 * publishes every unpublished event to topic on brokers, in position
 * order, marking each published once acknowledged. Returns the relay,
 * which the caller stops with hbk_publisher_stop().
 */
hbk_result hbk_publisher_start(const char *store_path, const char *brokers, const char *topic,
			       struct hbk_publisher **out, struct hbk_error *err);

/* Tells the relay new events were committed (it also looks by itself). */
void hbk_publisher_wake(struct hbk_publisher *publisher);

/* A snapshot of the relay's counters (for /metrics); thread-safe. */
void hbk_publisher_stats(struct hbk_publisher *publisher, struct hbk_publisher_stats *stats);

/*
 * Publishes what is committed, for at most drain_ms, then stops the relay
 * and frees it. Returns how many events are left unpublished: they stay in
 * the outbox for the next start (-1 when the store cannot tell). NULL is
 * fine.
 */
int64_t hbk_publisher_stop(struct hbk_publisher *publisher, int drain_ms);

#endif
