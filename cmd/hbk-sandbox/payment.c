/*
 * payment.c - the payment protocol area of hbk-sandbox (Stripe shape).
 */
#include <string.h>

#include "sandbox.h"

static const char *payment_endpoint(const struct http_request *req)
{
	(void)req;
	return NULL;
}

static void payment_error(struct http_response *resp, int status, const char *code,
			  const char *message)
{
	sandbox_json(resp, status,
		     json_pack("{s:{s:s, s:s, s:s}}", "error", "type",
			       status >= 500 ? "api_error" : "invalid_request_error", "code", code,
			       "message", message));
}

static void payment_handle(struct sandbox *sb, struct http_exchange *ex, const char *endpoint)
{
	(void)sb;
	(void)endpoint;
	payment_error(&ex->resp, 404, "resource_missing", "no such payment route");
}

static json_t *payment_state(struct sandbox *sb)
{
	json_t *list = NULL;
	struct hbk_error err = {0};
	if (sb->payment.ops->list(sb->payment.self, &list, &err) != HBK_OK)
		list = json_array();
	return json_pack("{s:o}", "payment_intents", list);
}

const struct sandbox_area sandbox_payment_area = {
    "payment", "/v1/", payment_endpoint, payment_handle, payment_error, payment_state,
};
