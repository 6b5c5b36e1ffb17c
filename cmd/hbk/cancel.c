/*
 * cancel.c - hbk cancel: cancel with the policy's penalty and refund the
 * rest; --dry-run shows both and changes nothing.
 */
#include <string.h>

#include "hbk.h"

static struct {
	const char *reason;
	bool dry_run, if_match_given;
	long long if_match;
} opt;

const struct hbk_option cancel_options[] = {
    {HBK_OPT_STRING, "reason", 0, &opt.reason, NULL, "TEXT", "why, for the record", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_BOOL, "dry-run", 'n', &opt.dry_run, NULL, NULL,
     "show the penalty and refund, change nothing", 0, 0, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_INT, "if-match", 0, &opt.if_match, &opt.if_match_given, "VERSION",
     "only if the booking is at this version", 0, 1000000, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_END},
};

void cancel_reset(void)
{
	memset(&opt, 0, sizeof(opt));
}

static const struct hbk_column preview_columns[] = {
    {"ID", "booking.id", false},	   {"Status", "booking.status", false},
    {"Paid", "booking.paid.amount", true}, {"Penalty", "penalty.amount", true},
    {"Refund", "refund.amount", true},	   {"Currency", "refund.currency", false},
};

int cmd_cancel(struct hbk_cli *cli, int argc, const char **argv)
{
	int code;
	struct hbk_error err = {0};
	struct hbk_client *client;
	json_t *out = NULL;
	int64_t if_match = opt.if_match_given ? opt.if_match : -1;
	if ((code = tool_backend(cli, &client)) != 0)
		return code;
	hbk_result rc =
	    client
		? hbk_client_cancel(client, argv[0], opt.reason, opt.dry_run, if_match, &out, &err)
		: hbk_cancel(cli->engine, argv[0], opt.reason, opt.dry_run, if_match, &out, &err);
	if (rc != HBK_OK || !opt.dry_run)
		return finish_booking_command(cli, rc, out, &err);
	if (cli->format == HBK_FORMAT_JSON)
		hbk_output_json(stdout, out);
	else
		hbk_output_record(stdout, cli->format, preview_columns,
				  sizeof(preview_columns) / sizeof(preview_columns[0]), out);
	json_decref(out);
	return 0;
}
