/*
 * schema.c - the tables of the API context.
 */
#include "hbk/api.h"
#include "idempotency.h"
#include "server.h"

hbk_result hbk_api_migrate(struct hbk_store *store, struct hbk_error *err)
{
	hbk_result rc = hbk_tokens_migrate(store, err);
	if (rc == HBK_OK)
		rc = idempotency_migrate(store, err);
	if (rc == HBK_OK)
		rc = commands_migrate(store, err);
	return rc;
}
