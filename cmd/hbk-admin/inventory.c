/*
 * inventory.c - hbk-admin inventory show --hotel H --from D --to D: one
 * row per night and room type with rooms left, sold, the nightly price and
 * whether the night is blacked out.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "hbk/inventory.h"
#include "hbk/reservation.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *hotel;
static const char *from;
static const char *to;

const struct hbk_option inventory_options[] = {
    {HBK_OPT_STRING, "hotel", 0, &hotel, NULL, "HOTEL", "hotel id (H-LIS-0001)", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "from", 0, &from, NULL, "DATE", "first night (YYYY-MM-DD)", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "to", 0, &to, NULL, "DATE", "night after the last one (YYYY-MM-DD)", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_END, NULL, 0, NULL, NULL, NULL, NULL, 0, 0, HBK_COMPLETE_NONE, NULL},
};

void inventory_reset(void)
{
	hotel = from = to = NULL;
}

static const struct hbk_column columns[] = {
    {"NIGHT", "night", false},
    {"ROOM", "room_type", false},
    {"AVAILABLE", "available", true},
    {"SOLD", "sold", true},
    {"TOTAL", "total", true},
    {"PRICE", "price.amount", true},
    {"CURRENCY", "price.currency", false},
    {"CLOSED", "closed", false},
};

int cmd_inventory(struct hbk_cli *cli, int argc, const char **argv)
{
	int code;
	const struct hbk_command *self = admin_command("inventory");
	struct hbk_error err = {0};
	hbk_date first, end;
	json_t *doc = NULL;
	HBK_ASSERT(argc == 1);

	if (strcmp(argv[0], "show") != 0)
		return hbk_cli_usage_error(
		    cli, self, "inventory: unknown action '%s' (expected show)", argv[0]);
	if (!hotel || !from || !to)
		return hbk_cli_usage_error(cli, self, "inventory show: --%s is required",
					   !hotel  ? "hotel"
					   : !from ? "from"
						   : "to");
	if (hbk_cli_date("from", from, &first, &err) != HBK_OK ||
	    hbk_cli_date("to", to, &end, &err) != HBK_OK)
		return hbk_cli_usage_error(cli, self, "%s", err.message);
	if ((code = hbk_cli_engine(cli)) != 0)
		return code;
	if (hbk_inventory_json(cli->engine->store, hotel, first, end, &doc, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (cli->format == HBK_FORMAT_JSON)
		hbk_output_json(stdout, doc);
	else
		hbk_output_rows(stdout, cli->format, columns, ARRAY_SIZE(columns),
				json_object_get(doc, "inventory"));
	json_decref(doc);
	return 0;
}
