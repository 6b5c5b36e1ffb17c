/*
 * kafka-mock.c - librdkafka's mock Kafka cluster in a process of its own,
 * for the end-to-end tests: it speaks the real protocol on loopback, so
 * hbk-admin, hbkd and kcat talk to it as to any cluster.
 *
 *   kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--ready-file FILE]
 *              [--control FIFO]
 *
 * The bootstrap servers go to stdout (one line) and to the ready file, which
 * is written last so that its presence means the cluster listens. Fault
 * commands arrive one per line on stdin and on the control FIFO:
 *
 *   broker down ID | broker up ID | rtt ID MS | errors APIKEY CODE COUNT
 *   topic NAME PARTITIONS | quit
 *
 * Broker ids run from 1 to N; -1 means every broker. APIKEY is a number or
 * the protocol's name (Metadata, Produce, ...), CODE a number or
 * librdkafka's name without the prefix (NOT_LEADER_FOR_PARTITION).
 * Each command is answered on stderr ("kafka-mock: ok broker down 2" or
 * "kafka-mock: error: ..."), which tests may wait for. The end of stdin is
 * not a quit: a cluster started in the background has /dev/null there.
 * SIGTERM, SIGINT and quit destroy the cluster and exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define BROKERS_MAX	32
#define TOPICS_MAX	64
#define PARTITIONS_MAX	1000
#define RTT_MS_MAX	600000
#define ERROR_COUNT_MAX 1000
#define LINE_MAX_BYTES	512
#define WORDS_MAX	8
#define REPLICATION_MAX 3 /* never more than the brokers, see replication() */

/* A command source: stdin or the FIFO, read line by line without stdio so
 * poll() sees every byte that has arrived. */
struct source {
	const char *name;
	int fd;
	char line[LINE_MAX_BYTES];
	size_t len;
	bool overlong; /* the current line passed LINE_MAX_BYTES: dropped */
};

static volatile sig_atomic_t stop_signal;
static int broker_count = 3;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void usage(FILE *out)
{
	fputs("usage: kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--ready-file FILE]\n"
	      "                  [--control FIFO]\n"
	      "commands (stdin and FIFO): broker down ID | broker up ID | rtt ID MS |\n"
	      "  errors APIKEY CODE COUNT | topic NAME PARTITIONS | quit\n",
	      out);
}

/* Parses a whole base-10 number in [min, max]. */
static bool parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Replication of the topics created here: as Kafka would, never more
 * replicas than brokers. */
static int replication(void)
{
	return broker_count < REPLICATION_MAX ? broker_count : REPLICATION_MAX;
}

static bool create_topic(rd_kafka_mock_cluster_t *mcluster, const char *name, long partitions)
{
	rd_kafka_resp_err_t e =
	    rd_kafka_mock_topic_create(mcluster, name, (int)partitions, replication());
	if (e) {
		fprintf(stderr, "kafka-mock: error: topic %s: %s\n", name, rd_kafka_err2str(e));
		return false;
	}
	return true;
}

/* "NAME:PARTITIONS" from --topic. */
static bool topic_option(rd_kafka_mock_cluster_t *mcluster, const char *spec)
{
	char name[256];
	long partitions;
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(name) ||
	    !parse_int(colon + 1, 1, PARTITIONS_MAX, &partitions)) {
		fprintf(stderr, "kafka-mock: error: --topic: expected NAME:PARTITIONS, got '%s'\n",
			spec);
		return false;
	}
	memcpy(name, spec, (size_t)(colon - spec));
	name[colon - spec] = '\0';
	return create_topic(mcluster, name, partitions);
}

/* An error code by number or by name ("NOT_LEADER_FOR_PARTITION"). */
static bool parse_error_code(const char *s, rd_kafka_resp_err_t *out)
{
	long n;
	if (parse_int(s, -200, 1000, &n)) {
		*out = (rd_kafka_resp_err_t)n;
		return true;
	}
	const struct rd_kafka_err_desc *descs;
	size_t count;
	rd_kafka_get_err_descs(&descs, &count);
	for (size_t i = 0; i < count; i++) {
		if (descs[i].name && strcmp(descs[i].name, s) == 0) {
			*out = descs[i].code;
			return true;
		}
	}
	return false;
}

