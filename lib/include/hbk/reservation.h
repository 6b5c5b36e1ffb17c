/*
 * reservation.h - the event-sourced booking aggregate, its state machine,
 * the booking saga (DESIGN.md section 4) and the booking projection.
 *
 * The aggregate is a fold over a booking's events (hbk_booking_apply);
 * hbk_booking_next_step() is the pure decision of what the saga does next,
 * so the same state machine drives a synchronous run (hbk on the embedded
 * store), recovery after a crash, and an asynchronous executor.
 */
#ifndef HBK_RESERVATION_H
#define HBK_RESERVATION_H

#include <jansson.h>

#include "hbk/core.h"
#include "hbk/events.h"
#include "hbk/inventory.h"
#include "hbk/partner.h"
#include "hbk/payment.h"

struct hbk_config;
struct hbk_notifier;
struct hbk_store;

enum hbk_booking_status {
	HBK_BOOKING_PENDING,
	HBK_BOOKING_CONFIRMED,
	HBK_BOOKING_CANCELLED,
	HBK_BOOKING_FAILED,
};

/* What a saga in flight is doing. */
enum hbk_saga_kind { HBK_SAGA_NONE, HBK_SAGA_CREATE, HBK_SAGA_UPDATE, HBK_SAGA_CANCEL };

enum hbk_saga_step {
	HBK_STEP_DONE,		 /* nothing left to do */
	HBK_STEP_AUTHORIZE,	 /* create: authorize the total */
	HBK_STEP_PARTNER_BOOK,	 /* create: book at the partner */
	HBK_STEP_CAPTURE,	 /* create: capture the authorization */
	HBK_STEP_CONFIRM,	 /* create: record CONFIRMED */
	HBK_STEP_PARTNER_CANCEL, /* compensate or cancel: cancel at the partner */
	HBK_STEP_PAYMENT_VOID,	 /* compensate: void an uncaptured authorization */
	HBK_STEP_PAYMENT_REFUND, /* compensate, cancel or update: refund what is due */
	HBK_STEP_RELEASE,	 /* compensate or cancel: give the rooms back */
	HBK_STEP_FAIL,		 /* compensate: record FAILED */
	HBK_STEP_UPDATE_CHARGE,	 /* update: authorize the price difference */
	HBK_STEP_PARTNER_MODIFY, /* update: modify at the partner */
	HBK_STEP_UPDATE_CAPTURE, /* update: capture the difference */
	HBK_STEP_UPDATE_COMMIT,	 /* update: release the old nights, record the change */
	HBK_STEP_UPDATE_ABANDON, /* update failed: release the new nights, keep the old */
	HBK_STEP_CANCEL_COMMIT,	 /* cancel: record CANCELLED */
	HBK_STEP_CANCEL_ABANDON, /* cancel failed at the partner: stay CONFIRMED */
};

#define HBK_PAYMENTS_MAX   8
#define HBK_GUEST_NAME_MAX 128
#define HBK_EMAIL_MAX	   255
#define HBK_PHONE_MAX	   32
#define HBK_REASON_MAX	   256

struct hbk_booking_payment {
	char reference[HBK_PAYMENT_REF_MAX];
	int64_t authorized, captured, refunded; /* minor units */
	bool voided;
};

struct hbk_guest {
	char name[HBK_GUEST_NAME_MAX];
	char email[HBK_EMAIL_MAX + 1];
	char phone[HBK_PHONE_MAX];
};

struct hbk_booking {
	char id[HBK_ID_MAX];
	enum hbk_booking_status status;
	int64_t version;  /* business version: 1 once confirmed, +1 per change */
	int64_t sequence; /* last event applied */
	struct hbk_stay stay;
	char hotel_name[96];
	char hotel_city[4];
	char room_name[64];
	struct hbk_guest guest;
	struct hbk_money total;
	struct hbk_policy policy;
	char payment_method[64];
	char partner_name[16];
	char partner_reference[HBK_PARTNER_REF_MAX];
	char payment_provider[16];
	int npayments;
	struct hbk_booking_payment payments[HBK_PAYMENTS_MAX];
	char failure_code[HBK_ERROR_CODE_MAX];
	char failure_message[HBK_ERROR_MESSAGE_MAX];
	int64_t created_ms, updated_ms;

