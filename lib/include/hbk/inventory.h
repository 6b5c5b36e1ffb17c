/*
 * inventory.h - hotels, room types, nightly allotments and rates, boards,
 * cancellation policies, blackout dates; search producing offers; holds.
 *
 * Tables (owned by lib/inventory): cities, hotels, room_types, boards,
 * inventory (one row per hotel, room type and night: rooms left and the
 * room's price for that night), blackouts.
 */
#ifndef HBK_INVENTORY_H
#define HBK_INVENTORY_H

#include <jansson.h>

#include "hbk/core.h"
#include "hbk/store.h"

#define HBK_HOTEL_ID_MAX  16 /* "H-LIS-0001" */
#define HBK_ROOM_CODE_MAX 8  /* "DBL" */
#define HBK_BOARD_MAX	  4  /* "RO" "BB" "HB" "FB" "AI" */
#define HBK_MAX_NIGHTS	  30 /* longest stay sold */
#define HBK_MAX_ROOMS	  9  /* rooms in one booking */
#define HBK_MAX_GUESTS	  36

struct hbk_hotel {
	char id[HBK_HOTEL_ID_MAX];
	int code; /* the partner's integer hotel code */
	char name[96];
	char city[4];
	int stars;
	char currency[4];
	char address[128];
};

/* One priced stay: what an offer is and what a booking books. */
struct hbk_stay {
	char hotel_id[HBK_HOTEL_ID_MAX];
	char room_type[HBK_ROOM_CODE_MAX];
	char board[HBK_BOARD_MAX];
	bool refundable;
	hbk_date checkin, checkout;
	int adults, children, rooms;
};

/* A cancellation policy: from each instant on, cancelling costs penalty. */
#define HBK_POLICY_MAX 4
struct hbk_policy_entry {
	int64_t from_ms;
	struct hbk_money penalty;
};
struct hbk_policy {
	int count;
	struct hbk_policy_entry entries[HBK_POLICY_MAX];
};

/* The priced result of a stay. */
struct hbk_quote {
	struct hbk_hotel hotel;
	char room_name[64];
	char board_name[32];
	int available; /* rooms left on the scarcest night */
	struct hbk_money total;
	struct hbk_money first_night;
	struct hbk_policy policy;
};

enum hbk_sort { HBK_SORT_PRICE, HBK_SORT_STARS, HBK_SORT_NAME };

struct hbk_search_query {
	char city[4];			 /* or "" */
	char hotel_id[HBK_HOTEL_ID_MAX]; /* or "" */
	hbk_date checkin, checkout;
	int adults, children, rooms;
	char max_price[32]; /* decimal in the hotel's currency, "" = none */
	bool refundable_only;
	enum hbk_sort sort;
	int limit; /* 1..500 */
};

/* Registers the inventory schema (called by hbk_store_open). */
hbk_result hbk_inventory_migrate(struct hbk_store *store, struct hbk_error *err);

/* Checks a stay's dates, nights and counts (today passed for tests). */
hbk_result hbk_stay_check(const struct hbk_stay *stay, hbk_date today, struct hbk_error *err);

/* Checks a query: dates, nights, counts; today is passed for testability. */
hbk_result hbk_search_query_check(const struct hbk_search_query *query, hbk_date today,
				  struct hbk_error *err);

/*
 * Searches the catalog. Returns a new JSON object {"offers":[...]} in the
 * shape of DESIGN.md section 5 (n numbered from 1). Unknown city or hotel:
 * HBK_EINVAL naming it.
 */
hbk_result hbk_search(struct hbk_store *store, const struct hbk_search_query *query, int64_t now_ms,
		      json_t **out, struct hbk_error *err);
/* The same document as compact JSON text, appended to out (what hbkd sends). */
hbk_result hbk_search_text(struct hbk_store *store, const struct hbk_search_query *query,
			   int64_t now_ms, struct hbk_buf *out, struct hbk_error *err);

/*
 * Prices a stay on the current catalog: checks the room type holds the
 * guests, no night is blacked out and the rate exists for every night.
 * Does not check or take allotment; quote->available tells.
 */
hbk_result hbk_quote_stay(struct hbk_store *store, const struct hbk_stay *stay, int64_t now_ms,
			  struct hbk_quote *quote, struct hbk_error *err);

/* Offer ids: opaque, self-contained, "OF1." + base64url of the stay. */
#define HBK_OFFER_ID_MAX 160
void hbk_offer_id_encode(const struct hbk_stay *stay, const struct hbk_money *total,
			 char out[HBK_OFFER_ID_MAX]);
hbk_result hbk_offer_id_decode(const char *offer_id, struct hbk_stay *stay, struct hbk_money *total,
			       struct hbk_error *err);

/*
 * Takes stay->rooms rooms on every night of the stay, or none: fails with
 * HBK_ECONFLICT "no_availability". Must run inside a write transaction.
 */
hbk_result hbk_inventory_hold(struct hbk_store *store, const char *hotel_id, const char *room_type,
			      hbk_date checkin, hbk_date checkout, int rooms,
			      struct hbk_error *err);
/* Gives the rooms back. Inside a write transaction. */
hbk_result hbk_inventory_release(struct hbk_store *store, const char *hotel_id,
				 const char *room_type, hbk_date checkin, hbk_date checkout,
				 int rooms, struct hbk_error *err);

/*
 * The search read model: a store with keep_search_model set answers
 * searches from memory (lib/inventory/model.c). Frees one (NULL is fine).
 */
void hbk_search_model_free(struct hbk_search_model *model);
/* Allotment and price changes kept for the models of other connections. */
#define HBK_INVENTORY_CHANGES_KEPT 100000
/* Drops all but the newest HBK_INVENTORY_CHANGES_KEPT. In a write transaction. */
hbk_result hbk_inventory_prune_changes(struct hbk_store *store, struct hbk_error *err);

