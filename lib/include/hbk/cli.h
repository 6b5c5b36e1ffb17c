/*
 * cli.h - what every hbk tool shares on the command line: the common
 * options, one command table shape, one dispatcher, one error reporter.
 */
#ifndef HBK_CLI_H
#define HBK_CLI_H

#include <stdio.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/opt.h"
#include "hbk/output.h"

struct hbk_engine;

struct hbk_cli {
	const char *prog; /* "hbk", "hbk-admin" */
	/* The common options (DESIGN.md section 5). */
	const char *output;
	const char *config_path;
	const char *api_url;
	const char *token;
	bool quiet;
	int verbose;
	bool no_color;
	bool help;
	bool version;
	/* Derived. */
	enum hbk_format format;
	bool color;
	bool interactive; /* inside hbk shell */
	struct hbk_config *cfg;
	struct hbk_engine *engine; /* opened by hbk_cli_engine() */
	unsigned needs;		   /* of the command running */
	struct hbk_option globals[10];
};

enum hbk_cli_needs {
	HBK_NEEDS_CONFIG = 1 << 0,
	HBK_NEEDS_ENGINE = 1 << 1, /* the store, adapters and crash recovery */
	HBK_NEEDS_NO_RECOVER = 1 << 2,
	/* The engine, or hbkd in remote mode (--api, HBK_API_URL, client.url):
	 * the command chooses. HBK_NEEDS_ENGINE alone refuses remote mode. */
	HBK_NEEDS_ENGINE_OR_API = 1 << 3,
};

struct hbk_command {
	const char *name;
	int (*fn)(struct hbk_cli *cli, int argc, const char **argv);
	unsigned needs;
	int min_args, max_args;
	const char *usage;   /* "ID [--reason TEXT] [--dry-run]" */
	const char *summary; /* one line for the command list */
	const struct hbk_option *options;
	void (*reset)(void); /* clears the option values before a parse */
};

void hbk_cli_init(struct hbk_cli *cli, const char *prog);
/* Frees what the dispatcher opened (config, engine). */
void hbk_cli_close(struct hbk_cli *cli);

/*
 * Runs argv[0] from the command table (sorted by name, ended by a NULL
 * name): parses options, checks the argument count, sets up what the
 * command needs, calls it. Returns the exit code.
 */
int hbk_cli_run(struct hbk_cli *cli, const struct hbk_command *commands, int argc, char **argv);

/* Top-level help: the tool's commands and the common options. */
void hbk_cli_help(const struct hbk_cli *cli, const struct hbk_command *commands, FILE *out,
		  const char *synopsis);
const struct hbk_command *hbk_cli_find(const struct hbk_command *commands, const char *name);

/*
 * Opens the engine for the command running (once; the shell keeps it).
 * Commands call it after checking their arguments, so a usage error is
 * reported as one even where no store exists. Returns 0, or the exit code
 * after printing the error.
 */
int hbk_cli_engine(struct hbk_cli *cli);
/* Warns on stderr, one line each, of the sagas the engine's recovery left
 * alone (engine->left: they began with other providers). */
void hbk_cli_sagas_left(struct hbk_cli *cli);

/* Prints "<prog>: error: <message>" and returns the exit code. */
int hbk_cli_error(const struct hbk_cli *cli, const struct hbk_error *err);
/* Prints a usage error for a command and returns 2. */
int hbk_cli_usage_error(const struct hbk_cli *cli, const struct hbk_command *cmd, const char *fmt,
			...) __attribute__((format(printf, 3, 4)));
/* Prints "<prog>: <message>" on stderr unless quiet. */
void hbk_cli_note(const struct hbk_cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses a date option; on error fills err naming the option. */
hbk_result hbk_cli_date(const char *option, const char *value, hbk_date *out,
			struct hbk_error *err);

#endif
