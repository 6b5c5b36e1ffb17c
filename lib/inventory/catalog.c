/*
 * catalog.c - reading hotels, room types, boards and nightly inventory.
 */
#include <string.h>

#include "hbk/inventory.h"
#include "hbk/json.h"
#include "internal.h"

void hotel_from_row(sqlite3_stmt *stmt, int col, struct hbk_hotel *h)
{
	memset(h, 0, sizeof(*h));
	hbk_copy(h->id, sizeof(h->id), hbk_column_text(stmt, col));
	h->code = sqlite3_column_int(stmt, col + 1);
	hbk_copy(h->name, sizeof(h->name), hbk_column_text(stmt, col + 2));
	hbk_copy(h->city, sizeof(h->city), hbk_column_text(stmt, col + 3));
	h->stars = sqlite3_column_int(stmt, col + 4);
	hbk_copy(h->currency, sizeof(h->currency), hbk_column_text(stmt, col + 5));
	hbk_copy(h->address, sizeof(h->address), hbk_column_text(stmt, col + 6));
}

hbk_result hbk_hotel_get(struct hbk_store *store, const char *hotel_id, struct hbk_hotel *out,
			 struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT " HOTEL_COLUMNS " FROM hotels WHERE id = ?", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	int step = sqlite3_step(stmt);
	if (step == SQLITE_ROW)
		hotel_from_row(stmt, 0, out);
	else if (step == SQLITE_DONE)
		rc = hbk_fail_field(err, HBK_ENOTFOUND, "unknown_hotel", "hotel",
				    "unknown hotel '%s'", hotel_id);
	else
		rc = hbk_store_fail(store, err, "catalog");
	hbk_stmt_done(stmt);
	return rc;
}

hbk_result hbk_hotel_get_by_code(struct hbk_store *store, int code, struct hbk_hotel *out,
				 struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT " HOTEL_COLUMNS " FROM hotels WHERE code = ?", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int(stmt, 1, code);
	int step = sqlite3_step(stmt);
	if (step == SQLITE_ROW)
		hotel_from_row(stmt, 0, out);
	else if (step == SQLITE_DONE)
		rc = hbk_fail_field(err, HBK_ENOTFOUND, "unknown_hotel", "hotel",
				    "no hotel with partner code %d", code);
	else
		rc = hbk_store_fail(store, err, "catalog");
	hbk_stmt_done(stmt);
	return rc;
}

hbk_result hbk_hotel_room_types(struct hbk_store *store, const char *hotel_id,
				char (*codes)[HBK_ROOM_CODE_MAX], int max, int *count,
				struct hbk_error *err)
{
	HBK_ASSERT(codes != NULL && max >= 0 && count != NULL);
	sqlite3_stmt *stmt;
	*count = 0;
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT code FROM room_types WHERE hotel_id = ? ORDER BY code", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	int step;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (*count < max)
			hbk_copy(codes[*count], HBK_ROOM_CODE_MAX, hbk_column_text(stmt, 0));
		(*count)++;
	}
	if (step != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "catalog");
	hbk_stmt_done(stmt);
	return rc;
}

bool hbk_city_exists(struct hbk_store *store, const char *city)
{
	sqlite3_stmt *stmt;
	bool found = false;
	if (hbk_store_prepare(store, "SELECT 1 FROM cities WHERE code = ?", &stmt, NULL) != HBK_OK)
		return false;
	hbk_bind_text(stmt, 1, city);
	found = sqlite3_step(stmt) == SQLITE_ROW;
	hbk_stmt_done(stmt);
	return found;
}

static json_t *hotel_json(const struct hbk_hotel *h)
{
	return json_pack("{s:s, s:i, s:s, s:s, s:i, s:s, s:s}", "id", h->id, "code", h->code,
			 "name", h->name, "city", h->city, "stars", h->stars, "currency",
			 h->currency, "address", h->address);
}

