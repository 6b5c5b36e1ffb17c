/*
 * test_stripe.c - the stripe adapter's pure parts: the form encoder, the
 * mapping of Stripe's answers to results (declines, auth, conflicts,
 * unavailability), the configuration it needs, and that an unreachable
 * provider is HBK_EUNAVAILABLE with a message that never holds the key.
 * The HTTP exchange itself is proven against hbk-sandbox in
 * tests/bats/sandbox-payment.bats.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/payment.h"
#include "hbk/upstream.h"
#include "unit.h"

static void test_form_encoding(void)
{
	struct hbk_buf buf;
	hbk_buf_init(&buf, 4096);
	hbk_form_append(&buf, "amount", "36000");
	hbk_form_append(&buf, "metadata[booking_id]", "BK-1");
	hbk_form_append(&buf, "description", "Ana & Rui = 100% ok/é");
	hbk_form_append(&buf, "automatic_payment_methods[allow_redirects]", "never");
	hbk_form_append(&buf, "empty", "");
	CHECK_STR(buf.data, "amount=36000&metadata[booking_id]=BK-1"
			    "&description=Ana%20%26%20Rui%20%3D%20100%25%20ok%2F%C3%A9"
			    "&automatic_payment_methods[allow_redirects]=never&empty=");
	hbk_buf_free(&buf);

	/* Brackets are kept in keys only; a value's are encoded. */
	hbk_buf_init(&buf, 4096);
	hbk_form_append(&buf, "a b", "[x]");
	CHECK_STR(buf.data, "a%20b=%5Bx%5D");
	hbk_buf_free(&buf);
}

static void test_declines(void)
{
	struct hbk_error err = {0};
	CHECK_INT(
	    hbk_payment_stripe_error(402,
				     "{\"error\":{\"type\":\"card_error\",\"code\":"
				     "\"card_declined\",\"decline_code\":\"generic_decline\"}}",
				     &err),
	    HBK_EDECLINED);
	CHECK_STR(err.code, "payment_declined");
	CHECK(strstr(err.message, "generic_decline") != NULL);

	CHECK_INT(
	    hbk_payment_stripe_error(402,
				     "{\"error\":{\"type\":\"card_error\",\"code\":"
				     "\"card_declined\",\"decline_code\":\"insufficient_funds\"}}",
				     &err),
	    HBK_EDECLINED);
	CHECK_STR(err.code, "insufficient_funds");
	/* A 402 without a body is still a decline. */
	CHECK_INT(hbk_payment_stripe_error(402, NULL, &err), HBK_EDECLINED);
	CHECK_STR(err.code, "payment_declined");
}

static void test_auth_never_names_the_key(void)
{
	struct hbk_error err = {0};
	const char *body = "{\"error\":{\"type\":\"invalid_request_error\","
			   "\"message\":\"Invalid API Key provided: sk_test_abcdef\"}}";
	CHECK_INT(hbk_payment_stripe_error(401, body, &err), HBK_EAUTH);
	CHECK_STR(err.code, "payment_auth");
	CHECK(strstr(err.message, "payment provider") != NULL);
	CHECK(strstr(err.message, "sk_") == NULL);
	/* Nor does any other answer that quotes one. */
	CHECK_INT(hbk_payment_stripe_error(400, body, &err), HBK_EINVAL);
	CHECK(strstr(err.message, "sk_") == NULL);
}

static void test_unavailable_and_conflicts(void)
{
	struct hbk_error err = {0};
	static const long unavailable[] = {409, 429, 500, 502, 503, 504};
	for (size_t i = 0; i < sizeof(unavailable) / sizeof(unavailable[0]); i++) {
		CHECK_INT(hbk_payment_stripe_error(unavailable[i],
						   "{\"error\":{\"type\":\"api_error\"}}", &err),
			  HBK_EUNAVAILABLE);
		CHECK_STR(err.code, "payment_unavailable");
	}
	CHECK_INT(hbk_payment_stripe_error(503, "<html>busy</html>", &err), HBK_EUNAVAILABLE);

	CHECK_INT(hbk_payment_stripe_error(400,
					   "{\"error\":{\"type\":\"idempotency_error\","
					   "\"message\":\"Keys for idempotent requests ...\"}}",
					   &err),
		  HBK_EINVAL);
	CHECK_STR(err.code, "payment_idempotency_error");

	CHECK_INT(
	    hbk_payment_stripe_error(400,
				     "{\"error\":{\"type\":\"invalid_request_error\",\"code\":"
				     "\"payment_intent_unexpected_state\",\"message\":\"is "
				     "canceled\"}}",
				     &err),
	    HBK_ECONFLICT);
	CHECK_STR(err.code, "payment_intent_unexpected_state");
	CHECK_INT(
	    hbk_payment_stripe_error(400,
				     "{\"error\":{\"type\":\"invalid_request_error\",\"code\":"
				     "\"amount_too_large\"}}",
				     &err),
	    HBK_ECONFLICT);

	CHECK_INT(
	    hbk_payment_stripe_error(400,
				     "{\"error\":{\"type\":\"invalid_request_error\",\"code\":"
				     "\"parameter_missing\",\"param\":\"currency\"}}",
				     &err),
	    HBK_EINVAL);
	CHECK_STR(err.code, "payment_invalid_request");
	CHECK_STR(err.field, "currency");

	CHECK_INT(
	    hbk_payment_stripe_error(404,
				     "{\"error\":{\"type\":\"invalid_request_error\",\"code\":"
				     "\"resource_missing\"}}",
				     &err),
	    HBK_ENOTFOUND);
}

