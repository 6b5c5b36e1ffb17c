/*
 * events.c - catalog and inventory changes as events, and applying them.
 *
 * Whatever changes a hotel's catalog or nights (hbk-admin init --demo,
 * inventory sync) appends, in the same transaction, events that carry the
 * new state itself rather than the edit: hbk.catalog.hotel_synced.v1 is
 * the hotel with its city, room types, boards and blackouts as they now
 * are, hbk.inventory.nights_set.v1 a range of its nights. Both go to the
 * hotel's stream ("hotel:H-LIS-0001"), keyed by the hotel id, so on Kafka
 * they share the partition of the hotel's bookings and every store sees
 * the catalog before the bookings that need it.
 *
 * Applying a state is an upsert, so applying it twice changes nothing,
 * with one exception: allotment is rooms left, and the store that applies
 * an event may have applied bookings the writer had not when it wrote
 * (they were on the partition already, decided elsewhere). Setting the
 * writer's allotment would forget their rooms. So a night carries both
 * the writer's allotment and the rooms its bookings held (inventory.held),
 * and a store sets
 *
 *   allotment = MAX(event allotment + event held - local held, 0)
 *
 * which is the writer's allotment when both hold the same rooms, and less
 * by the rooms of bookings the writer had not applied yet (it takes them
 * itself when it applies them, and the two meet). A booking the writer had
 * applied is on the partition before the event, so no store has fewer.
 * Rows are never deleted by an event: what a reseed removes stays on the
 * other stores (a night no longer sold is one with allotment 0).
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/events.h"
#include "hbk/json.h"
#include "internal.h"
#include "model.h"

static const char hotel_type[] = "hbk.catalog.hotel_synced.v1";
static const char nights_type[] = "hbk.inventory.nights_set.v1";
static const char stream_prefix[] = "hotel:";

/* An event of type on the hotel's stream, appended after its last one. */
static hbk_result append(struct hbk_store *store, const char *type, const char *hotel_id,
			 json_t *data, struct hbk_error *err)
{
	struct hbk_event ev;
	memset(&ev, 0, sizeof(ev));
	hbk_copy(ev.type, sizeof(ev.type), type);
	hbk_format(ev.subject, sizeof(ev.subject), "%s%s", stream_prefix, hotel_id);
	hbk_copy(ev.partitionkey, sizeof(ev.partitionkey), hotel_id);
	ev.data = data; /* the event owns it now */
	hbk_result rc = hbk_events_append_next(store, &ev, err);
	hbk_event_clear(&ev);
	return rc;
}

/* Steps stmt to its end, adding each row fn makes to array. */
static hbk_result rows_json(struct hbk_store *store, sqlite3_stmt *stmt,
			    json_t *(*fn)(sqlite3_stmt *stmt), json_t *array, struct hbk_error *err)
{
	int step;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW)
		json_array_append_new(array, fn(stmt));
	hbk_result rc = step == SQLITE_DONE ? HBK_OK : hbk_store_fail(store, err, "catalog event");
	hbk_stmt_done(stmt);
	return rc;
}

static json_t *room_row(sqlite3_stmt *stmt)
{
	return json_pack("{s:s, s:s, s:i, s:i, s:i}", "code", hbk_column_text(stmt, 0), "name",
			 hbk_column_text(stmt, 1), "capacity", sqlite3_column_int(stmt, 2),
			 "max_children", sqlite3_column_int(stmt, 3), "total_rooms",
			 sqlite3_column_int(stmt, 4));
}

static json_t *board_row(sqlite3_stmt *stmt)
{
	return json_pack("{s:s, s:s, s:I}", "code", hbk_column_text(stmt, 0), "name",
			 hbk_column_text(stmt, 1), "supplement_minor",
			 (json_int_t)sqlite3_column_int64(stmt, 2));
}

static json_t *blackout_row(sqlite3_stmt *stmt)
{
	char night[HBK_DATE_STR];
	hbk_date_format(sqlite3_column_int(stmt, 0), night);
	return json_pack("{s:s, s:s}", "night", night, "reason", hbk_column_text(stmt, 1));
}