	/* Saga progress. */
	enum hbk_saga_kind saga;
	bool rooms_held;
	bool partner_booked;
	bool partner_cancelled;
	/* The partner step failed without an answer: the partner may hold a
	 * booking under our id, which compensation looks up and cancels. */
	bool partner_uncertain;
	/* An authorization (create) or charge (update) went unanswered: the
	 * provider may hold one under payment_key, made since
	 * payment_since_ms, which compensation finds and voids. */
	bool payment_uncertain;
	char payment_key[HBK_IDEMPOTENCY_KEY_MAX];
	int64_t payment_since_ms;
	bool compensating;
	/* Compensation steps an upstream refused for good (1u << step): the
	 * saga goes on without them and reconciliation settles them. */
	unsigned unresolved;
	/* A pending update. */
	struct hbk_stay new_stay;
	struct hbk_money new_total;
	struct hbk_policy new_policy;
	char new_room_name[64];
	bool new_rooms_held;
	bool stay_changes; /* nights or room type change: inventory moves */
	bool partner_modified;
	int charge_payment; /* index of the difference's intent, -1 none */
	/* A pending cancellation. */
	struct hbk_money penalty;
	char cancel_reason[HBK_REASON_MAX];
};

const char *hbk_booking_status_name(enum hbk_booking_status status);
const char *hbk_saga_step_name(enum hbk_saga_step step);

/* Folds one event into the aggregate. Unknown event types are an error. */
hbk_result hbk_booking_apply(struct hbk_booking *booking, const char *type, const json_t *data,
			     int64_t sequence, int64_t time_ms, struct hbk_error *err);
/* What the saga does next; pure. */
enum hbk_saga_step hbk_booking_next_step(const struct hbk_booking *booking);
/* Money sums over the payments. */
struct hbk_money hbk_booking_paid(const struct hbk_booking *booking);
struct hbk_money hbk_booking_refunded(const struct hbk_booking *booking);
/* The booking JSON of DESIGN.md section 5. New reference. */
json_t *hbk_booking_json(const struct hbk_booking *booking);

/* Rules: checks an update or cancel is allowed in the booking's state. */
hbk_result hbk_booking_check_changeable(const struct hbk_booking *booking, const char *what,
					struct hbk_error *err);
hbk_result hbk_guest_check(const struct hbk_guest *guest, struct hbk_error *err);

hbk_result hbk_reservation_migrate(struct hbk_store *store, struct hbk_error *err);

/* ------------------------------------------------------------------------
 * The engine: the store and the adapters a saga needs.
 */
/*
 * How a saga waits. The executor is continuation-passing: each step
 * completes through a callback, and a retry's backoff is a deferred call,
 * so an event loop can run many sagas at once. The default environment
 * sleeps and calls back at once (the synchronous hbk process); hbkd
 * defers on its event loop.
 */
struct hbk_saga_env {
	/* Calls fn(arg) after delay_ms. */
	void (*defer)(void *ctx, int delay_ms, void (*fn)(void *arg), void *arg);
	void *ctx;
};

/*
 * The sagas the last recovery (or adoption) left alone because they began
 * with another partner or payment provider than this process has: the
 * count, and the first few with what each began with.
 */
#define HBK_SAGAS_LEFT_SHOWN 8
struct hbk_saga_left {
	char id[HBK_ID_MAX];
	char partner[HBK_PROVIDER_IDENTITY_MAX]; /* what it began with */
	char payment[HBK_PROVIDER_IDENTITY_MAX];
};
struct hbk_sagas_left {
	int count;
	struct hbk_saga_left sagas[HBK_SAGAS_LEFT_SHOWN];
};

/* Observes each external step: for metrics. */
typedef void (*hbk_step_observer)(void *ctx, enum hbk_saga_step step, int64_t duration_us,
				  hbk_result result);

struct hbk_engine {
	const struct hbk_config *cfg; /* borrowed */
	struct hbk_store *store;
	struct hbk_partner partner;
	struct hbk_payment payment;
	struct hbk_notifier *notifier;
	/* Test hook: HBK_FAULT_KILL_AT=<step name> kills the process (SIGKILL)
	 * right after that step's external call, before it is recorded. */
	const char *kill_at;
	/*
	 * Group commit: a saga records the steps it runs back to back in one
	 * transaction, committed before it waits and when it ends. Safe because
	 * every step is idempotent: steps whose record a crash loses are run
	 * again and return the same results. The in-process sandbox adapters
	 * join the transaction; before a call out of the process (a remote
	 * adapter) the saga commits, so the store is never held while an
	 * upstream answers, and that step's record opens the next group.
	 */
	bool group_commit;
	/* The booking whose saga holds the open group transaction: its steps'
	 * records leave the projection row to the group's commit, which writes
	 * it once (projection_due: a step recorded something since). */
	struct hbk_booking *projection_deferred;
	bool projection_due;
	/*
	 * hbkd: a command whose saga starts at once (hbk_saga_start) leaves its
	 * transaction open for the saga's first group to join, so that a
	 * create with the in-process adapters commits once, not twice. Sound
	 * because before any call out of the process the saga commits; only
	 * effects recorded in the same transaction (the in-process adapters')
	 * can be lost with it. start_open: such a transaction is open now.
	 */
	bool join_start;
	bool start_open;
	/* The saga environment of hbk_saga_start(); NULL: the synchronous one. */
	const struct hbk_saga_env *saga_env;
	hbk_step_observer on_step;
	void *on_step_ctx;
	/* Filled by hbk_engine_recover() and hbk_engine_adopt(). */
	struct hbk_sagas_left left;
};

