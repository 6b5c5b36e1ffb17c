/*
 * kafka_admin.c - hbk's topics and the cluster's health through
 * librdkafka: metadata for topics, partitions, leaders and brokers; the
 * Admin API for CreateTopics, ListConsumerGroups and
 * ListConsumerGroupOffsets; ListOffsets (offsets_for_times) for the end
 * of each partition, from which a group's lag follows.
 *
 * One consumer handle without a group does it all: it never subscribes,
 * so it joins nothing, and a consumer handle can ask for end offsets.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "hbk/kafka.h"

#define TOPIC_ROLES	     3
#define BROKERS_MAX	     256
#define PROBE_TIMEOUT_MS_MAX 2000 /* a broker that does not answer in this is down */
#define LOG_LINE_MAX	     256

struct hbk_kafka_admin {
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue; /* where the Admin API answers */
	struct hbk_kafka_config cfg;
	/* librdkafka logs from its own threads: the first error it logs
	 * explains a failure better than a bare time-out. */
	pthread_mutex_t lock;
	char first_error[LOG_LINE_MAX];
};

struct topic_role {
	const char *role;
	const char *name;
};

static void roles(const struct hbk_kafka_admin *kafka, struct topic_role out[TOPIC_ROLES])
{
	out[0] = (struct topic_role){"commands", kafka->cfg.topic_commands};
	out[1] = (struct topic_role){"events", kafka->cfg.topic_events};
	out[2] = (struct topic_role){"dlq", kafka->cfg.topic_dlq};
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	struct hbk_kafka_admin *kafka = rd_kafka_opaque(rk);
	(void)fac;
	if (!kafka || level > 3) /* LOG_ERR and worse */
		return;
	/* "[thrd:...]: " names librdkafka's thread: noise to an operator. */
	const char *thread_end = strncmp(buf, "[thrd:", 6) == 0 ? strstr(buf, "]: ") : NULL;
	if (thread_end)
		buf = thread_end + 3;
	pthread_mutex_lock(&kafka->lock);
	if (!kafka->first_error[0])
		hbk_copy(kafka->first_error, sizeof(kafka->first_error), buf);
	pthread_mutex_unlock(&kafka->lock);
}

/* The first error librdkafka logged, or what err says. Copied into out. */
static void cause(struct hbk_kafka_admin *kafka, rd_kafka_resp_err_t e, char *out, size_t size)
{
	pthread_mutex_lock(&kafka->lock);
	hbk_copy(out, size, kafka->first_error[0] ? kafka->first_error : rd_kafka_err2str(e));
	pthread_mutex_unlock(&kafka->lock);
}

/* The exit-code class of a Kafka error, local or from a broker. */
static hbk_result classify(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
	case RD_KAFKA_RESP_ERR__TIMED_OUT:
	case RD_KAFKA_RESP_ERR__RESOLVE:
	case RD_KAFKA_RESP_ERR__WAIT_COORD:
	case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
	case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
	case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS: return HBK_EUNAVAILABLE;
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
	case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED: return HBK_EAUTH;
	case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
	case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
	case RD_KAFKA_RESP_ERR_INVALID_REPLICA_ASSIGNMENT:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
	case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
	case RD_KAFKA_RESP_ERR__INVALID_ARG: return HBK_EINVAL;
	case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: return HBK_ECONFLICT;
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND: return HBK_ENOTFOUND;
	default:
		return e > 0 || e == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ? HBK_EDECLINED
									    : HBK_EINTERNAL;
	}
}

static hbk_result unreachable(struct hbk_kafka_admin *kafka, rd_kafka_resp_err_t e,
			      struct hbk_error *err)
{
	char why[LOG_LINE_MAX];
	cause(kafka, e, why, sizeof(why));
	return hbk_fail(err, HBK_EUNAVAILABLE, "kafka_unavailable",
			"kafka: no broker at %.*s answered within %d ms (%s)",
			hbk_utf8_cut(kafka->cfg.brokers, 200), kafka->cfg.brokers,
			kafka->cfg.timeout_ms, why);
}

/* Sets a fixed property whose name and value are known good: a failure is
 * a bug here, not bad input. */