/* The list of one of the hotel's tables, from sql with the hotel id at ?1. */
static hbk_result hotel_list(struct hbk_store *store, const char *hotel_id, const char *sql,
			     json_t *(*fn)(sqlite3_stmt *stmt), json_t *data, const char *key,
			     struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(store, sql, &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	json_t *array = json_array();
	json_object_set_new(data, key, array);
	return rows_json(store, stmt, fn, array, err);
}

/* The hotel row and its city, as the event's "hotel" and "city". */
static hbk_result hotel_record(struct hbk_store *store, const char *hotel_id, json_t *data,
			       struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store,
	    "SELECT h.id, h.code, h.name, h.city, h.stars, h.currency, h.address,"
	    " h.free_cancel_days, h.sells_refundable, h.nrf_discount_pct, c.name, c.country,"
	    " c.currency FROM hotels h JOIN cities c ON c.code = h.city WHERE h.id = ?1",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	int step = sqlite3_step(stmt);
	if (step == SQLITE_ROW) {
		struct hbk_hotel h;
		hotel_from_row(stmt, 0, &h);
		json_object_set_new(
		    data, "hotel",
		    json_pack("{s:s, s:i, s:s, s:s, s:i, s:s, s:s, s:i, s:b, s:i}", "id", h.id,
			      "code", h.code, "name", h.name, "city", h.city, "stars", h.stars,
			      "currency", h.currency, "address", h.address, "free_cancel_days",
			      sqlite3_column_int(stmt, 7), "refundable_rates",
			      sqlite3_column_int(stmt, 8), "non_refundable_discount_pct",
			      sqlite3_column_int(stmt, 9)));
		json_object_set_new(data, "city",
				    json_pack("{s:s, s:s, s:s, s:s}", "code", h.city, "name",
					      hbk_column_text(stmt, 10), "country",
					      hbk_column_text(stmt, 11), "currency",
					      hbk_column_text(stmt, 12)));
	} else if (step == SQLITE_DONE) {
		rc = hbk_fail(err, HBK_ENOTFOUND, "unknown_hotel", "unknown hotel '%s'", hotel_id);
	} else {
		rc = hbk_store_fail(store, err, "catalog event");
	}
	hbk_stmt_done(stmt);
	return rc;
}

hbk_result hbk_inventory_hotel_event(struct hbk_store *store, const char *hotel_id,
				     struct hbk_error *err)
{
	HBK_ASSERT(store->tx_depth > 0);
	json_t *data = json_object();
	hbk_result rc = hotel_record(store, hotel_id, data, err);
	if (rc == HBK_OK)
		rc = hotel_list(store, hotel_id,
				"SELECT code, name, capacity, max_children, total_rooms"
				" FROM room_types WHERE hotel_id = ?1 ORDER BY code",
				room_row, data, "room_types", err);
	if (rc == HBK_OK)
		rc = hotel_list(store, hotel_id,
				"SELECT code, name, supplement_minor FROM boards"
				" WHERE hotel_id = ?1 ORDER BY code",
				board_row, data, "boards", err);
	if (rc == HBK_OK)
		rc = hotel_list(store, hotel_id,
				"SELECT night, reason FROM blackouts WHERE hotel_id = ?1"
				" ORDER BY night",
				blackout_row, data, "blackouts", err);
	if (rc != HBK_OK) {
		json_decref(data);
		return rc;
	}
	return append(store, hotel_type, hotel_id, data, err);
}

/* The arrays of one room type in a nights event, each of n zeros. */
static json_t *room_nights(const char *code, int n)
{
	json_t *allotment = json_array(), *held = json_array(), *price = json_array();
	for (int i = 0; i < n; i++) {
		json_array_append_new(allotment, json_integer(0));
		json_array_append_new(held, json_integer(0));
		json_array_append_new(price, json_integer(0));
	}
	return json_pack("{s:s, s:o, s:o, s:o}", "code", code, "allotment", allotment, "held", held,
			 "price_minor", price);
}

hbk_result hbk_inventory_nights_event(struct hbk_store *store, const char *hotel_id, hbk_date from,
				      hbk_date to, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	HBK_ASSERT(store->tx_depth > 0);
	HBK_ASSERT(to > from && to - from <= HBK_INVENTORY_EVENT_NIGHTS_MAX);
	hbk_result rc = hbk_store_prepare(store,
					  "SELECT room_type, night, allotment, held, price_minor"
					  " FROM inventory WHERE hotel_id = ?1 AND night >= ?2"
					  " AND night < ?3 ORDER BY room_type, night",
					  &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	sqlite3_bind_int(stmt, 2, from);
	sqlite3_bind_int(stmt, 3, to);
	json_t *rooms = json_array(), *room = NULL;
	int step;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *code = hbk_column_text(stmt, 0);
		if (!room || strcmp(hbk_json_str(room, "code", ""), code) != 0) {
			room = room_nights(code, to - from);
			json_array_append_new(rooms, room);
		}
		size_t i = (size_t)(sqlite3_column_int(stmt, 1) - from);
		json_array_set_new(json_object_get(room, "allotment"), i,
				   json_integer(sqlite3_column_int(stmt, 2)));
		json_array_set_new(json_object_get(room, "held"), i,
				   json_integer(sqlite3_column_int(stmt, 3)));
		json_array_set_new(json_object_get(room, "price_minor"), i,
				   json_integer(sqlite3_column_int64(stmt, 4)));
	}
	hbk_stmt_done(stmt);
	if (step != SQLITE_DONE) {
		json_decref(rooms);
		return hbk_store_fail(store, err, "inventory event");
	}
	char first[HBK_DATE_STR], end[HBK_DATE_STR];
	hbk_date_format(from, first);
	hbk_date_format(to, end);
	return append(store, nights_type, hotel_id,
		      json_pack("{s:s, s:s, s:s, s:o}", "hotel_id", hotel_id, "from", first, "to",
				end, "room_types", rooms),
		      err);
}

/* ------------------------------------------------------------------------
 * Applying.
 */

static hbk_result step_done(struct hbk_store *store, sqlite3_stmt *stmt, const char *what,
			    struct hbk_error *err)
{
	hbk_result rc = hbk_store_step_done(store, stmt, what, err);
	hbk_stmt_done(stmt);
	return rc;
}

static hbk_result invalid(struct hbk_error *err, const struct hbk_event *ev, const char *what)
{
	return hbk_fail(err, HBK_EINVAL, "invalid_event", "event %s (%s): %s", ev->id, ev->type,
			what);
}

static hbk_result apply_city(struct hbk_store *store, const json_t *city, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store,
	    "INSERT INTO cities (code, name, country, currency) VALUES (?1, ?2, ?3, ?4)"
	    " ON CONFLICT (code) DO UPDATE SET name = excluded.name, country = excluded.country,"
	    " currency = excluded.currency WHERE (name, country, currency)"
	    " IS NOT (excluded.name, excluded.country, excluded.currency)",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hbk_json_str(city, "code", ""));
	hbk_bind_text(stmt, 2, hbk_json_str(city, "name", ""));
	hbk_bind_text(stmt, 3, hbk_json_str(city, "country", ""));
	hbk_bind_text(stmt, 4, hbk_json_str(city, "currency", ""));
	return step_done(store, stmt, "apply a city", err);
}

