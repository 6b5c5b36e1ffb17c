/*
 * test_stripe.c - the stripe adapter's pure parts: the form encoder, the
 * mapping of Stripe's answers to results (declines, auth, conflicts,
 * unavailability), the configuration it needs, that an unreachable
 * provider is HBK_EUNAVAILABLE with a message that never holds the key,
 * and, against a canned HTTP server, what goes on the wire (form body,
 * Bearer key, Idempotency-Key), a decline's intent, Retry-After handed to
 * the saga and a list followed across pages. The exchange with the
 * simulator is proven in tests/bats/sandbox-payment.bats.
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdlib.h>
#include <string.h>

#include "canned.h"
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

static bool open_at(int port, struct hbk_payment *pay)
{
	char yaml[256];
	struct hbk_error err = {0};
	hbk_format(yaml, sizeof(yaml),
		   "payment:\n  kind: stripe\n  url: http://127.0.0.1:%d\n"
		   "  secret_key: env:TEST_STRIPE_KEY\n  timeout_ms: 3000\n",
		   port);
	hbk_result r = open_with(yaml, pay, &err);
	CHECK_INT(r, HBK_OK);
	return r == HBK_OK;
}

static const char intent_body[] =
    "{\"id\":\"pi_A\",\"object\":\"payment_intent\",\"amount\":36000,\"currency\":\"eur\","
    "\"status\":\"requires_capture\",\"amount_received\":0,"
    "\"payment_method\":{\"id\":\"pm_card_visa\"}}";

static void test_wire_authorize_and_decline(void)
{
	struct canned c;
	struct hbk_payment pay;
	memset(&c, 0, sizeof(c));
	canned_add(&c, "200 OK", "", intent_body);
	canned_add(&c, "402 Payment Required", "",
		   "{\"error\":{\"type\":\"card_error\",\"code\":\"card_declined\","
		   "\"decline_code\":\"insufficient_funds\",\"payment_intent\":{\"id\":\"pi_D\","
		   "\"object\":\"payment_intent\",\"status\":\"requires_payment_method\","
		   "\"amount\":100,\"currency\":\"eur\"}}}");
	canned_start(&c);
	if (!open_at(c.port, &pay)) {
		canned_stop(&c);
		return;
	}
	struct hbk_money amount = hbk_money_make(36000, "EUR");
	struct hbk_payment_intent intent;
	struct hbk_call call = {.done = call_done};
	hbk_payment_authorize(&pay, "BK-7:authorize", &amount, "pm_card_visa", "BK-7", &intent,
			      &call);
	CHECK_INT(call.rc, HBK_OK);
	CHECK_STR(intent.id, "pi_A");
	CHECK_STR(intent.status, "requires_capture");
	CHECK_STR(intent.amount.currency, "EUR");
	CHECK_INT(intent.amount.minor, 36000);
	CHECK_STR(intent.payment_method, "pm_card_visa");

	amount.minor = 100;
	hbk_payment_authorize(&pay, "BK-8:authorize", &amount, "pm_card_x", "BK-8", &intent, &call);
	CHECK_INT(call.rc, HBK_EDECLINED);
	CHECK_STR(call.err.code, "insufficient_funds");
	CHECK_STR(intent.id, "pi_D");
	hbk_payment_close(&pay);
	canned_stop(&c);

	CHECK_INT(c.nrequests, 2);
	const char *req = c.requests[0];
	CHECK(strncmp(req, "POST /v1/payment_intents HTTP/1.1\r\n", 35) == 0);
	CHECK(strstr(req, "Authorization: Bearer sk_test_unit_secret\r\n") != NULL);
	CHECK(strstr(req, "Idempotency-Key: BK-7:authorize\r\n") != NULL);
	CHECK(strcasestr(req, "Content-Type: application/x-www-form-urlencoded") != NULL);
	CHECK(strstr(req, "\r\n\r\namount=36000&currency=eur&payment_method=pm_card_visa"
			  "&capture_method=manual&confirm=true"
			  "&automatic_payment_methods[enabled]=true"
			  "&automatic_payment_methods[allow_redirects]=never"
			  "&metadata[booking_id]=BK-7") != NULL);
}

static void test_wire_retry_after_and_capture(void)
{
	struct canned c;
	struct hbk_payment pay;
	memset(&c, 0, sizeof(c));
	canned_add(&c, "429 Too Many Requests", "Retry-After: 2\r\n",
		   "{\"error\":{\"type\":\"invalid_request_error\",\"code\":\"rate_limit\"}}");
	canned_add(&c, "200 OK", "",
		   "{\"id\":\"pi_A\",\"object\":\"payment_intent\",\"amount\":36000,"
		   "\"currency\":\"eur\",\"status\":\"succeeded\",\"amount_received\":30000}");
	canned_start(&c);
	if (!open_at(c.port, &pay)) {
		canned_stop(&c);
		return;
	}
	struct hbk_payment_intent intent;
	struct hbk_call call = {.done = call_done};
	hbk_payment_capture(&pay, "BK-7:capture", "pi_A", 30000, &intent, &call);
	CHECK_INT(call.rc, HBK_EUNAVAILABLE);
	CHECK_STR(call.err.code, "payment_unavailable");
	CHECK_INT(call.retry_after_ms, 2000);
	hbk_payment_capture(&pay, "BK-7:capture", "pi_A", 30000, &intent, &call);
	CHECK_INT(call.rc, HBK_OK);
	CHECK_INT(call.retry_after_ms, 0);
	CHECK_INT(intent.amount_captured, 30000);
	hbk_payment_close(&pay);
	canned_stop(&c);

	CHECK_INT(c.nrequests, 2);
	CHECK(strncmp(c.requests[1], "POST /v1/payment_intents/pi_A/capture HTTP/1.1", 46) == 0);
	CHECK(strstr(c.requests[1], "Idempotency-Key: BK-7:capture\r\n") != NULL);
	CHECK(strstr(c.requests[1], "\r\n\r\namount_to_capture=30000") != NULL);
}

static void test_wire_list_follows_cursors(void)
{
	struct canned c;
	struct hbk_payment pay;
	memset(&c, 0, sizeof(c));
	canned_add(&c, "200 OK", "",
		   "{\"object\":\"list\",\"has_more\":true,\"data\":[{\"id\":\"pi_3\"},"
		   "{\"id\":\"pi_2\"}]}");
	canned_add(&c, "200 OK", "",
		   "{\"object\":\"list\",\"has_more\":false,\"data\":[{\"id\":\"pi_1\"}]}");
	canned_start(&c);
	if (!open_at(c.port, &pay)) {
		canned_stop(&c);
		return;
	}
	json_t *all = NULL;
	struct hbk_error err = {0};
	CHECK_INT(pay.ops->list(pay.self, &all, &err), HBK_OK);
	CHECK_INT(json_array_size(all), 3);
	CHECK_STR(json_string_value(json_object_get(json_array_get(all, 2), "id")), "pi_1");
	json_decref(all);
	hbk_payment_close(&pay);
	canned_stop(&c);

	CHECK_INT(c.nrequests, 2);
	CHECK(strncmp(c.requests[0], "GET /v1/payment_intents?limit=100 HTTP", 38) == 0);
	CHECK(strncmp(c.requests[1], "GET /v1/payment_intents?limit=100&starting_after=pi_2 HTTP",
		      58) == 0);
	/* A GET carries no Idempotency-Key. */
	CHECK(strstr(c.requests[1], "Idempotency-Key") == NULL);
}

