/*
 * schema.c - tables of the reservation context.
 *
 * bookings is the booking view projection (the read side): one row per
 * booking with the JSON the API and tools show, kept in the same
 * transaction as the events it reflects. sagas lists the sagas in flight
 * and which process runs each, so a crashed process's sagas are found and
 * resumed. payment_webhook_events lists the provider's events already
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
    " updated_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS payment_webhook_events ("
    " id TEXT PRIMARY KEY,"    /* the provider's event id (evt_...) */
    " type TEXT NOT NULL,"
    " booking_id TEXT NOT NULL," /* '' when it named no booking of ours */
    " outcome TEXT NOT NULL,"  /* applied | unchanged | ignored */
    " received_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;";

hbk_result hbk_reservation_migrate(struct hbk_store *store, struct hbk_error *err)
{
	return hbk_store_exec(store, reservation_schema, err);
}
