/*
 * update.c - hbk update: new dates, room type or guests (re-priced), or
 * the guest's contact (not re-priced).
 */
#include <string.h>

#include "hbk.h"

static struct {
	const char *checkin, *checkout, *room_type, *guest, *email, *phone;
	long long adults, children, if_match;
	bool adults_given, children_given, if_match_given;
} opt;

const struct hbk_option update_options[] = {
    {HBK_OPT_STRING, "checkin", 0, &opt.checkin, NULL, "DATE", "new arrival", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "checkout", 0, &opt.checkout, NULL, "DATE", "new departure", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "room-type", 0, &opt.room_type, NULL, "CODE", "new room type", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_INT, "adults", 0, &opt.adults, &opt.adults_given, "N", "new number of adults", 0,
     HBK_MAX_GUESTS, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_INT, "children", 0, &opt.children, &opt.children_given, "N", "new number of children",
     0, HBK_MAX_GUESTS, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "guest", 0, &opt.guest, NULL, "NAME", "the guest's name", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "email", 0, &opt.email, NULL, "EMAIL", "the guest's email", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "phone", 0, &opt.phone, NULL, "PHONE", "the guest's phone", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_INT, "if-match", 0, &opt.if_match, &opt.if_match_given, "VERSION",
     "only if the booking is at this version", 0, 1000000, HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_END},
};

void update_reset(void)
{
	memset(&opt, 0, sizeof(opt));
}

int cmd_update(struct hbk_cli *cli, int argc, const char **argv)
{
	int code;
	struct hbk_update_request req = {.if_match = opt.if_match_given ? opt.if_match : -1};
	struct hbk_error err = {0};
	struct hbk_client *client;
	json_t *booking = NULL;
	hbk_result rc = HBK_OK;

	if (opt.checkin) {
		req.set_checkin = true;
		rc = hbk_cli_date("checkin", opt.checkin, &req.checkin, &err);
	}
	if (rc == HBK_OK && opt.checkout) {
		req.set_checkout = true;
		rc = hbk_cli_date("checkout", opt.checkout, &req.checkout, &err);
	}
	if (rc != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (opt.room_type) {
		req.set_room_type = true;
		if (!hbk_copy(req.room_type, sizeof(req.room_type), opt.room_type)) {
			hbk_fail(&err, HBK_EINVAL, "unknown_room_type", "unknown room type '%s'",
				 opt.room_type);
			return hbk_cli_error(cli, &err);
		}
	}
	req.set_adults = opt.adults_given;
	req.adults = (int)opt.adults;
	req.set_children = opt.children_given;
	req.children = (int)opt.children;
	req.set_name = opt.guest != NULL;
	req.set_email = opt.email != NULL;
	req.set_phone = opt.phone != NULL;
	if ((opt.guest && !hbk_copy(req.guest.name, sizeof(req.guest.name), opt.guest)) ||
	    (opt.email && !hbk_copy(req.guest.email, sizeof(req.guest.email), opt.email)) ||
	    (opt.phone && !hbk_copy(req.guest.phone, sizeof(req.guest.phone), opt.phone))) {
		hbk_fail(&err, HBK_EINVAL, "too_long", "a guest field is too long");
		return hbk_cli_error(cli, &err);
	}
	if ((code = tool_backend(cli, &client)) != 0)
		return code;
	rc = client ? hbk_client_update(client, argv[0], &req, &booking, &err)
		    : hbk_update(cli->engine, argv[0], &req, &booking, &err);
	return finish_booking_command(cli, rc, booking, &err);
}
