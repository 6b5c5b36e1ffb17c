/*
 * model.c - the search read model, in memory.
 *
 * A search reads every night of every room type of a city's hotels; from
 * SQLite that costs more than half a millisecond, and searches are most of
 * what hbkd answers. A long-running process (hbk_store.keep_search_model)
 * keeps the catalog and the nightly inventory in memory instead, one copy
 * per connection, and keeps it current from two things the schema
 * maintains with triggers (schema.c):
 *
 *  - search_version.catalog, bumped by any change to cities, hotels, room
 *    types, boards, blackouts or to the set of inventory rows. The model is
 *    then built again from scratch; that is rare (hbk-admin, a sync).
 *  - inventory_changes, one row per changed allotment or price carrying
 *    the new values, in commit order. Bookings and cancellations only
 *    write these, and they are applied in place before the next search.
 *
 * Both are read inside the search's own read transaction, so the model a
 * search uses is exactly the snapshot SQLite would have given it. Old
 * change rows are pruned (hbk_inventory_prune_changes); a model that falls
 * behind the pruning sees the gap in the sequence and is built again.
 * When nothing at all was committed since the model last looked (SQLite's
 * data version says), neither is read.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "model.h"

/* Rooms, boards and blackouts of one hotel, and hotels in all: bounds. */
#define MODEL_ROOMS_MAX	    64
#define MODEL_BOARDS_MAX    16
#define MODEL_BLACKOUTS_MAX 4096
#define MODEL_HOTELS_MAX    1000000
#define MODEL_CITIES_MAX    100000

static void model_clear(struct hbk_search_model *m)
{
	for (int i = 0; i < m->nhotels; i++) {
		struct model_hotel *h = &m->hotels[i];
		for (int k = 0; k < h->nrooms; k++) {
			free(h->rooms[k].nights);
			free(h->rooms[k].text);
		}
		for (int k = 0; k < h->nboards; k++)
			free(h->boards[k].text);
		free(h->rooms);
		free(h->boards);
		free(h->blackouts);
	}
	free(m->hotels);
	free(m->cities);
	free(m->city_hotels);
	free(m->city_start);
	memset(m, 0, sizeof(*m));
}

void hbk_search_model_free(struct hbk_search_model *m)
{
	if (!m)
		return;
	model_clear(m);
	free(m);
}

static int hotel_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct model_hotel *)elem)->hotel.id);
}

const struct model_hotel *model_hotel(const struct hbk_search_model *m, const char *id)
{
	return bsearch(id, m->hotels, (size_t)m->nhotels, sizeof(*m->hotels), hotel_cmp);
}

static int city_cmp(const void *key, const void *elem)
{
	return strcmp(key, elem);
}

bool model_city_exists(const struct hbk_search_model *m, const char *city)
{
	return bsearch(city, m->cities, (size_t)m->ncities, sizeof(*m->cities), city_cmp) != NULL;
}

/* The index of a city in m->cities, or -1. */
static int city_index(const struct hbk_search_model *m, const char *city)
{
	const char(*found)[4] =
	    bsearch(city, m->cities, (size_t)m->ncities, sizeof(*m->cities), city_cmp);
	return found ? (int)(found - m->cities) : -1;
}

const int *model_city_hotels(const struct hbk_search_model *m, const char *city, int *count)
{
	int i = city_index(m, city);
	*count = i < 0 ? 0 : m->city_start[i + 1] - m->city_start[i];
	return i < 0 ? NULL : &m->city_hotels[m->city_start[i]];
}

/* Groups the hotels (loaded, by id) by city: a counting sort, which keeps
 * each city's in id order. A hotel of a city the model lacks is in none. */
static void index_cities(struct hbk_search_model *m)
{
	int *city_of = hbk_xmalloc((size_t)(m->nhotels ? m->nhotels : 1) * sizeof(int));
	m->city_start = hbk_xcalloc((size_t)m->ncities + 2, sizeof(int));
	m->city_hotels = hbk_xmalloc((size_t)(m->nhotels ? m->nhotels : 1) * sizeof(int));
	for (int i = 0; i < m->nhotels; i++) {
		city_of[i] = city_index(m, m->hotels[i].hotel.city);
		if (city_of[i] >= 0)
			m->city_start[city_of[i] + 2]++;
	}
	for (int c = 2; c <= m->ncities + 1; c++)
		m->city_start[c] += m->city_start[c - 1];
	/* city_start[c + 1] now counts the hotels of the cities before c:
	 * filling moves it to the end of city c, which is where c + 1 starts. */
	for (int i = 0; i < m->nhotels; i++)
		if (city_of[i] >= 0)
			m->city_hotels[m->city_start[city_of[i] + 1]++] = i;
	free(city_of);
}

