/*
 * show.c - how hbk prints bookings, and the last-search cache.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hbk.h"

static const struct hbk_column booking_columns[] = {
    {"ID", "id", false},
    {"Status", "status", false},
    {"Version", "version", true},
    {"Hotel", "hotel.name", false},
    {"Hotel id", "hotel.id", false},
    {"City", "hotel.city", false},
    {"Room", "room_type", false},
    {"Board", "board", false},
    {"Refundable", "refundable", false},
    {"Rooms", "rooms", true},
    {"Check-in", "checkin", false},
    {"Check-out", "checkout", false},
    {"Nights", "nights", true},
    {"Adults", "guests.adults", true},
    {"Children", "guests.children", true},
    {"Guest", "guest.name", false},
    {"Email", "guest.email", false},
    {"Phone", "guest.phone", false},
    {"Total", "total.amount", true},
    {"Paid", "paid.amount", true},
    {"Refunded", "refunded.amount", true},
    {"Currency", "total.currency", false},
    {"Partner ref", "partner.reference", false},
    {"Payment ref", "payment.reference", false},
    {"Failure", "failure.code", false},
    {"Reason", "failure.message", false},
    {"Penalty", "cancellation.penalty.amount", true},
    {"Created", "created_at", false},
    {"Updated", "updated_at", false},
};

void show_booking(const struct hbk_cli *cli, const json_t *booking)
{
	if (cli->format == HBK_FORMAT_JSON)
		hbk_output_json(stdout, booking);
	else
		hbk_output_record(stdout, cli->format, booking_columns,
				  sizeof(booking_columns) / sizeof(booking_columns[0]), booking);
}

int finish_booking_command(const struct hbk_cli *cli, hbk_result rc, json_t *booking,
			   const struct hbk_error *err)
{
	if (booking)
		show_booking(cli, booking);
	json_decref(booking);
	return rc == HBK_OK ? 0 : hbk_cli_error(cli, err);
}

/* $XDG_CACHE_HOME/hbk, else ~/.cache/hbk. */
static void cache_dir(char *out, size_t size)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	if (xdg && *xdg)
		snprintf(out, size, "%s/hbk", xdg);
	else
		snprintf(out, size, "%s/.cache/hbk", home ? home : ".");
}

static void mkdirs(const char *dir)
{
	char path[4096];
	hbk_copy(path, sizeof(path), dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	mkdir(path, 0700);
}

void last_search_save(const struct hbk_cli *cli, const json_t *offers)
{
	char dir[4096], path[4200], tmp[4300];
	cache_dir(dir, sizeof(dir));
	mkdirs(dir);
	snprintf(path, sizeof(path), "%s/last-search.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	/* Write then rename, so a concurrent `hbk book N` never reads half a file. */
	if (json_dump_file(offers, tmp, JSON_COMPACT) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		if (cli->verbose)
			hbk_cli_note(cli, "cannot save the search in %s: %s", path,
				     strerror(errno));
	}
}

hbk_result last_search_offer(int n, char *offer_id, size_t size, struct hbk_error *err)
{
	char dir[4096], path[4200];
	json_error_t jerr;
	cache_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/last-search.json", dir);
	json_t *saved = json_load_file(path, 0, &jerr);
	if (!saved)
		return hbk_fail(err, HBK_EINVAL, "no_search",
				"no previous search to take line %d from (run 'hbk search' first)",
				n);
	json_t *offers = json_object_get(saved, "offers");
	size_t count = json_array_size(offers);
	hbk_result rc = HBK_OK;
	if (n < 1 || (size_t)n > count)
		rc = hbk_fail(err, HBK_EINVAL, "no_such_line",
			      "the last search has no line %d (it has %zu)", n, count);
	else if (!hbk_copy(offer_id, size,
			   hbk_json_str(json_array_get(offers, (size_t)n - 1), "offer_id", "")))
		rc = hbk_fail(err, HBK_EINVAL, "no_such_line", "line %d has no offer", n);
	json_decref(saved);
	return rc;
}
