/*
 * view.c - hbk view: one booking.
 */
#include "hbk.h"

int cmd_view(struct hbk_cli *cli, int argc, const char **argv)
{
	int code;
	struct hbk_error err = {0};
	json_t *booking = NULL;
	if ((code = hbk_cli_engine(cli)) != 0)
		return code;
	hbk_result rc = hbk_booking_view(cli->engine, argv[0], &booking, &err);
	return finish_booking_command(cli, rc, booking, &err);
}
