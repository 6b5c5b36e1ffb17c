/*
 * list.c - hbk list: bookings, newest first, filtered.
 */
#include <string.h>

#include "hbk.h"

static struct {
	const char *status, *hotel, *from, *to, *email, *cursor;
	long long limit;
} opt;

const struct hbk_option list_options[] = {
    {HBK_OPT_STRING, "status", 0, &opt.status, NULL, "STATUS",
     "PENDING, CONFIRMED, CANCELLED or FAILED", 0, 0, HBK_COMPLETE_WORDS,
     "PENDING CONFIRMED CANCELLED FAILED"},
    {HBK_OPT_STRING, "hotel", 0, &opt.hotel, NULL, "ID", "bookings at one hotel", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "from", 0, &opt.from, NULL, "DATE", "check-in on or after DATE", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "to", 0, &opt.to, NULL, "DATE", "check-in on or before DATE", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "email", 0, &opt.email, NULL, "EMAIL", "the guest's email", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_INT, "limit", 0, &opt.limit, NULL, "N", "at most N bookings (default 50)", 1, 1000,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "cursor", 0, &opt.cursor, NULL, "ID",
     "continue after this booking (next_cursor)", 0, 0, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_END},
};

void list_reset(void)
{
	memset(&opt, 0, sizeof(opt));
	opt.limit = 50;
}

static const struct hbk_column columns[] = {
    {"ID", "id", false},
    {"STATUS", "status", false},
    {"HOTEL", "hotel.name", false},
    {"ROOM", "room_type", false},
    {"CHECKIN", "checkin", false},
    {"CHECKOUT", "checkout", false},
    {"GUEST", "guest.name", false},
    {"TOTAL", "total.amount", true},
    {"CUR", "total.currency", false},
};

int cmd_list(struct hbk_cli *cli, int argc, const char **argv)
{
	int code;
	struct hbk_list_filter f = {.status = opt.status,
				    .hotel_id = opt.hotel,
				    .email = opt.email,
				    .cursor = opt.cursor,
				    .limit = (int)opt.limit};
	struct hbk_error err = {0};
	struct hbk_client *client;
	json_t *result = NULL;
	hbk_result rc = HBK_OK;

	if (opt.from)
		rc = hbk_cli_date("from", opt.from, &f.checkin_from, &err);
	if (rc == HBK_OK && opt.to)
		rc = hbk_cli_date("to", opt.to, &f.checkin_to, &err);
	if (rc != HBK_OK)
		return hbk_cli_error(cli, &err);
	if ((code = tool_backend(cli, &client)) != 0)
		return code;
	rc = client ? hbk_client_list(client, &f, &result, &err)
		    : hbk_booking_list(cli->engine, &f, &result, &err);
	if (rc != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (cli->format == HBK_FORMAT_JSON)
		hbk_output_json(stdout, result);
	else
		hbk_output_rows(stdout, cli->format, columns, sizeof(columns) / sizeof(columns[0]),
				json_object_get(result, "bookings"));
	json_decref(result);
	return 0;
}