static hbk_result open_with(const char *yaml, struct hbk_payment *pay, struct hbk_error *err)
{
	struct hbk_config *cfg = NULL;
	/* Secrets are references in the configuration, never inline. */
	setenv("TEST_STRIPE_KEY", "sk_test_unit_secret", 1);
	hbk_result r = hbk_config_load_string(yaml, "test", &cfg, err);
	if (r == HBK_OK)
		r = hbk_payment_stripe_open(cfg, pay, err);
	hbk_config_free(cfg);
	return r;
}

static void test_open_needs_url_and_key(void)
{
	struct hbk_payment pay;
	struct hbk_error err = {0};
	CHECK_INT(
	    open_with("payment:\n  kind: stripe\n  secret_key: env:TEST_STRIPE_KEY\n", &pay, &err),
	    HBK_EINVAL);
	CHECK_STR(err.field, "payment.url");
	CHECK_INT(
	    open_with(
		"payment:\n  kind: stripe\n  url: ftp://x\n  secret_key: env:TEST_STRIPE_KEY\n",
		&pay, &err),
	    HBK_EINVAL);
	CHECK_INT(open_with("payment:\n  kind: stripe\n  url: http://127.0.0.1:1\n", &pay, &err),
		  HBK_EINVAL);
	CHECK_STR(err.field, "payment.secret_key");
	CHECK(pay.ops == NULL);
}

static void call_done(struct hbk_call *call)
{
	(void)call;
}

/* Port 1 on loopback refuses connections: no answer at all. */
static void test_unreachable_provider(void)
{
	struct hbk_payment pay;
	struct hbk_error err = {0};
	CHECK_INT(open_with("payment:\n  kind: stripe\n  url: http://127.0.0.1:1/\n"
			    "  secret_key: env:TEST_STRIPE_KEY\n  timeout_ms: 2000\n",
			    &pay, &err),
		  HBK_OK);
	if (pay.ops == NULL)
		return;
	CHECK_STR(pay.ops->name, "stripe");
	CHECK(pay.ops->remote);

	struct hbk_money amount = hbk_money_make(1000, "EUR");
	struct hbk_payment_intent intent;
	struct hbk_call call = {.done = call_done};
	hbk_payment_authorize(&pay, "BK-1:authorize", &amount, "pm_card_visa", "BK-1", &intent,
			      &call);
	CHECK_INT(call.rc, HBK_EUNAVAILABLE);
	CHECK(strcmp(call.err.code, "payment_unavailable") == 0 ||
	      strcmp(call.err.code, "circuit_open") == 0);
	CHECK(strstr(call.err.message, "sk_test_unit_secret") == NULL);

	/* A card number is refused before anything is sent, and not echoed. */
	hbk_payment_authorize(&pay, "BK-1:authorize", &amount, "4242424242424242", "BK-1", &intent,
			      &call);
	CHECK_INT(call.rc, HBK_EINVAL);
	CHECK(strstr(call.err.message, "4242") == NULL);

	/* The synchronous ops take the same road. */
	CHECK_INT(pay.ops->get(pay.self, "pi_123", &intent, &err), HBK_EUNAVAILABLE);
	CHECK_INT(pay.ops->get(pay.self, "pi/../x", &intent, &err), HBK_EINVAL);
	hbk_payment_close(&pay);
}

UNIT_TESTS(UNIT_T(test_form_encoding), UNIT_T(test_declines), UNIT_T(test_auth_never_names_the_key),
	   UNIT_T(test_unavailable_and_conflicts), UNIT_T(test_open_needs_url_and_key),
	   UNIT_T(test_unreachable_provider));