hbk_result hbk_hotels_json(struct hbk_store *store, const char *city, json_t **out,
			   struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	if (city && !hbk_city_exists(store, city))
		return hbk_fail_field(err, HBK_EINVAL, "unknown_city", "city", "unknown city '%s'",
				      city);
	hbk_result rc = hbk_store_prepare(
	    store,
	    "SELECT " HOTEL_COLUMNS ", (SELECT COUNT(*) FROM room_types r WHERE r.hotel_id = id),"
	    " (SELECT COALESCE(SUM(total_rooms), 0) FROM room_types r WHERE r.hotel_id = id)"
	    " FROM hotels WHERE ?1 IS NULL OR city = ?1 ORDER BY city, id",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, city);
	json_t *hotels = json_array();
	int step;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct hbk_hotel h;
		hotel_from_row(stmt, 0, &h);
		json_t *j = hotel_json(&h);
		json_object_set_new(j, "room_types", json_integer(sqlite3_column_int(stmt, 7)));
		json_object_set_new(j, "rooms", json_integer(sqlite3_column_int(stmt, 8)));
		json_array_append_new(hotels, j);
	}
	hbk_stmt_done(stmt);
	if (step != SQLITE_DONE) {
		json_decref(hotels);
		return hbk_store_fail(store, err, "catalog");
	}
	*out = json_pack("{s:o}", "hotels", hotels);
	return HBK_OK;
}

hbk_result hbk_hotel_json(struct hbk_store *store, const char *hotel_id, json_t **out,
			  struct hbk_error *err)
{
	struct hbk_hotel h;
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_hotel_get(store, hotel_id, &h, err);
	if (rc != HBK_OK)
		return rc;
	json_t *json = hotel_json(&h);

	rc = hbk_store_prepare(
	    store,
	    "SELECT free_cancel_days, sells_refundable, nrf_discount_pct FROM hotels"
	    " WHERE id = ?",
	    &stmt, err);
	if (rc != HBK_OK)
		goto out;
	hbk_bind_text(stmt, 1, hotel_id);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		json_object_set_new(json, "free_cancel_days",
				    json_integer(sqlite3_column_int(stmt, 0)));
		json_object_set_new(json, "refundable_rates",
				    json_boolean(sqlite3_column_int(stmt, 1)));
		json_object_set_new(json, "non_refundable_discount_pct",
				    json_integer(sqlite3_column_int(stmt, 2)));
	}
	hbk_stmt_done(stmt);

	rc = hbk_store_prepare(
	    store,
	    "SELECT code, name, capacity, max_children, total_rooms FROM room_types"
	    " WHERE hotel_id = ? ORDER BY capacity, code",
	    &stmt, err);
	if (rc != HBK_OK)
		goto out;
	hbk_bind_text(stmt, 1, hotel_id);
	json_t *rooms = json_array();
	while (sqlite3_step(stmt) == SQLITE_ROW)
		json_array_append_new(rooms, json_pack("{s:s, s:s, s:i, s:i, s:i}", "code",
						       hbk_column_text(stmt, 0), "name",
						       hbk_column_text(stmt, 1), "capacity",
						       sqlite3_column_int(stmt, 2), "max_children",
						       sqlite3_column_int(stmt, 3), "rooms",
						       sqlite3_column_int(stmt, 4)));
	hbk_stmt_done(stmt);
	json_object_set_new(json, "room_types", rooms);

	rc = hbk_store_prepare(store,
			       "SELECT code, name, supplement_minor FROM boards WHERE hotel_id = ?"
			       " ORDER BY supplement_minor",
			       &stmt, err);
	if (rc != HBK_OK)
		goto out;
	hbk_bind_text(stmt, 1, hotel_id);
	json_t *boards = json_array();
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		struct hbk_money supplement =
		    hbk_money_make(sqlite3_column_int64(stmt, 2), h.currency);
		json_array_append_new(
		    boards, json_pack("{s:s, s:s, s:o}", "code", hbk_column_text(stmt, 0), "name",
				      hbk_column_text(stmt, 1), "supplement_per_adult_night",
				      hbk_json_money(&supplement)));
	}
	hbk_stmt_done(stmt);
	json_object_set_new(json, "boards", boards);

	rc = hbk_store_prepare(store,
			       "SELECT night, reason FROM blackouts WHERE hotel_id = ?"
			       " ORDER BY night",
			       &stmt, err);
	if (rc != HBK_OK)
		goto out;
	hbk_bind_text(stmt, 1, hotel_id);
	json_t *blackouts = json_array();
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		char night[HBK_DATE_STR];
		hbk_date_format(sqlite3_column_int(stmt, 0), night);
		json_array_append_new(blackouts, json_pack("{s:s, s:s}", "night", night, "reason",
							   hbk_column_text(stmt, 1)));
	}
	hbk_stmt_done(stmt);
	json_object_set_new(json, "blackouts", blackouts);