static void conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char errstr[256];
	rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr));
	HBK_ASSERT(res == RD_KAFKA_CONF_OK);
}

static rd_kafka_conf_t *new_conf(const char *brokers, int timeout_ms, void *opaque)
{
	char timeout[24];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	hbk_format(timeout, sizeof(timeout), "%d", timeout_ms);
	conf_set(conf, "bootstrap.servers", brokers);
	conf_set(conf, "socket.timeout.ms", timeout);
	conf_set(conf, "log.connection.close", "false");
	conf_set(conf, "allow.auto.create.topics", "false");
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_opaque(conf, opaque);
	return conf;
}

hbk_result hbk_kafka_admin_open(const struct hbk_kafka_config *kc, struct hbk_kafka_admin **out,
				struct hbk_error *err)
{
	char errstr[512];
	HBK_ASSERT(kc != NULL && out != NULL);
	*out = NULL;
	if (!kc->brokers[0])
		return hbk_fail_field(err, HBK_EINVAL, "no_brokers", "kafka.brokers",
				      "kafka: no brokers (set kafka.brokers, HBK_KAFKA_BROKERS or "
				      "--brokers)");
	struct hbk_kafka_admin *kafka = hbk_xcalloc(1, sizeof(*kafka));
	kafka->cfg = *kc;
	pthread_mutex_init(&kafka->lock, NULL);
	rd_kafka_conf_t *conf = new_conf(kc->brokers, kc->timeout_ms, kafka);
	kafka->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!kafka->rk) {
		rd_kafka_conf_destroy(conf);
		hbk_kafka_admin_close(kafka);
		return hbk_fail_field(err, HBK_EINVAL, "invalid_config", "kafka.brokers",
				      "kafka: %s", errstr);
	}
	conf = NULL; /* owned by rk */
	kafka->queue = rd_kafka_queue_new(kafka->rk);

	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t e = rd_kafka_metadata(kafka->rk, 0, NULL, &md, kc->timeout_ms);
	if (e) {
		hbk_result rc = unreachable(kafka, e, err);
		hbk_kafka_admin_close(kafka);
		return rc;
	}
	rd_kafka_metadata_destroy(md);
	*out = kafka;
	return HBK_OK;
}

void hbk_kafka_admin_close(struct hbk_kafka_admin *kafka)
{
	if (!kafka)
		return;
	if (kafka->queue)
		rd_kafka_queue_destroy(kafka->queue);
	if (kafka->rk) {
		rd_kafka_consumer_close(kafka->rk);
		rd_kafka_destroy(kafka->rk);
	}
	pthread_mutex_destroy(&kafka->lock);
	free(kafka);
}

/* The metadata of every topic (never creating one). Caller destroys *md. */
static hbk_result all_metadata(struct hbk_kafka_admin *kafka, const struct rd_kafka_metadata **md,
			       struct hbk_error *err)
{
	rd_kafka_resp_err_t e = rd_kafka_metadata(kafka->rk, 1, NULL, md, kafka->cfg.timeout_ms);
	if (e)
		return unreachable(kafka, e, err);
	return HBK_OK;
}

static const rd_kafka_metadata_topic_t *find_topic(const struct rd_kafka_metadata *md,
						   const char *name)
{
	for (int i = 0; i < md->topic_cnt; i++)
		if (strcmp(md->topics[i].topic, name) == 0 &&
		    md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
			return &md->topics[i];
	return NULL;
}

/* Replication as the cluster has it: the replicas of partition 0. */
static int topic_replication(const rd_kafka_metadata_topic_t *t)
{
	return t && t->partition_cnt > 0 ? t->partitions[0].replica_cnt : 0;
}

static json_t *id_array(const int32_t *ids, int count)
{
	json_t *a = json_array();
	for (int i = 0; i < count; i++)
		json_array_append_new(a, json_integer(ids[i]));
	return a;
}

/* ------------------------------------------------------------------------
 * topics create
 */

/*
 * Waits for the answer to an Admin API call of type; NULL on time-out.
 * The request's own time-out normally ends it first; the margin covers the
 * queue hand-off. An answer to an earlier call that came too late is
 * dropped, so it cannot be taken for this one.
 */
static rd_kafka_event_t *admin_wait(struct hbk_kafka_admin *kafka, rd_kafka_event_type_t type)
{
	int64_t deadline_ms = hbk_now_ms() + kafka->cfg.timeout_ms * 2 + 1000;
	for (int64_t left_ms; (left_ms = deadline_ms - hbk_now_ms()) > 0;) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(kafka->queue, (int)left_ms);
		if (!ev || rd_kafka_event_type(ev) == type)
			return ev;
		rd_kafka_event_destroy(ev);
	}
	return NULL;
}

