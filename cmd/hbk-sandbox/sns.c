/*
 * sns.c - the SNS Publish area of hbk-sandbox.
 */
#include <string.h>

#include "sandbox.h"

static const char *sns_endpoint(const struct http_request *req)
{
	(void)req;
	return NULL;
}

static void sns_error(struct http_response *resp, int status, const char *code,
		      const char *message)
{
	resp->status = status;
	resp->content_type = "text/xml";
	hbk_buf_reset(&resp->body);
	hbk_buf_printf(&resp->body,
		       "<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code>"
		       "<Message>%s</Message></Error></ErrorResponse>",
		       code, message);
}

static void sns_handle(struct sandbox *sb, struct http_exchange *ex, const char *endpoint)
{
	(void)sb;
	(void)endpoint;
	sns_error(&ex->resp, 404, "NotFound", "no such route");
}

static json_t *sns_state(struct sandbox *sb)
{
	return json_pack("{s:O, s:O}", "messages", sb->sns_messages, "smtp", sb->smtp_messages);
}

const struct sandbox_area sandbox_sns_area = {
    "sns", "/sns/", sns_endpoint, sns_handle, sns_error, sns_state,
};
