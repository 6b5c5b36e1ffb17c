/*
 * partner.c - the partner protocol area of hbk-sandbox (Hotelbeds shape).
 */
#include <string.h>

#include "sandbox.h"

static const char *partner_endpoint(const struct http_request *req)
{
	(void)req;
	return NULL;
}

static void partner_error(struct http_response *resp, int status, const char *code,
			  const char *message)
{
	sandbox_json(resp, status,
		     json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

static void partner_handle(struct sandbox *sb, struct http_exchange *ex, const char *endpoint)
{
	(void)sb;
	(void)endpoint;
	partner_error(&ex->resp, 404, "NOT_FOUND", "no such partner route");
}

static json_t *partner_state(struct sandbox *sb)
{
	json_t *list = NULL;
	struct hbk_error err = {0};
	if (sb->partner.ops->list(sb->partner.self, &list, &err) != HBK_OK)
		list = json_array();
	return json_pack("{s:o}", "bookings", list);
}

const struct sandbox_area sandbox_partner_area = {
    "partner", "/hotel-api/1.0/", partner_endpoint, partner_handle, partner_error, partner_state,
};
