/*
 * recover.c - hbk-admin recover: resumes or compensates the sagas whose
 * process died, then lists the bookings still PENDING. The dispatcher
 * opens the engine without its own recovery pass so that the count
 * printed here is the work this command did.
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
	if (cli->format == HBK_FORMAT_JSON) {
		json_t *doc = json_pack("{s:i, s:O}", "recovered", resumed, "pending", ids);
		hbk_output_json(stdout, doc);
		json_decref(doc);
	} else {
		printf("recovered %d saga(s)\n", resumed);
		for (size_t i = 0; i < json_array_size(ids); i++)
			printf("pending %s\n", json_string_value(json_array_get(ids, i)));
	}
	json_decref(ids);
	if (recover_rc != HBK_OK)
		hbk_cli_error(cli, &recover_err);
	if (pending > 0) {
		fprintf(stderr,
			"%s: error: %lld booking(s) still PENDING: their saga is running in a live "
			"process or could not finish; run 'hbk-admin recover' again later\n",
			cli->prog, pending);
		return hbk_exit_code(HBK_EUNAVAILABLE);
	}
	return recover_rc == HBK_OK ? 0 : hbk_exit_code(recover_rc);
}
