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

/*
 * The dump below writes what json_dumps(JSON_COMPACT | JSON_ENCODE_ANY)
 * writes, byte for byte, at a fraction of the cost: jansson decodes every
 * character of every string as UTF-8 and grows its buffer through a
 * callback per piece, which made dumping the events and answers of a
 * booking cost more than building them.
 */
#define JSON_DUMP_DEPTH_MAX 256 /* deeper is a cycle: a programmer error */

/* A string's bytes as jansson writes them (its strings are valid UTF-8:
 * only the quote, the backslash and control characters are escaped). */
static void dump_string(struct hbk_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0;
	hbk_buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		hbk_buf_append(out, s + run, i - run);
		run = i + 1;
		char esc[6] = {'\\', (char)c, 0, 0, 0, 0};
		size_t n = 2;
		switch (c) {
		case '"':
		case '\\': break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		hbk_buf_append(out, esc, n);
	}
	hbk_buf_append(out, s + run, len - run);
	hbk_buf_putc(out, '"');
}

static void dump_value(struct hbk_buf *out, const json_t *json, int depth)
{
	HBK_ASSERT(json != NULL && depth < JSON_DUMP_DEPTH_MAX);
	switch (json_typeof(json)) {
	case JSON_OBJECT: {
		hbk_buf_putc(out, '{');
		/* Insertion order: the order jansson keeps and dumps. */
		for (void *it = json_object_iter((json_t *)json); it;
		     it = json_object_iter_next((json_t *)json, it)) {
			if (it != json_object_iter((json_t *)json))
				hbk_buf_putc(out, ',');
			dump_string(out, json_object_iter_key(it), json_object_iter_key_len(it));
			hbk_buf_putc(out, ':');
			dump_value(out, json_object_iter_value(it), depth + 1);
		}
		hbk_buf_putc(out, '}');
		return;
	}
	case JSON_ARRAY:
		hbk_buf_putc(out, '[');
		for (size_t i = 0; i < json_array_size(json); i++) {
			if (i)
				hbk_buf_putc(out, ',');
			dump_value(out, json_array_get(json, i), depth + 1);
		}
		hbk_buf_putc(out, ']');
		return;
	case JSON_STRING:
		dump_string(out, json_string_value(json), json_string_length(json));
		return;
	case JSON_INTEGER: hbk_buf_put_int(out, json_integer_value(json)); return;
	case JSON_REAL: {
		/* Rare (the partner's booking totals): jansson's own shortest
		 * round-trip form, rather than a copy of its rules. */
		char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
		HBK_ASSERT(text != NULL);
		hbk_buf_puts(out, text);
		free(text);
		return;
	}
	case JSON_TRUE: hbk_buf_puts(out, "true"); return;
	case JSON_FALSE: hbk_buf_puts(out, "false"); return;
	case JSON_NULL: hbk_buf_puts(out, "null"); return;
	}
	HBK_ASSERT(!"unknown JSON type");
}

void hbk_json_dump(const json_t *json, struct hbk_buf *out)
{
	HBK_ASSERT(json != NULL && out != NULL);
	dump_value(out, json, 0);
}

char *hbk_json_dumps(const json_t *json)
{
	struct hbk_buf text;
	hbk_buf_init(&text, 0);
	hbk_json_dump(json, &text);
	HBK_ASSERT(!text.overflow);
	return hbk_buf_detach(&text);
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

void hbk_buf_json_string(struct hbk_buf *buf, const char *s)
{
	hbk_buf_putc(buf, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': hbk_buf_puts(buf, "\\\""); break;
		case '\\': hbk_buf_puts(buf, "\\\\"); break;
		case '\n': hbk_buf_puts(buf, "\\n"); break;
		case '\r': hbk_buf_puts(buf, "\\r"); break;
		case '\t': hbk_buf_puts(buf, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				hbk_buf_printf(buf, "\\u%04x", *p);
			else
				hbk_buf_putc(buf, (char)*p);
		}
	}
	hbk_buf_putc(buf, '"');
}
