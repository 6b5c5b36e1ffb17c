/*
 * output.c - table, CSV and JSON rendering of listings.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/json.h"
#include "hbk/output.h"

hbk_result hbk_format_parse(const char *s, enum hbk_format *out, struct hbk_error *err)
{
	if (strcmp(s, "table") == 0)
		*out = HBK_FORMAT_TABLE;
	else if (strcmp(s, "json") == 0)
		*out = HBK_FORMAT_JSON;
	else if (strcmp(s, "csv") == 0)
		*out = HBK_FORMAT_CSV;
	else
		return hbk_fail(err, HBK_EINVAL, "invalid_format",
				"unknown output format '%s' (expected table, json or csv)", s);
	return HBK_OK;
}

json_t *hbk_json_path(const json_t *root, const char *path)
{
	char key[64];
	const json_t *node = root;
	const char *p = path;
	while (node && *p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (len >= sizeof(key))
			return NULL;
		memcpy(key, p, len);
		key[len] = '\0';
		node = json_object_get(node, key);
		p += len + (dot ? 1 : 0);
	}
	return (json_t *)node;
}

void hbk_json_scalar_text(const json_t *value, struct hbk_buf *buf)
{
	hbk_buf_reset(buf);
	if (!value) {
		hbk_buf_puts(buf, "");
		return;
	}
	switch (json_typeof(value)) {
	case JSON_STRING: hbk_buf_puts(buf, json_string_value(value)); break;
	case JSON_INTEGER: hbk_buf_printf(buf, "%lld", (long long)json_integer_value(value)); break;
	case JSON_REAL: hbk_buf_printf(buf, "%g", json_real_value(value)); break;
	case JSON_TRUE: hbk_buf_puts(buf, "yes"); break;
	case JSON_FALSE: hbk_buf_puts(buf, "no"); break;
	case JSON_OBJECT:
	case JSON_ARRAY: {
		char *s = hbk_json_dumps(value);
		hbk_buf_puts(buf, s);
		free(s);
		break;
	}
	case JSON_NULL: break;
	}
	if (!buf->data)
		hbk_buf_puts(buf, "");
}

void hbk_output_json(FILE *out, const json_t *json)
{
	json_dumpf(json, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	fputc('\n', out);
}

/* Display width of UTF-8 text: code points, a fair guess for a terminal. */
static size_t text_width(const char *s)
{
	size_t width = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			width++;
	return width;
}

static void csv_field(FILE *out, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			fputc('"', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

static void pad(FILE *out, size_t n)
{
	while (n-- > 0)
		fputc(' ', out);
}

void hbk_output_rows(FILE *out, enum hbk_format format, const struct hbk_column *columns,
		     size_t ncolumns, const json_t *rows)
{
	struct hbk_buf text;
	size_t nrows = json_array_size(rows);
	hbk_buf_init(&text, 0);

	if (format == HBK_FORMAT_JSON) {
		hbk_output_json(out, rows);
		hbk_buf_free(&text);
		return;
	}
	if (format == HBK_FORMAT_CSV) {
		for (size_t c = 0; c < ncolumns; c++) {
			if (c)
				fputc(',', out);
			csv_field(out, columns[c].header);
		}
		fputs("\r\n", out);
		for (size_t r = 0; r < nrows; r++) {
			for (size_t c = 0; c < ncolumns; c++) {
				if (c)
					fputc(',', out);
				hbk_json_scalar_text(
				    hbk_json_path(json_array_get(rows, r), columns[c].path), &text);
				csv_field(out, text.data);
			}
			fputs("\r\n", out);
		}
		hbk_buf_free(&text);
		return;
	}

	size_t *width = hbk_xcalloc(ncolumns, sizeof(*width));
	for (size_t c = 0; c < ncolumns; c++)
		width[c] = text_width(columns[c].header);
	for (size_t r = 0; r < nrows; r++)
		for (size_t c = 0; c < ncolumns; c++) {
			hbk_json_scalar_text(
			    hbk_json_path(json_array_get(rows, r), columns[c].path), &text);
			size_t w = text_width(text.data);
			if (w > width[c])
				width[c] = w;
		}
	for (size_t c = 0; c < ncolumns; c++) {
		size_t w = text_width(columns[c].header);
		if (columns[c].right)
			pad(out, width[c] - w);
		fputs(columns[c].header, out);
		if (c + 1 < ncolumns)
			pad(out, (columns[c].right ? 0 : width[c] - w) + 2);
	}
	fputc('\n', out);
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncolumns; c++) {
			hbk_json_scalar_text(
			    hbk_json_path(json_array_get(rows, r), columns[c].path), &text);
			size_t w = text_width(text.data);
			if (columns[c].right)
				pad(out, width[c] - w);
			fputs(text.data, out);
			if (c + 1 < ncolumns)
				pad(out, (columns[c].right ? 0 : width[c] - w) + 2);
		}
		fputc('\n', out);
	}
	free(width);
	hbk_buf_free(&text);
}

void hbk_output_record(FILE *out, enum hbk_format format, const struct hbk_column *columns,
		       size_t ncolumns, const json_t *row)
{
	if (format != HBK_FORMAT_TABLE) {
		json_t *rows = json_pack("[O]", row);
		hbk_output_rows(out, format, columns, ncolumns, rows);
		json_decref(rows);
		return;
	}
	size_t width = 0;
	for (size_t c = 0; c < ncolumns; c++)
		if (text_width(columns[c].header) > width)
			width = text_width(columns[c].header);
	struct hbk_buf text;
	hbk_buf_init(&text, 0);
	for (size_t c = 0; c < ncolumns; c++) {
		const json_t *value = hbk_json_path(row, columns[c].path);
		if (!value || json_is_null(value))
			continue;
		hbk_json_scalar_text(value, &text);
		if (!text.data[0])
			continue;
		fprintf(out, "%s:", columns[c].header);
		pad(out, width - text_width(columns[c].header) + 1);
		fprintf(out, "%s\n", text.data);
	}
	hbk_buf_free(&text);
}
