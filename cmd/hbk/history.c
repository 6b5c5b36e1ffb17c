/*
 * history.c - hbk history: every event of a booking, in order.
 */
#include "hbk.h"

static const struct hbk_column columns[] = {
    {"SEQ", "sequence", true},
    {"TIME", "time", false},
    {"TYPE", "type", false},
    {"EVENT ID", "id", false},
};

int cmd_history(struct hbk_cli *cli, int argc, const char **argv)
{
	int code;
	struct hbk_error err = {0};
	struct hbk_client *client;
	json_t *history = NULL;
	if ((code = tool_backend(cli, &client)) != 0)
		return code;
	hbk_result rc = client ? hbk_client_history(client, argv[0], &history, &err)
			       : hbk_history(cli->engine, argv[0], &history, &err);
	if (rc != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (cli->format == HBK_FORMAT_JSON)
		hbk_output_json(stdout, history);
	else
		hbk_output_rows(stdout, cli->format, columns, sizeof(columns) / sizeof(columns[0]),
				json_object_get(history, "events"));
	json_decref(history);
	return 0;
}
