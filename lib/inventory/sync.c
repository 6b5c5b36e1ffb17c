/*
 * sync.c - writing what the partner sells into the catalog (hbk-admin
 * inventory sync). Every write is an upsert that changes a row only when a
 * value differs, and reports whether it did, so a second sync of the same
 * answers changes nothing and says so.
 */
#include <string.h>

#include "hbk/inventory.h"
#include "model.h"

/* Steps an upsert and adds the rows it changed to *changes. */
static hbk_result upsert_step(struct hbk_store *store, sqlite3_stmt *stmt, const char *what,
			      int *changes, struct hbk_error *err)
{
	hbk_result rc = hbk_store_step_done(store, stmt, what, err);
	hbk_stmt_done(stmt);
	if (rc == HBK_OK && changes)
		*changes += sqlite3_changes(store->db);
	return rc;
}

/* Whether a hotel id is taken by a hotel with another code. */
static hbk_result id_taken(struct hbk_store *store, const char *id, int code, bool *taken,
			   struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc =
	    hbk_store_prepare(store, "SELECT code FROM hotels WHERE id = ?1", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, id);
	*taken = sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) != code;
	hbk_stmt_done(stmt);
	return HBK_OK;
}

/*
 * Our id for a partner hotel: the one it has, else "H-<CITY>-<NNNN>" from
 * the code's last three digits (the demo catalog's numbering, so a store
 * synced from hbk-sandbox has the sandbox's ids), else "H-<CITY>-<code>".
 */
static hbk_result hotel_id_for(struct hbk_store *store, const struct hbk_hotel *hotel,
			       char id[HBK_HOTEL_ID_MAX], struct hbk_error *err)
{
	struct hbk_hotel existing;
	hbk_result rc = hbk_hotel_get_by_code(store, hotel->code, &existing, err);
	if (rc == HBK_OK) {
		hbk_copy(id, HBK_HOTEL_ID_MAX, existing.id);
		return HBK_OK;
	}
	if (rc != HBK_ENOTFOUND)
		return rc;
	hbk_error_clear(err);
	bool taken = true;
	if (hotel->code % 1000 != 0) {
		hbk_format(id, HBK_HOTEL_ID_MAX, "H-%s-%04d", hotel->city, hotel->code % 1000);
		rc = id_taken(store, id, hotel->code, &taken, err);
		if (rc != HBK_OK)
			return rc;
	}
	if (taken)
		hbk_format(id, HBK_HOTEL_ID_MAX, "H-%s-%d", hotel->city, hotel->code);
	return HBK_OK;
}

hbk_result hbk_inventory_sync_hotel(struct hbk_store *store, const struct hbk_sync_hotel *h,
				    char id[HBK_HOTEL_ID_MAX], int *changes, struct hbk_error *err)
{
	HBK_ASSERT(store != NULL && h != NULL);
	const struct hbk_hotel *hotel = &h->hotel;
	if (strlen(hotel->city) != 3 || hbk_currency_exponent(hotel->currency) < 0 ||
	    hotel->code <= 0 || hotel->name[0] == '\0')
		return hbk_fail(err, HBK_EINVAL, "invalid_partner_hotel",
				"partner hotel %d has no valid name, destination or currency",
				hotel->code);
	hbk_result rc = hotel_id_for(store, hotel, id, err);
	sqlite3_stmt *stmt;
	if (rc == HBK_OK)
		rc = hbk_store_prepare(store,
				       "INSERT INTO cities (code, name, country, currency)"
				       " VALUES (?1, ?1, '', ?2) ON CONFLICT (code) DO NOTHING",
				       &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel->city);
	hbk_bind_text(stmt, 2, hotel->currency);
	rc = upsert_step(store, stmt, "sync a city", changes, err);
	if (rc != HBK_OK)
		return rc;
	rc = hbk_store_prepare(
	    store,
	    "INSERT INTO hotels (id, code, name, city, stars, currency, free_cancel_days,"
	    " sells_refundable, nrf_discount_pct) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
	    " ON CONFLICT (id) DO UPDATE SET name = excluded.name, city = excluded.city,"
	    " stars = excluded.stars, currency = excluded.currency,"
	    " free_cancel_days = excluded.free_cancel_days,"
	    " sells_refundable = excluded.sells_refundable,"
	    " nrf_discount_pct = excluded.nrf_discount_pct"
	    " WHERE (name, city, stars, currency, free_cancel_days, sells_refundable,"
	    " nrf_discount_pct) IS NOT (excluded.name, excluded.city, excluded.stars,"
	    " excluded.currency, excluded.free_cancel_days, excluded.sells_refundable,"
	    " excluded.nrf_discount_pct)",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, id);
	sqlite3_bind_int(stmt, 2, hotel->code);
	hbk_bind_text(stmt, 3, hotel->name);
	hbk_bind_text(stmt, 4, hotel->city);
	sqlite3_bind_int(stmt, 5, hotel->stars < 1 ? 1 : hotel->stars > 5 ? 5 : hotel->stars);
	hbk_bind_text(stmt, 6, hotel->currency);
	sqlite3_bind_int(stmt, 7, h->free_cancel_days);
	sqlite3_bind_int(stmt, 8, h->sells_refundable ? 1 : 0);
	sqlite3_bind_int(stmt, 9, h->nrf_discount_pct);
	return upsert_step(store, stmt, "sync a hotel", changes, err);
}

