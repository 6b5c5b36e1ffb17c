/*
 * book.c - hbk book: book line N of the last search, or an offer id.
 */
#include <string.h>

#include "hbk.h"

static struct {
	const char *guest, *email, *phone, *payment_method;
} opt;

const struct hbk_option book_options[] = {
    {HBK_OPT_STRING, "guest", 0, &opt.guest, NULL, "NAME", "the lead guest's full name", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "email", 0, &opt.email, NULL, "EMAIL", "where the confirmation goes", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "phone", 0, &opt.phone, NULL, "PHONE", "the guest's phone", 0, 0,
     HBK_COMPLETE_NONE, NULL},
    {HBK_OPT_STRING, "payment-method", 0, &opt.payment_method, NULL, "PM",
     "payment method token (default pm_card_visa)", 0, 0, HBK_COMPLETE_WORDS,
     "pm_card_visa pm_card_chargeDeclined pm_card_chargeDeclinedInsufficientFunds"},
    {HBK_OPT_END},
};

void book_reset(void)
{
	memset(&opt, 0, sizeof(opt));
}

static bool copy_field(char *dst, size_t size, const char *src, const char *what,
		       struct hbk_error *err)
{
	if (hbk_copy(dst, size, src))
		return true;
	hbk_fail_field(err, HBK_EINVAL, "too_long", what, "--%s is longer than %zu bytes", what,
		       size - 1);
	return false;
}

int cmd_book(struct hbk_cli *cli, int argc, const char **argv)
{
	int code;
	struct hbk_book_request req = {0};
	struct hbk_error err = {0};
	struct hbk_client *client;
	char offer_id[HBK_OFFER_ID_MAX];
	long long line;
	json_t *booking = NULL;
	const struct hbk_command *self = hbk_cli_find(hbk_commands, "book");

	if (!opt.guest || !opt.email)
		return hbk_cli_usage_error(cli, self, "book: --guest and --email are required");
	const char *pm = opt.payment_method ? opt.payment_method : "pm_card_visa";
	if (hbk_looks_like_card_number(pm))
		return hbk_cli_usage_error(
		    cli, NULL,
		    "--payment-method: card numbers are not accepted; give a "
		    "payment method token such as pm_card_visa");
	if (!copy_field(req.guest.name, sizeof(req.guest.name), opt.guest, "guest", &err) ||
	    !copy_field(req.guest.email, sizeof(req.guest.email), opt.email, "email", &err) ||
	    !copy_field(req.guest.phone, sizeof(req.guest.phone), opt.phone ? opt.phone : "",
			"phone", &err) ||
	    !copy_field(req.payment_method, sizeof(req.payment_method), pm, "payment-method", &err))
		return hbk_cli_error(cli, &err);

	if (argv[0][0] >= '0' && argv[0][0] <= '9') {
		if (!hbk_parse_int(argv[0], 1, 100000, &line))
			return hbk_cli_usage_error(cli, self, "book: invalid line number '%s'",
						   argv[0]);
		if (last_search_offer((int)line, offer_id, sizeof(offer_id), &err) != HBK_OK)
			return hbk_cli_error(cli, &err);
	} else if (!hbk_copy(offer_id, sizeof(offer_id), argv[0])) {
		hbk_fail(&err, HBK_EINVAL, "invalid_offer", "malformed offer id");
		return hbk_cli_error(cli, &err);
	}
	if (hbk_offer_id_decode(offer_id, &req.stay, &req.expected_total, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);

	if ((code = tool_backend(cli, &client)) != 0)
		return code;
	/* Remotely, the offer id carries the stay and the expected total. */
	hbk_result rc = client ? hbk_client_book(client, offer_id, &req.guest, req.payment_method,
						 NULL, &booking, &err)
			       : hbk_book(cli->engine, &req, &booking, &err);
	return finish_booking_command(cli, rc, booking, &err);
}
