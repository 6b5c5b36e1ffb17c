/*
 * output.h - table, CSV and JSON output for the tools.
 *
 * Each listing is a JSON document plus a column spec: -o json writes the
 * document itself (so remote and embedded output match byte for byte),
 * table and csv render the rows through the columns.
 */
#ifndef HBK_OUTPUT_H
#define HBK_OUTPUT_H

#include <stdio.h>

#include <jansson.h>

#include "hbk/core.h"

enum hbk_format { HBK_FORMAT_TABLE, HBK_FORMAT_JSON, HBK_FORMAT_CSV };

hbk_result hbk_format_parse(const char *s, enum hbk_format *out, struct hbk_error *err);

/*
 * A column: the header, and a path into each row object ("hotel.name",
 * "total.amount"); right aligns numbers in tables.
 */
struct hbk_column {
	const char *header;
	const char *path;
	bool right;
};

/* Looks up a dotted path; returns a borrowed reference or NULL. */
json_t *hbk_json_path(const json_t *root, const char *path);
/* Renders a scalar as text into buf (reset first). */
void hbk_json_scalar_text(const json_t *value, struct hbk_buf *buf);

/* Writes json (pretty, 2 spaces, insertion order) and a newline. */
void hbk_output_json(FILE *out, const json_t *json);
/* Writes rows (an array of objects) as a table or CSV. */
void hbk_output_rows(FILE *out, enum hbk_format format, const struct hbk_column *columns,
		     size_t ncolumns, const json_t *rows);
/* Writes one object as "Key: value" lines through the columns (table), or
 * as a one-row CSV. */
void hbk_output_record(FILE *out, enum hbk_format format, const struct hbk_column *columns,
		       size_t ncolumns, const json_t *row);

#endif
