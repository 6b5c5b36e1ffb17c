/*
 * kafka.h - the Kafka cluster as operators see it (hbk-admin topics,
 * hbk-admin kafka status): the three topics of hbk.yaml(5)'s kafka block
 * created and described, the brokers and their health, consumer groups
 * and their lag. librdkafka's Admin API and metadata underneath.
 *
 * Every call answers a JSON document (a new reference the caller owns) for
 * the tools to print as JSON, a table or CSV. Failures map to the exit
 * codes: brokers that do not answer HBK_EUNAVAILABLE, a cluster that
 * refuses an operation HBK_EDECLINED, a bad topic setting HBK_EINVAL,
 * an authorization failure HBK_EAUTH. Nothing here prints: librdkafka's
 * log lines are kept (the first error) to explain a failure.
 */
#ifndef HBK_KAFKA_H
#define HBK_KAFKA_H

#include <jansson.h>

#include "hbk/config.h"
#include "hbk/core.h"

#define HBK_KAFKA_GROUPS_MAX 64 /* groups named on the command line */

struct hbk_kafka_admin;

/*
 * Connects to kc->brokers (copied) and asks for the cluster's metadata,
 * so an unreachable cluster fails here with HBK_EUNAVAILABLE within
 * kc->timeout_ms. kc->brokers must not be empty (HBK_EINVAL). The caller
 * frees *out with hbk_kafka_admin_close().
 */
hbk_result hbk_kafka_admin_open(const struct hbk_kafka_config *kc, struct hbk_kafka_admin **out,
				struct hbk_error *err);
void hbk_kafka_admin_close(struct hbk_kafka_admin *kafka);

/*
 * Creates the commands, events and dlq topics with the configured
 * partitions and replication. A topic that exists already is reported,
 * not an error: {"topics":[{"role":"commands","name":"hbk.commands",
 * "result":"created"|"exists","partitions":12,"replication":3,
 * "partitions_configured":12,"replication_configured":3}]}. A cluster
 * without CreateTopics fails HBK_EDECLINED naming the topics missing.
 */
hbk_result hbk_kafka_topics_create(struct hbk_kafka_admin *kafka, json_t **out,
				   struct hbk_error *err);

/*
 * The three topics as the cluster has them: {"topics":[{"role","name",
 * "exists","partitions","replication","partition_list":[{"partition",
 * "leader","replicas":[...],"isr":[...]}]}]}. A missing topic is
 * "exists":false with no partitions; *missing counts them.
 */
hbk_result hbk_kafka_topics_describe(struct hbk_kafka_admin *kafka, json_t **out, int *missing,
				     struct hbk_error *err);

/*
 * The cluster's health: {"bootstrap","brokers":[{"id","host","port",
 * "state":"up"|"down"}],"topics":[{"role","name","exists","partitions",
 * "replication","leaders_down"}],"groups_listed":bool,"groups":[{"group",
 * "state","lag","partitions":[{"topic","partition","committed","end",
 * "lag"}]}]}. A broker is up when it answers a metadata request of its
 * own. groups (borrowed, ngroups <= HBK_KAFKA_GROUPS_MAX) are reported
 * besides those the cluster lists; "groups_listed" is false when the
 * brokers cannot list groups. lag is null when the end offsets could not
 * be read.
 */
hbk_result hbk_kafka_status(struct hbk_kafka_admin *kafka, const char *const *groups,
			    size_t ngroups, json_t **out, struct hbk_error *err);

#endif