enum hbk_engine_flags {
	HBK_ENGINE_CREATE = 1 << 0,	/* create the store when missing */
	HBK_ENGINE_NO_RECOVER = 1 << 1, /* do not resume orphaned sagas */
};

hbk_result hbk_engine_open(const struct hbk_config *cfg, int flags, struct hbk_engine **out,
			   struct hbk_error *err);
void hbk_engine_close(struct hbk_engine *engine);

/* Resumes or compensates sagas whose process died; counts them. A saga
 * that began with another partner or payment provider than the engine's is
 * left alone, and listed in engine->left. */
hbk_result hbk_engine_recover(struct hbk_engine *engine, int *resumed, struct hbk_error *err);

/* One line on a saga recovery left alone (engine->left.sagas[i]): which
 * providers it began with, which this process has. */
void hbk_saga_left_describe(const struct hbk_engine *engine, int i, char *out, size_t size);

/*
 * Cluster mode: claims the sagas in flight that no process here runs (the
 * owner died, or another instance ran them: see hbk_booking_replicate)
 * for bookings of the hotels mine() accepts that had no event for idle_ms
 * (an instance that just lost the hotel may still be running the saga),
 * and hands each booking id to run(), which runs its saga. Counts them.
 */
hbk_result hbk_engine_adopt(struct hbk_engine *engine, int64_t idle_ms,
			    bool (*mine)(void *ctx, const char *hotel_id),
			    void (*run)(void *ctx, const char *id), void *ctx, int *adopted,
			    struct hbk_error *err);

/* ------------------------------------------------------------------------
 * Commands. Each returns the booking JSON in *out (new reference) when
 * there is a booking to show, also when the saga ended FAILED: then the
 * result is the failure's (HBK_EDECLINED, HBK_EUNAVAILABLE ...).
 */
struct hbk_book_request {
	struct hbk_stay stay;
	struct hbk_money expected_total; /* from the offer; currency "" = none */
	struct hbk_guest guest;
	char payment_method[64];
	char correlation_id[HBK_ID_MAX];
	/* The booking's id, chosen by whoever sent the command (cluster
	 * mode); "" = a new one. A booking with that id already there fails
	 * HBK_ECONFLICT "stale_version". */
	char id[HBK_ID_MAX];
};

hbk_result hbk_book(struct hbk_engine *engine, const struct hbk_book_request *req, json_t **out,
		    struct hbk_error *err);
hbk_result hbk_booking_get(struct hbk_engine *engine, const char *id, struct hbk_booking *out,
			   struct hbk_error *err);
hbk_result hbk_booking_view(struct hbk_engine *engine, const char *id, json_t **out,
			    struct hbk_error *err);
/* The booking view as stored: its JSON text (appended to doc) and version,
 * for a server that sends it on as it is. */
hbk_result hbk_booking_view_text(struct hbk_engine *engine, const char *id, struct hbk_buf *doc,
				 int64_t *version, struct hbk_error *err);

struct hbk_list_filter {
	const char *status;		   /* or NULL */
	const char *hotel_id;		   /* or NULL */
	const char *email;		   /* or NULL */
	hbk_date checkin_from, checkin_to; /* 0 = open */
	int limit;			   /* 1..1000 */
	const char *cursor;		   /* booking id to start after, or NULL */
};
/* {"bookings":[...], "next_cursor": "..."|null} */
hbk_result hbk_booking_list(struct hbk_engine *engine, const struct hbk_list_filter *filter,
			    json_t **out, struct hbk_error *err);

struct hbk_update_request {
	bool set_checkin, set_checkout, set_room_type, set_adults, set_children;
	hbk_date checkin, checkout;
	char room_type[HBK_ROOM_CODE_MAX];
	int adults, children;
	bool set_name, set_email, set_phone;
	struct hbk_guest guest;
	int64_t if_match; /* expected version, or -1 */
};
hbk_result hbk_update(struct hbk_engine *engine, const char *id,
		      const struct hbk_update_request *req, json_t **out, struct hbk_error *err);

