/*
 * kafka.c - hbk-admin kafka status [--brokers LIST] [--group NAMES]: the
 * cluster as an operator on call first wants it: which brokers answer,
 * whether hbk's topics exist and have live leaders, and how far each
 * consumer group lags behind. Also the one place where hbk-admin finds
 * the brokers, for the topics command too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "hbk/json.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define GROUPS_TEXT_MAX 4096

static const char *brokers;
static const char *group_names;

const struct hbk_option kafka_options[] = {
    {HBK_OPT_STRING, "brokers", 0, &brokers, NULL, "LIST",
     "bootstrap brokers HOST:PORT,... (HBK_KAFKA_BROKERS, kafka.brokers)", 0, 0, HBK_COMPLETE_NONE,
     NULL},
    {HBK_OPT_STRING, "group", 0, &group_names, NULL, "NAMES",
     "also report these consumer groups (comma-separated)", 0, 0, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_END, NULL, 0, NULL, NULL, NULL, NULL, 0, 0, HBK_COMPLETE_NONE, NULL},
};

void kafka_reset(void)
{
	brokers = NULL;
	group_names = NULL;
}

int admin_kafka_open(struct hbk_cli *cli, const struct hbk_command *self, const char *option,
		     struct hbk_kafka_admin **out)
{
	struct hbk_error err = {0};
	struct hbk_kafka_config kc;

	HBK_ASSERT(cli->cfg != NULL && out != NULL);
	if (hbk_config_kafka(cli->cfg, &kc, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	/* The command line wins over the environment, which wins over the
	 * file: as --api, HBK_API_URL and client.url do. */
	const char *env = getenv("HBK_KAFKA_BROKERS");
	const char *chosen = option && *option ? option : env && *env ? env : kc.brokers;
	if (!*chosen)
		return hbk_cli_usage_error(
		    cli, self,
		    "%s: no Kafka brokers: give --brokers HOST:PORT,..., set "
		    "HBK_KAFKA_BROKERS or kafka.brokers in hbk.yaml",
		    self->name);
	if (!hbk_copy(kc.brokers, sizeof(kc.brokers), chosen))
		return hbk_cli_usage_error(cli, self,
					   "%s: the broker list is longer than %d characters",
					   self->name, HBK_KAFKA_BROKERS_MAX - 1);
	if (hbk_kafka_admin_open(&kc, out, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	return 0;
}

static const struct hbk_column broker_columns[] = {
    {"BROKER", "id", true},
    {"HOST", "host", false},
    {"PORT", "port", true},
    {"STATE", "state", false},
};

static const struct hbk_column topic_columns[] = {
    {"TOPIC", "name", false},
    {"ROLE", "role", false},
    {"EXISTS", "exists", false},
    {"PARTITIONS", "partitions", true},
    {"REPLICATION", "replication", true},
    {"LEADERS DOWN", "leaders_down", true},
};

static const struct hbk_column group_columns[] = {
    {"GROUP", "group", false},
    {"STATE", "state", false},
    {"LAG", "lag", true},
};

/* Splits the --group list in place into names; false when there are too
 * many or one is empty. */
static bool split_groups(char *text, const char *names[HBK_KAFKA_GROUPS_MAX], size_t *count)
{
	*count = 0;
	for (char *p = text; p;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (!*p || *count == HBK_KAFKA_GROUPS_MAX)
			return false;
		names[(*count)++] = p;
		p = comma ? comma + 1 : NULL;
	}
	return true;
}

static void print_status(const struct hbk_cli *cli, const json_t *doc)
{
	if (cli->format == HBK_FORMAT_JSON) {
		hbk_output_json(stdout, doc);
		return;
	}
	hbk_output_rows(stdout, cli->format, broker_columns, ARRAY_SIZE(broker_columns),
			json_object_get(doc, "brokers"));
	putchar('\n');
	hbk_output_rows(stdout, cli->format, topic_columns, ARRAY_SIZE(topic_columns),
			json_object_get(doc, "topics"));
	putchar('\n');
	hbk_output_rows(stdout, cli->format, group_columns, ARRAY_SIZE(group_columns),
			json_object_get(doc, "groups"));
}

/* What an operator should act on, on stderr, after the listing. */
static void notes(const struct hbk_cli *cli, const json_t *doc)
{
	size_t i;
	json_t *row;
	json_array_foreach(json_object_get(doc, "brokers"), i,
			   row) if (strcmp(hbk_json_str(row, "state", ""), "down") == 0)
	    hbk_cli_note(cli, "broker %lld at %s:%lld is down", hbk_json_int(row, "id", 0),
			 hbk_json_str(row, "host", ""), hbk_json_int(row, "port", 0));
	json_array_foreach(json_object_get(doc, "topics"), i, row)
	{
		if (!hbk_json_bool(row, "exists", false))
			hbk_cli_note(cli, "topic %s does not exist (hbk-admin topics create)",
				     hbk_json_str(row, "name", ""));
		else if (hbk_json_int(row, "leaders_down", 0) > 0)
			hbk_cli_note(cli, "topic %s: partitions without a live leader: %lld",
				     hbk_json_str(row, "name", ""),
				     hbk_json_int(row, "leaders_down", 0));
	}
	if (!hbk_json_bool(doc, "groups_listed", true))
		hbk_cli_note(cli,
			     "the brokers cannot list consumer groups; name them with --group");
}

int cmd_kafka(struct hbk_cli *cli, int argc, const char **argv)
{
	const struct hbk_command *self = admin_command("kafka");
	const char *groups[HBK_KAFKA_GROUPS_MAX];
	char group_text[GROUPS_TEXT_MAX];
	size_t ngroups = 0;
	struct hbk_error err = {0};
	struct hbk_kafka_admin *kafka = NULL;
	json_t *doc = NULL;

	HBK_ASSERT(argc == 1);
	if (strcmp(argv[0], "status") != 0)
		return hbk_cli_usage_error(cli, self,
					   "kafka: unknown action '%s' (expected status)", argv[0]);
	if (group_names && (!hbk_copy(group_text, sizeof(group_text), group_names) ||
			    !split_groups(group_text, groups, &ngroups)))
		return hbk_cli_usage_error(
		    cli, self, "kafka: --group: expected up to %d comma-separated names",
		    HBK_KAFKA_GROUPS_MAX);
	int code = admin_kafka_open(cli, self, brokers, &kafka);
	if (code != 0)
		return code;
	if (hbk_kafka_status(kafka, groups, ngroups, &doc, &err) != HBK_OK) {
		code = hbk_cli_error(cli, &err);
	} else {
		print_status(cli, doc);
		notes(cli, doc);
	}
	json_decref(doc);
	hbk_kafka_admin_close(kafka);
	return code;
}
