/*
 * bus.c - events and commands over Kafka, as CloudEvents in binary mode
 * (see hbk/bus.h for the contract).
 */
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "hbk/bus.h"
#include "hbk/json.h"

/* A full local queue is waited out this many times, 100 ms each. */
#define PRODUCE_QUEUE_FULL_RETRIES 50
#define HEADER_VALUE_MAX	   256
/* A broker back after an outage is found within a second (librdkafka's
 * default waits up to 10 s between attempts). */
#define RECONNECT_BACKOFF_MAX_MS "1000"
#define CONSUMER_CLOSE_MS	 5000

struct hbk_kafka {
	rd_kafka_t *rk;
	bool consumer;
	/* Set by the delivery callback, which runs inside flush or poll on
	 * the caller's thread: no lock needed. */
	int failed_deliveries;
	char delivery_error[256];
	hbk_kafka_delivery_fn delivered; /* for tracked messages */
};

struct hbk_kafka_message {
	rd_kafka_message_t *rkm;
};

static hbk_result conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
			   struct hbk_error *err)
{
	char errstr[256];
	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		return hbk_fail(err, HBK_EINVAL, "kafka_config", "kafka %s=%s: %s", name, value,
				errstr);
	return HBK_OK;
}

/* A configuration with settings ({name, value} rows up to {NULL}), or NULL. */
static rd_kafka_conf_t *conf_make(const char *const settings[][2], struct hbk_error *err)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	hbk_result rc = HBK_OK;
	for (int i = 0; rc == HBK_OK && settings[i][0]; i++)
		rc = conf_set(conf, settings[i][0], settings[i][1], err);
	if (rc == HBK_OK)
		return conf;
	rd_kafka_conf_destroy(conf);
	return NULL;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct hbk_kafka *kafka = opaque;
	(void)rk;
	if (rkm->_private && kafka->delivered) {
		kafka->delivered(rkm->_private, rkm->err ? rd_kafka_err2str(rkm->err) : NULL);
		return;
	}
	if (!rkm->err)
		return;
	kafka->failed_deliveries++;
	hbk_copy(kafka->delivery_error, sizeof(kafka->delivery_error), rd_kafka_err2str(rkm->err));
}

/*
 * librdkafka's own log lines are dropped: the library never prints, and
 * what matters reaches the caller as a result (a failed delivery, commit
 * or fatal error) with librdkafka's reason in the message.
 */
static void on_log(const rd_kafka_t *rk, int level, const char *facility, const char *line)
{
	(void)rk;
	(void)level;
	(void)facility;
	(void)line;
}

static hbk_result kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, struct hbk_kafka *kafka,
			    struct hbk_error *err)
{
	char errstr[512];
	rd_kafka_conf_set_opaque(conf, kafka);
	rd_kafka_conf_set_log_cb(conf, on_log);
	kafka->rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (!kafka->rk) {
		rd_kafka_conf_destroy(conf);
		return hbk_fail(err, HBK_EINVAL, "kafka_config", "kafka: %s", errstr);
	}
	return HBK_OK; /* conf now belongs to rk */
}