static hbk_result apply_hotel_row(struct hbk_store *store, const json_t *h, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store,
	    "INSERT INTO hotels (id, code, name, city, stars, currency, address,"
	    " free_cancel_days, sells_refundable, nrf_discount_pct)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO UPDATE SET"
	    " code = excluded.code, name = excluded.name, city = excluded.city,"
	    " stars = excluded.stars, currency = excluded.currency, address = excluded.address,"
	    " free_cancel_days = excluded.free_cancel_days,"
	    " sells_refundable = excluded.sells_refundable,"
	    " nrf_discount_pct = excluded.nrf_discount_pct"
	    " WHERE (code, name, city, stars, currency, address, free_cancel_days,"
	    " sells_refundable, nrf_discount_pct) IS NOT (excluded.code, excluded.name,"
	    " excluded.city, excluded.stars, excluded.currency, excluded.address,"
	    " excluded.free_cancel_days, excluded.sells_refundable, excluded.nrf_discount_pct)",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hbk_json_str(h, "id", ""));
	sqlite3_bind_int64(stmt, 2, hbk_json_int(h, "code", 0));
	hbk_bind_text(stmt, 3, hbk_json_str(h, "name", ""));
	hbk_bind_text(stmt, 4, hbk_json_str(h, "city", ""));
	sqlite3_bind_int64(stmt, 5, hbk_json_int(h, "stars", 0));
	hbk_bind_text(stmt, 6, hbk_json_str(h, "currency", ""));
	hbk_bind_text(stmt, 7, hbk_json_str(h, "address", ""));
	sqlite3_bind_int64(stmt, 8, hbk_json_int(h, "free_cancel_days", 0));
	sqlite3_bind_int(stmt, 9, hbk_json_bool(h, "refundable_rates", false));
	sqlite3_bind_int64(stmt, 10, hbk_json_int(h, "non_refundable_discount_pct", 0));
	return step_done(store, stmt, "apply a hotel", err);
}

