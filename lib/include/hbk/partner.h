/*
 * partner.h - the port to the external hotel partner (DESIGN.md section 6)
 * and its adapters. The sandbox adapter simulates the partner on tables of
 * the store (partner_sim_*); hbk-sandbox serves the same simulator over the
 * partner's HTTP protocol.
 *
 * Every call may fail with HBK_EUNAVAILABLE (transient: timeout, 5xx; safe
 * to retry) or HBK_EDECLINED (the partner refused; code "partner_rejected").
 */
#ifndef HBK_PARTNER_H
#define HBK_PARTNER_H

#include <jansson.h>

#include "hbk/core.h"
#include "hbk/inventory.h"

struct event_base;
struct hbk_config;
struct hbk_store;

#define HBK_PARTNER_REF_MAX 64

struct hbk_partner_request {
	char client_reference[HBK_ID_MAX]; /* our booking id */
	struct hbk_stay stay;
	char holder_name[128];
	struct hbk_money total;
	struct hbk_policy policy;
};

struct hbk_partner_booking {
	char reference[HBK_PARTNER_REF_MAX];
	char client_reference[HBK_ID_MAX];
	char status[16]; /* "CONFIRMED" | "CANCELLED" */
	struct hbk_stay stay;
	struct hbk_money total;
};

struct hbk_partner_ops {
	const char *name;
	/* Books. A second booking with the same client_reference fails with
	 * HBK_ECONFLICT "duplicate_client_reference": the caller then uses find. */
	hbk_result (*book)(void *self, const struct hbk_partner_request *req,
			   struct hbk_partner_booking *out, struct hbk_error *err);
	/* Looks a booking up by our reference: HBK_ENOTFOUND when none. */
	hbk_result (*find)(void *self, const char *client_reference,
			   struct hbk_partner_booking *out, struct hbk_error *err);
	/* Changes stay and total; simulate only prices the change. */
	hbk_result (*modify)(void *self, const char *reference,
			     const struct hbk_partner_request *req, bool simulate,
			     struct hbk_partner_booking *out, struct hbk_error *err);
	/* Cancels (idempotent: cancelling a cancelled booking succeeds);
	 * simulate only reports the penalty. */
	hbk_result (*cancel)(void *self, const char *reference, bool simulate, int64_t now_ms,
			     struct hbk_money *penalty, struct hbk_error *err);
	/* Lists bookings as a JSON array (new reference). */
	hbk_result (*list)(void *self, json_t **out, struct hbk_error *err);
	void (*destroy)(void *self);

	/*
	 * Adapters that call out of the process (remote is true) also offer the
	 * saga's calls asynchronously: each completes through call->done, on
	 * the event loop given to attach() (hbkd), or before returning when
	 * none was given. The synchronous ops above then run the same request
	 * and wait for it. In-process adapters leave these NULL: the port
	 * functions below call the synchronous ops instead.
	 */
	bool remote;
	void (*attach)(void *self, struct event_base *base);
	void (*book_async)(void *self, const struct hbk_partner_request *req,
			   struct hbk_partner_booking *out, struct hbk_call *call);
	void (*modify_async)(void *self, const char *reference,
			     const struct hbk_partner_request *req, bool simulate,
			     struct hbk_partner_booking *out, struct hbk_call *call);
	void (*cancel_async)(void *self, const char *reference, bool simulate, int64_t now_ms,
			     struct hbk_money *penalty, struct hbk_call *call);
	void (*find_async)(void *self, const char *client_reference,
			   struct hbk_partner_booking *out, struct hbk_call *call);
};

struct hbk_partner {
	const struct hbk_partner_ops *ops;
	void *self;
	/* Which partner: kind and URL (hbk_config_provider), set by
	 * hbk_partner_open; a saga is resumed only against the one it began with. */
	char identity[HBK_PROVIDER_IDENTITY_MAX];
};

/* Builds the adapter named by partner.kind (default "sandbox"). The store
 * is borrowed and must outlive the partner. */
hbk_result hbk_partner_open(const struct hbk_config *cfg, struct hbk_store *store,
			    struct hbk_partner *out, struct hbk_error *err);
void hbk_partner_close(struct hbk_partner *partner);

/* The saga's calls: asynchronous when the adapter is, else synchronous
 * with call->done called before returning. */
void hbk_partner_book(struct hbk_partner *partner, const struct hbk_partner_request *req,
		      struct hbk_partner_booking *out, struct hbk_call *call);
