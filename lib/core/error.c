/*
 * error.c - result codes and the error context.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hbk/core.h"

void hbk_error_clear(struct hbk_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

/*
 * Sets err's message from text as valid UTF-8, cut on a character: the
 * message echoes outside text (a path, a field name, a value) and goes
 * into answers and log lines, which jansson writes only when valid.
 * text is formatted into twice the room, so that only the copy cuts it.
 */
static void set_message(struct hbk_error *err, const char *text)
{
	hbk_utf8_copy(err->message, sizeof(err->message), text, strlen(text));
}

static hbk_result fail_v(struct hbk_error *err, hbk_result result, const char *code,
			 const char *field, const char *fmt, va_list ap)
{
	char text[2 * HBK_ERROR_MESSAGE_MAX];
	HBK_ASSERT(result != HBK_OK);
	if (!err)
		return result;
	err->result = result;
	hbk_copy(err->code, sizeof(err->code), code ? code : "");
	field = field ? field : "";
	hbk_utf8_copy(err->field, sizeof(err->field), field, strlen(field));
	vsnprintf(text, sizeof(text), fmt, ap);
	set_message(err, text);
	return result;
}

hbk_result hbk_fail(struct hbk_error *err, hbk_result result, const char *code, const char *fmt,
		    ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_v(err, result, code, NULL, fmt, ap);
	va_end(ap);
	return result;
}

hbk_result hbk_fail_field(struct hbk_error *err, hbk_result result, const char *code,
			  const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_v(err, result, code, field, fmt, ap);
	va_end(ap);
	return result;
}

void hbk_error_prefix(struct hbk_error *err, const char *fmt, ...)
{
	char prefix[HBK_ERROR_MESSAGE_MAX];
	char joined[2 * HBK_ERROR_MESSAGE_MAX + 2];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(joined, sizeof(joined), "%s: %s", prefix, err->message);
	set_message(err, joined);
}

int hbk_exit_code(hbk_result result)
{
	if (result < HBK_OK || result > HBK_EAUTH)
		return 1;
	return (int)result;
}

const char *hbk_result_name(hbk_result result)
{
	switch (result) {
	case HBK_OK: return "ok";
	case HBK_EINTERNAL: return "internal error";
	case HBK_EINVAL: return "invalid input";
	case HBK_ENOTFOUND: return "not found";
	case HBK_ECONFLICT: return "conflict";
	case HBK_EDECLINED: return "declined";
	case HBK_EUNAVAILABLE: return "unavailable";
	case HBK_EAUTH: return "authentication failed";
	}
	return "unknown error";
}

_Noreturn void hbk_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "hbk: BUG: %s:%d: assertion failed: %s\n", file, line, expr);
	abort();
}

void hbk_call_finish(struct hbk_call *call, hbk_result rc, const struct hbk_error *err)
{
	call->rc = rc;
	if (rc == HBK_OK)
		hbk_error_clear(&call->err);
	else if (err && err != &call->err)
		call->err = *err;
	call->done(call);
}
