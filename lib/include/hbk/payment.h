/*
 * payment.h - the port to the payment provider and its adapters.
 * Only payment method tokens (pm_...) pass through; never card numbers.
 *
 * Every mutating call carries an idempotency key: a repeat with the same
 * key and parameters returns the first result (so a retried or resumed saga
 * step never charges twice).
 */
#ifndef HBK_PAYMENT_H
#define HBK_PAYMENT_H

#include <jansson.h>

#include "hbk/core.h"

struct event_base;
struct hbk_config;
struct hbk_store;

#define HBK_PAYMENT_REF_MAX	64
#define HBK_IDEMPOTENCY_KEY_MAX 128

struct hbk_payment_intent {
	char id[HBK_PAYMENT_REF_MAX]; /* "pi_..." */
	char status[32];	      /* requires_capture | succeeded | canceled ... */
	struct hbk_money amount;
	int64_t amount_captured; /* minor units */
	int64_t amount_refunded;
	char payment_method[64];
};

struct hbk_refund {
	char id[HBK_PAYMENT_REF_MAX]; /* "re_..." */
	char status[16];
	struct hbk_money amount;
};

struct hbk_payment_ops {
	const char *name;
	/* Authorizes amount for later capture. A declined card fails with
	 * HBK_EDECLINED and code "payment_declined" or "insufficient_funds". */
	hbk_result (*authorize)(void *self, const char *idempotency_key,
				const struct hbk_money *amount, const char *payment_method,
				const char *booking_id, struct hbk_payment_intent *out,
				struct hbk_error *err);
	/* Captures amount (<= authorized) of a requires_capture intent. */
	hbk_result (*capture)(void *self, const char *idempotency_key, const char *intent_id,
			      int64_t amount_minor, struct hbk_payment_intent *out,
			      struct hbk_error *err);
	/* Voids an uncaptured authorization. A remote adapter refused with
	 * HBK_ECONFLICT fills out with the intent as the provider has it
	 * (e.g. succeeded: captured by a call whose answer was lost). */
	hbk_result (*cancel)(void *self, const char *idempotency_key, const char *intent_id,
			     struct hbk_payment_intent *out, struct hbk_error *err);
	/* Refunds amount of a captured intent. */
	hbk_result (*refund)(void *self, const char *idempotency_key, const char *intent_id,
			     int64_t amount_minor, struct hbk_refund *out, struct hbk_error *err);
	hbk_result (*get)(void *self, const char *intent_id, struct hbk_payment_intent *out,
			  struct hbk_error *err);
	/* Lists intents as a JSON array (new reference). */
	hbk_result (*list)(void *self, json_t **out, struct hbk_error *err);
	/*
	 * Finds the intent an authorize under idempotency_key made for
	 * booking_id, when that call's answers were lost: by the key where the
	 * provider keeps it, else the newest intent of booking_id created since
	 * since_ms (the caller checks it is not one it knows). HBK_ENOTFOUND
	 * when the provider has none.
	 */
	hbk_result (*find)(void *self, const char *idempotency_key, const char *booking_id,
			   int64_t since_ms, struct hbk_payment_intent *out, struct hbk_error *err);
	void (*destroy)(void *self);

	/* As in partner.h: the asynchronous calls of remote adapters. */
	bool remote;
	void (*attach)(void *self, struct event_base *base);
	void (*authorize_async)(void *self, const char *idempotency_key,
				const struct hbk_money *amount, const char *payment_method,
				const char *booking_id, struct hbk_payment_intent *out,
				struct hbk_call *call);
	void (*capture_async)(void *self, const char *idempotency_key, const char *intent_id,
			      int64_t amount_minor, struct hbk_payment_intent *out,
			      struct hbk_call *call);
	void (*cancel_async)(void *self, const char *idempotency_key, const char *intent_id,
			     struct hbk_payment_intent *out, struct hbk_call *call);
	void (*refund_async)(void *self, const char *idempotency_key, const char *intent_id,
			     int64_t amount_minor, struct hbk_refund *out, struct hbk_call *call);
	void (*find_async)(void *self, const char *idempotency_key, const char *booking_id,
			   int64_t since_ms, struct hbk_payment_intent *out, struct hbk_call *call);
};

struct hbk_payment {
	const struct hbk_payment_ops *ops;
	void *self;
	/* Which provider: kind and URL (hbk_config_provider), set by
	 * hbk_payment_open; a saga is resumed only against the one it began with. */
	char identity[HBK_PROVIDER_IDENTITY_MAX];
};

hbk_result hbk_payment_open(const struct hbk_config *cfg, struct hbk_store *store,
			    struct hbk_payment *out, struct hbk_error *err);
void hbk_payment_close(struct hbk_payment *payment);

/* The saga's calls: asynchronous when the adapter is, else synchronous
 * with call->done called before returning. */
void hbk_payment_authorize(struct hbk_payment *payment, const char *idempotency_key,
			   const struct hbk_money *amount, const char *payment_method,
			   const char *booking_id, struct hbk_payment_intent *out,
			   struct hbk_call *call);
void hbk_payment_capture(struct hbk_payment *payment, const char *idempotency_key,
			 const char *intent_id, int64_t amount_minor,
			 struct hbk_payment_intent *out, struct hbk_call *call);
void hbk_payment_void(struct hbk_payment *payment, const char *idempotency_key,
		      const char *intent_id, struct hbk_payment_intent *out,
		      struct hbk_call *call);
void hbk_payment_refund(struct hbk_payment *payment, const char *idempotency_key,
			const char *intent_id, int64_t amount_minor, struct hbk_refund *out,
			struct hbk_call *call);
void hbk_payment_find(struct hbk_payment *payment, const char *idempotency_key,
		      const char *booking_id, int64_t since_ms, struct hbk_payment_intent *out,
		      struct hbk_call *call);
void hbk_payment_attach(struct hbk_payment *payment, struct event_base *base);

/* The stripe adapter (payment.kind stripe): the Stripe API over libcurl. */
hbk_result hbk_payment_stripe_open(const struct hbk_config *cfg, struct hbk_payment *out,
				   struct hbk_error *err);
/* Maps a non-2xx Stripe answer (status, JSON body or NULL) to a result and
 * err: declines, auth, conflicts, unavailability (see stripe.c). */
hbk_result hbk_payment_stripe_error(long status, const char *body, struct hbk_error *err);
/* Appends "key=value" to a form body, percent-encoded, '&' between pairs;
 * nested keys keep their brackets ("metadata[booking_id]"). */
struct hbk_buf;
void hbk_form_append(struct hbk_buf *buf, const char *key, const char *value);

/* The sandbox adapter itself (what kind "sandbox" opens): the simulator on
 * tables of the store, with fault settings from the config. */
hbk_result hbk_payment_sandbox_open(const struct hbk_config *cfg, struct hbk_store *store,
				    struct hbk_payment *out, struct hbk_error *err);

/* The simulator's Stripe objects, for hbk-sandbox; payment must be a
 * sandbox adapter. An intent (HBK_ENOTFOUND when there is none) and the
 * refunds of one intent (intent_id NULL: of all), newest first. *out is a
 * new reference on success. */
hbk_result hbk_payment_sim_intent(struct hbk_payment *payment, const char *id, json_t **out,
				  struct hbk_error *err);
hbk_result hbk_payment_sim_refunds(struct hbk_payment *payment, const char *intent_id,
				   json_t **out, struct hbk_error *err);

hbk_result hbk_payment_sim_migrate(struct hbk_store *store, struct hbk_error *err);

/* True for pm_ tokens of a sane shape. */
bool hbk_payment_method_valid(const char *payment_method);

#endif