static void test_wire_void_refused_tells_the_state(void)
{
	struct canned c;
	struct hbk_payment pay;
	memset(&c, 0, sizeof(c));
	canned_add(&c, "400 Bad Request", "",
		   "{\"error\":{\"type\":\"invalid_request_error\",\"code\":"
		   "\"payment_intent_unexpected_state\",\"message\":\"is succeeded\","
		   "\"payment_intent\":{\"id\":\"pi_A\",\"object\":\"payment_intent\","
		   "\"status\":\"succeeded\",\"amount\":36000,\"amount_received\":36000,"
		   "\"currency\":\"eur\"}}}");
	canned_start(&c);
	if (!open_at(c.port, &pay)) {
		canned_stop(&c);
		return;
	}
	struct hbk_payment_intent intent;
	struct hbk_call call = {.done = call_done};
	hbk_payment_void(&pay, "BK-7:void:pi_A", "pi_A", &intent, &call);
	CHECK_INT(call.rc, HBK_ECONFLICT);
	CHECK_STR(call.err.code, "payment_intent_unexpected_state");
	/* The caller learns the capture it lost the answer of happened. */
	CHECK_STR(intent.status, "succeeded");
	CHECK_INT(intent.amount_captured, 36000);
	hbk_payment_close(&pay);
	canned_stop(&c);
	CHECK(strncmp(c.requests[0], "POST /v1/payment_intents/pi_A/cancel HTTP/1.1", 45) == 0);
}