bool model_blacked_out(const struct model_hotel *h, hbk_date from, hbk_date to)
{
	for (int i = 0; i < h->nblackouts; i++)
		if (h->blackouts[i] >= from && h->blackouts[i] < to)
			return true;
	return false;
}

static struct model_room *room_find(const struct model_hotel *h, const char *code)
{
	for (int i = 0; i < h->nrooms; i++)
		if (strcmp(h->rooms[i].code, code) == 0)
			return &h->rooms[i];
	return NULL;
}

/* Grows an array of n elements to hold n + 1: it doubles at 8, 16, 32 ... */
static void *grow(void *array, int n, size_t size)
{
	if (n != 0 && (n < 8 || (n & (n - 1)) != 0))
		return array;
	return hbk_xrealloc(array, (size_t)(n ? 2 * n : 8) * size);
}

static hbk_result load_versions(struct hbk_store *store, int64_t *catalog, int64_t *seq,
				struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc =
	    hbk_store_prepare(store,
			      "SELECT (SELECT catalog FROM search_version WHERE id = 1),"
			      " (SELECT COALESCE(MAX(seq), 0) FROM inventory_changes)",
			      &stmt, err);
	if (rc != HBK_OK)
		return rc;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		*catalog = sqlite3_column_int64(stmt, 0);
		*seq = sqlite3_column_int64(stmt, 1);
	} else {
		rc = hbk_store_fail(store, err, "search model");
	}
	hbk_stmt_done(stmt);
	return rc;
}

static hbk_result load_cities(struct hbk_store *store, struct hbk_search_model *m,
			      struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	int step;
	hbk_result rc =
	    hbk_store_prepare(store, "SELECT code FROM cities ORDER BY code", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW && m->ncities < MODEL_CITIES_MAX) {
		m->cities = grow(m->cities, m->ncities, sizeof(*m->cities));
		hbk_copy(m->cities[m->ncities++], sizeof(*m->cities), hbk_column_text(stmt, 0));
	}
	hbk_stmt_done(stmt);
	return step == SQLITE_ROW || step == SQLITE_DONE
		   ? HBK_OK
		   : hbk_store_fail(store, err, "search model");
}

static hbk_result load_hotels(struct hbk_store *store, struct hbk_search_model *m,
			      struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	int step;
	hbk_result rc =
	    hbk_store_prepare(store,
			      "SELECT " HOTEL_COLUMNS ", free_cancel_days,"
			      " sells_refundable, nrf_discount_pct FROM hotels ORDER BY id",
			      &stmt, err);
	if (rc != HBK_OK)
		return rc;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW && m->nhotels < MODEL_HOTELS_MAX) {
		m->hotels = grow(m->hotels, m->nhotels, sizeof(*m->hotels));
		struct model_hotel *h = &m->hotels[m->nhotels++];
		memset(h, 0, sizeof(*h));
		hotel_from_row(stmt, 0, &h->hotel);
		h->free_cancel_days = sqlite3_column_int(stmt, 7);
		h->sells_refundable = sqlite3_column_int(stmt, 8);
		h->nrf_discount_pct = sqlite3_column_int(stmt, 9);
	}
	hbk_stmt_done(stmt);
	return step == SQLITE_ROW || step == SQLITE_DONE
		   ? HBK_OK
		   : hbk_store_fail(store, err, "search model");
}

/*
 * The hotel a row belongs to: rows come ordered by hotel id like the
 * hotels, so the previous answer is tried first.
 */
static struct model_hotel *row_hotel(struct hbk_search_model *m, const char *id,
				     struct model_hotel *last)
{
	if (last && strcmp(last->hotel.id, id) == 0)
		return last;
	return (struct model_hotel *)model_hotel(m, id);
}

/* Adds one row (its first column the hotel id) to the hotel it belongs to. */
typedef void (*hotel_row_fn)(struct model_hotel *h, sqlite3_stmt *stmt);

/* Runs sql, rows ordered by hotel id, and gives each to add with its hotel;
 * rows of a hotel the model does not hold are skipped. */
static hbk_result load_per_hotel(struct hbk_store *store, struct hbk_search_model *m,
				 const char *sql, hotel_row_fn add, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	struct model_hotel *h = NULL;
	int step;
	hbk_result rc = hbk_store_prepare(store, sql, &stmt, err);
	if (rc != HBK_OK)
		return rc;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW)
		if ((h = row_hotel(m, hbk_column_text(stmt, 0), h)))
			add(h, stmt);
	hbk_stmt_done(stmt);
	return step == SQLITE_DONE ? HBK_OK : hbk_store_fail(store, err, "search model");
}

