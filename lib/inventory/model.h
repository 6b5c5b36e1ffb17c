/*
 * model.h - the search read model a long-running process keeps in memory
 * (internal to lib/inventory; see model.c for how it stays current).
 */
#ifndef HBK_INVENTORY_MODEL_H
#define HBK_INVENTORY_MODEL_H

#include "hbk/inventory.h"

/* One night of a room type; price_minor 0 means no row: not sold. */
struct model_night {
	int32_t allotment;
	int64_t price_minor;
};

struct model_room {
	char code[HBK_ROOM_CODE_MAX];
	char name[64];
	char *text; /* offer_room_text() of the hotel and this room, owned */
	int capacity, max_children;
	hbk_date first; /* nights[i] is night first + i */
	int nnights, nnights_cap;
	struct model_night *nights;
};

struct model_board {
	char code[HBK_BOARD_MAX];
	char name[32];
	int64_t supplement_minor;
	char *text; /* offer_board_text() of this board, owned */
};

struct model_hotel {
	struct hbk_hotel hotel;
	int free_cancel_days, sells_refundable, nrf_discount_pct;
	struct model_room *rooms; /* by code */
	int nrooms;
	struct model_board *boards; /* by supplement, then code */
	int nboards;
	hbk_date *blackouts; /* ascending */
	int nblackouts;
};

struct hbk_search_model {
	bool built;
	int64_t catalog_version; /* search_version.catalog it was built from */
	int64_t change_seq;	 /* last inventory_changes row applied */
	/* SQLite's data version of the connection when the model was last
	 * brought up to date (model.c, store_data_version), when known. */
	bool data_version_known;
	unsigned data_version;
	struct model_hotel *hotels; /* by id */
	int nhotels;
	char (*cities)[4]; /* by code */
	int ncities;
	/* The hotels of each city: city i's are the indexes in hotels of
	 * city_hotels[city_start[i]] up to city_hotels[city_start[i + 1]],
	 * by id. */
	int *city_hotels;
	int *city_start;
};

/*
 * Brings store->search_model up to date with the store's current read
 * transaction (which the caller holds), building it on first use.
 * Returns it (owned by the store) or NULL with err set.
 */
const struct hbk_search_model *model_sync(struct hbk_store *store, struct hbk_error *err);

/*
 * Tells every model to build again: for code that adds or removes
 * inventory rows (no trigger does). In the caller's write transaction.
 */
hbk_result model_catalog_changed(struct hbk_store *store, struct hbk_error *err);

/*
 * What every offer of a room type, and of a board, writes of them: the
 * answer's JSON from ,"hotel":{...} to "room_name", and "board" and
 * "board_name" (search.c). Written once per room type and board, when
 * the model is built, not once per offer. Return new strings.
 */
char *offer_room_text(const struct hbk_hotel *hotel, const char *room_type, const char *room_name);
char *offer_board_text(const char *code, const char *name);

const struct model_hotel *model_hotel(const struct hbk_search_model *m, const char *id);
bool model_city_exists(const struct hbk_search_model *m, const char *city);
/* The hotels of a city, by id: *count indexes into m->hotels (none for
 * a city the model does not hold). */
const int *model_city_hotels(const struct hbk_search_model *m, const char *city, int *count);
/* True when the hotel is closed on any night of [from, to). */
bool model_blacked_out(const struct model_hotel *h, hbk_date from, hbk_date to);

#endif
