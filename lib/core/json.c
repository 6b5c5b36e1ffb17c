/*
 * json.c - jansson helpers: money objects, typed getters, dump and load.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hbk/json.h"

json_t *hbk_json_money(const struct hbk_money *money)
{
	char amount[HBK_MONEY_STR];
	hbk_money_format(money, amount);
	/* Built directly: a booking makes dozens, and json_pack parses its
	 * format each time. NULL, as json_pack gives, for a currency that is
	 * not UTF-8. */
	json_t *object = json_object();
	json_t *currency = json_string(money->currency);
	if (currency == NULL) {
		json_decref(object);
		return NULL;
	}
	json_object_set_new_nocheck(object, "amount", json_string_nocheck(amount));
	json_object_set_new_nocheck(object, "currency", currency);
	return object;
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

json_t *hbk_json_text(const char *s)
{
	HBK_ASSERT(s != NULL);
	size_t len = strlen(s);
	if (hbk_utf8_valid(s, len))
		return json_stringn_nocheck(s, len);
	/* Each byte becomes at most the 3 of U+FFFD. */
	size_t size = 3 * len + 1;
	char *valid = hbk_xmalloc(size);
	bool whole = hbk_utf8_copy(valid, size, s, len);
	HBK_ASSERT(whole);
	json_t *text = json_string_nocheck(valid);
	free(valid);
	return text;
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
#define JSON_DUMP_DEPTH_MAX 4096 /* jansson parses 2048 levels; deeper is a cycle */

/* Appends n bytes: in place when they fit, which a dump does almost always
 * (hbk_buf_append checks the limit and grows). */
static void put(struct hbk_buf *out, const char *s, size_t n)
{
	if (!out->overflow && out->len + n < out->cap && out->len + n <= out->max_bytes) {
		memcpy(out->data + out->len, s, n);
		out->len += n;
		out->data[out->len] = '\0';
		return;
	}
	hbk_buf_append(out, s, n);
}

/* A string's bytes as jansson writes them (its strings are valid UTF-8:
 * only the quote, the backslash and control characters are escaped). */
static void dump_string(struct hbk_buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0;
	put(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(out, s + run, i - run);
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
		put(out, esc, n);
	}
	put(out, s + run, len - run);
	put(out, "\"", 1);
}

static void dump_value(struct hbk_buf *out, const json_t *json, int depth)
{
	HBK_ASSERT(json != NULL && depth < JSON_DUMP_DEPTH_MAX);
	switch (json_typeof(json)) {
	case JSON_OBJECT: {
		put(out, "{", 1);
		/* Insertion order: the order jansson keeps and dumps. */
		for (void *it = json_object_iter((json_t *)json); it;
		     it = json_object_iter_next((json_t *)json, it)) {
			if (it != json_object_iter((json_t *)json))
				put(out, ",", 1);
			dump_string(out, json_object_iter_key(it), json_object_iter_key_len(it));
			put(out, ":", 1);
			dump_value(out, json_object_iter_value(it), depth + 1);
		}
		put(out, "}", 1);
		return;
	}
	case JSON_ARRAY:
		put(out, "[", 1);
		for (size_t i = 0; i < json_array_size(json); i++) {
			if (i)
				put(out, ",", 1);
			dump_value(out, json_array_get(json, i), depth + 1);
		}
		put(out, "]", 1);
		return;
	case JSON_STRING:
		dump_string(out, json_string_value(json), json_string_length(json));
		return;
	case JSON_INTEGER: hbk_buf_put_int(out, json_integer_value(json)); return;
	case JSON_REAL: {
		/* Rare (the partner's booking totals): jansson writes them
		 * itself (17 significant digits), rather than a copy of its
		 * rules here. */
		char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
		HBK_ASSERT(text != NULL);
		hbk_buf_puts(out, text);
		free(text);
		return;
	}
	case JSON_TRUE: put(out, "true", 4); return;
	case JSON_FALSE: put(out, "false", 5); return;
	case JSON_NULL: put(out, "null", 4); return;
	}
	HBK_ASSERT(!"unknown JSON type");
}

void hbk_json_dump_string(struct hbk_buf *out, const char *s)
{
	HBK_ASSERT(out != NULL && s != NULL);
	dump_string(out, s, strlen(s));
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

/*
 * The parse below takes what jansson's json_loadb takes and builds the same
 * values, several times faster: jansson reads its input one character at a
 * time through a stream and copies each into a token buffer, which made
 * parsing the partner's and the provider's answers and the events of a
 * booking the largest cost of hbkd. It takes only what is plainly valid; a
 * document it does not take (an error, a duplicate key, a number out of
 * range, a deep nesting) goes to jansson, so every error is jansson's own.
 */
#define JSON_PARSE_DEPTH_MAX 256 /* deeper documents are left to jansson */

struct json_parse {
	const char *p, *end;
	int depth;
	struct hbk_buf scratch; /* a string with escapes, decoded */
};

static void parse_blank(struct json_parse *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
		j->p++;
}

static json_t *parse_value(struct json_parse *j);

/* Four hex digits at j->p into *out. */
static bool parse_hex4(struct json_parse *j, unsigned *out)
{
	*out = 0;
	if (j->end - j->p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		char c = *j->p++;
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return false;
		*out = *out * 16 + (unsigned)d;
	}
	return true;
}

/* One escape after its backslash, decoded into j->scratch as UTF-8. */
static bool parse_escape(struct json_parse *j)
{
	static const char plain[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
	if (j->p >= j->end)
		return false;
	char c = *j->p++;
	for (size_t i = 0; i + 1 < sizeof(plain); i += 2)
		if (plain[i] == c)
			return hbk_buf_putc(&j->scratch, plain[i + 1]);
	unsigned cp, low;
	if (c != 'u' || !parse_hex4(j, &cp) || cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
		return false;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
			return false;
		j->p += 2;
		if (!parse_hex4(j, &low) || low < 0xdc00 || low > 0xdfff)
			return false;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
	}
	char utf8[4];
	size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	static const unsigned char lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
	for (size_t i = n - 1; i > 0; i--, cp >>= 6)
		utf8[i] = (char)(0x80 | (cp & 0x3f));
	utf8[0] = (char)(lead[n] | cp);
	return hbk_buf_append(&j->scratch, utf8, n);
}

/*
 * A string literal at j->p: *s and *len are its text, in the input when it
 * has no escape, else decoded in j->scratch. NUL bytes (from \u0000) and
 * invalid UTF-8 are refused, as jansson refuses them.
 */
static bool parse_string(struct json_parse *j, const char **s, size_t *len)
{
	const char *run = ++j->p;
	bool escaped = false, high = false;
	hbk_buf_reset(&j->scratch);
	for (;;) {
		if (j->p >= j->end)
			return false;
		unsigned char c = (unsigned char)*j->p;
		if (c == '"')
			break;
		if (c < 0x20)
			return false;
		high = high || c >= 0x80;
		if (c != '\\') {
			j->p++;
			continue;
		}
		hbk_buf_append(&j->scratch, run, (size_t)(j->p - run));
		j->p++;
		if (!parse_escape(j))
			return false;
		run = j->p;
		escaped = true;
	}
	if (escaped) {
		hbk_buf_append(&j->scratch, run, (size_t)(j->p - run));
		*s = j->scratch.data;
		*len = j->scratch.len;
	} else {
		*s = run;
		*len = (size_t)(j->p - run);
	}
	j->p++;
	return !j->scratch.overflow && (!high || hbk_utf8_valid(*s, *len));
}

/* A number as jansson reads it: an integer within json_int_t, else a real
 * that is finite. */
static json_t *parse_number(struct json_parse *j)
{
	const char *start = j->p;
	bool real = false;
	if (j->p < j->end && *j->p == '-')
		j->p++;
	const char *digits = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	if (j->p == digits || (*digits == '0' && j->p - digits > 1))
		return NULL;
	if (j->p < j->end && *j->p == '.') {
		real = true;
		digits = ++j->p;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
		if (j->p == digits)
			return NULL;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		real = true;
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		digits = j->p;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
		if (j->p == digits)
			return NULL;
	}
	char text[64];
	size_t len = (size_t)(j->p - start);
	if (len >= sizeof(text))
		return NULL;
	memcpy(text, start, len);
	text[len] = '\0';
	errno = 0;
	char *end;
	if (!real) {
		long long value = strtoll(text, &end, 10);
		return errno == 0 && *end == '\0' ? json_integer(value) : NULL;
	}
	/* strtod reads the locale's decimal point, JSON's is a dot. */
	const char *point = localeconv()->decimal_point;
	if (point[0] != '.' || point[1] != '\0')
		return NULL;
	double value = strtod(text, &end);
	if (*end != '\0' || ((value == HUGE_VAL || value == -HUGE_VAL) && errno == ERANGE))
		return NULL;
	return json_real(value);
}

/* A literal: true, false or null. */
static json_t *parse_word(struct json_parse *j, const char *word, json_t *value)
{
	size_t len = strlen(word);
	if ((size_t)(j->end - j->p) < len || memcmp(j->p, word, len) != 0)
		return NULL;
	j->p += len;
	return value;
}

static json_t *parse_object(struct json_parse *j)
{
	json_t *object = json_object();
	j->p++;
	parse_blank(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return object;
	}
	for (;;) {
		const char *key;
		size_t key_len;
		json_t *value = NULL;
		if (j->p >= j->end || *j->p != '"' || !parse_string(j, &key, &key_len))
			break;
		/* The key outlives the scratch buffer the value may use. */
		char *own = key == j->scratch.data ? hbk_buf_detach(&j->scratch) : NULL;
		parse_blank(j);
		if (j->p < j->end && *j->p == ':') {
			j->p++;
			value = parse_value(j);
		}
		/* A duplicate is jansson's to judge (an error, or the last wins). */
		bool taken = value != NULL && json_object_getn(object, own ? own : key, key_len);
		if (value == NULL || taken ||
		    json_object_setn_new_nocheck(object, own ? own : key, key_len, value) != 0) {
			if (taken)
				json_decref(value);
			free(own);
			break;
		}
		free(own);
		parse_blank(j);
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return object;
		}
		if (j->p >= j->end || *j->p != ',')
			break;
		j->p++;
		parse_blank(j);
	}
	json_decref(object);
	return NULL;
}

static json_t *parse_array(struct json_parse *j)
{
	json_t *array = json_array();
	j->p++;
	parse_blank(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return array;
	}
	for (;;) {
		json_t *value = parse_value(j);
		if (value == NULL || json_array_append_new(array, value) != 0)
			break;
		parse_blank(j);
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			return array;
		}
		if (j->p >= j->end || *j->p != ',')
			break;
		j->p++;
		parse_blank(j);
	}
	json_decref(array);
	return NULL;
}

static json_t *parse_value(struct json_parse *j)
{
	parse_blank(j);
	if (j->p >= j->end || j->depth >= JSON_PARSE_DEPTH_MAX)
		return NULL;
	const char *s;
	size_t len;
	json_t *value = NULL;
	j->depth++;
	switch (*j->p) {
	case '{': value = parse_object(j); break;
	case '[': value = parse_array(j); break;
	case '"':
		if (parse_string(j, &s, &len))
			value = json_stringn_nocheck(s, len);
		break;
	case 't': value = parse_word(j, "true", json_true()); break;
	case 'f': value = parse_word(j, "false", json_false()); break;
	case 'n': value = parse_word(j, "null", json_null()); break;
	default: value = parse_number(j);
	}
	j->depth--;
	return value;
}

json_t *hbk_json_loadb(const char *text, size_t len, size_t flags, json_error_t *error)
{
	struct json_parse j = {.p = text, .end = text + len};
	json_t *json = NULL;
	if (text != NULL && (flags & ~(size_t)JSON_REJECT_DUPLICATES) == 0) {
		hbk_buf_init(&j.scratch, len + 1);
		parse_blank(&j);
		/* A document is an object or an array, then nothing but blanks. */
		if (j.p < j.end && (*j.p == '{' || *j.p == '['))
			json = parse_value(&j);
		parse_blank(&j);
		if (json != NULL && j.p != j.end) {
			json_decref(json);
			json = NULL;
		}
		hbk_buf_free(&j.scratch);
	}
	return json ? json : json_loadb(text, len, flags, error);
}

json_t *hbk_json_loads(const char *text, size_t len, struct hbk_error *err)
{
	json_error_t jerr;
	json_t *json = hbk_json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json)
		hbk_fail(err, HBK_EINVAL, "invalid_json", "invalid JSON at line %d column %d: %s",
			 jerr.line, jerr.column, jerr.text);
	return json;
}

/* The bytes written as an escape in a JSON string, and NUL, which ends
 * it; and those that begin a multi-byte character, which is checked. */
static const bool json_escaped[256] = {
    [0x00 ... 0x1f] = true,
    ['"'] = true,
    ['\\'] = true,
    [0x7f ... 0xff] = true,
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
		if (*p >= 0x80) {
			/* A valid character stays in the run; any other byte (the
			 * text may come from outside) is written as U+FFFD. */
			size_t n = hbk_utf8_char_len((const char *)p, strnlen((const char *)p, 4));
			if (n > 0) {
				p += n - 1;
				continue;
			}
			hbk_buf_append(buf, run, (size_t)(p - run));
			hbk_buf_append(buf, "\xef\xbf\xbd", 3);
			run = p + 1;
			continue;
		}
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