static void add_room(struct model_hotel *h, sqlite3_stmt *stmt)
{
	if (h->nrooms >= MODEL_ROOMS_MAX)
		return;
	h->rooms = grow(h->rooms, h->nrooms, sizeof(*h->rooms));
	struct model_room *r = &h->rooms[h->nrooms++];
	memset(r, 0, sizeof(*r));
	hbk_copy(r->code, sizeof(r->code), hbk_column_text(stmt, 1));
	hbk_copy(r->name, sizeof(r->name), hbk_column_text(stmt, 2));
	r->capacity = sqlite3_column_int(stmt, 3);
	r->max_children = sqlite3_column_int(stmt, 4);
	r->text = offer_room_text(&h->hotel, r->code, r->name);
}

static void add_board(struct model_hotel *h, sqlite3_stmt *stmt)
{
	if (h->nboards >= MODEL_BOARDS_MAX)
		return;
	h->boards = grow(h->boards, h->nboards, sizeof(*h->boards));
	struct model_board *b = &h->boards[h->nboards++];
	hbk_copy(b->code, sizeof(b->code), hbk_column_text(stmt, 1));
	hbk_copy(b->name, sizeof(b->name), hbk_column_text(stmt, 2));
	b->supplement_minor = sqlite3_column_int64(stmt, 3);
	b->text = offer_board_text(b->code, b->name);
}

static void add_blackout(struct model_hotel *h, sqlite3_stmt *stmt)
{
	if (h->nblackouts >= MODEL_BLACKOUTS_MAX)
		return;
	h->blackouts = grow(h->blackouts, h->nblackouts, sizeof(*h->blackouts));
	h->blackouts[h->nblackouts++] = sqlite3_column_int(stmt, 1);
}

/* Puts one inventory row in its room's nights, growing them to reach it. */
static void night_put(struct model_room *r, hbk_date night, int allotment, int64_t price_minor)
{
	if (r->nnights == 0)
		r->first = night;
	if (night < r->first) {
		int shift = r->first - night;
		r->nnights_cap = r->nnights + shift;
		r->nights = hbk_xrealloc(r->nights, (size_t)r->nnights_cap * sizeof(*r->nights));
		memmove(r->nights + shift, r->nights, (size_t)r->nnights * sizeof(*r->nights));
		memset(r->nights, 0, (size_t)shift * sizeof(*r->nights));
		r->nnights += shift;
		r->first = night;
	}
	int i = night - r->first;
	if (i >= r->nnights_cap) {
		int cap = r->nnights_cap ? r->nnights_cap : 64;
		while (cap <= i)
			cap *= 2;
		r->nights = hbk_xrealloc(r->nights, (size_t)cap * sizeof(*r->nights));
		r->nnights_cap = cap;
	}
	if (i >= r->nnights) {
		memset(r->nights + r->nnights, 0,
		       (size_t)(i + 1 - r->nnights) * sizeof(*r->nights));
		r->nnights = i + 1;
	}
	r->nights[i].allotment = allotment;
	r->nights[i].price_minor = price_minor;
}

static void add_night(struct model_hotel *h, sqlite3_stmt *stmt)
{
	/* A row no room type sells: search never shows it. */
	struct model_room *r = room_find(h, hbk_column_text(stmt, 1));
	if (r)
		night_put(r, sqlite3_column_int(stmt, 2), sqlite3_column_int(stmt, 3),
			  sqlite3_column_int64(stmt, 4));
}

static hbk_result model_build(struct hbk_store *store, struct hbk_search_model *m,
			      struct hbk_error *err)
{
	model_clear(m);
	hbk_result rc = load_versions(store, &m->catalog_version, &m->change_seq, err);
	if (rc == HBK_OK)
		rc = load_cities(store, m, err);
	if (rc == HBK_OK)
		rc = load_hotels(store, m, err);
	if (rc == HBK_OK)
		index_cities(m);
	if (rc == HBK_OK)
		rc = load_per_hotel(store, m,
				    "SELECT hotel_id, code, name, capacity, max_children"
				    " FROM room_types ORDER BY hotel_id, code",
				    add_room, err);
	if (rc == HBK_OK)
		rc = load_per_hotel(store, m,
				    "SELECT hotel_id, code, name, supplement_minor FROM boards"
				    " ORDER BY hotel_id, supplement_minor, code",
				    add_board, err);
	if (rc == HBK_OK)
		rc = load_per_hotel(
		    store, m, "SELECT hotel_id, night FROM blackouts ORDER BY hotel_id, night",
		    add_blackout, err);
	/* Primary key order: each room's nights arrive ascending, so its
	 * array grows at the end only. */
	if (rc == HBK_OK)
		rc = load_per_hotel(store, m,
				    "SELECT hotel_id, room_type, night, allotment, price_minor"
				    " FROM inventory ORDER BY hotel_id, room_type, night",
				    add_night, err);
	if (rc != HBK_OK) {
		model_clear(m);
		return rc;
	}
	m->built = true;
	return HBK_OK;
}