hbk_result hbk_inventory_sync_room(struct hbk_store *store, const char *hotel_id, const char *code,
				   const char *name, int capacity, int max_children,
				   int total_rooms, int *changes, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	/* total_rooms only grows: the partner shows what is left, not the size. */
	hbk_result rc = hbk_store_prepare(
	    store,
	    "INSERT INTO room_types (hotel_id, code, name, capacity, max_children, total_rooms)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (hotel_id, code) DO UPDATE SET"
	    " name = excluded.name, capacity = excluded.capacity,"
	    " max_children = excluded.max_children,"
	    " total_rooms = MAX(total_rooms, excluded.total_rooms)"
	    " WHERE (name, capacity, max_children) IS NOT (excluded.name, excluded.capacity,"
	    " excluded.max_children) OR total_rooms < excluded.total_rooms",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	hbk_bind_text(stmt, 2, code);
	hbk_bind_text(stmt, 3, name[0] ? name : code);
	sqlite3_bind_int(stmt, 4, capacity < 1 ? 1 : capacity);
	sqlite3_bind_int(stmt, 5, max_children < 0 ? 0 : max_children);
	sqlite3_bind_int(stmt, 6, total_rooms < 0 ? 0 : total_rooms);
	return upsert_step(store, stmt, "sync a room type", changes, err);
}

hbk_result hbk_inventory_sync_board(struct hbk_store *store, const char *hotel_id, const char *code,
				    const char *name, int64_t supplement_minor, int *changes,
				    struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store,
	    "INSERT INTO boards (hotel_id, code, name, supplement_minor) VALUES (?1, ?2, ?3, ?4)"
	    " ON CONFLICT (hotel_id, code) DO UPDATE SET name = excluded.name,"
	    " supplement_minor = excluded.supplement_minor"
	    " WHERE (name, supplement_minor) IS NOT (excluded.name, excluded.supplement_minor)",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	hbk_bind_text(stmt, 2, code);
	hbk_bind_text(stmt, 3, name[0] ? name : code);
	sqlite3_bind_int64(stmt, 4, supplement_minor < 0 ? 0 : supplement_minor);
	return upsert_step(store, stmt, "sync a board", changes, err);
}

hbk_result hbk_inventory_sync_night(struct hbk_store *store, const char *hotel_id,
				    const char *room_type, hbk_date night, int allotment,
				    int64_t price_minor, int *changes, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	if (price_minor <= 0 || allotment < 0)
		return hbk_fail(err, HBK_EINVAL, "invalid_partner_rate",
				"partner rate for %s %s has no positive price", hotel_id,
				room_type);
	hbk_result rc = hbk_store_prepare(
	    store,
	    "INSERT INTO inventory (hotel_id, room_type, night, allotment, price_minor)"
	    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hotel_id, room_type, night) DO UPDATE SET"
	    " allotment = excluded.allotment, price_minor = excluded.price_minor"
	    " WHERE (allotment, price_minor) IS NOT (excluded.allotment, excluded.price_minor)",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	hbk_bind_text(stmt, 2, room_type);
	sqlite3_bind_int(stmt, 3, night);
	sqlite3_bind_int(stmt, 4, allotment);
	sqlite3_bind_int64(stmt, 5, price_minor);
	int changed = 0;
	rc = upsert_step(store, stmt, "sync a night", &changed, err);
	/* A new night is a new row, which no trigger announces to search models. */
	if (rc == HBK_OK && changed)
		rc = model_catalog_changed(store, err);
	if (changes)
		*changes += changed;
	return rc;
}

hbk_result hbk_inventory_sync_sold_out(struct hbk_store *store, const char *hotel_id,
				       const char *room_type, hbk_date night, int *changes,
				       struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(store,
					  "UPDATE inventory SET allotment = 0 WHERE hotel_id = ?1"
					  " AND room_type = ?2 AND night = ?3 AND allotment != 0",
					  &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	hbk_bind_text(stmt, 2, room_type);
	sqlite3_bind_int(stmt, 3, night);
	return upsert_step(store, stmt, "sync a sold-out night", changes, err);
}