/* A request type by number or by the protocol's name ("Metadata"). */
static bool parse_api_key(const char *s, int16_t *out)
{
	static const char *const names[] = {
	    "Produce",
	    "Fetch",
	    "ListOffsets",
	    "Metadata",
	    "LeaderAndIsr",
	    "StopReplica",
	    "UpdateMetadata",
	    "ControlledShutdown",
	    "OffsetCommit",
	    "OffsetFetch",
	    "FindCoordinator",
	    "JoinGroup",
	    "Heartbeat",
	    "LeaveGroup",
	    "SyncGroup",
	    "DescribeGroups",
	    "ListGroups",
	    "SaslHandshake",
	    "ApiVersions",
	    "CreateTopics",
	    "DeleteTopics",
	    "DeleteRecords",
	    "InitProducerId",
	    "OffsetForLeaderEpoch",
	    "AddPartitionsToTxn",
	    "AddOffsetsToTxn",
	    "EndTxn",
	    "WriteTxnMarkers",
	    "TxnOffsetCommit",
	};
	long n;
	if (parse_int(s, 0, 200, &n)) {
		*out = (int16_t)n;
		return true;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(names[i], s) == 0) {
			*out = (int16_t)i;
			return true;
		}
	}
	return false;
}

static bool broker_id(const char *s, int32_t *out)
{
	long id;
	if (!parse_int(s, -1, broker_count, &id) || id == 0)
		return false;
	*out = (int32_t)id;
	return true;
}

/* Splits line in place at blanks into words; returns the count, or -1
 * when there are more than WORDS_MAX. */
static int split_words(char *line, char *words[WORDS_MAX])
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			*p++ = '\0';
		if (!*p)
			return n;
		if (n == WORDS_MAX)
			return -1;
		words[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
	}
}

/* Runs one command line; returns false on quit. */
static bool run_command(rd_kafka_mock_cluster_t *mcluster, char *line)
{
	char echo[LINE_MAX_BYTES];
	char *words[WORDS_MAX];
	long value, count;
	int32_t id;
	int16_t api_key;
	rd_kafka_resp_err_t code, e = RD_KAFKA_RESP_ERR_NO_ERROR;

	snprintf(echo, sizeof(echo), "%s", line);
	int n = split_words(line, words);
	if (n < 0) {
		fprintf(stderr, "kafka-mock: error: too many words: %s\n", echo);
		return true;
	}
	if (n == 0)
		return true;
	if (n == 1 && strcmp(words[0], "quit") == 0) {
		fprintf(stderr, "kafka-mock: ok quit\n");
		return false;
	}
	if (n == 3 && strcmp(words[0], "broker") == 0 && broker_id(words[2], &id) &&
	    (strcmp(words[1], "down") == 0 || strcmp(words[1], "up") == 0)) {
		e = strcmp(words[1], "down") == 0 ? rd_kafka_mock_broker_set_down(mcluster, id)
						  : rd_kafka_mock_broker_set_up(mcluster, id);
	} else if (n == 3 && strcmp(words[0], "rtt") == 0 && broker_id(words[1], &id) &&
		   parse_int(words[2], 0, RTT_MS_MAX, &value)) {
		e = rd_kafka_mock_broker_set_rtt(mcluster, id, (int)value);
	} else if (n == 4 && strcmp(words[0], "errors") == 0 && parse_api_key(words[1], &api_key) &&
		   parse_error_code(words[2], &code) &&
		   parse_int(words[3], 1, ERROR_COUNT_MAX, &count)) {
		rd_kafka_resp_err_t errors[ERROR_COUNT_MAX];
		for (long i = 0; i < count; i++)
			errors[i] = code;
		rd_kafka_mock_push_request_errors_array(mcluster, api_key, (size_t)count, errors);
	} else if (n == 3 && strcmp(words[0], "topic") == 0 &&
		   parse_int(words[2], 1, PARTITIONS_MAX, &value)) {
		if (!create_topic(mcluster, words[1], value))
			return true;
	} else {
		fprintf(stderr, "kafka-mock: error: unknown command: %s\n", echo);
		return true;
	}
	if (e)
		fprintf(stderr, "kafka-mock: error: %s: %s\n", echo, rd_kafka_err2str(e));
	else
		fprintf(stderr, "kafka-mock: ok %s\n", echo);
	return true;
}

/* Reads what has arrived on a source and runs each complete line. Returns
 * false on quit; sets *eof at the end of the input. */
static bool drain(rd_kafka_mock_cluster_t *mcluster, struct source *src, bool *eof)
{
	char chunk[LINE_MAX_BYTES];
	ssize_t got = read(src->fd, chunk, sizeof(chunk));
	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (got <= 0) {
		*eof = true;
		return true;
	}
	for (ssize_t i = 0; i < got; i++) {
		if (chunk[i] != '\n') {
			if (src->len + 1 < sizeof(src->line))
				src->line[src->len++] = chunk[i];
			else
				src->overlong = true;
			continue;
		}
		src->line[src->len] = '\0';
		bool go_on = true;
		if (src->overlong)
			fprintf(stderr, "kafka-mock: error: %s: line longer than %d bytes\n",
				src->name, LINE_MAX_BYTES - 1);
		else
			go_on = run_command(mcluster, src->line);
		src->len = 0;
		src->overlong = false;
		if (!go_on)
			return false;
	}
	fflush(stderr);
	return true;
}

