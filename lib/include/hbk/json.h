/*
 * json.h - small helpers over jansson used across contexts.
 * Getters borrow from the object; builders return new references.
 */
#ifndef HBK_JSON_H
#define HBK_JSON_H

#include <jansson.h>

#include "hbk/core.h"

/* {"amount":"360.00","currency":"EUR"}. New reference. */
json_t *hbk_json_money(const struct hbk_money *money);
/* Reads a money object; fails with HBK_EINVAL naming field. */
hbk_result hbk_json_get_money(const json_t *obj, const char *field, struct hbk_money *out,
			      struct hbk_error *err);

/* A string member or def. Borrowed. */
const char *hbk_json_str(const json_t *obj, const char *key, const char *def);
/* An integer member or def. */
long long hbk_json_int(const json_t *obj, const char *key, long long def);
bool hbk_json_bool(const json_t *obj, const char *key, bool def);

/* A JSON string of s, text from outside: bytes that are not UTF-8 become
 * U+FFFD, where json_string would give NULL. Returned (a new reference). */
json_t *hbk_json_text(const char *s);

/* Appends s as a JSON string literal (quoted, escaped) to buf; bytes that
 * are not UTF-8 are written as U+FFFD, so the text is always valid. */
void hbk_buf_json_string(struct hbk_buf *buf, const char *s);

/* Serialises compactly with keys in insertion order, as jansson's
 * json_dumps(JSON_COMPACT) does. Caller frees. json is never NULL: a
 * builder that may fail on outside text (json_pack refuses a string that
 * is not valid UTF-8) is checked by its caller, which answers an error. */
char *hbk_json_dumps(const json_t *json);
/* The same text, appended to out (check out->overflow). */
void hbk_json_dump(const json_t *json, struct hbk_buf *out);
/* A string literal escaped as that dump escapes it (valid UTF-8 s). */
void hbk_json_dump_string(struct hbk_buf *out, const char *s);
/* json_loadb(text, len, flags, error), with the same result and errors,
 * faster. New reference, or NULL with error filled. */
json_t *hbk_json_loadb(const char *text, size_t len, size_t flags, json_error_t *error);
/* Parses text; on error fills err (HBK_EINVAL, "invalid_json"). New ref. */
json_t *hbk_json_loads(const char *text, size_t len, struct hbk_error *err);

#endif
