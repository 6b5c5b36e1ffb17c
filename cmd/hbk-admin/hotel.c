/*
 * hotel.c - hbk-admin hotel list [--city C] | hotel show HOTEL: the
 * catalog as operators read it. -o json writes the library's documents
 * unchanged, so scripts see what hbkd would answer.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "hbk/inventory.h"
#include "hbk/reservation.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *city;

const struct hbk_option hotel_options[] = {
    {HBK_OPT_STRING, "city", 0, &city, NULL, "CITY", "list only this city's hotels (LIS)", 0, 0,
     HBK_COMPLETE_CITY, NULL},
    {HBK_OPT_END, NULL, 0, NULL, NULL, NULL, NULL, 0, 0, HBK_COMPLETE_NONE, NULL},
};

void hotel_reset(void)
{
	city = NULL;
}

static const struct hbk_column list_columns[] = {
    {"ID", "id", false},
    {"NAME", "name", false},
    {"CITY", "city", false},
    {"STARS", "stars", true},
    {"ROOM TYPES", "room_types", true},
    {"ROOMS", "rooms", true},
};

static const struct hbk_column hotel_columns[] = {
    {"ID", "id", false},
    {"Name", "name", false},
    {"City", "city", false},
    {"Stars", "stars", false},
    {"Address", "address", false},
    {"Currency", "currency", false},
    {"Partner code", "code", false},
    {"Free cancellation (days)", "free_cancel_days", false},
    {"Refundable rates", "refundable_rates", false},
    {"Non-refundable discount (%)", "non_refundable_discount_pct", false},
};

static const struct hbk_column room_columns[] = {
    {"ROOM", "code", false},	    {"NAME", "name", false},
    {"CAPACITY", "capacity", true}, {"MAX CHILDREN", "max_children", true},
    {"ROOMS", "rooms", true},
};

static const struct hbk_column board_columns[] = {
    {"BOARD", "code", false},
    {"NAME", "name", false},
    {"PER ADULT NIGHT", "supplement_per_adult_night.amount", true},
    {"CURRENCY", "supplement_per_adult_night.currency", false},
};

static const struct hbk_column blackout_columns[] = {
    {"BLACKOUT", "night", false},
    {"REASON", "reason", false},
};

static int hotel_list(struct hbk_cli *cli)
{
	int code;
	struct hbk_error err = {0};
	json_t *doc = NULL;

	if ((code = hbk_cli_engine(cli)) != 0)
		return code;
	if (hbk_hotels_json(cli->engine->store, city, &doc, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (cli->format == HBK_FORMAT_JSON)
		hbk_output_json(stdout, doc);
	else
		hbk_output_rows(stdout, cli->format, list_columns, ARRAY_SIZE(list_columns),
				json_object_get(doc, "hotels"));
	json_decref(doc);
	return 0;
}

/* A titled table, skipped when it has no rows. */
static void section(const json_t *rows, const struct hbk_column *columns, size_t ncolumns)
{
	if (json_array_size(rows) == 0)
		return;
	fputc('\n', stdout);
	hbk_output_rows(stdout, HBK_FORMAT_TABLE, columns, ncolumns, rows);
}

static int hotel_show(struct hbk_cli *cli, const char *hotel_id)
{
	int code;
	struct hbk_error err = {0};
	json_t *doc = NULL;

	if ((code = hbk_cli_engine(cli)) != 0)
		return code;
	if (hbk_hotel_json(cli->engine->store, hotel_id, &doc, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	switch (cli->format) {
	case HBK_FORMAT_JSON: hbk_output_json(stdout, doc); break;
	case HBK_FORMAT_CSV:
		/* One CSV document per output: the room types, the useful rows. */
		hbk_output_rows(stdout, HBK_FORMAT_CSV, room_columns, ARRAY_SIZE(room_columns),
				json_object_get(doc, "room_types"));
		break;
	case HBK_FORMAT_TABLE:
		hbk_output_record(stdout, HBK_FORMAT_TABLE, hotel_columns,
				  ARRAY_SIZE(hotel_columns), doc);
		section(json_object_get(doc, "room_types"), room_columns, ARRAY_SIZE(room_columns));
		section(json_object_get(doc, "boards"), board_columns, ARRAY_SIZE(board_columns));
		section(json_object_get(doc, "blackouts"), blackout_columns,
			ARRAY_SIZE(blackout_columns));
		break;
	}
	json_decref(doc);
	return 0;
}

int cmd_hotel(struct hbk_cli *cli, int argc, const char **argv)
{
	const struct hbk_command *self = admin_command("hotel");
	HBK_ASSERT(argc >= 1 && argc <= 2);

	if (strcmp(argv[0], "list") == 0) {
		if (argc > 1)
			return hbk_cli_usage_error(cli, self,
						   "hotel list: unexpected argument '%s'", argv[1]);
		return hotel_list(cli);
	}
	if (strcmp(argv[0], "show") == 0) {
		if (argc < 2)
			return hbk_cli_usage_error(cli, self, "hotel show: missing HOTEL");
		if (city)
			return hbk_cli_usage_error(cli, self,
						   "--city applies to 'hotel list' only");
		return hotel_show(cli, argv[1]);
	}
	return hbk_cli_usage_error(cli, self, "hotel: unknown action '%s' (expected list or show)",
				   argv[0]);
}