/* Writes the bootstrap list to path through a temporary file and a rename,
 * so a reader never sees half of it. */
static bool write_ready(const char *path, const char *bootstraps)
{
	char tmp[4096];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return false;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return false;
	bool ok = fprintf(f, "%s\n", bootstraps) > 0;
	ok = fclose(f) == 0 && ok;
	return ok && rename(tmp, path) == 0;
}

/* The mock's own handle logs to stderr only when something goes wrong. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	if (level <= 3)
		fprintf(stderr, "kafka-mock: librdkafka: %s: %s\n", fac, buf);
}

static int serve(rd_kafka_mock_cluster_t *mcluster, int control_fd)
{
	struct source sources[2] = {{.name = "stdin", .fd = STDIN_FILENO},
				    {.name = "control", .fd = control_fd}};
	bool open_[2] = {true, control_fd >= 0};

	while (!stop_signal) {
		struct pollfd fds[2];
		int map[2], nfds = 0;
		for (int i = 0; i < 2; i++) {
			if (!open_[i])
				continue;
			fds[nfds] = (struct pollfd){.fd = sources[i].fd, .events = POLLIN};
			map[nfds++] = i;
		}
		/* A bounded wait, so a signal between the check and poll() is
		 * seen within a second even where it does not interrupt. */
		int ready = poll(fds, (nfds_t)nfds, 1000);
		if (ready < 0 && errno != EINTR) {
			perror("kafka-mock: poll");
			return 1;
		}
		for (int k = 0; ready > 0 && k < nfds; k++) {
			if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			bool eof = false;
			if (!drain(mcluster, &sources[map[k]], &eof))
				return 0;
			if (eof)
				open_[map[k]] = false;
		}
	}
	fprintf(stderr, "kafka-mock: stopping on %s\n", strsignal(stop_signal));
	return 0;
}

int main(int argc, char **argv)
{
	const char *ready_file = NULL, *control = NULL;
	const char *topics[TOPICS_MAX];
	int ntopics = 0;
	long value;
	char errstr[512];

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (!next) {
			usage(stderr);
			return 2;
		}
		if (strcmp(arg, "--brokers") == 0 && parse_int(next, 1, BROKERS_MAX, &value))
			broker_count = (int)value;
		else if (strcmp(arg, "--topic") == 0 && ntopics < TOPICS_MAX)
			topics[ntopics++] = next;
		else if (strcmp(arg, "--ready-file") == 0)
			ready_file = next;
		else if (strcmp(arg, "--control") == 0)
			control = next;
		else {
			fprintf(stderr, "kafka-mock: error: bad option '%s %s'\n", arg, next);
			usage(stderr);
			return 2;
		}
		i++;
	}

	int control_fd = -1;
	if (control) {
		if (mkfifo(control, 0600) != 0 && errno != EEXIST) {
			fprintf(stderr, "kafka-mock: error: mkfifo %s: %s\n", control,
				strerror(errno));
			return 1;
		}
		/* Opened for writing too, so the FIFO never reports an end when a
		 * writer closes and "echo cmd > FIFO" never blocks for a reader. */
		control_fd = open(control, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (control_fd < 0) {
			fprintf(stderr, "kafka-mock: error: open %s: %s\n", control,
				strerror(errno));
			return 1;
		}
	}

	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The mock cluster lives on a client handle; this one only owns it. */
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, quiet_log);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "kafka-mock: error: %s\n", errstr);
		return 1;
	}
	conf = NULL; /* owned by rk */
	rd_kafka_mock_cluster_t *mcluster = rd_kafka_mock_cluster_new(rk, broker_count);
	if (!mcluster) {
		fprintf(stderr, "kafka-mock: error: cannot create the mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	int code = 0;
	for (int i = 0; i < ntopics && code == 0; i++)
		if (!topic_option(mcluster, topics[i]))
			code = 2;
	const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
	if (code == 0) {
		printf("%s\n", bootstraps);
		fflush(stdout);
		if (ready_file && !write_ready(ready_file, bootstraps)) {
			fprintf(stderr, "kafka-mock: error: cannot write %s: %s\n", ready_file,
				strerror(errno));
			code = 1;
		}
	}
	if (code == 0) {
		fprintf(stderr, "kafka-mock: %d brokers at %s\n", broker_count, bootstraps);
		code = serve(mcluster, control_fd);
	}
	rd_kafka_mock_cluster_destroy(mcluster);
	rd_kafka_destroy(rk);
	if (control_fd >= 0)
		close(control_fd);
	return code;
}
