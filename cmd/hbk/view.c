/*
 * view.c - hbk view: one booking.
 */
#include "hbk.h"

int cmd_view(struct hbk_cli *cli, int argc, const char **argv)
{
	int code;
	struct hbk_error err = {0};
	struct hbk_client *client;
	json_t *booking = NULL;
	if ((code = tool_backend(cli, &client)) != 0)
		return code;
	hbk_result rc = client ? hbk_client_view(client, argv[0], &booking, &err)
			       : hbk_booking_view(cli->engine, argv[0], &booking, &err);
	return finish_booking_command(cli, rc, booking, &err);
}