hbk_result hbk_kafka_producer_new(const char *brokers, struct hbk_kafka **out,
				  struct hbk_error *err)
{
	const char *const settings[][2] = {
	    {"bootstrap.servers", brokers},
	    {"enable.idempotence", "true"},
	    {"acks", "all"},
	    {"linger.ms", "2"},
	    {"reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS},
	    /* No message expires: an outage delays messages, and only a
	     * refusal fails them (see hbk_kafka_flush). */
	    {"message.timeout.ms", "0"},
	    {NULL, NULL},
	};
	rd_kafka_conf_t *conf = conf_make(settings, err);
	if (!conf)
		return err->result;
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	struct hbk_kafka *kafka = hbk_xcalloc(1, sizeof(*kafka));
	hbk_result rc = kafka_new(RD_KAFKA_PRODUCER, conf, kafka, err);
	if (rc != HBK_OK) {
		free(kafka);
		return rc;
	}
	*out = kafka;
	return HBK_OK;
}

static void header_add(rd_kafka_headers_t *headers, const char *name, const char *value)
{
	if (value && value[0])
		rd_kafka_header_add(headers, name, -1, value, -1);
}

/* The attributes of ev as ce_* headers (binary content mode). */
static rd_kafka_headers_t *event_headers(const struct hbk_event *ev)
{
	char time[HBK_TIME_STR], sequence[24];
	rd_kafka_headers_t *headers = rd_kafka_headers_new(11);
	hbk_time_format(ev->time_ms, time);
	hbk_format(sequence, sizeof(sequence), "%lld", (long long)ev->sequence);
	header_add(headers, "ce_specversion", "1.0");
	header_add(headers, "ce_id", ev->id);
	header_add(headers, "ce_source", HBK_EVENT_SOURCE);
	header_add(headers, "ce_type", ev->type);
	header_add(headers, "ce_subject", ev->subject);
	header_add(headers, "ce_time", time);
	header_add(headers, "ce_sequence", sequence);
	header_add(headers, "ce_partitionkey", ev->partitionkey);
	header_add(headers, "ce_correlationid", ev->correlationid);
	header_add(headers, "ce_causationid", ev->causationid);
	header_add(headers, "content-type", "application/json");
	return headers;
}

/* Produces one message; headers pass to librdkafka on success only. */
static hbk_result produce(struct hbk_kafka *producer, const char *topic, const void *key,
			  size_t key_len, const void *value, size_t value_len,
			  rd_kafka_headers_t *headers, void *opaque, struct hbk_error *err)
{
	HBK_ASSERT(!producer->consumer);
	rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
	for (int attempt = 0; attempt <= PRODUCE_QUEUE_FULL_RETRIES; attempt++) {
		code = rd_kafka_producev(
		    producer->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
		    RD_KAFKA_V_VALUE((void *)value, value_len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
		    RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
		if (code != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(producer->rk, 100);
	}
	if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
		return HBK_OK;
	rd_kafka_headers_destroy(headers);
	return hbk_fail(err, HBK_EUNAVAILABLE, "kafka_unavailable", "kafka: cannot send to %s: %s",
			topic, rd_kafka_err2str(code));
}

hbk_result hbk_kafka_produce_tracked(struct hbk_kafka *producer, const char *topic,
				     const struct hbk_event *ev, void *opaque,
				     struct hbk_error *err)
{
	HBK_ASSERT(ev->data != NULL && ev->id[0] && ev->type[0]);
	char *value = json_dumps(ev->data, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!value)
		return hbk_fail(err, HBK_EINTERNAL, "kafka_encode", "cannot encode event %s",
				ev->id);
	hbk_result rc = produce(producer, topic, ev->partitionkey, strlen(ev->partitionkey), value,
				strlen(value), event_headers(ev), opaque, err);
	free(value);
	rd_kafka_poll(producer->rk, 0); /* serve delivery reports */
	return rc;
}

hbk_result hbk_kafka_produce(struct hbk_kafka *producer, const char *topic,
			     const struct hbk_event *ev, struct hbk_error *err)
{
	return hbk_kafka_produce_tracked(producer, topic, ev, NULL, err);
}

void hbk_kafka_on_delivery(struct hbk_kafka *producer, hbk_kafka_delivery_fn fn)
{
	producer->delivered = fn;
}

void hbk_kafka_serve(struct hbk_kafka *producer)
{
	rd_kafka_poll(producer->rk, 0);
}

int32_t hbk_kafka_partition_of(const char *key, int32_t partitions)
{
	return rd_kafka_msg_partitioner_consistent_random(NULL, key, strlen(key), partitions, NULL,
							  NULL);
}

static int partition_cmp(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

hbk_result hbk_kafka_assignment(struct hbk_kafka *consumer, const char *topic, int32_t *parts,
				int max, int *n, struct hbk_error *err)
{
	rd_kafka_topic_partition_list_t *list = NULL;
	*n = 0;
	rd_kafka_resp_err_t code = rd_kafka_assignment(consumer->rk, &list);
	if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
		return hbk_fail(err, HBK_EUNAVAILABLE, "kafka_unavailable",
				"kafka: cannot read the assignment: %s", rd_kafka_err2str(code));
	for (int i = 0; i < list->cnt && *n < max; i++)
		if (strcmp(list->elems[i].topic, topic) == 0)
			parts[(*n)++] = list->elems[i].partition;
	rd_kafka_topic_partition_list_destroy(list);
	qsort(parts, (size_t)*n, sizeof(*parts), partition_cmp);
	return HBK_OK;
}

hbk_result hbk_kafka_high_watermarks(struct hbk_kafka *kafka, const char *topic, int64_t *high,
				     int max, int *n, int timeout_ms, struct hbk_error *err)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(kafka->rk, topic, NULL);
	*n = 0;
	rd_kafka_resp_err_t code = rd_kafka_metadata(kafka->rk, 0, rkt, &md, timeout_ms);
	if (code == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err)
		code = md->topics[0].err;
	if (code == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
		int count = md->topics[0].partition_cnt;
		for (int p = 0; code == RD_KAFKA_RESP_ERR_NO_ERROR && p < count && p < max; p++) {
			int64_t low = 0, hw = 0;
			code = rd_kafka_query_watermark_offsets(kafka->rk, topic, p, &low, &hw,
								timeout_ms);
			high[p] = hw;
			*n = p + 1;
		}
	}
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
		return hbk_fail(err, HBK_EUNAVAILABLE, "kafka_unavailable",
				"kafka: cannot read the end of %s: %s", topic,
				rd_kafka_err2str(code));
	return HBK_OK;
}

hbk_result hbk_kafka_flush(struct hbk_kafka *producer, int timeout_ms, struct hbk_error *err)
{
	rd_kafka_resp_err_t code = rd_kafka_flush(producer->rk, timeout_ms);
	if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
		return hbk_fail(err, HBK_EUNAVAILABLE, "kafka_timeout",
				"kafka: %d message%s not written within %d ms",
				rd_kafka_outq_len(producer->rk),
				rd_kafka_outq_len(producer->rk) == 1 ? "" : "s", timeout_ms);
	if (producer->failed_deliveries) {
		int failed = producer->failed_deliveries;
		producer->failed_deliveries = 0;
		return hbk_fail(err, HBK_EUNAVAILABLE, "kafka_unavailable",
				"kafka: %d message%s not written: %s", failed,
				failed == 1 ? "" : "s", producer->delivery_error);
	}
	return HBK_OK;
}

hbk_result hbk_kafka_consumer_new(const char *brokers, const char *group, const char *const *topics,
				  int session_timeout_ms, struct hbk_kafka **out,
				  struct hbk_error *err)
{
	char session[16], heartbeat[16];
	hbk_format(session, sizeof(session), "%d", session_timeout_ms);
	/* A heartbeat a third of the session: two may be lost before expiry. */
	hbk_format(heartbeat, sizeof(heartbeat), "%d", session_timeout_ms / 3);
	const char *const settings[][2] = {
	    {"bootstrap.servers", brokers},
	    {"group.id", group},
	    {"enable.auto.commit", "false"},
	    {"auto.offset.reset", "earliest"},
	    {"session.timeout.ms", session},
	    {"heartbeat.interval.ms", heartbeat},
	    {"reconnect.backoff.max.ms", RECONNECT_BACKOFF_MAX_MS},
	    /* A command is decided, and an event applied, within ms of being
	     * written: a fetch that finds nothing returns after 10 ms instead
	     * of 500 (a broker that answers as soon as data arrives, as
	     * Kafka does, is not slowed by this; one that waits out the
	     * maximum, as librdkafka's mock cluster does, is). */
	    {"fetch.wait.max.ms", "10"},
	    {NULL, NULL},
	};
	rd_kafka_conf_t *conf = conf_make(settings, err);
	if (!conf)
		return err->result;
	struct hbk_kafka *kafka = hbk_xcalloc(1, sizeof(*kafka));
	kafka->consumer = true;
	hbk_result rc = kafka_new(RD_KAFKA_CONSUMER, conf, kafka, err);
	if (rc != HBK_OK) {
		free(kafka);
		return rc;
	}
	rd_kafka_poll_set_consumer(kafka->rk);
	int ntopics = 0;
	while (topics[ntopics])
		ntopics++;
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(ntopics);
	for (int i = 0; i < ntopics; i++)
		rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t code = rd_kafka_subscribe(kafka->rk, list);
	rd_kafka_topic_partition_list_destroy(list);
	if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
		hbk_kafka_free(kafka);
		return hbk_fail(err, HBK_EUNAVAILABLE, "kafka_unavailable",
				"kafka: cannot subscribe: %s", rd_kafka_err2str(code));
	}
	*out = kafka;
	return HBK_OK;
}

hbk_result hbk_kafka_poll(struct hbk_kafka *consumer, int timeout_ms,
			  struct hbk_kafka_message **out, struct hbk_error *err)
{
	HBK_ASSERT(consumer->consumer);
	*out = NULL;
	rd_kafka_message_t *rkm = rd_kafka_consumer_poll(consumer->rk, timeout_ms);
	if (!rkm)
		return HBK_OK;
	if (rkm->err) {
		/* Broker and partition errors are retried by librdkafka and
		 * reported here for information; only a fatal one stops us. */
		rd_kafka_message_destroy(rkm);
		char reason[256];
		if (rd_kafka_fatal_error(consumer->rk, reason, sizeof(reason)))
			return hbk_fail(err, HBK_EUNAVAILABLE, "kafka_unavailable", "kafka: %s",
					reason);
		return HBK_OK;
	}
	*out = hbk_xcalloc(1, sizeof(**out));
	(*out)->rkm = rkm;
	return HBK_OK;
}

void hbk_kafka_message_origin(const struct hbk_kafka_message *msg, struct hbk_kafka_origin *origin)
{
	hbk_copy(origin->topic, sizeof(origin->topic), rd_kafka_topic_name(msg->rkm->rkt));
	origin->partition = msg->rkm->partition;
	origin->offset = msg->rkm->offset;
}

/* A header's value as text: false when absent, empty or too long. */
static bool header_text(rd_kafka_headers_t *headers, const char *name, char *out, size_t size)
{
	const void *value;
	size_t len;
	out[0] = '\0';
	if (!headers || rd_kafka_header_get_last(headers, name, &value, &len) || !value ||
	    len == 0 || len >= size)
		return false;
	memcpy(out, value, len);
	out[len] = '\0';
	return memchr(out, '\0', len) == NULL;
}

bool hbk_kafka_message_header(const struct hbk_kafka_message *msg, const char *name, char *out,
			      size_t size)
{
	rd_kafka_headers_t *headers = NULL;
	rd_kafka_message_headers(msg->rkm, &headers);
	return header_text(headers, name, out, size);
}

const void *hbk_kafka_message_key(const struct hbk_kafka_message *msg, size_t *len)
{
	*len = msg->rkm->key_len;
	return msg->rkm->key;
}

const void *hbk_kafka_message_value(const struct hbk_kafka_message *msg, size_t *len)
{
	*len = msg->rkm->len;
	return msg->rkm->payload;
}

hbk_result hbk_kafka_message_event(const struct hbk_kafka_message *msg, struct hbk_event *ev,
				   struct hbk_error *err)
{
	rd_kafka_headers_t *headers = NULL;
	char version[8], time[HBK_TIME_STR], sequence[24];
	memset(ev, 0, sizeof(*ev));
	rd_kafka_message_headers(msg->rkm, &headers);

	if (!header_text(headers, "ce_specversion", version, sizeof(version)) ||
	    strcmp(version, "1.0") != 0)
		return hbk_fail(err, HBK_EINVAL, "invalid_event",
				"not a CloudEvent 1.0: no ce_specversion 1.0 header");
	if (!header_text(headers, "ce_id", ev->id, sizeof(ev->id)))
		return hbk_fail(err, HBK_EINVAL, "invalid_event", "no ce_id header");
	if (!header_text(headers, "ce_type", ev->type, sizeof(ev->type)))
		return hbk_fail(err, HBK_EINVAL, "invalid_event", "event %s has no ce_type",
				ev->id);
	if (!header_text(headers, "ce_subject", ev->subject, sizeof(ev->subject)))
		return hbk_fail(err, HBK_EINVAL, "invalid_event", "event %s has no ce_subject",
				ev->id);
	if (!header_text(headers, "ce_time", time, sizeof(time)) ||
	    !hbk_time_parse(time, &ev->time_ms))
		return hbk_fail(err, HBK_EINVAL, "invalid_event", "event %s has no valid ce_time",
				ev->id);
	if (header_text(headers, "ce_sequence", sequence, sizeof(sequence))) {
		char *end;
		long long value = strtoll(sequence, &end, 10);
		if (*end || value < 0)
			return hbk_fail(err, HBK_EINVAL, "invalid_event",
					"event %s has an invalid ce_sequence '%s'", ev->id,
					sequence);
		ev->sequence = value;
	}
	if (!header_text(headers, "ce_partitionkey", ev->partitionkey, sizeof(ev->partitionkey)) &&
	    msg->rkm->key && msg->rkm->key_len < sizeof(ev->partitionkey)) {
		memcpy(ev->partitionkey, msg->rkm->key, msg->rkm->key_len);
		ev->partitionkey[msg->rkm->key_len] = '\0';
	}
	header_text(headers, "ce_correlationid", ev->correlationid, sizeof(ev->correlationid));
	header_text(headers, "ce_causationid", ev->causationid, sizeof(ev->causationid));

	json_error_t jerr;
	ev->data = msg->rkm->payload ? json_loadb(msg->rkm->payload, msg->rkm->len,
						  JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr)
				     : NULL;
	if (!ev->data)
		return hbk_fail(err, HBK_EINVAL, "invalid_event",
				"event %s: the value is not JSON%s%s", ev->id,
				msg->rkm->payload ? ": " : "", msg->rkm->payload ? jerr.text : "");
	return HBK_OK;
}

hbk_result hbk_kafka_lag(struct hbk_kafka *consumer, int64_t *lag, struct hbk_error *err)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	HBK_ASSERT(consumer->consumer);
	*lag = 0;
	rd_kafka_resp_err_t code = rd_kafka_assignment(consumer->rk, &parts);
	if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
		code = rd_kafka_position(consumer->rk, parts);
	for (int i = 0; code == RD_KAFKA_RESP_ERR_NO_ERROR && i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &parts->elems[i];
		int64_t low = -1, high = -1;
		if (rd_kafka_get_watermark_offsets(consumer->rk, p->topic, p->partition, &low,
						   &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		    high < 0)
			continue;
		/* No position yet: nothing read, so everything from the low mark. */
		int64_t position = p->offset >= 0 ? p->offset : low;
		if (position >= 0 && high > position)
			*lag += high - position;
	}
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
		return hbk_fail(err, HBK_EUNAVAILABLE, "kafka_unavailable",
				"kafka: cannot read the consumer's positions: %s",
				rd_kafka_err2str(code));
	return HBK_OK;
}

hbk_result hbk_kafka_commit(struct hbk_kafka *consumer, const struct hbk_kafka_message *msg,
			    struct hbk_error *err)
{
	/* Asynchronous: a commit waits on no broker (one that never comes
	 * back would hold the caller, and its shutdown, for ever). A commit
	 * lost with a crash means the message comes again, which the caller
	 * deduplicates anyway. */
	rd_kafka_resp_err_t code = rd_kafka_commit_message(consumer->rk, msg->rkm, 1);
	if (code != RD_KAFKA_RESP_ERR_NO_ERROR)
		return hbk_fail(err, HBK_EUNAVAILABLE, "kafka_unavailable",
				"kafka: cannot commit %s [%d] at %lld: %s",
				rd_kafka_topic_name(msg->rkm->rkt), (int)msg->rkm->partition,
				(long long)msg->rkm->offset, rd_kafka_err2str(code));
	return HBK_OK;
}

hbk_result hbk_kafka_dead_letter(struct hbk_kafka *producer, const char *topic,
				 const struct hbk_kafka_message *msg, const char *reason,
				 struct hbk_error *err)
{
	rd_kafka_headers_t *original = NULL, *headers;
	char partition[16], offset[24], text[HEADER_VALUE_MAX];
	rd_kafka_message_headers(msg->rkm, &original);
	headers = original ? rd_kafka_headers_copy(original) : rd_kafka_headers_new(4);
	hbk_format(partition, sizeof(partition), "%d", (int)msg->rkm->partition);
	hbk_format(offset, sizeof(offset), "%lld", (long long)msg->rkm->offset);
	hbk_copy(text, sizeof(text), reason); /* cut, not refused, when long */
	header_add(headers, "hbk_dlq_reason", text);
	header_add(headers, "hbk_dlq_topic", rd_kafka_topic_name(msg->rkm->rkt));
	header_add(headers, "hbk_dlq_partition", partition);
	header_add(headers, "hbk_dlq_offset", offset);
	hbk_result rc = produce(producer, topic, msg->rkm->key, msg->rkm->key_len,
				msg->rkm->payload, msg->rkm->len, headers, NULL, err);
	rd_kafka_poll(producer->rk, 0);
	return rc;
}

void hbk_kafka_message_free(struct hbk_kafka_message *msg)
{
	if (!msg)
		return;
	rd_kafka_message_destroy(msg->rkm);
	free(msg);
}

/*
 * Leaves the group (so the partitions move at once) and commits what is
 * pending, for CONSUMER_CLOSE_MS at most: rd_kafka_consumer_close() waits
 * for the group coordinator for ever when no broker is left.
 */
static void consumer_close(rd_kafka_t *rk)
{
	rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
	rd_kafka_error_t *error = rd_kafka_consumer_close_queue(rk, queue);
	if (error) {
		rd_kafka_error_destroy(error);
	} else {
		int64_t until = hbk_now_ms() + CONSUMER_CLOSE_MS;
		while (!rd_kafka_consumer_closed(rk) && hbk_now_ms() < until) {
			rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, 100);
			if (ev)
				rd_kafka_event_destroy(ev);
		}
	}
	rd_kafka_queue_destroy(queue);
}

void hbk_kafka_free(struct hbk_kafka *kafka)
{
	if (!kafka)
		return;
	if (kafka->consumer) {
		consumer_close(kafka->rk);
		rd_kafka_destroy_flags(kafka->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	} else {
		rd_kafka_flush(kafka->rk, 2000);
		rd_kafka_destroy(kafka->rk);
	}
	free(kafka);
}