static hbk_result apply_rooms(struct hbk_store *store, const char *hotel_id, const json_t *rooms,
			      struct hbk_error *err)
{
	size_t i;
	const json_t *room;
	hbk_result rc = HBK_OK;
	json_array_foreach(rooms, i, room)
	{
		sqlite3_stmt *stmt;
		rc = hbk_store_prepare(
		    store,
		    "INSERT INTO room_types (hotel_id, code, name, capacity, max_children,"
		    " total_rooms) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (hotel_id, code)"
		    " DO UPDATE SET name = excluded.name, capacity = excluded.capacity,"
		    " max_children = excluded.max_children, total_rooms = excluded.total_rooms"
		    " WHERE (name, capacity, max_children, total_rooms) IS NOT (excluded.name,"
		    " excluded.capacity, excluded.max_children, excluded.total_rooms)",
		    &stmt, err);
		if (rc != HBK_OK)
			return rc;
		hbk_bind_text(stmt, 1, hotel_id);
		hbk_bind_text(stmt, 2, hbk_json_str(room, "code", ""));
		hbk_bind_text(stmt, 3, hbk_json_str(room, "name", ""));
		sqlite3_bind_int64(stmt, 4, hbk_json_int(room, "capacity", 0));
		sqlite3_bind_int64(stmt, 5, hbk_json_int(room, "max_children", 0));
		sqlite3_bind_int64(stmt, 6, hbk_json_int(room, "total_rooms", 0));
		if ((rc = step_done(store, stmt, "apply a room type", err)) != HBK_OK)
			return rc;
	}
	return rc;
}

static hbk_result apply_boards(struct hbk_store *store, const char *hotel_id, const json_t *boards,
			       struct hbk_error *err)
{
	size_t i;
	const json_t *board;
	hbk_result rc = HBK_OK;
	json_array_foreach(boards, i, board)
	{
		sqlite3_stmt *stmt;
		rc = hbk_store_prepare(
		    store,
		    "INSERT INTO boards (hotel_id, code, name, supplement_minor)"
		    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (hotel_id, code) DO UPDATE SET"
		    " name = excluded.name, supplement_minor = excluded.supplement_minor"
		    " WHERE (name, supplement_minor) IS NOT (excluded.name,"
		    " excluded.supplement_minor)",
		    &stmt, err);
		if (rc != HBK_OK)
			return rc;
		hbk_bind_text(stmt, 1, hotel_id);
		hbk_bind_text(stmt, 2, hbk_json_str(board, "code", ""));
		hbk_bind_text(stmt, 3, hbk_json_str(board, "name", ""));
		sqlite3_bind_int64(stmt, 4, hbk_json_int(board, "supplement_minor", 0));
		if ((rc = step_done(store, stmt, "apply a board", err)) != HBK_OK)
			return rc;
	}
	return rc;
}

