/*
 * problem.c - mapping library results to HTTP statuses and RFC 9457
 * problem documents, and back.
 */
#include <string.h>

#include "hbk/api.h"

int hbk_api_status(hbk_result result, const char *code)
{
	switch (result) {
	case HBK_OK: return 200;
	case HBK_EINVAL:
		if (strcmp(code, "invalid_json") == 0 || strcmp(code, "invalid_body") == 0 ||
		    strcmp(code, "usage") == 0)
			return 400;
		return 422;
	case HBK_EAUTH:
		/* hbkd's own credentials refused upstream: the caller's are fine. */
		if (strcmp(code, "partner_auth") == 0 || strcmp(code, "payment_auth") == 0)
			return 502;
		return 401;
	case HBK_ENOTFOUND: return 404;
	case HBK_ECONFLICT: return strcmp(code, "precondition_failed") == 0 ? 412 : 409;
	case HBK_EDECLINED: return strncmp(code, "partner", 7) == 0 ? 502 : 402;
	case HBK_EUNAVAILABLE: return 503;
	case HBK_EINTERNAL: break;
	}
	return 500;
}

hbk_result hbk_api_result(int status)
{
	if (status >= 200 && status < 300)
		return HBK_OK;
	switch (status) {
	case 400:
	case 405:
	case 413:
	case 414:
	case 415:
	case 422:
	case 431: return HBK_EINVAL;
	case 401:
	case 403: return HBK_EAUTH;
	case 404: return HBK_ENOTFOUND;
	case 409:
	case 412: return HBK_ECONFLICT;
	case 402:
	case 502: return HBK_EDECLINED;
	case 503:
	case 504: return HBK_EUNAVAILABLE;
	}
	return HBK_EINTERNAL;
}

static const char *status_title(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Internal Server Error";
}

json_t *hbk_api_problem(int status, const struct hbk_error *err, const json_t *booking)
{
	char type[128], code[HBK_ERROR_CODE_MAX], field[HBK_ERROR_FIELD_MAX];
	char detail[HBK_ERROR_MESSAGE_MAX];
	/* The error may have been filled by hand: whatever it holds, the
	 * problem is valid UTF-8, which jansson requires. */
	hbk_utf8_copy(code, sizeof(code), err->code, strnlen(err->code, sizeof(err->code)));
	hbk_utf8_copy(field, sizeof(field), err->field, strnlen(err->field, sizeof(err->field)));
	hbk_utf8_copy(detail, sizeof(detail), err->message,
		      strnlen(err->message, sizeof(err->message)));
	if (!code[0])
		hbk_copy(code, sizeof(code), "error");
	hbk_format(type, sizeof(type), "%s%s", HBK_API_PROBLEM_BASE, code);
	json_t *problem =
	    json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", status_title(status),
		      "status", status, "detail", detail[0] ? detail : status_title(status),
		      "code", code);
	HBK_ASSERT(problem != NULL);
	if (field[0])
		json_object_set_new(problem, "errors",
				    json_pack("[{s:s, s:s}]", "field", field, "detail", detail));
	if (booking)
		json_object_set(problem, "booking", (json_t *)booking);
	return problem;
}