static rd_kafka_AdminOptions_t *admin_options(struct hbk_kafka_admin *kafka, rd_kafka_admin_op_t op)
{
	char errstr[256];
	rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(kafka->rk, op);
	/* kafka.timeout_ms is within librdkafka's bounds: config checked it. */
	rd_kafka_resp_err_t e = rd_kafka_AdminOptions_set_request_timeout(o, kafka->cfg.timeout_ms,
									  errstr, sizeof(errstr));
	HBK_ASSERT(e == RD_KAFKA_RESP_ERR_NO_ERROR);
	return o;
}

/*
 * Sends CreateTopics for the topics named in missing[]. A cluster whose
 * metadata names no live controller (librdkafka's mock cluster is one)
 * would leave librdkafka waiting for one until the time-out: the request
 * goes to a broker it knows instead, which answers for itself.
 */
static hbk_result create_missing(struct hbk_kafka_admin *kafka, const struct rd_kafka_metadata *md,
				 const char *const *missing, int nmissing, json_t *results,
				 struct hbk_error *err)
{
	char errstr[256];
	rd_kafka_NewTopic_t *topics[TOPIC_ROLES];
	hbk_result rc = HBK_OK;

	HBK_ASSERT(nmissing > 0 && nmissing <= TOPIC_ROLES);
	for (int i = 0; i < nmissing; i++) {
		topics[i] = rd_kafka_NewTopic_new(missing[i], kafka->cfg.partitions,
						  kafka->cfg.replication, errstr, sizeof(errstr));
		HBK_ASSERT(topics[i] != NULL); /* names and counts were checked by config */
	}
	rd_kafka_AdminOptions_t *o = admin_options(kafka, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_resp_err_t set = rd_kafka_AdminOptions_set_operation_timeout(
	    o, kafka->cfg.timeout_ms, errstr, sizeof(errstr));
	HBK_ASSERT(set == RD_KAFKA_RESP_ERR_NO_ERROR);
	int32_t controller = rd_kafka_controllerid(kafka->rk, kafka->cfg.timeout_ms);
	bool known = false;
	for (int i = 0; i < md->broker_cnt; i++)
		known = known || md->brokers[i].id == controller;
	if (!known && md->broker_cnt > 0)
		rd_kafka_AdminOptions_set_broker(o, md->brokers[0].id, errstr, sizeof(errstr));

	rd_kafka_CreateTopics(kafka->rk, topics, (size_t)nmissing, o, kafka->queue);
	rd_kafka_event_t *ev = admin_wait(kafka, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
	rd_kafka_AdminOptions_destroy(o);
	rd_kafka_NewTopic_destroy_array(topics, (size_t)nmissing);

	struct hbk_buf names;
	hbk_buf_init(&names, 1024);
	for (int i = 0; i < nmissing; i++)
		hbk_buf_printf(&names, "%s%s", i ? ", " : "", missing[i]);
	rd_kafka_resp_err_t e = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
	if (e) {
		rc = hbk_fail(err, classify(e), "kafka_create_topics",
			      "kafka: cannot create %s: %s%s", names.data,
			      ev ? rd_kafka_event_error_string(ev) : "no answer in time",
			      e == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE
				  ? " (create them with the cluster's own tools)"
				  : "");
		goto out;
	}
	size_t n = 0;
	const rd_kafka_topic_result_t **tr =
	    rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
	for (size_t i = 0; i < n && rc == HBK_OK; i++) {
		rd_kafka_resp_err_t te = rd_kafka_topic_result_error(tr[i]);
		const char *name = rd_kafka_topic_result_name(tr[i]);
		if (te && te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
			const char *why = rd_kafka_topic_result_error_string(tr[i]);
			rc = hbk_fail(err, classify(te), "kafka_create_topics",
				      "kafka: cannot create %s: %s", name,
				      why ? why : rd_kafka_err2str(te));
			break;
		}
		json_object_set_new(results, name, json_string(te ? "exists" : "created"));
	}
out:
	hbk_buf_free(&names);
	if (ev)
		rd_kafka_event_destroy(ev);
	return rc;
}

/* One row of the create answer, from the metadata when the topic exists. */
static json_t *created_row(const struct hbk_kafka_admin *kafka, const struct topic_role *r,
			   const char *result, const rd_kafka_metadata_topic_t *t)
{
	bool fresh = strcmp(result, "created") == 0;
	return json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i}", "role", r->role, "name", r->name,
			 "result", result, "partitions",
			 fresh ? kafka->cfg.partitions : (t ? t->partition_cnt : 0), "replication",
			 fresh ? kafka->cfg.replication : topic_replication(t),
			 "partitions_configured", kafka->cfg.partitions, "replication_configured",
			 kafka->cfg.replication);
}

