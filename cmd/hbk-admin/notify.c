/*
 * notify.c - hbk-admin notify list [--parked] | resend ID | resend --all |
 * retry: the guest notices that could not be sent when their booking
 * changed. list shows them (the messages themselves stay in the store);
 * resend sends one, or every parked one, now, through the channels the
 * configuration names today; retry runs one pass of what hbkd's timer
 * does: the pending notices whose backoff has passed.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "hbk/notify.h"
#include "hbk/reservation.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* Notices one retry pass sends (the library's own bound is lower). */
#define RETRY_PASS_MAX 64

static bool parked_only;
static bool all;

const struct hbk_option notify_options[] = {
    {HBK_OPT_BOOL, "parked", 0, &parked_only, NULL, NULL,
     "list only the parked notices (retries exhausted)", 0, 0, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_BOOL, "all", 0, &all, NULL, NULL, "resend every parked notice", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_END, NULL, 0, NULL, NULL, NULL, NULL, 0, 0, HBK_COMPLETE_NONE, NULL},
};

void notify_reset(void)
{
	parked_only = false;
	all = false;
}

static const struct hbk_column list_columns[] = {
    {"ID", "id", true},
    {"BOOKING", "booking_id", false},
    {"KIND", "kind", false},
    {"CHANNEL", "channel", false},
    {"RECIPIENT", "recipient", false},
    {"STATUS", "status", false},
    {"ATTEMPTS", "attempts", true},
    {"NEXT ATTEMPT", "next_attempt_at", false},
    {"LAST ERROR", "last_error", false},
};

static int notify_list(struct hbk_cli *cli)
{
	struct hbk_error err = {0};
	json_t *doc = NULL;

	if (hbk_notify_list(cli->engine->store, parked_only, &doc, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (cli->format == HBK_FORMAT_JSON)
		hbk_output_json(stdout, doc);
	else
		hbk_output_rows(stdout, cli->format, list_columns, ARRAY_SIZE(list_columns),
				json_object_get(doc, "notices"));
	json_decref(doc);
	return 0;
}

/* Prints {"sent":N,"failed":N} or a sentence. */
static void print_counts(const struct hbk_cli *cli, int sent, int failed)
{
	if (cli->format == HBK_FORMAT_JSON) {
		json_t *doc = json_pack("{s:i, s:i}", "sent", sent, "failed", failed);
		hbk_output_json(stdout, doc);
		json_decref(doc);
	} else if (cli->format == HBK_FORMAT_CSV) {
		printf("sent,failed\n%d,%d\n", sent, failed);
	} else {
		printf("sent %d notice(s), %d failed\n", sent, failed);
	}
}

static int notify_resend_one(struct hbk_cli *cli, const char *id_text)
{
	struct hbk_error err = {0};
	long long id;

	if (!hbk_parse_int(id_text, 1, INT64_MAX, &id)) {
		hbk_fail(&err, HBK_EINVAL, "invalid_id",
			 "notice id must be a positive number, not '%s'", id_text);
		return hbk_cli_error(cli, &err);
	}
	if (hbk_notify_resend(cli->engine->notifier, cli->engine->store, id, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	print_counts(cli, 1, 0);
	return 0;
}

static int notify_resend_all(struct hbk_cli *cli)
{
	struct hbk_error err = {0};
	int sent = 0, failed = 0;

	hbk_result rc = hbk_notify_resend_parked(cli->engine->notifier, cli->engine->store, &sent,
						 &failed, &err);
	if (rc != HBK_OK && failed == 0)
		return hbk_cli_error(cli, &err);
	print_counts(cli, sent, failed);
	return rc == HBK_OK ? 0 : hbk_cli_error(cli, &err);
}

static int notify_retry(struct hbk_cli *cli)
{
	struct hbk_error err = {0};
	int sent = 0;
	json_t *before = NULL, *after = NULL;

	/* The pass reports what it delivered; what failed is read back. */
	if (hbk_notify_list(cli->engine->store, true, &before, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	hbk_result rc = hbk_notify_retry_due(cli->engine->notifier, cli->engine->store,
					     RETRY_PASS_MAX, &sent, &err);
	if (rc == HBK_OK)
		rc = hbk_notify_list(cli->engine->store, true, &after, &err);
	int parked = rc == HBK_OK ? (int)(json_array_size(json_object_get(after, "notices")) -
					  json_array_size(json_object_get(before, "notices")))
				  : 0;
	json_decref(before);
	json_decref(after);
	if (parked < 0)
		parked = 0;
	if (rc != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (cli->format == HBK_FORMAT_JSON) {
		json_t *doc = json_pack("{s:i, s:i}", "sent", sent, "parked", parked);
		hbk_output_json(stdout, doc);
		json_decref(doc);
	} else if (cli->format == HBK_FORMAT_CSV) {
		printf("sent,parked\n%d,%d\n", sent, parked);
	} else {
		printf("sent %d notice(s), parked %d\n", sent, parked);
	}
	return 0;
}

int cmd_notify(struct hbk_cli *cli, int argc, const char **argv)
{
	const struct hbk_command *self = admin_command("notify");
	const char *action = argv[0];
	int code;

	HBK_ASSERT(argc >= 1 && argc <= 2);
	if (strcmp(action, "list") == 0) {
		if (argc > 1 || all)
			return hbk_cli_usage_error(cli, self, "notify list: takes only --parked");
	} else if (strcmp(action, "resend") == 0) {
		if (parked_only || (argc == 2) == all)
			return hbk_cli_usage_error(cli, self,
						   "notify resend: expected an ID or --all");
	} else if (strcmp(action, "retry") == 0) {
		if (argc > 1 || all || parked_only)
			return hbk_cli_usage_error(cli, self, "notify retry: takes no arguments");
	} else {
		return hbk_cli_usage_error(
		    cli, self, "notify: unknown action '%s' (expected list, resend or retry)",
		    action);
	}
	if ((code = hbk_cli_engine(cli)) != 0)
		return code;
	if (strcmp(action, "list") == 0)
		return notify_list(cli);
	if (strcmp(action, "retry") == 0)
		return notify_retry(cli);
	return all ? notify_resend_all(cli) : notify_resend_one(cli, argv[1]);
}