/* The hotel's blackouts become the event's: missing ones added, others
 * removed, unchanged ones left alone (no catalog change for them). */
static hbk_result apply_blackouts(struct hbk_store *store, const struct hbk_event *ev,
				  const char *hotel_id, const json_t *blackouts,
				  struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	json_t *nights = json_array();
	size_t i;
	const json_t *blackout;
	hbk_result rc = HBK_OK;
	json_array_foreach(blackouts, i, blackout)
	{
		hbk_date night;
		if (!hbk_date_parse(hbk_json_str(blackout, "night", ""), &night)) {
			json_decref(nights);
			return invalid(err, ev, "a blackout night is not a date");
		}
		json_array_append_new(nights, json_integer(night));
		rc = hbk_store_prepare(store,
				       "INSERT INTO blackouts (hotel_id, night, reason)"
				       " VALUES (?1, ?2, ?3) ON CONFLICT (hotel_id, night) DO"
				       " UPDATE SET reason = excluded.reason"
				       " WHERE reason IS NOT excluded.reason",
				       &stmt, err);
		if (rc != HBK_OK)
			break;
		hbk_bind_text(stmt, 1, hotel_id);
		sqlite3_bind_int(stmt, 2, night);
		hbk_bind_text(stmt, 3, hbk_json_str(blackout, "reason", ""));
		if ((rc = step_done(store, stmt, "apply a blackout", err)) != HBK_OK)
			break;
	}
	char *list = hbk_json_dumps(nights);
	json_decref(nights);
	if (rc == HBK_OK)
		rc = hbk_store_prepare(store,
				       "DELETE FROM blackouts WHERE hotel_id = ?1 AND night NOT IN"
				       " (SELECT value FROM json_each(?2))",
				       &stmt, err);
	if (rc == HBK_OK) {
		hbk_bind_text(stmt, 1, hotel_id);
		hbk_bind_text(stmt, 2, list);
		rc = step_done(store, stmt, "apply blackouts", err);
	}
	free(list);
	return rc;
}

static hbk_result apply_hotel(struct hbk_store *store, const struct hbk_event *ev, void *ctx,
			      struct hbk_error *err)
{
	(void)ctx;
	const json_t *h = json_object_get(ev->data, "hotel");
	const json_t *city = json_object_get(ev->data, "city");
	const char *hotel_id = hbk_json_str(h, "id", "");
	if (!json_is_object(h) || !json_is_object(city) || strcmp(hotel_id, ev->partitionkey) != 0)
		return invalid(err, ev, "no hotel, or not the hotel of its key");
	hbk_result rc = apply_city(store, city, err);
	if (rc == HBK_OK)
		rc = apply_hotel_row(store, h, err);
	if (rc == HBK_OK)
		rc = apply_rooms(store, hotel_id, json_object_get(ev->data, "room_types"), err);
	if (rc == HBK_OK)
		rc = apply_boards(store, hotel_id, json_object_get(ev->data, "boards"), err);
	if (rc == HBK_OK)
		rc = apply_blackouts(store, ev, hotel_id, json_object_get(ev->data, "blackouts"),
				     err);
	return rc;
}

static hbk_result count_nights(struct hbk_store *store, const char *hotel_id, hbk_date from,
			       hbk_date to, int64_t *count, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(store,
					  "SELECT COUNT(*) FROM inventory WHERE hotel_id = ?1"
					  " AND night >= ?2 AND night < ?3",
					  &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, hotel_id);
	sqlite3_bind_int(stmt, 2, from);
	sqlite3_bind_int(stmt, 3, to);
	*count = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
	hbk_stmt_done(stmt);
	return *count < 0 ? hbk_store_fail(store, err, "inventory") : HBK_OK;
}