hbk_result hbk_kafka_topics_create(struct hbk_kafka_admin *kafka, json_t **out,
				   struct hbk_error *err)
{
	struct topic_role r[TOPIC_ROLES];
	const char *missing[TOPIC_ROLES];
	int nmissing = 0;
	const struct rd_kafka_metadata *md = NULL;
	hbk_result rc;

	HBK_ASSERT(kafka != NULL && out != NULL);
	*out = NULL;
	roles(kafka, r);
	if ((rc = all_metadata(kafka, &md, err)) != HBK_OK)
		return rc;
	for (int i = 0; i < TOPIC_ROLES; i++) {
		bool seen = false; /* two roles may share one name */
		for (int j = 0; j < nmissing; j++)
			seen = seen || strcmp(missing[j], r[i].name) == 0;
		if (!find_topic(md, r[i].name) && !seen)
			missing[nmissing++] = r[i].name;
	}
	json_t *results = json_object(); /* name -> "created" | "exists" */
	if (nmissing > 0)
		rc = create_missing(kafka, md, missing, nmissing, results, err);
	if (rc == HBK_OK) {
		json_t *rows = json_array();
		for (int i = 0; i < TOPIC_ROLES; i++) {
			const char *result = json_string_value(json_object_get(results, r[i].name));
			json_array_append_new(rows,
					      created_row(kafka, &r[i], result ? result : "exists",
							  find_topic(md, r[i].name)));
		}
		*out = json_pack("{s:o}", "topics", rows);
	}
	json_decref(results);
	rd_kafka_metadata_destroy(md);
	return rc;
}

/* ------------------------------------------------------------------------
 * topics describe
 */

static json_t *partition_json(const rd_kafka_metadata_partition_t *p)
{
	return json_pack("{s:i, s:i, s:o, s:o}", "partition", p->id, "leader", p->leader,
			 "replicas", id_array(p->replicas, p->replica_cnt), "isr",
			 id_array(p->isrs, p->isr_cnt));
}

static json_t *topic_json(const struct topic_role *r, const rd_kafka_metadata_topic_t *t)
{
	json_t *parts = json_array();
	for (int i = 0; t && i < t->partition_cnt; i++)
		json_array_append_new(parts, partition_json(&t->partitions[i]));
	json_t *doc = json_pack("{s:s, s:s, s:b, s:i, s:i, s:o}", "role", r->role, "name", r->name,
				"exists", t != NULL, "partitions", t ? t->partition_cnt : 0,
				"replication", topic_replication(t), "partition_list", parts);
	if (t && t->err)
		json_object_set_new(doc, "error", json_string(rd_kafka_err2str(t->err)));
	return doc;
}

hbk_result hbk_kafka_topics_describe(struct hbk_kafka_admin *kafka, json_t **out, int *missing,
				     struct hbk_error *err)
{
	struct topic_role r[TOPIC_ROLES];
	const struct rd_kafka_metadata *md = NULL;
	hbk_result rc;

