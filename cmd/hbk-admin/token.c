/*
 * token.c - hbk-admin token create NAME | list | revoke NAME: the bearer
 * tokens hbkd accepts. A new token is printed once; the store keeps only
 * its SHA-256.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "hbk/api.h"
#include "hbk/reservation.h"

static const struct hbk_column list_columns[] = {
	{"NAME", "name", false},
	{"STATUS", "status", false},
	{"CREATED", "created_at", false},
	{"REVOKED", "revoked_at", false},
};

int cmd_token(struct hbk_cli *cli, int argc, const char **argv)
{
	struct hbk_error err = {0};
	const char *action = argv[0];
	const struct hbk_command *self = admin_command("token");
	int code;

	if (strcmp(action, "list") == 0 ? argc != 1
	    : strcmp(action, "create") == 0 || strcmp(action, "revoke") == 0
		? argc != 2
		: true)
		return hbk_cli_usage_error(cli, self, "token: expected create NAME, list or revoke NAME");
	if ((code = hbk_cli_engine(cli)) != 0)
		return code;
	struct hbk_store *store = cli->engine->store;

	if (strcmp(action, "create") == 0) {
		char token[HBK_TOKEN_MAX];
		if (hbk_token_create(store, argv[1], token, &err) != HBK_OK)
			return hbk_cli_error(cli, &err);
		if (cli->format == HBK_FORMAT_JSON) {
			json_t *doc = json_pack("{s:s, s:s}", "name", argv[1], "token", token);
			hbk_output_json(stdout, doc);
			json_decref(doc);
		} else {
			printf("%s\n", token);
		}
		OPENSSL_cleanse(token, sizeof(token));
		hbk_cli_note(cli, "token '%s' created; it is shown only now", argv[1]);
		return 0;
	}
	if (strcmp(action, "revoke") == 0) {
		if (hbk_token_revoke(store, argv[1], &err) != HBK_OK)
			return hbk_cli_error(cli, &err);
		hbk_cli_note(cli, "token '%s' revoked", argv[1]);
		return 0;
	}
	json_t *doc = NULL;
	if (hbk_token_list(store, &doc, &err) != HBK_OK)
		return hbk_cli_error(cli, &err);
	if (cli->format == HBK_FORMAT_JSON)
		hbk_output_json(stdout, doc);
	else
		hbk_output_rows(stdout, cli->format, list_columns,
				sizeof(list_columns) / sizeof(list_columns[0]),
				json_object_get(doc, "tokens"));
	json_decref(doc);
	return 0;
}
