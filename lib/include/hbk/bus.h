/*
 * bus.h - events and commands over Kafka (lib/events/bus.c).
 *
 * A message is a CloudEvent in Kafka's binary content mode: the key is
 * the partition key (the hotel id), the value is the event's data as JSON,
 * and the attributes travel as headers: ce_specversion, ce_id, ce_source,
 * ce_type, ce_subject, ce_time, ce_sequence, ce_partitionkey,
 * ce_correlationid, ce_causationid, and content-type. kcat -J shows them.
 *
 * The producer is idempotent with acks=all, so a retried send is written
 * once. A consumer commits an offset only when told to, after the caller's
 * SQLite transaction applied the message; redelivery after a crash is
 * expected and deduplicated on the event id by the caller.
 */
#ifndef HBK_BUS_H
#define HBK_BUS_H

#include "hbk/core.h"
#include "hbk/events.h"

struct hbk_kafka;
struct hbk_kafka_message;

/* A consumed message's origin, for logs and dead letters. */
struct hbk_kafka_origin {
	char topic[128];
	int32_t partition;
	int64_t offset;
};

/*
 * An idempotent producer (acks=all, enable.idempotence=true) on brokers
 * ("host:port,..."). Returns a handle the caller frees with
 * hbk_kafka_free().
 */
hbk_result hbk_kafka_producer_new(const char *brokers, struct hbk_kafka **out,
				  struct hbk_error *err);

/*
 * Queues ev on topic, keyed by ev->partitionkey. Delivery is reported by
 * hbk_kafka_flush(); ev is borrowed.
 */
hbk_result hbk_kafka_produce(struct hbk_kafka *producer, const char *topic,
			     const struct hbk_event *ev, struct hbk_error *err);

/*
 * Waits up to timeout_ms until every queued message is written. Messages
 * never expire: when the brokers are away the wait ends with
 * HBK_EUNAVAILABLE "kafka_timeout" and the messages stay queued, to be
 * waited for again (sending them again would write them twice). A message
 * the brokers refused fails with "kafka_unavailable". The caller must not
 * acknowledge what it sent before this returns HBK_OK.
 */
hbk_result hbk_kafka_flush(struct hbk_kafka *producer, int timeout_ms, struct hbk_error *err);

/*
 * A consumer in group on topics (a NULL-terminated list), reading from the
 * earliest offset when the group has none, committing only on request.
 * session_timeout_ms bounds how long a dead member keeps its partitions.
 */
hbk_result hbk_kafka_consumer_new(const char *brokers, const char *group, const char *const *topics,
				  int session_timeout_ms, struct hbk_kafka **out,
				  struct hbk_error *err);

/*
 * The next message within timeout_ms: *out is NULL when none came. The
 * message is owned by the caller until hbk_kafka_message_free().
 */
hbk_result hbk_kafka_poll(struct hbk_kafka *consumer, int timeout_ms,
			  struct hbk_kafka_message **out, struct hbk_error *err);

void hbk_kafka_message_origin(const struct hbk_kafka_message *msg, struct hbk_kafka_origin *origin);

/* A header's value as text; false when absent, empty or longer than size - 1. */
bool hbk_kafka_message_header(const struct hbk_kafka_message *msg, const char *name, char *out,
			      size_t size);
/* The key and value, borrowed from msg. */
const void *hbk_kafka_message_key(const struct hbk_kafka_message *msg, size_t *len);
const void *hbk_kafka_message_value(const struct hbk_kafka_message *msg, size_t *len);

/*
 * The event a message carries. Fails HBK_EINVAL "invalid_event" naming
 * what is missing or malformed: such a message goes to the dead letters.
 * ev is filled (the caller clears it with hbk_event_clear()).
 */
hbk_result hbk_kafka_message_event(const struct hbk_kafka_message *msg, struct hbk_event *ev,
				   struct hbk_error *err);

/*
 * How many messages of the consumer's partitions it has not read yet: the
 * high watermarks its last fetches saw less its positions (no request to
 * the brokers). A partition not fetched yet counts nothing.
 */
hbk_result hbk_kafka_lag(struct hbk_kafka *consumer, int64_t *lag, struct hbk_error *err);

/* Commits the offset after msg, without waiting for the brokers: msg was
 * applied. */
hbk_result hbk_kafka_commit(struct hbk_kafka *consumer, const struct hbk_kafka_message *msg,
			    struct hbk_error *err);

/*
 * Copies msg (key, value, headers) to topic with the reason and its
 * origin added as headers hbk_dlq_reason, hbk_dlq_topic,
 * hbk_dlq_partition and hbk_dlq_offset. Delivery through
 * hbk_kafka_flush().
 */
hbk_result hbk_kafka_dead_letter(struct hbk_kafka *producer, const char *topic,
				 const struct hbk_kafka_message *msg, const char *reason,
				 struct hbk_error *err);

/*
 * Queues ev on topic like hbk_kafka_produce(), and reports its delivery
 * to the producer's delivery hook with opaque: for a caller that must not
 * wait (hbkd's workers answer when the command is written).
 */
hbk_result hbk_kafka_produce_tracked(struct hbk_kafka *producer, const char *topic,
				     const struct hbk_event *ev, void *opaque,
				     struct hbk_error *err);
/* What hbk_kafka_serve() calls for each tracked message: reason is NULL
 * when the brokers acknowledged it. */
typedef void (*hbk_kafka_delivery_fn)(void *opaque, const char *reason);
void hbk_kafka_on_delivery(struct hbk_kafka *producer, hbk_kafka_delivery_fn fn);
/* Runs the delivery reports that arrived, without waiting. */
void hbk_kafka_serve(struct hbk_kafka *producer);

/*
 * The partition a key goes to on a topic of partitions partitions, as the
 * producer's default partitioner (consistent_random) chooses it.
 */
int32_t hbk_kafka_partition_of(const char *key, int32_t partitions);

/* The consumer's partitions of topic now, sorted, at most max. */
hbk_result hbk_kafka_assignment(struct hbk_kafka *consumer, const char *topic, int32_t *parts,
				int max, int *n, struct hbk_error *err);

/*
 * Asks the brokers for the end of each partition of topic: high[p] is the
 * offset the next message of partition p will take; *n the partition
 * count (at most max).
 */
hbk_result hbk_kafka_high_watermarks(struct hbk_kafka *kafka, const char *topic, int64_t *high,
				     int max, int *n, int timeout_ms, struct hbk_error *err);

void hbk_kafka_message_free(struct hbk_kafka_message *msg);
/* Closes a consumer (leaving its group) or flushes briefly and frees a producer. */
void hbk_kafka_free(struct hbk_kafka *kafka);

#endif