	HBK_ASSERT(kafka != NULL && out != NULL && missing != NULL);
	*out = NULL;
	*missing = 0;
	roles(kafka, r);
	if ((rc = all_metadata(kafka, &md, err)) != HBK_OK)
		return rc;
	json_t *topics = json_array();
	for (int i = 0; i < TOPIC_ROLES; i++) {
		const rd_kafka_metadata_topic_t *t = find_topic(md, r[i].name);
		*missing += t == NULL;
		json_array_append_new(topics, topic_json(&r[i], t));
	}
	rd_kafka_metadata_destroy(md);
	*out = json_pack("{s:o}", "topics", topics);
	return HBK_OK;
}

/* ------------------------------------------------------------------------
 * kafka status
 */

/*
 * Whether a broker answers on its own: a handle bootstrapped with that
 * broker alone can learn nothing from the others. The handles are all
 * made first so that their connections are tried at the same time.
 */
static json_t *brokers_json(struct hbk_kafka_admin *kafka, const struct rd_kafka_metadata *md,
			    bool down[BROKERS_MAX])
{
	rd_kafka_t *probes[BROKERS_MAX] = {0};
	int count = md->broker_cnt < BROKERS_MAX ? md->broker_cnt : BROKERS_MAX;
	int probe_ms = kafka->cfg.timeout_ms < PROBE_TIMEOUT_MS_MAX ? kafka->cfg.timeout_ms
								    : PROBE_TIMEOUT_MS_MAX;
	char errstr[256], address[300];

	for (int i = 0; i < count; i++) {
		hbk_format(address, sizeof(address), "%.255s:%d", md->brokers[i].host,
			   md->brokers[i].port);
		rd_kafka_conf_t *conf = new_conf(address, probe_ms, NULL);
		probes[i] = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
		if (!probes[i])
			rd_kafka_conf_destroy(conf);
	}
	json_t *brokers = json_array();
	for (int i = 0; i < count; i++) {
		const struct rd_kafka_metadata *probe_md = NULL;
		down[i] = !probes[i] || rd_kafka_metadata(probes[i], 0, NULL, &probe_md,
							  probe_ms) != RD_KAFKA_RESP_ERR_NO_ERROR;
		if (probe_md)
			rd_kafka_metadata_destroy(probe_md);
		json_array_append_new(
		    brokers, json_pack("{s:i, s:s, s:i, s:s}", "id", md->brokers[i].id, "host",
				       md->brokers[i].host, "port", md->brokers[i].port, "state",
				       down[i] ? "down" : "up"));
	}
	for (int i = 0; i < count; i++)
		if (probes[i])
			rd_kafka_destroy(probes[i]);
	return brokers;
}

static bool broker_down(const struct rd_kafka_metadata *md, const bool down[BROKERS_MAX],
			int32_t id)
{
	for (int i = 0; i < md->broker_cnt && i < BROKERS_MAX; i++)
		if (md->brokers[i].id == id)
			return down[i];
	return true; /* a leader the cluster does not list is not serving */
}

static json_t *topics_status_json(struct hbk_kafka_admin *kafka, const struct rd_kafka_metadata *md,
				  const bool down[BROKERS_MAX])
{
	struct topic_role r[TOPIC_ROLES];
	roles(kafka, r);
	json_t *topics = json_array();
	for (int i = 0; i < TOPIC_ROLES; i++) {
		const rd_kafka_metadata_topic_t *t = find_topic(md, r[i].name);
		int leaders_down = 0;
		for (int p = 0; t && p < t->partition_cnt; p++)
			leaders_down += t->partitions[p].leader < 0 ||
					broker_down(md, down, t->partitions[p].leader);
		json_array_append_new(
		    topics, json_pack("{s:s, s:s, s:b, s:i, s:i, s:i}", "role", r[i].role, "name",
				      r[i].name, "exists", t != NULL, "partitions",
				      t ? t->partition_cnt : 0, "replication", topic_replication(t),
				      "leaders_down", leaders_down));
	}
	return topics;
}

/* Asks every broker for its groups; list_groups() takes the answer. The
 * question goes first so that a broker that is down delays it while the
 * brokers are probed, not after. */
