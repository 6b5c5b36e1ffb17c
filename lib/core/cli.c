/*
 * cli.c - the common command-line layer of the hbk tools.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hbk/cli.h"
#include "hbk/reservation.h"

void hbk_cli_init(struct hbk_cli *cli, const char *prog)
{
	memset(cli, 0, sizeof(*cli));
	cli->prog = prog;
	struct hbk_option globals[] = {
	    {HBK_OPT_STRING, "output", 'o', &cli->output, NULL, "FORMAT",
	     "table, json or csv (default: table)", 0, 0, HBK_COMPLETE_WORDS, "table json csv"},
	    {HBK_OPT_STRING, "config", 0, &cli->config_path, NULL, "FILE",
	     "configuration file (HBK_CONFIG)", 0, 0, HBK_COMPLETE_FILE, NULL},
	    {HBK_OPT_STRING, "api", 0, &cli->api_url, NULL, "URL",
	     "talk to hbkd at URL (HBK_API_URL)", 0, 0, HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_STRING, "token", 0, &cli->token, NULL, "TOKEN",
	     "API token for --api (HBK_TOKEN)", 0, 0, HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_BOOL, "quiet", 'q', &cli->quiet, NULL, NULL, "print only results", 0, 0,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_COUNT, "verbose", 'v', &cli->verbose, NULL, NULL, "say more on stderr", 0, 0,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_BOOL, "no-color", 0, &cli->no_color, NULL, NULL, "no colors (also NO_COLOR)",
	     0, 0, HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_BOOL, "help", 'h', &cli->help, NULL, NULL, "show help and exit", 0, 0,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_BOOL, "version", 0, &cli->version, NULL, NULL, "show the version and exit", 0,
	     0, HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_END, NULL, 0, NULL, NULL, NULL, NULL, 0, 0, HBK_COMPLETE_NONE, NULL},
	};
	HBK_ASSERT(sizeof(globals) == sizeof(cli->globals));
	memcpy(cli->globals, globals, sizeof(globals));
}

void hbk_cli_close(struct hbk_cli *cli)
{
	hbk_engine_close(cli->engine);
	cli->engine = NULL;
	hbk_config_free(cli->cfg);
	cli->cfg = NULL;
}

int hbk_cli_error(const struct hbk_cli *cli, const struct hbk_error *err)
{
	fprintf(stderr, "%s: error: %s\n", cli->prog,
		err->message[0] ? err->message : hbk_result_name(err->result));
	return hbk_exit_code(err->result ? err->result : HBK_EINTERNAL);
}

int hbk_cli_usage_error(const struct hbk_cli *cli, const struct hbk_command *cmd, const char *fmt,
			...)
{
	struct hbk_buf text;
	va_list ap;
	hbk_buf_init(&text, 0);
	va_start(ap, fmt);
	hbk_buf_vprintf(&text, fmt, ap);
	va_end(ap);
	/* The message may quote an argument as given: printed as valid UTF-8
	 * (each byte that is not becomes U+FFFD, at most 3 bytes). */
	size_t size = 3 * text.len + 1;
	char *shown = hbk_xmalloc(size);
	hbk_utf8_copy(shown, size, text.data ? text.data : "", text.len);
	fprintf(stderr, "%s: error: %s\n", cli->prog, shown);
	free(shown);
	hbk_buf_free(&text);
	if (cmd)
		fprintf(stderr, "usage: %s %s %s\n", cli->prog, cmd->name, cmd->usage);
	return 2;
}

