/*
 * hold.c - taking and giving back rooms, all nights of a stay or none.
 *
 * Runs inside the caller's IMMEDIATE transaction, so between the check and
 * the update no other writer can touch the rows: the check makes failure
 * leave nothing half-done, and the CHECK (allotment >= 0) on the table is a
 * second guard that no bug can get past.
 */
#include <stdatomic.h>

#include "hbk/inventory.h"

/* Every this many holds in a process, old inventory changes are pruned. */
#define HOLDS_PER_PRUNE 1024

hbk_result hbk_inventory_hold(struct hbk_store *store, const char *hotel_id, const char *room_type,
			      hbk_date checkin, hbk_date checkout, int rooms, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	int nights = checkout - checkin;
	HBK_ASSERT(store->tx_depth > 0);
	HBK_ASSERT(rooms > 0 && nights > 0);

	hbk_result rc = hbk_store_prepare(store,
					  "SELECT COUNT(*) FROM inventory WHERE hotel_id = ?"
					  " AND room_type = ? AND night >= ? AND night < ?"
					  " AND allotment >= ?",
					  &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	hbk_bind_text(stmt, 2, room_type);
	sqlite3_bind_int(stmt, 3, checkin);
	sqlite3_bind_int(stmt, 4, checkout);
	sqlite3_bind_int(stmt, 5, rooms);
	int step = sqlite3_step(stmt);
	int ok_nights = step == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
	hbk_stmt_done(stmt);
	if (ok_nights < 0)
		return hbk_store_fail(store, err, "hold");
	if (ok_nights != nights)
		return hbk_fail(err, HBK_ECONFLICT, "no_availability",
				"no availability: %s has fewer than %d %s room%s left on %d of "
				"these nights",
				hotel_id, rooms, room_type, rooms == 1 ? "" : "s",
				nights - ok_nights);

	rc = hbk_store_prepare(store,
			       "UPDATE inventory SET allotment = allotment - ?1, held = held + ?1"
			       " WHERE hotel_id = ?"
			       " AND room_type = ? AND night >= ? AND night < ?",
			       &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int(stmt, 1, rooms);
	hbk_bind_text(stmt, 2, hotel_id);
	hbk_bind_text(stmt, 3, room_type);
	sqlite3_bind_int(stmt, 4, checkin);
	sqlite3_bind_int(stmt, 5, checkout);
	step = sqlite3_step(stmt);
	hbk_stmt_done(stmt);
	if (step != SQLITE_DONE)
		return hbk_store_fail(store, err, "hold");
	HBK_ASSERT(sqlite3_changes(store->db) == nights);
	static atomic_uint holds;
	if (atomic_fetch_add(&holds, 1) % HOLDS_PER_PRUNE == HOLDS_PER_PRUNE - 1)
		return hbk_inventory_prune_changes(store, err);
	return HBK_OK;
}

hbk_result hbk_inventory_release(struct hbk_store *store, const char *hotel_id,
				 const char *room_type, hbk_date checkin, hbk_date checkout,
				 int rooms, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	HBK_ASSERT(store->tx_depth > 0);
	HBK_ASSERT(rooms > 0);
	hbk_result rc =
	    hbk_store_prepare(store,
			      "UPDATE inventory SET allotment = allotment + ?1,"
			      " held = MAX(held - ?1, 0) WHERE"
			      " hotel_id = ? AND room_type = ? AND night >= ? AND night < ?",
			      &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int(stmt, 1, rooms);
	hbk_bind_text(stmt, 2, hotel_id);
	hbk_bind_text(stmt, 3, room_type);
	sqlite3_bind_int(stmt, 4, checkin);
	sqlite3_bind_int(stmt, 5, checkout);
	int step = sqlite3_step(stmt);
	hbk_stmt_done(stmt);
	if (step != SQLITE_DONE)
		return hbk_store_fail(store, err, "release");
	return HBK_OK;
}