/* find pages the intents created since the call (created[gte], the
 * brackets encoded) until the booking's turns up; none is "not found". */
static void test_wire_find_pages_to_the_booking(void)
{
	struct canned c;
	struct hbk_payment pay;
	memset(&c, 0, sizeof(c));
	canned_add(&c, "200 OK", "",
		   "{\"object\":\"list\",\"has_more\":true,\"data\":[{\"id\":\"pi_X\","
		   "\"object\":\"payment_intent\",\"status\":\"requires_capture\",\"amount\":"
		   "500,\"currency\":\"eur\",\"metadata\":{\"booking_id\":\"BK-other\"}}]}");
	canned_add(&c, "200 OK", "",
		   "{\"object\":\"list\",\"has_more\":false,\"data\":[{\"id\":\"pi_Y\","
		   "\"object\":\"payment_intent\",\"status\":\"requires_capture\",\"amount\":"
		   "36000,\"currency\":\"eur\",\"metadata\":{\"booking_id\":\"BK-7\"}}]}");
	canned_add(&c, "200 OK", "", "{\"object\":\"list\",\"has_more\":false,\"data\":[]}");
	canned_start(&c);
	if (!open_at(c.port, &pay)) {
		canned_stop(&c);
		return;
	}
	struct hbk_payment_intent intent;
	struct hbk_call call = {.done = call_done};
	hbk_payment_find(&pay, "BK-7:authorize", "BK-7", 1800000000000LL, &intent, &call);
	CHECK_INT(call.rc, HBK_OK);
	CHECK_STR(intent.id, "pi_Y");
	CHECK_STR(intent.status, "requires_capture");
	CHECK_INT(intent.amount.minor, 36000);
	hbk_payment_find(&pay, "BK-8:authorize", "BK-8", 1800000000000LL, &intent, &call);
	CHECK_INT(call.rc, HBK_ENOTFOUND);
	hbk_payment_close(&pay);
	canned_stop(&c);
	/* Five minutes of slack for the clocks. */
	CHECK(strncmp(c.requests[0],
		      "GET /v1/payment_intents?limit=100&created%5Bgte%5D=1799999700 HTTP/1.1",
		      70) == 0);
	CHECK(strstr(c.requests[1], "&starting_after=pi_X HTTP/1.1") != NULL);
}

UNIT_TESTS(UNIT_T(test_form_encoding), UNIT_T(test_declines), UNIT_T(test_auth_never_names_the_key),
	   UNIT_T(test_unavailable_and_conflicts), UNIT_T(test_open_needs_url_and_key),
	   UNIT_T(test_unreachable_provider), UNIT_T(test_wire_authorize_and_decline),
	   UNIT_T(test_wire_retry_after_and_capture), UNIT_T(test_wire_list_follows_cursors),
	   UNIT_T(test_wire_void_refused_tells_the_state),
	   UNIT_T(test_wire_find_pages_to_the_booking));