void hbk_cli_note(const struct hbk_cli *cli, const char *fmt, ...)
{
	va_list ap;
	if (cli->quiet)
		return;
	fprintf(stderr, "%s: ", cli->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

hbk_result hbk_cli_date(const char *option, const char *value, hbk_date *out, struct hbk_error *err)
{
	if (hbk_date_parse(value, out))
		return HBK_OK;
	return hbk_fail_field(err, HBK_EINVAL, "invalid_date", option,
			      "--%s: invalid date '%s' (expected YYYY-MM-DD)", option, value);
}

const struct hbk_command *hbk_cli_find(const struct hbk_command *commands, const char *name)
{
	for (const struct hbk_command *c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

void hbk_cli_help(const struct hbk_cli *cli, const struct hbk_command *commands, FILE *out,
		  const char *synopsis)
{
	fprintf(out, "usage: %s %s\n\ncommands:\n", cli->prog, synopsis);
	for (const struct hbk_command *c = commands; c->name; c++)
		fprintf(out, "  %-12s %s\n", c->name, c->summary);
	fputs("\ncommon options:\n", out);
	hbk_opt_usage(out, cli->globals);
	fprintf(out,
		"\nexit codes: 0 ok, 1 failure, 2 usage or invalid input, 3 not found,\n"
		"4 conflict, 5 declined, 6 unavailable, 7 authentication\n"
		"\nRun '%s COMMAND --help' for a command's options; see %s(%s).\n",
		cli->prog, cli->prog, strcmp(cli->prog, "hbk") == 0 ? "1" : "8");
}

static void command_help(const struct hbk_cli *cli, const struct hbk_command *cmd)
{
	printf("usage: %s %s %s\n\n%s\n", cli->prog, cmd->name, cmd->usage, cmd->summary);
	if (cmd->options && cmd->options->type != HBK_OPT_END) {
		puts("\noptions:");
		hbk_opt_usage(stdout, cmd->options);
	}
	puts("\ncommon options:");
	hbk_opt_usage(stdout, cli->globals);
}

/* Resets the common options that a previous command in the shell set. */
static void reset_globals(struct hbk_cli *cli)
{
	cli->output = NULL;
	cli->help = cli->version = false;
}

static hbk_result setup(struct hbk_cli *cli, const struct hbk_command *cmd, struct hbk_error *err)
{
	hbk_result rc;
	const char *output = cli->output;
	if (!output)
		output = "table";
	rc = hbk_format_parse(output, &cli->format, err);
	if (rc != HBK_OK)
		return rc;
	cli->color = !cli->no_color && !getenv("NO_COLOR") && isatty(STDOUT_FILENO);
	if (!cli->api_url)
		cli->api_url = getenv("HBK_API_URL");
	/* HBK_NEEDS_ENGINE_OR_API commands choose between the two themselves. */
	if (cli->api_url && *cli->api_url && (cmd->needs & HBK_NEEDS_ENGINE))
		return hbk_fail(err, HBK_EUNAVAILABLE, "remote_unavailable",
				"'%s %s' works on the local store only, not in remote mode "
				"(--api %s); unset HBK_API_URL to use it",
				cli->prog, cmd->name, cli->api_url);
	if (!cli->cfg) {
		rc = hbk_config_load(cli->config_path, &cli->cfg, err);
		if (rc != HBK_OK)
			return rc;
	}
	cli->needs = cmd->needs;
	return HBK_OK;
}

int hbk_cli_engine(struct hbk_cli *cli)
{
	struct hbk_error err = {0};
	if (cli->engine)
		return 0;
	HBK_ASSERT(cli->cfg != NULL);
	int flags = cli->needs & HBK_NEEDS_NO_RECOVER ? HBK_ENGINE_NO_RECOVER : 0;
	if (hbk_engine_open(cli->cfg, flags, &cli->engine, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (!(flags & HBK_ENGINE_NO_RECOVER))
		hbk_cli_sagas_left(cli);
	return 0;
}

void hbk_cli_sagas_left(struct hbk_cli *cli)
{
	const struct hbk_sagas_left *left = &cli->engine->left;
	char line[4 * HBK_PROVIDER_IDENTITY_MAX + 256];
	for (int i = 0; i < left->count && i < HBK_SAGAS_LEFT_SHOWN; i++) {
		hbk_saga_left_describe(cli->engine, i, line, sizeof(line));
		fprintf(stderr, "%s: warning: %s\n", cli->prog, line);
	}
	if (left->count > HBK_SAGAS_LEFT_SHOWN)
		fprintf(stderr, "%s: warning: %d more saga(s) left alone for the same reason\n",
			cli->prog, left->count - HBK_SAGAS_LEFT_SHOWN);
}

int hbk_cli_run(struct hbk_cli *cli, const struct hbk_command *commands, int argc, char **argv)
{
	const char *positional[HBK_OPT_MAX_POSITIONAL];
	int npositional = 0;
	struct hbk_error err = {0};

	const struct hbk_command *cmd = hbk_cli_find(commands, argv[0]);
	if (!cmd)
		return hbk_cli_usage_error(cli, NULL, "unknown command '%s' (see '%s --help')",
					   argv[0], cli->prog);
	if (cmd->reset)
		cmd->reset();
	reset_globals(cli);
	const struct hbk_option *tables[] = {cli->globals, cmd->options, NULL};
	if (hbk_opt_parse(tables, argc, argv, positional, &npositional, &err) != HBK_OK)
		return hbk_cli_usage_error(cli, cmd, "%s", err.message);
	if (cli->help) {
		command_help(cli, cmd);
		return 0;
	}
	if (npositional < cmd->min_args)
		return hbk_cli_usage_error(cli, cmd, "%s: missing argument", cmd->name);
	if (npositional > cmd->max_args)
		return hbk_cli_usage_error(cli, cmd, "%s: unexpected argument '%s'", cmd->name,
					   positional[cmd->max_args]);
	if (setup(cli, cmd, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	int code = cmd->fn(cli, npositional, positional);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: error: cannot write output\n", cli->prog);
		return 1;
	}
	return code;
}
