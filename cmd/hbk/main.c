/*
 * main.c - hbk, the agent's tool: the command table and the entry point.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk.h"

const struct hbk_option no_options[] = {{HBK_OPT_END}};

/* Sorted by name; needs are checked by the dispatcher, once. Every command
 * runs on the engine, or against hbkd in remote mode. */
const struct hbk_command hbk_commands[] = {
    {"book", cmd_book, HBK_NEEDS_ENGINE_OR_API, 1, 1,
     "(N | OFFER_ID) --guest NAME --email E [--phone P] [--payment-method PM]",
     "book line N of the last search, or an offer id", book_options, book_reset},
    {"cancel", cmd_cancel, HBK_NEEDS_ENGINE_OR_API, 1, 1, "ID [--reason TEXT] [--dry-run]",
     "cancel a booking (--dry-run shows the penalty and refund)", cancel_options, cancel_reset},
    {"history", cmd_history, HBK_NEEDS_ENGINE_OR_API, 1, 1, "ID",
     "list a booking's events in order", no_options, NULL},
    {"list", cmd_list, HBK_NEEDS_ENGINE_OR_API, 0, 0,
     "[--status S] [--hotel H] [--from D] [--to D] [--email E] [--limit N]",
     "list bookings, newest first", list_options, list_reset},
    {"search", cmd_search, HBK_NEEDS_ENGINE_OR_API, 0, 0,
     "--city C --checkin D (--checkout D | --nights N) [--adults N] [--children N] "
     "[--rooms N] [--max-price A] [--refundable] [--sort price|stars|name] [--limit N]",
     "search offers", search_options, search_reset},
    {"shell", cmd_shell, HBK_NEEDS_ENGINE_OR_API, 0, 0, "", "an interactive session", no_options,
     NULL},
    {"update", cmd_update, HBK_NEEDS_ENGINE_OR_API, 1, 1,
     "ID [--checkin D] [--checkout D] [--room-type T] [--adults N] [--children N] "
     "[--guest NAME] [--email E] [--phone P]",
     "change a booking's stay or the guest's contact", update_options, update_reset},
    {"view", cmd_view, HBK_NEEDS_ENGINE_OR_API, 1, 1, "ID", "show a booking", no_options, NULL},
    {NULL},
};

static const char synopsis[] = "[OPTIONS] COMMAND [ARGS]";

int main(int argc, char **argv)
{
	struct hbk_cli cli;
	struct hbk_error err = {0};
	const char *positional[HBK_OPT_MAX_POSITIONAL];
	int npositional, code;

	hbk_cli_init(&cli, "hbk");
	/* Find the command: the first word that is not an option or its value. */
	int at = 1;
	while (at < argc && argv[at][0] == '-' && argv[at][1]) {
		const char *name = argv[at] + (argv[at][1] == '-' ? 2 : 1);
		const struct hbk_option *const globals[] = {cli.globals, NULL};
		const struct hbk_option *o = NULL;
		if (argv[at][1] == '-') {
			char key[64];
			size_t len = strcspn(name, "=");
			if (len < sizeof(key)) {
				memcpy(key, name, len);
				key[len] = '\0';
				o = hbk_opt_find(globals, key);
			}
			if (o && (o->type == HBK_OPT_STRING || o->type == HBK_OPT_INT) &&
			    !strchr(name, '='))
				at++;
		} else if (strchr("o", name[0]) && !name[1]) {
			at++;
		}
		at++;
	}
	if (at >= argc) {
		const struct hbk_option *tables[] = {cli.globals, NULL};
		if (hbk_opt_parse(tables, argc, argv, positional, &npositional, &err) != HBK_OK)
			return hbk_cli_usage_error(&cli, NULL, "%s", err.message);
		if (cli.version) {
			printf("hbk %s\n", HBK_VERSION);
			return 0;
		}
		hbk_cli_help(&cli, hbk_commands, cli.help ? stdout : stderr, synopsis);
		return cli.help ? 0 : 2;
	}
	/* argv for the dispatcher: the command first, then every other word. */
	char **args = hbk_xcalloc((size_t)argc + 1, sizeof(*args));
	int n = 0;
	args[n++] = argv[at];
	for (int i = 1; i < argc; i++)
		if (i != at)
			args[n++] = argv[i];
	code = hbk_cli_run(&cli, hbk_commands, n, args);
	free(args);
	tool_client_close();
	hbk_cli_close(&cli);
	return code;
}
