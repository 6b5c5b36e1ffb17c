/*
 * test_bus.c - proves the Kafka side of the bus against librdkafka's mock
 * cluster, run in a child process and reached over loopback with the real
 * protocol: events keep every attribute through ce_* headers, a consumer
 * gets again what it did not commit, a message that is not an event goes
 * to the dead letters with its reason and origin, and a flush to no broker
 * reports the loss instead of claiming delivery.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hbk/bus.h"
#include "hbk/publisher.h"
#include "unit.h"

#define POLL_TOTAL_MS 60000 /* a consumer group's first join takes seconds */

static pid_t mock_pid;
static char bootstraps[256];

static void mock_stop(void)
{
	if (mock_pid) {
		kill(mock_pid, SIGKILL);
		waitpid(mock_pid, NULL, 0);
		mock_pid = 0;
	}
}

/* Starts the mock cluster (3 brokers) in a child; its address comes back
 * through a pipe. The child lives until it is killed. */
static const char *mock_start(void)
{
	int fds[2];
	if (mock_pid)
		return bootstraps;
	if (pipe(fds) != 0)
		exit(1);
	mock_pid = fork();
	if (mock_pid == 0) {
		char errstr[256];
		/* Dies with the tests, whichever way they end. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		rd_kafka_conf_t *conf = rd_kafka_conf_new();
		rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
		rd_kafka_mock_cluster_t *mc = rk ? rd_kafka_mock_cluster_new(rk, 3) : NULL;
		if (!mc)
			_exit(1);
		rd_kafka_mock_topic_create(mc, "events", 3, 3);
		rd_kafka_mock_topic_create(mc, "dlq", 1, 3);
		rd_kafka_mock_topic_create(mc, "raw", 1, 3);
		rd_kafka_mock_topic_create(mc, "outbox", 3, 3);
		rd_kafka_mock_topic_create(mc, "lagged", 1, 3);
		const char *address = rd_kafka_mock_cluster_bootstraps(mc);
		if (write(fds[1], address, strlen(address)) < 0)
			_exit(1);
		close(fds[1]);
		for (;;)
			pause();
	}
	close(fds[1]);
	atexit(mock_stop);
	ssize_t n = read(fds[0], bootstraps, sizeof(bootstraps) - 1);
	close(fds[0]);
	if (n <= 0) {
		fprintf(stderr, "mock cluster did not start\n");
		exit(1);
	}
	bootstraps[n] = '\0';
	return bootstraps;
}


static void event_make(struct hbk_event *ev, int n)
{
	memset(ev, 0, sizeof(*ev));
	hbk_format(ev->id, sizeof(ev->id), "EV-TEST-%04d", n);
	hbk_copy(ev->type, sizeof(ev->type), "hbk.booking.confirmed.v1");
	hbk_format(ev->subject, sizeof(ev->subject), "BK-TEST-%d", n);
	ev->sequence = n;
	ev->time_ms = 1767225600123LL + n;
	hbk_copy(ev->partitionkey, sizeof(ev->partitionkey), n % 2 ? "H-LIS-0001" : "H-PAR-0002");
	hbk_copy(ev->correlationid, sizeof(ev->correlationid), "REQ-1");
	hbk_format(ev->causationid, sizeof(ev->causationid), "EV-TEST-%04d", n - 1);
	ev->data = json_pack("{s:i, s:s, s:[i,i]}", "n", n, "status", "CONFIRMED", "nights", 1, 2);
}

/* The next message within the bound, or NULL. */
static struct hbk_kafka_message *next_message(struct hbk_kafka *consumer)
{
	struct hbk_error err = {0};
	for (int waited = 0; waited < POLL_TOTAL_MS; waited += 200) {
		struct hbk_kafka_message *msg = NULL;
		CHECK_INT(hbk_kafka_poll(consumer, 200, &msg, &err), HBK_OK);
		if (msg)
			return msg;
	}
	return NULL;
}

/* Whether got carries every attribute and the data of the event it was. */
static void check_same_event(const struct hbk_event *got)
{
	struct hbk_event want;
	event_make(&want, (int)got->sequence);
	CHECK_STR(got->id, want.id);
	CHECK_STR(got->type, want.type);
	CHECK_STR(got->subject, want.subject);
	CHECK_INT(got->time_ms, want.time_ms);
	CHECK_STR(got->partitionkey, want.partitionkey);
	CHECK_STR(got->correlationid, want.correlationid);
	CHECK_STR(got->causationid, want.causationid);
	CHECK(got->data && json_equal(got->data, want.data));
	hbk_event_clear(&want);
}

/* Reads count messages as events; commits the first when asked. Returns
 * how many came, and the id of the committed one in committed. */
static int read_events(struct hbk_kafka *consumer, int count, bool commit_first,
		       char committed[HBK_ID_MAX], const char *not_expected)
{
	struct hbk_error err = {0};
	int seen = 0;
	for (int i = 0; i < count; i++) {
		struct hbk_kafka_message *msg = next_message(consumer);
		if (!msg)
			break;
		struct hbk_event got;
		CHECK_INT(hbk_kafka_message_event(msg, &got, &err), HBK_OK);
		check_same_event(&got);
		if (not_expected)
			CHECK(strcmp(got.id, not_expected) != 0);
		if (commit_first && i == 0) {
			CHECK_INT(hbk_kafka_commit(consumer, msg, &err), HBK_OK);
			hbk_copy(committed, HBK_ID_MAX, got.id);
		}
		hbk_event_clear(&got);
		hbk_kafka_message_free(msg);
		seen++;
	}
	return seen;
}

static void test_events_round_trip_and_redelivery(void)
{
	const char *brokers = mock_start();
	struct hbk_error err = {0};
	struct hbk_kafka *producer = NULL, *consumer = NULL;
	const char *topics[] = {"events", NULL};
	char committed[HBK_ID_MAX] = "";
	enum { SENT = 6 };

	CHECK_INT(hbk_kafka_producer_new(brokers, &producer, &err), HBK_OK);
	for (int n = 1; n <= SENT; n++) {
		struct hbk_event ev;
		event_make(&ev, n);
		CHECK_INT(hbk_kafka_produce(producer, "events", &ev, &err), HBK_OK);
		hbk_event_clear(&ev);
	}
	CHECK_INT(hbk_kafka_flush(producer, 20000, &err), HBK_OK);
	hbk_kafka_free(producer);

	CHECK_INT(hbk_kafka_consumer_new(brokers, "g1", topics, 6000, &consumer, &err), HBK_OK);
	CHECK_INT(read_events(consumer, SENT, true, committed, NULL), SENT);
	hbk_kafka_free(consumer);
	CHECK(committed[0] != '\0');

	/* The group again: all but the committed one come back. */
	CHECK_INT(hbk_kafka_consumer_new(brokers, "g1", topics, 6000, &consumer, &err), HBK_OK);
	CHECK_INT(read_events(consumer, SENT - 1, false, NULL, committed), SENT - 1);
	struct hbk_kafka_message *extra = NULL;
	CHECK_INT(hbk_kafka_poll(consumer, 1000, &extra, &err), HBK_OK);
	CHECK(extra == NULL);
	hbk_kafka_message_free(extra);
	hbk_kafka_free(consumer);
}

static void test_a_message_that_is_no_event_goes_to_the_dead_letters(void)
{
	const char *brokers = mock_start();
	struct hbk_error err = {0};
	struct hbk_kafka *producer = NULL, *consumer = NULL, *dead = NULL;
	const char *raw_topics[] = {"raw", NULL}, *dlq_topics[] = {"dlq", NULL};
	char errstr[256];

	/* A plain message with no ce_* headers, as a foreign producer sends. */
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr));
	rd_kafka_t *raw = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	CHECK(raw != NULL);
	CHECK_INT(rd_kafka_producev(raw, RD_KAFKA_V_TOPIC("raw"), RD_KAFKA_V_KEY("H-LIS-0001", 10),
				    RD_KAFKA_V_VALUE("{\"oops\":1}", 10),
				    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
		  RD_KAFKA_RESP_ERR_NO_ERROR);
	CHECK_INT(rd_kafka_flush(raw, 20000), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(raw);

	CHECK_INT(hbk_kafka_consumer_new(brokers, "g2", raw_topics, 6000, &consumer, &err), HBK_OK);
	struct hbk_kafka_message *msg = next_message(consumer);
	CHECK(msg != NULL);
	if (!msg) {
		hbk_kafka_free(consumer);
		return;
	}
	struct hbk_event ev;
	struct hbk_kafka_origin origin;
	CHECK_INT(hbk_kafka_message_event(msg, &ev, &err), HBK_EINVAL);
	CHECK_STR(err.code, "invalid_event");
	hbk_event_clear(&ev);
	hbk_kafka_message_origin(msg, &origin);
	CHECK_STR(origin.topic, "raw");
	CHECK_INT(hbk_kafka_producer_new(brokers, &producer, &err), HBK_OK);
	CHECK_INT(hbk_kafka_dead_letter(producer, "dlq", msg, err.message, &err), HBK_OK);
	CHECK_INT(hbk_kafka_flush(producer, 20000, &err), HBK_OK);
	CHECK_INT(hbk_kafka_commit(consumer, msg, &err), HBK_OK);
	hbk_kafka_message_free(msg);

	/* The dead letter: the same key and value, the reason and origin. */
	CHECK_INT(hbk_kafka_consumer_new(brokers, "g3", dlq_topics, 6000, &dead, &err), HBK_OK);
	msg = next_message(dead);
	CHECK(msg != NULL);
	if (msg) {
		char text[256], offset[24];
		size_t len;
		const void *value = hbk_kafka_message_value(msg, &len);
		CHECK(len == 10 && memcmp(value, "{\"oops\":1}", 10) == 0);
		value = hbk_kafka_message_key(msg, &len);
		CHECK(len == 10 && memcmp(value, "H-LIS-0001", 10) == 0);
		CHECK(hbk_kafka_message_header(msg, "hbk_dlq_reason", text, sizeof(text)));
		CHECK(strstr(text, "ce_specversion") != NULL);
		CHECK(hbk_kafka_message_header(msg, "hbk_dlq_topic", text, sizeof(text)));
		CHECK_STR(text, "raw");
		hbk_format(offset, sizeof(offset), "%lld", (long long)origin.offset);
		CHECK(hbk_kafka_message_header(msg, "hbk_dlq_offset", text, sizeof(text)));
		CHECK_STR(text, offset);
		CHECK(hbk_kafka_message_header(msg, "hbk_dlq_partition", text, sizeof(text)));
		CHECK_STR(text, "0");
	}
	hbk_kafka_message_free(msg);
	hbk_kafka_free(dead);
	hbk_kafka_free(consumer);
	hbk_kafka_free(producer);
}

static void test_the_lag_counts_what_the_consumer_has_not_read(void)
{
	const char *brokers = mock_start();
	struct hbk_error err = {0};
	struct hbk_kafka *producer = NULL, *consumer = NULL;
	const char *topics[] = {"lagged", NULL};
	int64_t lag = -1;
	enum { SENT = 6 };

	CHECK_INT(hbk_kafka_producer_new(brokers, &producer, &err), HBK_OK);
	for (int n = 1; n <= SENT; n++) {
		struct hbk_event ev;
		event_make(&ev, n);
		CHECK_INT(hbk_kafka_produce(producer, "lagged", &ev, &err), HBK_OK);
		hbk_event_clear(&ev);
	}
	CHECK_INT(hbk_kafka_flush(producer, 20000, &err), HBK_OK);
	hbk_kafka_free(producer);

	CHECK_INT(hbk_kafka_consumer_new(brokers, "g5", topics, 6000, &consumer, &err), HBK_OK);
	struct hbk_kafka_message *msg = next_message(consumer);
	CHECK(msg != NULL);
	hbk_kafka_message_free(msg);
	CHECK_INT(hbk_kafka_lag(consumer, &lag, &err), HBK_OK);
	CHECK_INT(lag, SENT - 1);
	for (int i = 1; i < SENT; i++)
		hbk_kafka_message_free(next_message(consumer));
	CHECK_INT(hbk_kafka_lag(consumer, &lag, &err), HBK_OK);
	CHECK_INT(lag, 0);
	hbk_kafka_free(consumer);
}

static struct hbk_store *events_store(const char *name, int count)
{
	char path[512];
	struct hbk_store *store = NULL;
	struct hbk_error err = {0};
	hbk_format(path, sizeof(path), "%s/%s.db", unit_tmpdir(), name);
	CHECK_INT(hbk_store_open(path, HBK_STORE_CREATE | HBK_STORE_NO_RECOVER, &store, &err),
		  HBK_OK);
	CHECK_INT(hbk_store_begin(store, true, &err), HBK_OK);
	for (int n = 1; n <= count; n++) {
		struct hbk_event ev;
		event_make(&ev, n);
		/* Two streams, so that order is per stream, as in real life. */
		hbk_copy(ev.subject, sizeof(ev.subject), n % 2 ? "BK-ODD" : "BK-EVEN");
		CHECK_INT(hbk_events_append(store, &ev, (n - 1) / 2, &err), HBK_OK);
		hbk_event_clear(&ev);
	}
	CHECK_INT(hbk_store_commit(store, &err), HBK_OK);
	return store;
}

static int64_t count_where(struct hbk_store *store, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	int64_t n = -1;
	if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

static void test_the_relay_publishes_every_committed_event_once_acknowledged(void)
{
	const char *brokers = mock_start();
	struct hbk_error err = {0};
	struct hbk_publisher *publisher = NULL;
	struct hbk_kafka *consumer = NULL;
	const char *topics[] = {"outbox", NULL};
	enum { EVENTS = 300 }; /* more than one batch */
	struct hbk_store *store = events_store("relay", EVENTS);

	CHECK_INT(hbk_publisher_start(store->path, brokers, "outbox", &publisher, &err), HBK_OK);
	CHECK_INT(hbk_kafka_consumer_new(brokers, "g4", topics, 6000, &consumer, &err), HBK_OK);
	int64_t last_odd = 0, last_even = 0, seen = 0;
	for (int i = 0; i < EVENTS; i++) {
		struct hbk_kafka_message *msg = next_message(consumer);
		if (!msg)
			break;
		struct hbk_event ev;
		CHECK_INT(hbk_kafka_message_event(msg, &ev, &err), HBK_OK);
		int64_t *last = strcmp(ev.subject, "BK-ODD") == 0 ? &last_odd : &last_even;
		CHECK_INT(ev.sequence, *last + 1); /* in order within a stream */
		*last = ev.sequence;
		hbk_event_clear(&ev);
		hbk_kafka_message_free(msg);
		seen++;
	}
	CHECK_INT(seen, EVENTS);
	hbk_publisher_stop(publisher, 5000);
	CHECK_INT(count_where(store, "SELECT COUNT(*) FROM events WHERE published = 1"), EVENTS);
	hbk_kafka_free(consumer);
	hbk_store_close(store);
}

static void test_the_relay_marks_nothing_the_brokers_did_not_acknowledge(void)
{
	struct hbk_error err = {0};
	struct hbk_publisher *publisher = NULL;
	struct hbk_publisher_stats stats = {0};
	struct hbk_store *store = events_store("unacknowledged", 5);

	CHECK_INT(hbk_publisher_start(store->path, "127.0.0.1:1", "outbox", &publisher, &err),
		  HBK_OK);
	/* The first wait on the brokers ends after 1 s: then the failure shows. */
	for (int waited_ms = 0; waited_ms < 20000 && stats.failures == 0; waited_ms += 100) {
		usleep(100 * 1000);
		hbk_publisher_stats(publisher, &stats);
	}
	CHECK(stats.failures >= 1 && stats.failing);
	CHECK_INT(stats.published, 0);
	CHECK_INT(stats.pending, 5);
	CHECK(strstr(stats.last_error, "not written") != NULL);
	CHECK_INT(count_where(store, "SELECT COUNT(*) FROM events WHERE published = 1"), 0);
	hbk_publisher_stop(publisher, 0);
	hbk_store_close(store);
}

static void test_a_flush_to_no_broker_reports_the_loss(void)
{
	struct hbk_error err = {0};
	struct hbk_kafka *producer = NULL;
	struct hbk_event ev;
	/* Port 1 on loopback: nothing listens there. */
	CHECK_INT(hbk_kafka_producer_new("127.0.0.1:1", &producer, &err), HBK_OK);
	event_make(&ev, 1);
	CHECK_INT(hbk_kafka_produce(producer, "events", &ev, &err), HBK_OK);
	hbk_event_clear(&ev);
	CHECK_INT(hbk_kafka_flush(producer, 1500, &err), HBK_EUNAVAILABLE);
	CHECK_STR(err.code, "kafka_timeout");
	hbk_kafka_free(producer);
	mock_stop();
}

UNIT_TESTS(UNIT_T(test_events_round_trip_and_redelivery),
	   UNIT_T(test_a_message_that_is_no_event_goes_to_the_dead_letters),
	   UNIT_T(test_the_lag_counts_what_the_consumer_has_not_read),
	   UNIT_T(test_the_relay_publishes_every_committed_event_once_acknowledged),
	   UNIT_T(test_the_relay_marks_nothing_the_brokers_did_not_acknowledge),
	   UNIT_T(test_a_flush_to_no_broker_reports_the_loss));
