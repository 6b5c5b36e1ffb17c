/*
 * init.c - hbk-admin init [--demo] [--days N] [--force]: creates or
 * migrates the store, and with --demo seeds the deterministic demo catalog.
 *
 * init opens the store itself (the dispatcher opens only existing stores)
 * and never the engine: nothing here talks to the partner or the payment
 * provider, and a half-set-up store must not trigger saga recovery.
 */
#include <stdio.h>
#include <unistd.h>

#include "admin.h"
#include "hbk/inventory.h"
#include "hbk/store.h"

#define DEMO_DAYS_DEFAULT 400
#define DEMO_DAYS_MAX	  1096 /* what hbk_inventory_seed_demo accepts */
#define PROGRESS_WIDTH	  40

static bool demo;
static bool force;
static bool days_given;
static long long days;

const struct hbk_option init_options[] = {
    {HBK_OPT_BOOL, "demo", 0, &demo, NULL, NULL,
     "seed the demo catalog (replaces the catalog in the store)", 0, 0, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_INT, "days", 0, &days, &days_given, "N",
     "days of demo inventory from today (default 400)", 1, DEMO_DAYS_MAX, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_BOOL, "force", 0, &force, NULL, NULL,
     "reseed even though bookings reference the catalog", 0, 0, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_END, NULL, 0, NULL, NULL, NULL, NULL, 0, 0, HBK_COMPLETE_NONE, NULL},
};

void init_reset(void)
{
	demo = force = days_given = false;
	days = DEMO_DAYS_DEFAULT;
}

/* Runs a one-integer query; -1 when it fails. */
static long long count_rows(struct hbk_store *store, const char *sql)
{
	sqlite3_stmt *stmt;
	long long n = -1;
	if (hbk_store_prepare(store, sql, &stmt, NULL) != HBK_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	hbk_stmt_done(stmt);
	return n;
}

/* A bar on stderr, redrawn in place: only ever called on a terminal. */
static void progress(int done, int total, void *ctx)
{
	(void)ctx;
	HBK_ASSERT(total > 0 && done >= 0 && done <= total);
	int filled = (int)((long long)done * PROGRESS_WIDTH / total);
	fprintf(stderr, "\rseeding demo catalog [%.*s%*s] %d/%d hotels", filled,
		"########################################", PROGRESS_WIDTH - filled, "", done,
		total);
	if (done == total)
		fputc('\n', stderr);
	fflush(stderr);
}

static hbk_result refuse_if_booked(struct hbk_store *store, struct hbk_error *err)
{
	long long bookings = count_rows(store, "SELECT COUNT(*) FROM bookings");
	if (bookings < 0)
		return hbk_store_fail(store, err, "counting bookings");
	if (bookings > 0 && !force)
		return hbk_fail(err, HBK_ECONFLICT, "store_has_bookings",
				"store %s holds %lld booking(s) that reference its catalog; "
				"reseeding would change the hotels under them (use --force to "
				"reseed anyway)",
				store->path, bookings);
	return HBK_OK;
}

static void print_summary(struct hbk_store *store)
{
	long long hotels = count_rows(store, "SELECT COUNT(*) FROM hotels");
	long long cities = count_rows(store, "SELECT COUNT(DISTINCT city) FROM hotels");
	long long first = count_rows(store, "SELECT MIN(night) FROM inventory");
	long long last = count_rows(store, "SELECT MAX(night) FROM inventory");
	long long nights = count_rows(store, "SELECT COUNT(*) FROM inventory");

	printf("store %s ready: %lld hotels in %lld cities, ", store->path, hotels, cities);
	if (nights > 0 && first >= 0 && last >= first) {
		char from[HBK_DATE_STR];
		hbk_date_format((hbk_date)first, from);
		printf("%lld days of inventory from %s\n", last - first + 1, from);
	} else {
		puts("no inventory");
	}
}

int cmd_init(struct hbk_cli *cli, int argc, const char **argv)
{
	struct hbk_store *store = NULL;
	struct hbk_error err = {0};
	(void)argc;
	(void)argv;

	if (days_given && !demo)
		return hbk_cli_usage_error(cli, admin_command("init"), "--days needs --demo");
	const char *path = hbk_config_store_path(cli->cfg);
	hbk_result rc = hbk_store_open(path, HBK_STORE_CREATE, &store, &err);
	if (rc == HBK_OK && demo)
		rc = refuse_if_booked(store, &err);
	if (rc == HBK_OK && demo) {
		bool bar = !cli->quiet && isatty(STDERR_FILENO);
		rc = hbk_inventory_seed_demo(store, hbk_date_today(), (int)days,
					     bar ? progress : NULL, NULL, &err);
		if (bar && rc != HBK_OK)
			fputc('\n', stderr); /* end the bar's line before the error */
	}
	if (rc == HBK_OK && !cli->quiet)
		print_summary(store);
	hbk_store_close(store);
	return rc == HBK_OK ? 0 : hbk_cli_error(cli, &err);
}
