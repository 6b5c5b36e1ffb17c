/*
 * main.c - hbk-admin(8): the operator's tool. One command table, one
 * dispatcher (hbk_cli_run); each command is cmd_<name>() in <name>.c.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"

#define ADMIN_ARGS_MAX 256

/* Sorted by name; needs and argument counts are checked by hbk_cli_run. */
static const struct hbk_command commands[] = {
    {"config", cmd_config, HBK_NEEDS_CONFIG, 1, 1, "show",
     "show the effective configuration (secrets masked)", NULL, NULL},
    {"hotel", cmd_hotel, HBK_NEEDS_ENGINE, 1, 2, "list [--city C] | show HOTEL",
     "list the hotels of the catalog, or show one with its room types", hotel_options, hotel_reset},
    {"init", cmd_init, HBK_NEEDS_CONFIG, 0, 0, "[--demo] [--days N] [--force]",
     "create or migrate the store; --demo seeds the demo catalog", init_options, init_reset},
    {"inventory", cmd_inventory, HBK_NEEDS_ENGINE, 1, 1,
     "show --hotel H --from DATE --to DATE | sync --from DATE --to DATE (--hotel CODES | "
     "--destination CODE)",
     "show a hotel's nightly allotments, sales and prices; sync them from the partner",
     inventory_options, inventory_reset},
    {"kafka", cmd_kafka, HBK_NEEDS_CONFIG, 1, 1, "status [--brokers LIST] [--group NAMES]",
     "the Kafka cluster: brokers, hbk's topics and partitions, consumer groups and their lag",
     kafka_options, kafka_reset},
    {"notify", cmd_notify, HBK_NEEDS_ENGINE | HBK_NEEDS_NO_RECOVER, 1, 2,
     "list [--parked] | resend ID | resend --all | retry",
     "guest notices that could not be sent: list, resend, retry those due", notify_options,
     notify_reset},
    {"recover", cmd_recover, HBK_NEEDS_ENGINE | HBK_NEEDS_NO_RECOVER, 0, 0, "",
     "resume or compensate the sagas of processes that died", NULL, NULL},
    {"token", cmd_token, HBK_NEEDS_ENGINE | HBK_NEEDS_NO_RECOVER, 1, 2,
     "create NAME | list | revoke NAME", "API tokens for hbkd (shown once, stored as SHA-256)",
     NULL, NULL},
    {"topics", cmd_topics, HBK_NEEDS_CONFIG, 1, 1, "create | describe [--brokers LIST]",
     "create hbk's Kafka topics (existing ones are kept), or describe their partitions",
     topics_options, topics_reset},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL},
};

static const char synopsis[] = "[OPTIONS] COMMAND [ARGS]";

const struct hbk_command *admin_command(const char *name)
{
	return hbk_cli_find(commands, name);
}

static const struct hbk_option *find_short(const struct hbk_option *table, char c)
{
	for (const struct hbk_option *o = table; o->type != HBK_OPT_END; o++)
		if (o->short_name == c)
			return o;
	return NULL;
}

static bool takes_value(const struct hbk_option *o)
{
	return o && (o->type == HBK_OPT_STRING || o->type == HBK_OPT_INT);
}

/*
 * Whether argv[i], an option, consumes argv[i + 1] as its value: so that
 * `--config FILE init` finds "init", not "FILE", as the command. Unknown
 * options take nothing here; hbk_opt_parse reports them later.
 */
static bool option_eats_next(const struct hbk_cli *cli, const char *arg)
{
	const struct hbk_option *const tables[] = {cli->globals, NULL};
	if (arg[1] == '-') {
		char name[64];
		if (strchr(arg, '=') || !hbk_copy(name, sizeof(name), arg + 2))
			return false;
		return takes_value(hbk_opt_find(tables, name));
	}
	for (const char *p = arg + 1; *p; p++) {
		if (takes_value(find_short(cli->globals, *p)))
			return p[1] == '\0'; /* "-o json" eats; "-ojson" does not */
	}
	return false;
}

/* The index of the command word in argv, or -1 when there is none. */
static int find_command(const struct hbk_cli *cli, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--") == 0)
			return i + 1 < argc ? i + 1 : -1;
		if (arg[0] != '-' || arg[1] == '\0')
			return i;
		if (option_eats_next(cli, arg))
			i++;
	}
	return -1;
}

/* Without a command: --help, --version, or the command list on stderr. */
static int run_without_command(struct hbk_cli *cli, int argc, char **argv)
{
	const char *positional[HBK_OPT_MAX_POSITIONAL];
	int npositional = 0;
	struct hbk_error err = {0};
	const struct hbk_option *const tables[] = {cli->globals, NULL};

	if (hbk_opt_parse(tables, argc, argv, positional, &npositional, &err) != HBK_OK)
		return hbk_cli_usage_error(cli, NULL, "%s", err.message);
	if (cli->help) {
		hbk_cli_help(cli, commands, stdout, synopsis);
		return 0;
	}
	if (cli->version) {
		printf("%s %s\n", cli->prog, HBK_VERSION);
		return 0;
	}
	hbk_cli_help(cli, commands, stderr, synopsis);
	return 2;
}

/* True when --version appears among the options before the command. */
static bool version_before(const char *prog, int argc, char **argv)
{
	struct hbk_cli probe;
	const char *positional[HBK_OPT_MAX_POSITIONAL];
	int npositional = 0;
	hbk_cli_init(&probe, prog);
	const struct hbk_option *const tables[] = {probe.globals, NULL};
	if (hbk_opt_parse(tables, argc, argv, positional, &npositional, NULL) != HBK_OK)
		return false;
	return probe.version && !probe.help;
}

int main(int argc, char **argv)
{
	struct hbk_cli cli;
	char *args[ADMIN_ARGS_MAX];
	int code;

	hbk_cli_init(&cli, "hbk-admin");
	if (argc > ADMIN_ARGS_MAX) {
		fprintf(stderr, "%s: error: too many arguments\n", cli.prog);
		return 2;
	}
	int at = find_command(&cli, argc, argv);
	if (at < 0) {
		code = run_without_command(&cli, argc, argv);
		hbk_cli_close(&cli);
		return code;
	}
	if (version_before(cli.prog, at, argv)) {
		printf("%s %s\n", cli.prog, HBK_VERSION);
		return 0;
	}
	/* hbk_cli_run wants the command first and its options after it. */
	int nargs = 0;
	args[nargs++] = argv[at];
	for (int i = 1; i < argc; i++)
		if (i != at && !(i == at - 1 && strcmp(argv[i], "--") == 0))
			args[nargs++] = argv[i];
	HBK_ASSERT(nargs == argc - 1 || nargs == argc - 2);
	code = hbk_cli_run(&cli, commands, nargs, args);
	hbk_cli_close(&cli);
	return code;
}
