/*
 * opt.h - declared command-line options. A tool declares a table of
 * options once; parsing, usage text and shell completion all come from it.
 */
#ifndef HBK_OPT_H
#define HBK_OPT_H

#include <stdio.h>

#include "hbk/core.h"

enum hbk_opt_type {
	HBK_OPT_END = 0,
	HBK_OPT_BOOL,	/* value: bool * */
	HBK_OPT_STRING, /* value: const char ** (borrowed from argv) */
	HBK_OPT_INT,	/* value: long long *, checked against [min, max] */
	HBK_OPT_COUNT,	/* value: int *, incremented per use (-v -v) */
};

/* What a value can be completed with in hbk shell. */
enum hbk_opt_complete {
	HBK_COMPLETE_NONE,
	HBK_COMPLETE_CITY,
	HBK_COMPLETE_BOOKING,
	HBK_COMPLETE_FILE,
	HBK_COMPLETE_WORDS
};

struct hbk_option {
	enum hbk_opt_type type;
	const char *long_name; /* without the dashes */
	char short_name;       /* 0 for none */
	void *value;
	bool *given;	      /* optional: set when the option appears */
	const char *arg_name; /* "DATE", "N" ... for usage */
	const char *help;
	long long min, max; /* for HBK_OPT_INT */
	enum hbk_opt_complete complete;
	const char *words; /* HBK_COMPLETE_WORDS: "table json csv" */
};

#define HBK_OPT_MAX_POSITIONAL 16

/*
 * Parses argv[1..argc) against the tables (NULL-terminated list of tables,
 * each ending with HBK_OPT_END). Non-option words go to positional (borrowed
 * from argv). "--" ends options. Fails with HBK_EINVAL on an unknown option,
 * a missing value, a bad integer, or too many positional words.
 */
hbk_result hbk_opt_parse(const struct hbk_option *const *tables, int argc, char **argv,
			 const char **positional, int *npositional, struct hbk_error *err);

/* Prints the option lines of a table, aligned, for --help. */
void hbk_opt_usage(FILE *out, const struct hbk_option *table);

/* Finds an option by long name across tables; NULL if none. */
const struct hbk_option *hbk_opt_find(const struct hbk_option *const *tables, const char *name);

#endif
