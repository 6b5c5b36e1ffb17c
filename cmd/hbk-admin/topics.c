/*
 * topics.c - hbk-admin topics create | describe [--brokers LIST]: hbk's
 * three topics (kafka.topics.commands, .events, .dlq in hbk.yaml) with
 * kafka.partitions and kafka.replication. create is safe to run again:
 * a topic that exists is reported as such and left as it is.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "hbk/json.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *brokers;

const struct hbk_option topics_options[] = {
    {HBK_OPT_STRING, "brokers", 0, &brokers, NULL, "LIST",
     "bootstrap brokers HOST:PORT,... (HBK_KAFKA_BROKERS, kafka.brokers)", 0, 0, HBK_COMPLETE_NONE,
     NULL},
    {HBK_OPT_END, NULL, 0, NULL, NULL, NULL, NULL, 0, 0, HBK_COMPLETE_NONE, NULL},
};

void topics_reset(void)
{
	brokers = NULL;
}

static const struct hbk_column create_columns[] = {
    {"TOPIC", "name", false},
    {"ROLE", "role", false},
    {"RESULT", "result", false},
    {"PARTITIONS", "partitions", true},
    {"REPLICATION", "replication", true},
};

static const struct hbk_column partition_columns[] = {
    {"TOPIC", "topic", false},	{"PARTITION", "partition", true},
    {"LEADER", "leader", true}, {"REPLICAS", "replicas", false},
    {"ISR", "isr", false},
};

/* "1,2,3" from [1,2,3], for tables and CSV. */
static json_t *joined_ids(const json_t *ids)
{
	struct hbk_buf text;
	size_t i;
	json_t *id;
	hbk_buf_init(&text, 4096);
	hbk_buf_puts(&text, "");
	json_array_foreach(ids, i, id)
	    hbk_buf_printf(&text, "%s%lld", i ? "," : "", (long long)json_integer_value(id));
	json_t *s = json_string(text.data);
	hbk_buf_free(&text);
	return s;
}

/* One row per partition, for tables and CSV. New reference. */
static json_t *partition_rows(const json_t *doc)
{
	json_t *rows = json_array();
	size_t i, j;
	json_t *topic, *p;
	json_array_foreach(json_object_get(doc, "topics"), i,
			   topic) json_array_foreach(json_object_get(topic, "partition_list"), j, p)
	    json_array_append_new(rows, json_pack("{s:s, s:O, s:O, s:o, s:o}", "topic",
						  hbk_json_str(topic, "name", ""), "partition",
						  json_object_get(p, "partition"), "leader",
						  json_object_get(p, "leader"), "replicas",
						  joined_ids(json_object_get(p, "replicas")), "isr",
						  joined_ids(json_object_get(p, "isr"))));
	return rows;
}

static int topics_create(struct hbk_cli *cli, struct hbk_kafka_admin *kafka)
{
	struct hbk_error err = {0};
	json_t *doc = NULL;
	size_t i;
	json_t *row;

	if (hbk_kafka_topics_create(kafka, &doc, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (cli->format == HBK_FORMAT_JSON)
		hbk_output_json(stdout, doc);
	else
		hbk_output_rows(stdout, cli->format, create_columns, ARRAY_SIZE(create_columns),
				json_object_get(doc, "topics"));
	json_array_foreach(json_object_get(doc, "topics"), i, row)
	{
		long long has = hbk_json_int(row, "partitions", 0);
		long long wanted = hbk_json_int(row, "partitions_configured", 0);
		if (has != wanted)
			hbk_cli_note(
			    cli, "topic %s exists with %lld partitions; kafka.partitions is %lld",
			    hbk_json_str(row, "name", ""), has, wanted);
	}
	json_decref(doc);
	return 0;
}

static int topics_describe(struct hbk_cli *cli, struct hbk_kafka_admin *kafka)
{
	struct hbk_error err = {0};
	json_t *doc = NULL;
	int missing = 0;
	size_t i;
	json_t *topic;

	if (hbk_kafka_topics_describe(kafka, &doc, &missing, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (cli->format == HBK_FORMAT_JSON) {
		hbk_output_json(stdout, doc);
	} else {
		json_t *rows = partition_rows(doc);
		hbk_output_rows(stdout, cli->format, partition_columns,
				ARRAY_SIZE(partition_columns), rows);
		json_decref(rows);
	}
	json_array_foreach(json_object_get(doc, "topics"), i,
			   topic) if (!hbk_json_bool(topic, "exists", false))
	    fprintf(stderr, "%s: error: topic %s does not exist (hbk-admin topics create)\n",
		    cli->prog, hbk_json_str(topic, "name", ""));
	json_decref(doc);
	/* Scripts may check the topics are all there by the exit code. */
	return missing ? hbk_exit_code(HBK_ENOTFOUND) : 0;
}

int cmd_topics(struct hbk_cli *cli, int argc, const char **argv)
{
	const struct hbk_command *self = admin_command("topics");
	struct hbk_kafka_admin *kafka = NULL;

	HBK_ASSERT(argc == 1);
	bool create = strcmp(argv[0], "create") == 0;
	if (!create && strcmp(argv[0], "describe") != 0)
		return hbk_cli_usage_error(
		    cli, self, "topics: unknown action '%s' (expected create or describe)",
		    argv[0]);
	int code = admin_kafka_open(cli, self, brokers, &kafka);
	if (code != 0)
		return code;
	code = create ? topics_create(cli, kafka) : topics_describe(cli, kafka);
	hbk_kafka_admin_close(kafka);
	return code;
}