void hbk_partner_modify(struct hbk_partner *partner, const char *reference,
			const struct hbk_partner_request *req, bool simulate,
			struct hbk_partner_booking *out, struct hbk_call *call);
void hbk_partner_cancel(struct hbk_partner *partner, const char *reference, bool simulate,
			int64_t now_ms, struct hbk_money *penalty, struct hbk_call *call);
void hbk_partner_find(struct hbk_partner *partner, const char *client_reference,
		      struct hbk_partner_booking *out, struct hbk_call *call);
/* Lets a remote adapter run its calls on base (NULL: synchronous again). */
void hbk_partner_attach(struct hbk_partner *partner, struct event_base *base);

/* The hotelbeds adapter (partner.kind hotelbeds): APItude over libcurl.
 * The store is borrowed: it maps our hotel ids to the partner's codes. */
hbk_result hbk_partner_hotelbeds_open(const struct hbk_config *cfg, struct hbk_store *store,
				      struct hbk_partner *out, struct hbk_error *err);

/* ------------------------------------------------------------------------
 * Hotelbeds APItude helpers (PROTOCOLS.md), shared by the adapter, the
 * sandbox server that speaks the protocol and the inventory sync.
 */
#define HBK_PARTNER_SIGNATURE_SKEW_S 300 /* X-Signature timestamps accepted either side */
#define HBK_PARTNER_RATE_KEY_MAX     256
#define HBK_PARTNER_HOTELS_MAX	     64 /* hotel codes in one availability query */

/* X-Signature: lowercase hex SHA-256 of key + secret + unix seconds. */
void hbk_partner_signature(const char *key, const char *secret, long long unix_s, char hex[65]);
/* True when signature is key + secret at some second within the skew of
 * now_s (compared in constant time). */
bool hbk_partner_signature_ok(const char *key, const char *secret, const char *signature,
			      long long now_s);

/* An integer member written as a number or a decimal string, within
 * +-10^9 (so it fits an int); def else. */
long long hbk_partner_json_int(const json_t *obj, const char *key, long long def);
/* A money amount written as a decimal string or a number. */
hbk_result hbk_partner_json_money(const json_t *obj, const char *key, const char *currency,
				  struct hbk_money *out, struct hbk_error *err);

/* The rate of an availability answer ({"hotels":{"hotels":[...]}} or its
 * inner object) that sells stay at hotel code: room code, board, rateClass
 * (NOR refundable, NRF not) and occupancy. HBK_ECONFLICT "no_availability"
 * when none does. */
struct hbk_partner_rate {
	char rate_key[HBK_PARTNER_RATE_KEY_MAX];
	bool recheck; /* rateType RECHECK: POST /checkrates before booking */
	int allotment;
	struct hbk_money net;
};
hbk_result hbk_partner_pick_rate(const json_t *availability, int hotel_code,
				 const struct hbk_stay *stay, struct hbk_partner_rate *out,
				 struct hbk_error *err);

/* One availability query (POST /hotels) through a hotelbeds adapter. */
struct hbk_partner_availability {
	hbk_date checkin, checkout;
	int rooms, adults, children;
	int nhotels;
	int hotels[HBK_PARTNER_HOTELS_MAX]; /* partner codes, or ... */
	char destination[8];		    /* ... a destination code */
	/* Only this board's rates ("boards" filter of the request); "": all. */
	char board[HBK_BOARD_MAX];
};
/* *out is the answer's "hotels" object (new reference). Fails with
 * HBK_EINVAL "partner_not_hotelbeds" on any other adapter. */
hbk_result hbk_partner_availability(struct hbk_partner *partner,
				    const struct hbk_partner_availability *query, json_t **out,
				    struct hbk_error *err);

/* The sandbox adapter itself (what kind "sandbox" opens): the simulator on
 * tables of the store, with fault settings from the config. */
hbk_result hbk_partner_sandbox_open(const struct hbk_config *cfg, struct hbk_store *store,
				    struct hbk_partner *out, struct hbk_error *err);

/* One simulator booking as port JSON (as list gives it), by reference or
 * by client reference: a new reference; HBK_ENOTFOUND when none. */
hbk_result hbk_partner_sim_booking(struct hbk_partner *partner, const char *value,
				   bool by_client_reference, json_t **out, struct hbk_error *err);

/* The sandbox simulator's schema (called by hbk_store_open). */
hbk_result hbk_partner_sim_migrate(struct hbk_store *store, struct hbk_error *err);

#endif
