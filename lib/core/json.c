/*
 * json.c - jansson helpers: money objects, typed getters, dump and load.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/json.h"

json_t *hbk_json_money(const struct hbk_money *money)
{
	char amount[HBK_MONEY_STR];
	hbk_money_format(money, amount);
	return json_pack("{s:s, s:s}", "amount", amount, "currency", money->currency);
}

hbk_result hbk_json_get_money(const json_t *obj, const char *field, struct hbk_money *out,
			      struct hbk_error *err)
{
	const json_t *money = json_object_get(obj, field);
	const char *amount = hbk_json_str(money, "amount", NULL);
	const char *currency = hbk_json_str(money, "currency", NULL);
	if (!json_is_object(money) || !amount || !currency)
		return hbk_fail_field(
		    err, HBK_EINVAL, "invalid_field", field,
		    "%s: expected {\"amount\":\"decimal\",\"currency\":\"ISO 4217\"}", field);
	hbk_result rc = hbk_money_parse(amount, currency, out, err);
	if (rc != HBK_OK) {
		hbk_copy(err->field, sizeof(err->field), field);
		hbk_error_prefix(err, "%s", field);
	}
	return rc;
}

const char *hbk_json_str(const json_t *obj, const char *key, const char *def)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : def;
}

long long hbk_json_int(const json_t *obj, const char *key, long long def)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

bool hbk_json_bool(const json_t *obj, const char *key, bool def)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

char *hbk_json_dumps(const json_t *json)
{
	char *s = json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	HBK_ASSERT(s != NULL);
	return s;
}

json_t *hbk_json_loads(const char *text, size_t len, struct hbk_error *err)
{
	json_error_t jerr;
	json_t *json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json)
		hbk_fail(err, HBK_EINVAL, "invalid_json", "invalid JSON at line %d column %d: %s",
			 jerr.line, jerr.column, jerr.text);
	return json;
}

/* The bytes written as an escape in a JSON string, and NUL, which ends it. */
static const bool json_escaped[256] = {
    [0x00 ... 0x1f] = true,
    ['"'] = true,
    ['\\'] = true,
    [0x7f] = true,
};

void hbk_buf_json_string(struct hbk_buf *buf, const char *s)
{
	/* Runs of plain bytes are appended whole: names and ids are nearly
	 * all plain, and these strings fill the hottest answers. */
	const unsigned char *run = (const unsigned char *)s;
	hbk_buf_putc(buf, '"');
	for (const unsigned char *p = run;; p++) {
		if (!json_escaped[*p])
			continue;
		hbk_buf_append(buf, run, (size_t)(p - run));
		if (!*p)
			break;
		switch (*p) {
		case '"': hbk_buf_append(buf, "\\\"", 2); break;
		case '\\': hbk_buf_append(buf, "\\\\", 2); break;
		case '\n': hbk_buf_append(buf, "\\n", 2); break;
		case '\r': hbk_buf_append(buf, "\\r", 2); break;
		case '\t': hbk_buf_append(buf, "\\t", 2); break;
		default: hbk_buf_printf(buf, "\\u%04x", *p);
		}
		run = p + 1;
	}
	hbk_buf_putc(buf, '"');
}
