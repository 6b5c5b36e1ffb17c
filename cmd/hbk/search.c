/*
 * search.c - hbk search: offers for a stay, saved for `hbk book N`.
 */
#include <string.h>

#include "hbk.h"

static struct {
	const char *city, *hotel, *checkin, *checkout, *max_price, *sort;
	long long nights, adults, children, rooms, limit;
	bool refundable, nights_given;
} opt;

const struct hbk_option search_options[] = {
    {HBK_OPT_STRING, "city", 0, &opt.city, NULL, "CODE", "IATA city code (LIS, PAR ...)", 0, 0,
     HBK_COMPLETE_CITY, NULL},
    {HBK_OPT_STRING, "hotel", 0, &opt.hotel, NULL, "ID", "one hotel (H-LIS-0001)", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "checkin", 0, &opt.checkin, NULL, "DATE", "arrival, YYYY-MM-DD", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "checkout", 0, &opt.checkout, NULL, "DATE", "departure, YYYY-MM-DD", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_INT, "nights", 0, &opt.nights, &opt.nights_given, "N", "nights, instead of --checkout",
     1, HBK_MAX_NIGHTS, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_INT, "adults", 0, &opt.adults, NULL, "N", "adults (default 2)", 0, HBK_MAX_GUESTS,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_INT, "children", 0, &opt.children, NULL, "N", "children (default 0)", 0,
     HBK_MAX_GUESTS, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_INT, "rooms", 0, &opt.rooms, NULL, "N", "rooms (default 1)", 1, HBK_MAX_ROOMS,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "max-price", 0, &opt.max_price, NULL, "AMOUNT",
     "highest total, in the hotel's currency", 0, 0, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_BOOL, "refundable", 0, &opt.refundable, NULL, NULL, "refundable rates only", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "sort", 0, &opt.sort, NULL, "KEY", "price (default), stars or name", 0, 0,
     HBK_COMPLETE_WORDS, "price stars name"},
    {HBK_OPT_INT, "limit", 0, &opt.limit, NULL, "N", "at most N offers (default 20)", 1, 500,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_END},
};

void search_reset(void)
{
	memset(&opt, 0, sizeof(opt));
	opt.adults = 2;
	opt.rooms = 1;
	opt.limit = 20;
}

static const struct hbk_column columns[] = {
    {"N", "n", true},
    {"HOTEL", "hotel.name", false},
    {"STARS", "hotel.stars", true},
    {"ROOM", "room_type", false},
    {"BOARD", "board", false},
    {"REFUNDABLE", "refundable", false},
    {"LEFT", "available", true},
    {"NIGHTS", "nights", true},
    {"TOTAL", "total.amount", true},
    {"CUR", "total.currency", false},
};

int cmd_search(struct hbk_cli *cli, int argc, const char **argv)
{
	int code;
	struct hbk_search_query q = {0};
	struct hbk_error err = {0};
	struct hbk_client *client;
	json_t *result = NULL;
	hbk_result rc = HBK_OK;

	if (!opt.city && !opt.hotel)
		return hbk_cli_usage_error(cli, hbk_cli_find(hbk_commands, "search"),
					   "search: --city or --hotel is required");
	if (!opt.checkin)
		return hbk_cli_usage_error(cli, hbk_cli_find(hbk_commands, "search"),
					   "search: --checkin is required");
	if (!opt.checkout == !opt.nights_given)
		return hbk_cli_usage_error(cli, hbk_cli_find(hbk_commands, "search"),
					   "search: give exactly one of --checkout and --nights");
	if (opt.city && !hbk_copy(q.city, sizeof(q.city), opt.city))
		return hbk_fail(&err, HBK_EINVAL, "unknown_city", "unknown city '%s'", opt.city),
		       hbk_cli_error(cli, &err);
	if (opt.hotel && !hbk_copy(q.hotel_id, sizeof(q.hotel_id), opt.hotel))
		return hbk_fail(&err, HBK_EINVAL, "unknown_hotel", "unknown hotel '%s'", opt.hotel),
		       hbk_cli_error(cli, &err);
	rc = hbk_cli_date("checkin", opt.checkin, &q.checkin, &err);
	if (rc == HBK_OK && opt.checkout)
		rc = hbk_cli_date("checkout", opt.checkout, &q.checkout, &err);
	else
		q.checkout = q.checkin + (hbk_date)opt.nights;
	if (rc != HBK_OK)
		return hbk_cli_error(cli, &err);
	q.adults = (int)opt.adults;
	q.children = (int)opt.children;
	q.rooms = (int)opt.rooms;
	q.limit = (int)opt.limit;
	q.refundable_only = opt.refundable;
	if (opt.max_price && !hbk_copy(q.max_price, sizeof(q.max_price), opt.max_price))
		return hbk_fail(&err, HBK_EINVAL, "invalid_amount", "--max-price: invalid amount"),
		       hbk_cli_error(cli, &err);
	if (!opt.sort || strcmp(opt.sort, "price") == 0)
		q.sort = HBK_SORT_PRICE;
	else if (strcmp(opt.sort, "stars") == 0)
		q.sort = HBK_SORT_STARS;
	else if (strcmp(opt.sort, "name") == 0)
		q.sort = HBK_SORT_NAME;
	else
		return hbk_cli_usage_error(
		    cli, NULL, "--sort: unknown key '%s' (price, stars or name)", opt.sort);

	rc = hbk_search_query_check(&q, hbk_date_today(), &err);
	if (rc != HBK_OK)
		return hbk_cli_error(cli, &err);
	if ((code = tool_backend(cli, &client)) != 0)
		return code;
	rc = client ? hbk_client_search(client, &q, &result, &err)
		    : hbk_search(cli->engine->store, &q, hbk_now_ms(), &result, &err);
	if (rc != HBK_OK && strcmp(err.field, "max_price") == 0) {
		/* hbkd names its query parameter where the tool names its option. */
		const char param[] = "max_price: ";
		if (client && strncmp(err.message, param, strlen(param)) == 0)
			memmove(err.message, err.message + strlen(param),
				strlen(err.message + strlen(param)) + 1);
		hbk_error_prefix(&err, "--max-price");
	}
	if (rc != HBK_OK)
		return hbk_cli_error(cli, &err);
	last_search_save(cli, result);
	json_t *offers = json_object_get(result, "offers");
	if (cli->format == HBK_FORMAT_JSON)
		hbk_output_json(stdout, result);
	else
		hbk_output_rows(stdout, cli->format, columns, sizeof(columns) / sizeof(columns[0]),
				offers);
	if (cli->format == HBK_FORMAT_TABLE && json_array_size(offers) == 0)
		hbk_cli_note(cli, "no offers for this stay");
	json_decref(result);
	return 0;
}
