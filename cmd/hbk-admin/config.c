/*
 * config.c - hbk-admin config show: the effective configuration, after
 * the search order of hbk.yaml(5) and secret resolution; secrets masked.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"

int cmd_config(struct hbk_cli *cli, int argc, const char **argv)
{
	HBK_ASSERT(argc == 1 && cli->cfg != NULL);
	if (strcmp(argv[0], "show") != 0)
		return hbk_cli_usage_error(cli, admin_command("config"),
					   "config: unknown action '%s' (expected show)", argv[0]);
	hbk_config_dump(cli->cfg, stdout);
	return 0;
}
