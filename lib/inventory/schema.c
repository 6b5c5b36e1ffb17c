/*
 * schema.c - the tables of the inventory context.
 *
 * Nights are stored as integer days since 1970-01-01 (hbk_date), so a stay
 * is the half-open range [checkin, checkout). The inventory table is the
 * availability read model: allotment is rooms left to sell on that night
 * and can never go negative (CHECK), so no code path can overbook; held is
 * how many of the rooms sold on it our own bookings hold, which is what an
 * inventory event from another store needs to set allotment without
 * forgetting them (events.c).
 */
#include "hbk/inventory.h"

static const char inventory_schema[] =
    "CREATE TABLE IF NOT EXISTS cities ("
    " code TEXT PRIMARY KEY," /* IATA city code */
    " name TEXT NOT NULL,"
    " country TEXT NOT NULL," /* ISO 3166 alpha-2 */
    " currency TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS hotels ("
    " id TEXT PRIMARY KEY,"	     /* H-LIS-0001 */
    " code INTEGER NOT NULL UNIQUE," /* the partner's hotel code */
    " name TEXT NOT NULL,"
    " city TEXT NOT NULL REFERENCES cities(code),"
    " stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),"
    " currency TEXT NOT NULL,"
    " address TEXT NOT NULL DEFAULT '',"
    /* refundable rates cancel free until this many days before check-in */
    " free_cancel_days INTEGER NOT NULL DEFAULT 3 CHECK (free_cancel_days >= 0),"
    /* 1 when the hotel sells refundable (NOR) rates */
    " sells_refundable INTEGER NOT NULL DEFAULT 1,"
    /* discount of the non-refundable (NRF) rate; 0 = no NRF rate */
    " nrf_discount_pct INTEGER NOT NULL DEFAULT 10 CHECK (nrf_discount_pct BETWEEN 0 AND 90)"
    ");"
    "CREATE INDEX IF NOT EXISTS hotels_city ON hotels(city);"
    "CREATE TABLE IF NOT EXISTS room_types ("
    " hotel_id TEXT NOT NULL REFERENCES hotels(id),"
    " code TEXT NOT NULL," /* SGL DBL TWN TRP FAM STE ... */
    " name TEXT NOT NULL,"
    " capacity INTEGER NOT NULL CHECK (capacity > 0)," /* guests per room */
    " max_children INTEGER NOT NULL DEFAULT 0 CHECK (max_children >= 0),"
    " total_rooms INTEGER NOT NULL CHECK (total_rooms >= 0),"
    " PRIMARY KEY (hotel_id, code)"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS boards ("
    " hotel_id TEXT NOT NULL REFERENCES hotels(id),"
    " code TEXT NOT NULL," /* RO BB HB FB AI */
    " name TEXT NOT NULL,"
    /* per adult per night, minor units; a child pays half */
    " supplement_minor INTEGER NOT NULL CHECK (supplement_minor >= 0),"
    " PRIMARY KEY (hotel_id, code)"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS inventory ("
    " hotel_id TEXT NOT NULL,"
    " room_type TEXT NOT NULL,"
    " night INTEGER NOT NULL," /* days since 1970-01-01 */
    " allotment INTEGER NOT NULL CHECK (allotment >= 0),"
    " price_minor INTEGER NOT NULL CHECK (price_minor > 0)," /* one room, one night, RO */
    " held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),"    /* rooms our bookings hold */
    " PRIMARY KEY (hotel_id, room_type, night)"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS blackouts ("
    " hotel_id TEXT NOT NULL,"
    " night INTEGER NOT NULL,"
    " reason TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY (hotel_id, night)"
    ") WITHOUT ROWID;"
    /*
     * What keeps in-memory search models current (model.c): a catalog
     * version any change of the catalog bumps, and the allotment and price
     * changes in commit order, with their new values.
     */
    "CREATE TABLE IF NOT EXISTS search_version ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " catalog INTEGER NOT NULL"
    ");"
    "INSERT OR IGNORE INTO search_version (id, catalog) VALUES (1, 0);"
    "CREATE TABLE IF NOT EXISTS inventory_changes ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT," /* never reused, even when emptied */
    " hotel_id TEXT NOT NULL,"
    " room_type TEXT NOT NULL,"
    " night INTEGER NOT NULL,"
    " allotment INTEGER NOT NULL,"
    " price_minor INTEGER NOT NULL"
    ");"
    "CREATE TRIGGER IF NOT EXISTS inventory_changed AFTER UPDATE OF allotment, price_minor"
    " ON inventory BEGIN"
    " INSERT INTO inventory_changes (hotel_id, room_type, night, allotment, price_minor)"
    " VALUES (NEW.hotel_id, NEW.room_type, NEW.night, NEW.allotment, NEW.price_minor);"
    " END;";

/*
 * Any change to the catalog. Rows added to or removed from inventory
 * bump it from code instead (model_catalog_changed): a trigger there would
 * cost a write per night of a bulk load, doubling what seeding takes.
 */
#define CATALOG_TRIGGER(name, event, table)                                                        \
	"CREATE TRIGGER IF NOT EXISTS " name " AFTER " event " ON " table                          \
	" BEGIN UPDATE search_version SET catalog = catalog + 1 WHERE id = 1; END;"
#define CATALOG_TRIGGERS(table)                                                                    \
	CATALOG_TRIGGER(table "_catalog_insert", "INSERT", table)                                  \
	CATALOG_TRIGGER(table "_catalog_update", "UPDATE", table)                                  \
	CATALOG_TRIGGER(table "_catalog_delete", "DELETE", table)
static const char catalog_triggers[] = CATALOG_TRIGGERS("cities") CATALOG_TRIGGERS("hotels")
    CATALOG_TRIGGERS("room_types") CATALOG_TRIGGERS("boards") CATALOG_TRIGGERS("blackouts");
#undef CATALOG_TRIGGERS
#undef CATALOG_TRIGGER

/*
 * Stores made before inventory.held: the column, at 0. Rooms their
 * bookings held before are not counted (release never takes held below 0).
 */
static hbk_result add_held(struct hbk_store *store, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT COUNT(*) FROM pragma_table_info('inventory') WHERE name = 'held'", &stmt,
	    err);
	if (rc != HBK_OK)
		return rc;
	int step = sqlite3_step(stmt);
	bool present = step == SQLITE_ROW && sqlite3_column_int(stmt, 0) == 1;
	hbk_stmt_done(stmt);
	if (step != SQLITE_ROW)
		return hbk_store_fail(store, err, "inventory schema");
	if (present)
		return HBK_OK;
	return hbk_store_exec(store,
			      "ALTER TABLE inventory ADD COLUMN held INTEGER NOT NULL DEFAULT 0"
			      " CHECK (held >= 0)",
			      err);
}

hbk_result hbk_inventory_migrate(struct hbk_store *store, struct hbk_error *err)
{
	hbk_result rc = hbk_store_exec(store, inventory_schema, err);
	if (rc == HBK_OK)
		rc = add_held(store, err);
	return rc == HBK_OK ? hbk_store_exec(store, catalog_triggers, err) : rc;
}