/*
 * Applies the change rows after the model's sequence. *rebuild is set
 * when they cannot be applied: a gap (pruned rows) or a row the model
 * does not hold (which a catalog change would have announced).
 */
static hbk_result apply_changes(struct hbk_store *store, struct hbk_search_model *m, bool *rebuild,
				struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	int step;
	hbk_result rc = hbk_store_prepare(
	    store,
	    "SELECT seq, hotel_id, room_type, night, allotment, price_minor FROM inventory_changes"
	    " WHERE seq > ?1 ORDER BY seq",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int64(stmt, 1, m->change_seq);
	*rebuild = false;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(stmt, 0);
		const struct model_hotel *h = model_hotel(m, hbk_column_text(stmt, 1));
		struct model_room *r = h ? room_find(h, hbk_column_text(stmt, 2)) : NULL;
		int i = r ? sqlite3_column_int(stmt, 3) - r->first : -1;
		if (seq != m->change_seq + 1 || !r || i < 0 || i >= r->nnights ||
		    r->nights[i].price_minor == 0) {
			*rebuild = true;
			break;
		}
		r->nights[i].allotment = sqlite3_column_int(stmt, 4);
		r->nights[i].price_minor = sqlite3_column_int64(stmt, 5);
		m->change_seq = seq;
	}
	hbk_stmt_done(stmt);
	if (!*rebuild && step != SQLITE_DONE)
		return hbk_store_fail(store, err, "search model");
	return HBK_OK;
}

/*
 * The data version of the store's own connection in the read transaction
 * the caller holds: it moves with every commit to the file, this
 * connection's or any other's. False when it cannot tell: on the shared
 * writer's connection (another counter), or before the transaction's
 * first read, when the version is still the previous transaction's.
 */
static bool store_data_version(struct hbk_store *store, unsigned *version)
{
	return store->db == store->own_db &&
	       sqlite3_txn_state(store->db, "main") != SQLITE_TXN_NONE &&
	       sqlite3_file_control(store->db, "main", SQLITE_FCNTL_DATA_VERSION, version) ==
		   SQLITE_OK;
}

const struct hbk_search_model *model_sync(struct hbk_store *store, struct hbk_error *err)
{
	HBK_ASSERT(store->tx_depth > 0);
	if (!store->search_model)
		store->search_model = hbk_xcalloc(1, sizeof(*store->search_model));
	struct hbk_search_model *m = store->search_model;
	int64_t catalog, seq;
	bool rebuild = !m->built;
	hbk_result rc = HBK_OK;
	unsigned version;

	if (!rebuild && m->data_version_known && store_data_version(store, &version) &&
	    version == m->data_version)
		return m;
	m->data_version_known = false;
	if (!rebuild) {
		rc = load_versions(store, &catalog, &seq, err);
		rebuild = rc == HBK_OK && catalog != m->catalog_version;
		if (rc == HBK_OK && !rebuild && seq != m->change_seq)
			rc = apply_changes(store, m, &rebuild, err);
	}
	if (rc == HBK_OK && rebuild)
		rc = model_build(store, m, err);
	if (rc != HBK_OK)
		return NULL;
	/* The statements above opened the read, so the version is this
	 * snapshot's. */
	m->data_version_known = store_data_version(store, &m->data_version);
	return m;
}

hbk_result model_catalog_changed(struct hbk_store *store, struct hbk_error *err)
{
	HBK_ASSERT(store->tx_depth > 0);
	return hbk_store_exec(store, "UPDATE search_version SET catalog = catalog + 1 WHERE id = 1",
			      err);
}

hbk_result hbk_inventory_prune_changes(struct hbk_store *store, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	HBK_ASSERT(store->tx_depth > 0);
	/* The newest row stays too, so a reader can tell it saw everything before it. */
	hbk_result rc =
	    hbk_store_prepare(store,
			      "DELETE FROM inventory_changes"
			      " WHERE seq <= (SELECT MAX(seq) FROM inventory_changes) - ?1",
			      &stmt, err);
	if (rc != HBK_OK)
		return rc;
	sqlite3_bind_int(stmt, 1, HBK_INVENTORY_CHANGES_KEPT);
	int step = sqlite3_step(stmt);
	hbk_stmt_done(stmt);
	return step == SQLITE_DONE ? HBK_OK : hbk_store_fail(store, err, "prune changes");
}