/* With dry_run, *out is {"booking":..., "penalty":..., "refund":...} and
 * nothing changes; else the cancelled booking. */
hbk_result hbk_cancel(struct hbk_engine *engine, const char *id, const char *reason, bool dry_run,
		      int64_t if_match, json_t **out, struct hbk_error *err);

/* {"events":[CloudEvents...]} */
hbk_result hbk_history(struct hbk_engine *engine, const char *id, json_t **out,
		       struct hbk_error *err);

/* Runs a booking's saga to its end from the recorded state, synchronously. */
hbk_result hbk_saga_run(struct hbk_engine *engine, const char *id, struct hbk_error *err);

/*
 * Runs a booking's saga in engine->saga_env; done is called once, when it
 * has ended (rc and err say how; err is borrowed for the call).
 */
typedef void (*hbk_saga_done)(void *arg, hbk_result rc, const struct hbk_error *err);
void hbk_saga_start(struct hbk_engine *engine, const char *id, hbk_saga_done done, void *arg);

/*
 * The commands in two halves, for callers that run the saga themselves
 * (hbkd): *_begin validates, decides and records the first events (taking
 * the rooms); then hbk_saga_start(); then hbk_saga_outcome() builds what the
 * whole command returns. *saga is false when nothing needs a saga (a
 * contact change, a dry run).
 */
hbk_result hbk_book_begin(struct hbk_engine *engine, const struct hbk_book_request *req,
			  char id[HBK_ID_MAX], struct hbk_error *err);
hbk_result hbk_update_begin(struct hbk_engine *engine, const char *id,
			    const struct hbk_update_request *req, bool *saga,
			    struct hbk_error *err);
hbk_result hbk_cancel_begin(struct hbk_engine *engine, const char *id, const char *reason,
			    int64_t if_match, struct hbk_error *err);
hbk_result hbk_saga_outcome(struct hbk_engine *engine, const char *id, hbk_result saga_rc,
			    const struct hbk_error *saga_err, json_t **out, struct hbk_error *err);

/* ------------------------------------------------------------------------
 * Payment changes made outside hbk (at the provider's dashboard, by its
 * API), reported by the provider's webhook (external.c).
 */
enum hbk_external_kind {
	HBK_EXTERNAL_REFUND, /* charge.refunded: refunds of a captured payment */
	HBK_EXTERNAL_CANCEL, /* payment_intent.canceled: an authorization voided */
};

#define HBK_EXTERNAL_REFUNDS_MAX  16
#define HBK_EXTERNAL_EVENT_ID_MAX 128

struct hbk_external_payment {
	char event_id[HBK_EXTERNAL_EVENT_ID_MAX]; /* the provider's: applied once */
	char event_type[64];
	enum hbk_external_kind kind;
	char booking_id[HBK_ID_MAX]; /* from the intent's metadata; "" when none */
	char intent_id[HBK_PAYMENT_REF_MAX];
	int nrefunds; /* HBK_EXTERNAL_REFUND: every refund of the payment so far */
	struct {
		char id[HBK_PAYMENT_REF_MAX];
		int64_t amount_minor;
	} refunds[HBK_EXTERNAL_REFUNDS_MAX];
};

/*
 * Applies ext to the booking whose payment it names: refunds hbk has not
 * recorded become hbk.booking.payment_refunded.v1 events with "external":
 * true (so the booking's refunded amount reflects them), a void of an open
 * authorization hbk.booking.payment_voided.v1. *outcome (static) says what
 * happened: "applied"; "unchanged" (already known); "duplicate" (event id
 * seen before); "ignored" (no booking of ours has that payment).
 * booking_id receives the booking's id when one matched. A booking whose
 * saga is running fails HBK_ECONFLICT "booking_busy" (the provider retries).
 */
hbk_result hbk_payment_external(struct hbk_engine *engine, const struct hbk_external_payment *ext,
				const char **outcome, char booking_id[HBK_ID_MAX],
				struct hbk_error *err);

/*
 * Applies a booking event another instance decided (cluster mode): stores
 * it as it came, moves the rooms it moved there, folds it and writes the
 * booking view; a saga it leaves in flight is listed as another
 * instance's (hbk_engine_adopt() takes it over when the hotel moves
 * here). *applied is false for an event already here. Fails HBK_ECONFLICT
 * "out_of_order" when the booking's previous event is missing. Inside the
 * caller's write transaction.
 */
hbk_result hbk_booking_replicate(struct hbk_store *store, const struct hbk_event *ev, bool *applied,
				 struct hbk_error *err);

#endif
