/*
 * recover.c - hbk-admin recover: resumes or compensates the sagas whose
 * process died, then lists the bookings still PENDING. The dispatcher
 * opens the engine without its own recovery pass so that the count
 * printed here is the work this command did. A saga that began with
 * another partner or payment provider than this configuration names is
 * left alone, and listed as such ("left").
 */
#include <stdio.h>

#include "admin.h"
#include "hbk/reservation.h"
#include "hbk/store.h"

#define PENDING_SHOWN_MAX 1000

/* Appends the ids of PENDING bookings to ids; returns the total count. */
static hbk_result pending_bookings(struct hbk_store *store, json_t *ids, long long *count,
				   struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	int step;
	*count = 0;
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT id FROM bookings WHERE status = 'PENDING' ORDER BY id", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*count < PENDING_SHOWN_MAX)
			json_array_append_new(ids, json_string(hbk_column_text(stmt, 0)));
		(*count)++;
	}
	hbk_stmt_done(stmt);
	if (step != SQLITE_DONE)
		return hbk_store_fail(store, err, "listing pending bookings");
	return HBK_OK;
}

int cmd_recover(struct hbk_cli *cli, int argc, const char **argv)
{
	int code;
	struct hbk_error recover_err = {0}, err = {0};
	int resumed = 0;
	long long pending = 0;
	(void)argc;
	(void)argv;

	if ((code = hbk_cli_engine(cli)) != 0)
		return code;
	hbk_result recover_rc = hbk_engine_recover(cli->engine, &resumed, &recover_err);
	json_t *ids = json_array();
	if (pending_bookings(cli->engine->store, ids, &pending, &err) != HBK_OK) {
		json_decref(ids);
		return hbk_cli_error(cli, &err);
	}
	const struct hbk_sagas_left *left = &cli->engine->left;
	if (cli->format == HBK_FORMAT_JSON) {
		json_t *sagas = json_array();
		for (int i = 0; i < left->count && i < HBK_SAGAS_LEFT_SHOWN; i++)
			json_array_append_new(sagas,
					      json_pack("{s:s, s:s, s:s}", "id", left->sagas[i].id,
							"partner", left->sagas[i].partner,
							"payment", left->sagas[i].payment));
		json_t *doc = json_pack("{s:i, s:O, s:o}", "recovered", resumed, "pending", ids,
					"left", sagas);
		hbk_output_json(stdout, doc);
		json_decref(doc);
	} else {
		printf("recovered %d saga(s)\n", resumed);
		for (size_t i = 0; i < json_array_size(ids); i++)
			printf("pending %s\n", json_string_value(json_array_get(ids, i)));
		for (int i = 0; i < left->count && i < HBK_SAGAS_LEFT_SHOWN; i++)
			printf("left %s: began with partner %s and payment %s\n", left->sagas[i].id,
			       left->sagas[i].partner, left->sagas[i].payment);
	}
	hbk_cli_sagas_left(cli);
	json_decref(ids);
	if (recover_rc != HBK_OK)
		hbk_cli_error(cli, &recover_err);
	if (pending > 0 && left->count > 0) {
		fprintf(
		    stderr,
		    "%s: error: %lld booking(s) still PENDING: %d saga(s) began with other "
		    "providers than this configuration names (see the 'left' lines); the rest run "
		    "in a live process or could not finish\n",
		    cli->prog, pending, left->count);
		return hbk_exit_code(HBK_EUNAVAILABLE);
	}
	if (pending > 0) {
		fprintf(stderr,
			"%s: error: %lld booking(s) still PENDING: their saga is running in a live "
			"process or could not finish; run 'hbk-admin recover' again later\n",
			cli->prog, pending);
		return hbk_exit_code(HBK_EUNAVAILABLE);
	}
	return recover_rc == HBK_OK ? 0 : hbk_exit_code(recover_rc);
}