hbk_result hbk_hotel_get(struct hbk_store *store, const char *hotel_id, struct hbk_hotel *out,
			 struct hbk_error *err);
bool hbk_city_exists(struct hbk_store *store, const char *city);
/* The hotel with the partner's code: HBK_ENOTFOUND "unknown_hotel" when none. */
hbk_result hbk_hotel_get_by_code(struct hbk_store *store, int code, struct hbk_hotel *out,
				 struct hbk_error *err);
/* The codes of a hotel's room types in code order: the first max into codes,
 * how many there are into *count (more than max: the rest were left out). */
hbk_result hbk_hotel_room_types(struct hbk_store *store, const char *hotel_id,
				char (*codes)[HBK_ROOM_CODE_MAX], int max, int *count,
				struct hbk_error *err);

/* JSON for admin listings (new references). */
hbk_result hbk_hotels_json(struct hbk_store *store, const char *city, json_t **out,
			   struct hbk_error *err);
hbk_result hbk_hotel_json(struct hbk_store *store, const char *hotel_id, json_t **out,
			  struct hbk_error *err);
hbk_result hbk_inventory_json(struct hbk_store *store, const char *hotel_id, hbk_date from,
			      hbk_date to, json_t **out, struct hbk_error *err);
/* City codes, for completion: a JSON array of strings. */
hbk_result hbk_cities_json(struct hbk_store *store, json_t **out, struct hbk_error *err);

/*
 * Seeds the deterministic demo catalog: 14 cities, about 210 hotels, 3 to 6
 * room types each, `days` days of allotments and rates from `from`.
 * Replaces any catalog already there, and appends each hotel's catalog and
 * nights as events (hbk_inventory_hotel_event, hbk_inventory_nights_event)
 * in the same transaction. progress (may be NULL) is called with
 * done/total hotels.
 */
hbk_result hbk_inventory_seed_demo(struct hbk_store *store, hbk_date from, int days,
				   void (*progress)(int done, int total, void *ctx), void *ctx,
				   struct hbk_error *err);

/*
 * The inventory sync (hbk-admin inventory sync): upserts of what the
 * partner sells. Each changes a row only when a value differs and adds the
 * rows it changed to *changes (may be NULL). Run inside a write
 * transaction.
 */
struct hbk_sync_hotel {
	struct hbk_hotel hotel; /* code, name, city (destination), stars, currency */
	int free_cancel_days;
	bool sells_refundable;
	int nrf_discount_pct; /* 0: no non-refundable rate */
};
/* Creates or updates the hotel with the partner's code (and its city);
 * id receives our hotel id for it. */
hbk_result hbk_inventory_sync_hotel(struct hbk_store *store, const struct hbk_sync_hotel *hotel,
				    char id[HBK_HOTEL_ID_MAX], int *changes, struct hbk_error *err);
/* total_rooms only ever grows (the partner shows rooms left, not rooms). */
hbk_result hbk_inventory_sync_room(struct hbk_store *store, const char *hotel_id, const char *code,
				   const char *name, int capacity, int max_children,
				   int total_rooms, int *changes, struct hbk_error *err);
hbk_result hbk_inventory_sync_board(struct hbk_store *store, const char *hotel_id, const char *code,
				    const char *name, int64_t supplement_minor, int *changes,
				    struct hbk_error *err);
hbk_result hbk_inventory_sync_night(struct hbk_store *store, const char *hotel_id,
				    const char *room_type, hbk_date night, int allotment,
				    int64_t price_minor, int *changes, struct hbk_error *err);
/* A night the partner no longer sells: allotment 0 when the row exists. */
hbk_result hbk_inventory_sync_sold_out(struct hbk_store *store, const char *hotel_id,
				       const char *room_type, hbk_date night, int *changes,
				       struct hbk_error *err);

/*
 * Catalog and inventory changes as events (lib/inventory/events.c), in the
 * caller's write transaction, on the hotel's stream "hotel:<id>" keyed by
 * the hotel id. hbk_inventory_hotel_event appends
 * hbk.catalog.hotel_synced.v1, the hotel, its city, room types, boards and
 * blackouts as they now are; hbk_inventory_nights_event appends
 * hbk.inventory.nights_set.v1, the hotel's nights [from, to) as they now
 * are (at most HBK_INVENTORY_EVENT_NIGHTS_MAX).
 */
#define HBK_INVENTORY_EVENT_NIGHTS_MAX 1100
struct hbk_event;
hbk_result hbk_inventory_hotel_event(struct hbk_store *store, const char *hotel_id,
				     struct hbk_error *err);
hbk_result hbk_inventory_nights_event(struct hbk_store *store, const char *hotel_id, hbk_date from,
				      hbk_date to, struct hbk_error *err);
/*
 * Applies one of those events decided on another store (from the bus):
 * stores it (*applied false and nothing else when it is there already)
 * and upserts the state it carries; a night's allotment keeps the rooms
 * this store's bookings hold (events.c says how). In the caller's write
 * transaction; ev is borrowed.
 */
hbk_result hbk_inventory_replicate(struct hbk_store *store, const struct hbk_event *ev,
				   bool *applied, struct hbk_error *err);

/* The penalty of a policy at an instant (zero money when none applies). */
struct hbk_money hbk_policy_penalty_at(const struct hbk_policy *policy, const char *currency,
				       int64_t at_ms);
json_t *hbk_policy_json(const struct hbk_policy *policy);
/* The same as compact JSON text, appended to out. */
void hbk_policy_text(const struct hbk_policy *policy, struct hbk_buf *out);
hbk_result hbk_policy_from_json(const json_t *array, const char *currency, struct hbk_policy *out,
				struct hbk_error *err);

#endif
