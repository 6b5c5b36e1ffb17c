/*
 * remote.c - hbk in remote mode: with --api, HBK_API_URL or client.url,
 * the commands call hbkd through the client instead of the engine. The
 * client is opened once, when a command first needs it (the shell keeps
 * it, and with it the connection), and closed when hbk exits.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk.h"

#define CLIENT_TIMEOUT_MS_MAX 3600000

static struct hbk_client *client;

/* --api or HBK_API_URL (cli->api_url once set up; "" forces the embedded
 * mode), else client.url. Borrowed; NULL when none. */
static const char *api_url(const struct hbk_cli *cli)
{
	if (cli->api_url)
		return cli->api_url;
	return cli->cfg ? hbk_config_get(cli->cfg, "client.url", NULL) : NULL;
}

bool remote(const struct hbk_cli *cli)
{
	const char *url = api_url(cli);
	return url && *url;
}

/* --token, HBK_TOKEN, else client.token ("" = none). Borrowed. */
static const char *api_token(const struct hbk_cli *cli)
{
	if (cli->token)
		return cli->token;
	const char *token = getenv("HBK_TOKEN");
	if (token)
		return token;
	return hbk_config_get(cli->cfg, "client.token", NULL);
}

int tool_client(struct hbk_cli *cli, struct hbk_client **out)
{
	struct hbk_error err = {0};
	long long timeout_ms;
	const char *url = api_url(cli);
	HBK_ASSERT(url && *url && cli->cfg);
	*out = NULL;
	/* The shell may name another hbkd with --api: follow it. */
	if (client && strcmp(hbk_client_url(client), url) != 0)
		tool_client_close();
	if (!client) {
		if (hbk_config_get_int(cli->cfg, "client.timeout_ms", HBK_CLIENT_TIMEOUT_MS_DEFAULT,
				       1, CLIENT_TIMEOUT_MS_MAX, &timeout_ms, &err) != HBK_OK ||
		    hbk_client_open(url, api_token(cli), (long)timeout_ms, &client, &err) != HBK_OK)
			return hbk_cli_error(cli, &err);
	}
	*out = client;
	return 0;
}

void tool_client_close(void)
{
	hbk_client_close(client);
	client = NULL;
}

int tool_backend(struct hbk_cli *cli, struct hbk_client **out)
{
	*out = NULL;
	if (remote(cli))
		return tool_client(cli, out);
	return hbk_cli_engine(cli);
}