static void list_groups_start(struct hbk_kafka_admin *kafka)
{
	rd_kafka_AdminOptions_t *o = admin_options(kafka, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
	rd_kafka_ListConsumerGroups(kafka->rk, o, kafka->queue);
	rd_kafka_AdminOptions_destroy(o); /* the request keeps a copy */
}

/* The groups the cluster lists, into groups {"name": "state"}; false when
 * it cannot list them (ListGroups unsupported, or no broker answered). */
static bool list_groups(struct hbk_kafka_admin *kafka, json_t *groups)
{
	rd_kafka_event_t *ev = admin_wait(kafka, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT);
	if (!ev)
		return false;
	bool listed = false;
	if (!rd_kafka_event_error(ev)) {
		const rd_kafka_ListConsumerGroups_result_t *res =
		    rd_kafka_event_ListConsumerGroups_result(ev);
		size_t nvalid = 0, nerrors = 0;
		const rd_kafka_ConsumerGroupListing_t **valid =
		    rd_kafka_ListConsumerGroups_result_valid(res, &nvalid);
		rd_kafka_ListConsumerGroups_result_errors(res, &nerrors);
		/* Each broker answers for the groups it coordinates: with
		 * errors and nothing valid, no broker could answer. */
		listed = nvalid > 0 || nerrors == 0;
		for (size_t i = 0; i < nvalid; i++) {
			rd_kafka_consumer_group_state_t state =
			    rd_kafka_ConsumerGroupListing_state(valid[i]);
			json_object_set_new(groups,
					    rd_kafka_ConsumerGroupListing_group_id(valid[i]),
					    json_string(rd_kafka_consumer_group_state_name(state)));
		}
	}
	rd_kafka_event_destroy(ev);
	return listed;
}

/* The partitions of hbk's topics, for offsets. Caller destroys. */
static rd_kafka_topic_partition_list_t *our_partitions(struct hbk_kafka_admin *kafka,
						       const struct rd_kafka_metadata *md)
{
	struct topic_role r[TOPIC_ROLES];
	roles(kafka, r);
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(64);
	for (int i = 0; i < TOPIC_ROLES; i++) {
		const rd_kafka_metadata_topic_t *t = find_topic(md, r[i].name);
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen = seen || strcmp(r[j].name, r[i].name) == 0;
		for (int p = 0; t && !seen && p < t->partition_cnt; p++)
			rd_kafka_topic_partition_list_add(list, t->topic, t->partitions[p].id);
	}
	return list;
}

/* A group's committed offsets on our partitions; NULL when unknown. */
static rd_kafka_topic_partition_list_t *committed(struct hbk_kafka_admin *kafka, const char *group,
						  const rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_ListConsumerGroupOffsets_t *req =
	    rd_kafka_ListConsumerGroupOffsets_new(group, parts);
	rd_kafka_AdminOptions_t *o =
	    admin_options(kafka, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
	rd_kafka_ListConsumerGroupOffsets(kafka->rk, &req, 1, o, kafka->queue);
	rd_kafka_event_t *ev = admin_wait(kafka, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT);
	rd_kafka_AdminOptions_destroy(o);
	rd_kafka_ListConsumerGroupOffsets_destroy(req);
	if (!ev)
		return NULL;
	rd_kafka_topic_partition_list_t *offsets = NULL;
	if (!rd_kafka_event_error(ev)) {
		size_t n = 0;
		const rd_kafka_group_result_t **gr =
		    rd_kafka_ListConsumerGroupOffsets_result_groups(
			rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
		if (n == 1 && !rd_kafka_group_result_error(gr[0]))
			offsets = rd_kafka_topic_partition_list_copy(
			    rd_kafka_group_result_partitions(gr[0]));
	}
	rd_kafka_event_destroy(ev);
	return offsets;
}

static json_t *group_json(const char *group, const char *state,
			  const rd_kafka_topic_partition_list_t *offsets,
			  const rd_kafka_topic_partition_list_t *ends)
{
	json_t *parts = json_array();
	long long lag = 0;
	bool lag_known = offsets != NULL && ends != NULL;
	for (int i = 0; offsets && i < offsets->cnt; i++) {
		const rd_kafka_topic_partition_t *c = &offsets->elems[i];
		if (c->err || c->offset < 0)
			continue; /* nothing committed there */
		const rd_kafka_topic_partition_t *end =
		    ends ? rd_kafka_topic_partition_list_find(ends, c->topic, c->partition) : NULL;
		bool known = end && !end->err && end->offset >= 0;
		long long partition_lag =
		    known && end->offset > c->offset ? end->offset - c->offset : 0;
		lag_known = lag_known && known;
		lag += partition_lag;
		json_array_append_new(
		    parts, json_pack("{s:s, s:i, s:I, s:o, s:o}", "topic", c->topic, "partition",
				     c->partition, "committed", (json_int_t)c->offset, "end",
				     known ? json_integer(end->offset) : json_null(), "lag",
				     known ? json_integer(partition_lag) : json_null()));
	}
	return json_pack("{s:s, s:s, s:o, s:o}", "group", group, "state", state, "lag",
			 lag_known ? json_integer(lag) : json_null(), "partitions", parts);
}

/* The end offset of each partition, in one ListOffsets round; NULL when
 * it failed. Caller destroys. */
static rd_kafka_topic_partition_list_t *end_offsets(struct hbk_kafka_admin *kafka,
						    const rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_topic_partition_list_t *ends = rd_kafka_topic_partition_list_copy(parts);
	for (int i = 0; i < ends->cnt; i++)
		ends->elems[i].offset = RD_KAFKA_OFFSET_END; /* "latest" as a time */
	if (rd_kafka_offsets_for_times(kafka->rk, ends, kafka->cfg.timeout_ms) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR) {
		rd_kafka_topic_partition_list_destroy(ends);
		return NULL;
	}
	return ends;
}

static json_t *groups_json(struct hbk_kafka_admin *kafka, const struct rd_kafka_metadata *md,
			   const char *const *named, size_t nnamed, bool *listed)
{
	json_t *states = json_object();
	*listed = list_groups(kafka, states);
	for (size_t i = 0; i < nnamed; i++)
		if (!json_object_get(states, named[i]))
			json_object_set_new(states, named[i], json_string("unknown"));
	json_t *groups = json_array();
	if (json_object_size(states) == 0) {
		json_decref(states);
		return groups;
	}
	rd_kafka_topic_partition_list_t *parts = our_partitions(kafka, md);
	rd_kafka_topic_partition_list_t *ends = parts->cnt ? end_offsets(kafka, parts) : NULL;
	const char *group;
	json_t *state;
	json_object_foreach(states, group, state)
	{
		rd_kafka_topic_partition_list_t *offsets =
		    parts->cnt ? committed(kafka, group, parts) : NULL;
		json_array_append_new(groups,
				      group_json(group, json_string_value(state), offsets, ends));
		if (offsets)
			rd_kafka_topic_partition_list_destroy(offsets);
	}
	if (ends)
		rd_kafka_topic_partition_list_destroy(ends);
	rd_kafka_topic_partition_list_destroy(parts);
	json_decref(states);
	return groups;
}

hbk_result hbk_kafka_status(struct hbk_kafka_admin *kafka, const char *const *groups,
			    size_t ngroups, json_t **out, struct hbk_error *err)
{
	const struct rd_kafka_metadata *md = NULL;
	bool down[BROKERS_MAX] = {false};
	bool listed = false;
	hbk_result rc;

	HBK_ASSERT(kafka != NULL && out != NULL && ngroups <= HBK_KAFKA_GROUPS_MAX);
	*out = NULL;
	if ((rc = all_metadata(kafka, &md, err)) != HBK_OK)
		return rc;
	list_groups_start(kafka);
	json_t *brokers = brokers_json(kafka, md, down);
	json_t *topics = topics_status_json(kafka, md, down);
	json_t *group_list = groups_json(kafka, md, groups, ngroups, &listed);
	*out = json_pack("{s:s, s:o, s:o, s:b, s:o}", "bootstrap", kafka->cfg.brokers, "brokers",
			 brokers, "topics", topics, "groups_listed", listed, "groups", group_list);
	rd_kafka_metadata_destroy(md);
	return HBK_OK;
}
