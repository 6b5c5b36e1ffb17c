/*
 * schema.c - tables of the reservation context.
 *
 * bookings is the booking view projection (the read side): one row per
 * booking with the JSON the API and tools show, kept in the same
 * transaction as the events it reflects. sagas lists the sagas in flight
 * and which process runs each, so a crashed process's sagas are found and
 * resumed, and the partner and payment provider each began with
 * (hbk_config_provider), so that only a process with the same ones
 * resumes it. payment_webhook_events lists the provider's events already
 * handled (external.c), so a redelivered event changes nothing.
 */
#include "hbk/reservation.h"
#include "hbk/store.h"

static const char reservation_schema[] =
    "CREATE TABLE IF NOT EXISTS bookings ("
    " id TEXT PRIMARY KEY,"
    " status TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " sequence INTEGER NOT NULL,"
    " hotel_id TEXT NOT NULL,"
    " room_type TEXT NOT NULL,"
    " checkin INTEGER NOT NULL,"
    " checkout INTEGER NOT NULL,"
    " rooms INTEGER NOT NULL,"
    " email TEXT NOT NULL,"
    " total_minor INTEGER NOT NULL,"
    " paid_minor INTEGER NOT NULL,"
    " refunded_minor INTEGER NOT NULL,"
    " currency TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " doc TEXT NOT NULL"
    ");"
    "CREATE INDEX IF NOT EXISTS bookings_status ON bookings(status, id);"
    "CREATE INDEX IF NOT EXISTS bookings_hotel ON bookings(hotel_id, checkin);"
    "CREATE INDEX IF NOT EXISTS bookings_checkin ON bookings(checkin);"
    "CREATE INDEX IF NOT EXISTS bookings_email ON bookings(email);"
    "CREATE TABLE IF NOT EXISTS sagas ("
    " booking_id TEXT PRIMARY KEY,"
    " kind TEXT NOT NULL,"
    " owner_pid INTEGER NOT NULL,"
    " owner_start INTEGER NOT NULL," /* the owner's start time, against pid reuse */
    " started_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " partner TEXT NOT NULL DEFAULT ''," /* '': not recorded (older store, replica) */
    " payment TEXT NOT NULL DEFAULT ''"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS payment_webhook_events ("
    " id TEXT PRIMARY KEY," /* the provider's event id (evt_...) */
    " type TEXT NOT NULL,"
    " booking_id TEXT NOT NULL," /* '' when it named no booking of ours */
    " outcome TEXT NOT NULL,"	 /* applied | unchanged | ignored */
    " received_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;";

/* Stores made before sagas recorded their providers: the columns, empty
 * (recovery then compares the kinds the booking names). */
static hbk_result add_saga_providers(struct hbk_store *store, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT COUNT(*) FROM pragma_table_info('sagas') WHERE name = 'partner'", &stmt,
	    err);
	if (rc != HBK_OK)
		return rc;
	int step = sqlite3_step(stmt);
	bool present = step == SQLITE_ROW && sqlite3_column_int(stmt, 0) == 1;
	hbk_stmt_done(stmt);
	if (step != SQLITE_ROW)
		return hbk_store_fail(store, err, "sagas schema");
	if (present)
		return HBK_OK;
	return hbk_store_exec(store,
			      "ALTER TABLE sagas ADD COLUMN partner TEXT NOT NULL DEFAULT '';"
			      "ALTER TABLE sagas ADD COLUMN payment TEXT NOT NULL DEFAULT ''",
			      err);
}

hbk_result hbk_reservation_migrate(struct hbk_store *store, struct hbk_error *err)
{
	hbk_result rc = hbk_store_exec(store, reservation_schema, err);
	return rc == HBK_OK ? add_saga_providers(store, err) : rc;
}