out:
	if (rc != HBK_OK) {
		json_decref(json);
		return rc;
	}
	*out = json;
	return HBK_OK;
}

hbk_result hbk_inventory_json(struct hbk_store *store, const char *hotel_id, hbk_date from,
			      hbk_date to, json_t **out, struct hbk_error *err)
{
	struct hbk_hotel h;
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_hotel_get(store, hotel_id, &h, err);
	if (rc != HBK_OK)
		return rc;
	if (to <= from)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_dates", "to",
				      "--to must be after --from");
	if (to - from > 400)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_dates", "to",
				      "at most 400 nights at a time");
	rc = hbk_store_prepare(
	    store,
	    "SELECT i.room_type, i.night, i.allotment, r.total_rooms, i.price_minor,"
	    " EXISTS (SELECT 1 FROM blackouts b WHERE b.hotel_id = i.hotel_id"
	    " AND b.night = i.night)"
	    " FROM inventory i JOIN room_types r ON r.hotel_id = i.hotel_id AND r.code = "
	    "i.room_type"
	    " WHERE i.hotel_id = ? AND i.night >= ? AND i.night < ? ORDER BY i.night, r.capacity,"
	    " i.room_type",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	sqlite3_bind_int(stmt, 2, from);
	sqlite3_bind_int(stmt, 3, to);
	json_t *nights = json_array();
	int step;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		char night[HBK_DATE_STR];
		struct hbk_money price = hbk_money_make(sqlite3_column_int64(stmt, 4), h.currency);
		hbk_date_format(sqlite3_column_int(stmt, 1), night);
		json_array_append_new(
		    nights,
		    json_pack("{s:s, s:s, s:i, s:i, s:i, s:o, s:b}", "night", night, "room_type",
			      hbk_column_text(stmt, 0), "available", sqlite3_column_int(stmt, 2),
			      "total", sqlite3_column_int(stmt, 3), "sold",
			      sqlite3_column_int(stmt, 3) - sqlite3_column_int(stmt, 2), "price",
			      hbk_json_money(&price), "closed", sqlite3_column_int(stmt, 5)));
	}
	hbk_stmt_done(stmt);
	if (step != SQLITE_DONE) {
		json_decref(nights);
		return hbk_store_fail(store, err, "inventory");
	}
	*out = json_pack("{s:s, s:o}", "hotel", hotel_id, "inventory", nights);
	return HBK_OK;
}

hbk_result hbk_cities_json(struct hbk_store *store, json_t **out, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc =
	    hbk_store_prepare(store, "SELECT code FROM cities ORDER BY code", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	json_t *cities = json_array();
	while (sqlite3_step(stmt) == SQLITE_ROW)
		json_array_append_new(cities, json_string(hbk_column_text(stmt, 0)));
	hbk_stmt_done(stmt);
	*out = cities;
	return HBK_OK;
}