/* One room type's nights; a price of 0 is a night the writer has no row for. */
static hbk_result apply_room_nights(struct hbk_store *store, const char *hotel_id, hbk_date from,
				    int n, const json_t *room, struct hbk_error *err)
{
	const json_t *allotment = json_object_get(room, "allotment");
	const json_t *held = json_object_get(room, "held");
	const json_t *price = json_object_get(room, "price_minor");
	if (json_array_size(allotment) != (size_t)n || json_array_size(held) != (size_t)n ||
	    json_array_size(price) != (size_t)n)
		return hbk_fail(err, HBK_EINVAL, "invalid_event",
				"room type %s: not one value per night",
				hbk_json_str(room, "code", ""));
	for (int i = 0; i < n; i++) {
		json_int_t price_minor = json_integer_value(json_array_get(price, (size_t)i));
		if (price_minor <= 0)
			continue;
		sqlite3_stmt *stmt;
		hbk_result rc = hbk_store_prepare(
		    store,
		    "INSERT INTO inventory (hotel_id, room_type, night, allotment, price_minor)"
		    " VALUES (?1, ?2, ?3, MAX(?4 + ?5, 0), ?6)"
		    " ON CONFLICT (hotel_id, room_type, night) DO UPDATE SET"
		    " allotment = MAX(?4 + ?5 - held, 0), price_minor = ?6"
		    " WHERE (allotment, price_minor) IS NOT (MAX(?4 + ?5 - held, 0), ?6)",
		    &stmt, err);
		if (rc != HBK_OK)
			return rc;
		hbk_bind_text(stmt, 1, hotel_id);
		hbk_bind_text(stmt, 2, hbk_json_str(room, "code", ""));
		sqlite3_bind_int(stmt, 3, from + i);
		sqlite3_bind_int64(stmt, 4,
				   json_integer_value(json_array_get(allotment, (size_t)i)));
		sqlite3_bind_int64(stmt, 5, json_integer_value(json_array_get(held, (size_t)i)));
		sqlite3_bind_int64(stmt, 6, price_minor);
		if ((rc = step_done(store, stmt, "apply a night", err)) != HBK_OK)
			return rc;
	}
	return HBK_OK;
}

static hbk_result apply_nights(struct hbk_store *store, const struct hbk_event *ev, void *ctx,
			       struct hbk_error *err)
{
	(void)ctx;
	const char *hotel_id = hbk_json_str(ev->data, "hotel_id", "");
	hbk_date from, to;
	if (strcmp(hotel_id, ev->partitionkey) != 0 ||
	    !hbk_date_parse(hbk_json_str(ev->data, "from", ""), &from) ||
	    !hbk_date_parse(hbk_json_str(ev->data, "to", ""), &to) || to <= from ||
	    to - from > HBK_INVENTORY_EVENT_NIGHTS_MAX)
		return invalid(err, ev, "no hotel of its key, or no range of nights");
	int64_t before, after;
	hbk_result rc = count_nights(store, hotel_id, from, to, &before, err);
	size_t i;
	const json_t *room;
	json_array_foreach(json_object_get(ev->data, "room_types"), i, room)
	{
		if (rc == HBK_OK)
			rc = apply_room_nights(store, hotel_id, from, to - from, room, err);
	}
	if (rc == HBK_OK)
		rc = count_nights(store, hotel_id, from, to, &after, err);
	/* New rows: no trigger tells the search models (sync_night does the same). */
	if (rc == HBK_OK && after != before)
		rc = model_catalog_changed(store, err);
	return rc;
}

hbk_result hbk_inventory_replicate(struct hbk_store *store, const struct hbk_event *ev,
				   bool *applied, struct hbk_error *err)
{
	HBK_ASSERT(store->tx_depth > 0);
	*applied = false;
	bool hotel = strcmp(ev->type, hotel_type) == 0;
	if (!hotel && strcmp(ev->type, nights_type) != 0)
		return hbk_fail(err, HBK_EINVAL, "unknown_event_type",
				"no handler for events of type %s", ev->type);
	return hbk_events_apply_new(store, ev, applied, hotel ? apply_hotel : apply_nights, NULL,
				    err);
}
