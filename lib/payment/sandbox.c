/*
 * sandbox.c - the payment provider simulator: Stripe PaymentIntents with
 * manual capture, refunds and Idempotency-Key semantics, kept in tables of
 * the store (payment_sim_*). The embedded default links it in through the
 * payment port; hbk-sandbox serves the same logic over Stripe's HTTP shape,
 * so everything here is transport-agnostic and speaks Stripe's vocabulary:
 *
 *   - intents: "pi_" + 24 alphanumerics; amount in minor units, currency
 *     lowercase in storage and in JSON (as Stripe does), upper-case ISO in
 *     struct hbk_money; statuses requires_payment_method, requires_capture,
 *     succeeded, canceled; amount_capturable and amount_received.
 *   - test payment methods: any valid pm_ token authorizes, except the
 *     pm_card_chargeDeclined* family below, which declines. A declined
 *     authorization is still recorded, in status requires_payment_method.
 *   - idempotency: a mutating call with a key stores its outcome (success or
 *     a business failure: decline, wrong state, not found) with a fingerprint
 *     of the operation and parameters, in the same transaction as its
 *     effect. A repeat with the same key and parameters returns the stored
 *     outcome, unchanged, without a second effect; the same key with other
 *     parameters fails with "idempotency_error". Invalid parameters,
 *     injected faults and store failures change nothing and are not stored,
 *     so a retry runs afresh (as Stripe saves only requests that executed).
 *   - faults: payment.faults.error_rate (a probability) fails that fraction
 *     of calls with HBK_EUNAVAILABLE before any state change;
 *     payment.faults.fail lists steps (authorize, capture, cancel, refund)
 *     that always fail that way; payment.faults.lose lists steps whose
 *     answers are lost: the call takes effect (and is kept under its key),
 *     then fails as unavailable, as a timeout after the request reached
 *     the provider does.
 *   - find: the intent an authorize under a key created, from the key's
 *     stored outcome, for a caller whose authorize went unanswered.
 *
 * Every outcome of a mutating call is first built as a "record" (the JSON
 * that the idempotency table stores) and then turned into the C result by
 * one function, so a first call and its replay cannot differ.
 *
 * Records: {"intent":{...}} | {"refund":{...}} |
 *          {"error":{"result":5,"code":"...","message":"...","intent":{...}}}
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/faults.h"
#include "hbk/json.h"
#include "hbk/payment.h"
#include "hbk/store.h"

/* clang-format off */
#define SIM_ID_RANDOM_CHARS 24          /* "pi_" + 24, as Stripe's ids */
#define SIM_AMOUNT_MAX 99999999LL       /* Stripe's limit: eight digits */
#define SIM_BOOKING_ID_MAX 128          /* metadata[booking_id] */
#define SIM_RANDOM_BATCHES_MAX 16       /* rejection sampling never needs more */

static const char payment_sim_schema[] =
	"CREATE TABLE IF NOT EXISTS payment_sim_intents ("
	" seq INTEGER PRIMARY KEY,"        /* creation order, for newest-first lists */
	" id TEXT NOT NULL UNIQUE,"        /* pi_... */
	" amount INTEGER NOT NULL CHECK (amount > 0)," /* minor units */
	" currency TEXT NOT NULL,"         /* lowercase ISO 4217, as Stripe */
	" status TEXT NOT NULL CHECK (status IN ('requires_payment_method',"
	"  'requires_confirmation','requires_action','processing','requires_capture',"
	"  'canceled','succeeded')),"
	" amount_capturable INTEGER NOT NULL DEFAULT 0 CHECK (amount_capturable >= 0),"
	" amount_received INTEGER NOT NULL DEFAULT 0 CHECK (amount_received >= 0),"
	" amount_refunded INTEGER NOT NULL DEFAULT 0"
	"  CHECK (amount_refunded BETWEEN 0 AND amount_received),"
	" payment_method TEXT NOT NULL,"
	" booking_id TEXT NOT NULL DEFAULT ''," /* metadata[booking_id] */
	" decline_code TEXT NOT NULL DEFAULT ''," /* last_payment_error.decline_code */
	" created_ms INTEGER NOT NULL,"
	" updated_ms INTEGER NOT NULL,"
	" canceled_ms INTEGER"
	");"
	"CREATE INDEX IF NOT EXISTS payment_sim_intents_booking"
	" ON payment_sim_intents(booking_id);"
	"CREATE TABLE IF NOT EXISTS payment_sim_refunds ("
	" seq INTEGER PRIMARY KEY,"
	" id TEXT NOT NULL UNIQUE,"        /* re_... */
	" payment_intent TEXT NOT NULL REFERENCES payment_sim_intents(id),"
	" amount INTEGER NOT NULL CHECK (amount > 0),"
	" currency TEXT NOT NULL,"
	" status TEXT NOT NULL,"           /* succeeded: the simulator refunds at once */
	" created_ms INTEGER NOT NULL"
	");"
	"CREATE INDEX IF NOT EXISTS payment_sim_refunds_intent"
	" ON payment_sim_refunds(payment_intent);"
	"CREATE TABLE IF NOT EXISTS payment_sim_idempotency ("
	" key TEXT PRIMARY KEY,"
	" fingerprint TEXT NOT NULL,"      /* JSON array: operation and parameters */
	" result TEXT NOT NULL,"           /* the record returned to every repeat */
	" created_ms INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS payment_sim_idempotency_created"
	" ON payment_sim_idempotency(created_ms);";
/* clang-format on */

/* Stripe keeps a key at least 24 h; after that the key is free again. */
#define SIM_KEY_TTL_MS (24LL * 3600 * 1000)

/* The columns intent_json() reads, in its order. */
#define INTENT_COLUMNS                                                                             \
	"id, amount, currency, status, amount_capturable, amount_received, amount_refunded,"       \
	" payment_method, booking_id, decline_code, created_ms, canceled_ms"

enum sim_step { STEP_AUTHORIZE, STEP_CAPTURE, STEP_CANCEL, STEP_REFUND, STEP_COUNT };

static const char *const step_names[STEP_COUNT] = {"authorize", "capture", "cancel", "refund"};

struct payment_sim {
	struct hbk_store *store;  /* borrowed */
	struct hbk_faults faults; /* payment.faults.* */
};

/* Stripe's test payment methods that decline, and how. */
struct sim_decline {
	const char *payment_method;
	const char *code;	  /* our error code */
	const char *decline_code; /* Stripe's decline_code */
};

static const struct sim_decline declines[] = {
    {"pm_card_chargeDeclined", "payment_declined", "generic_decline"},
    {"pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "insufficient_funds"},
    {"pm_card_chargeDeclinedExpiredCard", "payment_declined", "expired_card"},
    {"pm_card_chargeDeclinedIncorrectCvc", "payment_declined", "incorrect_cvc"},
    {"pm_card_chargeDeclinedFraudulent", "payment_declined", "fraudulent"},
    {"pm_card_chargeDeclinedProcessingError", "payment_declined", "processing_error"},
};

hbk_result hbk_payment_sim_migrate(struct hbk_store *store, struct hbk_error *err)
{
	HBK_ASSERT(store != NULL);
	return hbk_store_exec(store, payment_sim_schema, err);
}

/* ------------------------------------------------------------------------
 * Small helpers.
 */

/* Fills out with n random characters of [0-9A-Za-z] and a NUL. */
static void random_alnum(char *out, size_t n)
{
	static const char alphabet[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	const unsigned accept_below = 248; /* 4 * 62: keeps the choice uniform */
	size_t filled = 0;

	for (int batch = 0; filled < n; batch++) {
		HBK_ASSERT(batch < SIM_RANDOM_BATCHES_MAX);
		unsigned char bytes[64];
		hbk_random_bytes(bytes, sizeof(bytes));
		for (size_t i = 0; i < sizeof(bytes) && filled < n; i++) {
			if (bytes[i] < accept_below)
				out[filled++] = alphabet[bytes[i] % 62];
		}
	}
	out[n] = '\0';
}

/* An id "<prefix>" + 24 alphanumerics into out[HBK_PAYMENT_REF_MAX]. */
static void new_object_id(const char *prefix, char out[HBK_PAYMENT_REF_MAX])
{
	size_t plen = strlen(prefix);
	HBK_ASSERT(plen + SIM_ID_RANDOM_CHARS < HBK_PAYMENT_REF_MAX);
	memcpy(out, prefix, plen);
	random_alnum(out + plen, SIM_ID_RANDOM_CHARS);
}

/* True with probability ppm / 10^6. */

/* Injected faults, checked before anything else so that nothing changes. */
static hbk_result check_faults(const struct payment_sim *sim, int step, struct hbk_error *err)
{
	if (hbk_faults_roll(&sim->faults))
		return hbk_fail(err, HBK_EUNAVAILABLE, "payment_unavailable",
				"payment provider unavailable: simulated 503 (error rate)");
	if (hbk_faults_fails(&sim->faults, step))
		return hbk_fail(err, HBK_EUNAVAILABLE, "payment_unavailable",
				"payment provider unavailable: simulated failure of %s",
				step_names[step]);
	return HBK_OK;
}

/*
 * The lose fault, after the call took effect: the outcome stays recorded
 * under its key, and the caller hears nothing but "unavailable". Releases
 * *record then.
 */
static hbk_result lose_answer(const struct payment_sim *sim, int step, json_t **record,
			      struct hbk_error *err)
{
	if (!hbk_faults_loses(&sim->faults, step))
		return HBK_OK;
	json_decref(*record);
	*record = NULL;
	return hbk_fail(err, HBK_EUNAVAILABLE, "payment_unavailable",
			"payment provider unavailable: simulated lost answer of %s (it took "
			"effect)",
			step_names[step]);
}

/* Copies a 3-letter currency into out[4], upper- or lowercased. */
static void currency_case(char out[4], const char *currency, bool upper)
{
	size_t i = 0;
	for (; i < 3 && currency[i] != '\0'; i++) {
		unsigned char c = (unsigned char)currency[i];
		out[i] = (char)(upper ? toupper(c) : tolower(c));
	}
	out[i] = '\0';
}

/* "360.00 EUR" for messages. */
static void money_text(int64_t minor, const char *currency, char out[HBK_MONEY_STR + 8])
{
	char upper[4], amount[HBK_MONEY_STR];
	currency_case(upper, currency, true);
	struct hbk_money money = hbk_money_make(minor, upper);
	hbk_money_format(&money, amount);
	hbk_format(out, HBK_MONEY_STR + 8, "%s %s", amount, upper);
}

/* ------------------------------------------------------------------------
 * Rows as Stripe-shaped JSON.
 */

/* The current row (INTENT_COLUMNS) as a PaymentIntent object. New ref. */
static json_t *intent_json(sqlite3_stmt *stmt)
{
	json_t *obj = json_object();
	json_object_set_new(obj, "id", json_string(hbk_column_text(stmt, 0)));
	json_object_set_new(obj, "object", json_string("payment_intent"));
	json_object_set_new(obj, "amount", json_integer(sqlite3_column_int64(stmt, 1)));
	json_object_set_new(obj, "amount_capturable", json_integer(sqlite3_column_int64(stmt, 4)));
	json_object_set_new(obj, "amount_received", json_integer(sqlite3_column_int64(stmt, 5)));
	/* Not on Stripe's PaymentIntent (it is on the charge); kept for the port. */
	json_object_set_new(obj, "amount_refunded", json_integer(sqlite3_column_int64(stmt, 6)));
	json_object_set_new(obj, "capture_method", json_string("manual"));
	json_object_set_new(obj, "confirmation_method", json_string("automatic"));
	json_object_set_new(obj, "currency", json_string(hbk_column_text(stmt, 2)));
	json_object_set_new(obj, "status", json_string(hbk_column_text(stmt, 3)));
	json_object_set_new(obj, "payment_method", json_string(hbk_column_text(stmt, 7)));

	json_t *metadata = json_object();
	if (hbk_column_text(stmt, 8)[0] != '\0')
		json_object_set_new(metadata, "booking_id", json_string(hbk_column_text(stmt, 8)));
	json_object_set_new(obj, "metadata", metadata);

	const char *decline_code = hbk_column_text(stmt, 9);
	if (decline_code[0] != '\0') {
		json_t *last = json_object();
		json_object_set_new(last, "type", json_string("card_error"));
		json_object_set_new(last, "code", json_string("card_declined"));
		json_object_set_new(last, "decline_code", json_string(decline_code));
		json_object_set_new(last, "message", json_string("Your card was declined."));
		json_object_set_new(obj, "last_payment_error", last);
	} else {
		json_object_set_new(obj, "last_payment_error", json_null());
	}
	json_object_set_new(obj, "created", json_integer(sqlite3_column_int64(stmt, 10) / 1000));
	if (sqlite3_column_type(stmt, 11) == SQLITE_NULL)
		json_object_set_new(obj, "canceled_at", json_null());
	else
		json_object_set_new(obj, "canceled_at",
				    json_integer(sqlite3_column_int64(stmt, 11) / 1000));
	json_object_set_new(obj, "livemode", json_false());
	return obj;
}

/*
 * Loads intent id as JSON into *out (new reference), or *out = NULL when
 * there is none (not an error here: callers record "not found" outcomes).
 */
static hbk_result intent_load(struct hbk_store *store, const char *id, json_t **out,
			      struct hbk_error *err)
{
	*out = NULL;
	sqlite3_stmt *stmt = NULL;
	hbk_result r = hbk_store_prepare(
	    store, "SELECT " INTENT_COLUMNS " FROM payment_sim_intents WHERE id = ?1", &stmt, err);
	if (r != HBK_OK)
		return r;
	hbk_bind_text(stmt, 1, id);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = intent_json(stmt);
	else if (rc != SQLITE_DONE)
		r = hbk_store_fail(store, err, "load payment intent");
	hbk_stmt_done(stmt);
	return r;
}

/* Fills a struct hbk_payment_intent from intent JSON (borrowed). */
static void intent_from_json(const json_t *obj, struct hbk_payment_intent *out)
{
	memset(out, 0, sizeof(*out));
	hbk_copy(out->id, sizeof(out->id), hbk_json_str(obj, "id", ""));
	hbk_copy(out->status, sizeof(out->status), hbk_json_str(obj, "status", ""));
	currency_case(out->amount.currency, hbk_json_str(obj, "currency", ""), true);
	out->amount.minor = hbk_json_int(obj, "amount", 0);
	out->amount_captured = hbk_json_int(obj, "amount_received", 0);
	out->amount_refunded = hbk_json_int(obj, "amount_refunded", 0);
	hbk_copy(out->payment_method, sizeof(out->payment_method),
		 hbk_json_str(obj, "payment_method", ""));
}

/* Fills a struct hbk_refund from refund JSON (borrowed). */
static void refund_from_json(const json_t *obj, struct hbk_refund *out)
{
	memset(out, 0, sizeof(*out));
	hbk_copy(out->id, sizeof(out->id), hbk_json_str(obj, "id", ""));
	hbk_copy(out->status, sizeof(out->status), hbk_json_str(obj, "status", ""));
	currency_case(out->amount.currency, hbk_json_str(obj, "currency", ""), true);
	out->amount.minor = hbk_json_int(obj, "amount", 0);
}

/* ------------------------------------------------------------------------
 * Records: the stored outcome of a mutating call.
 */

/* {"intent": intent}; takes intent. */
static json_t *record_intent(json_t *intent)
{
	json_t *record = json_object();
	json_object_set_new(record, "intent", intent);
	return record;
}

/* {"error":{...}}; takes intent (may be NULL). New reference. */
static json_t *record_error(hbk_result result, const char *code, json_t *intent, const char *fmt,
			    ...) __attribute__((format(printf, 4, 5)));
static json_t *record_error(hbk_result result, const char *code, json_t *intent, const char *fmt,
			    ...)
{
	HBK_ASSERT(result != HBK_OK);
	char message[HBK_ERROR_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);

	json_t *error = json_object();
	json_object_set_new(error, "result", json_integer(result));
	json_object_set_new(error, "code", json_string(code));
	json_object_set_new(error, "message", json_string(message));
	if (intent != NULL)
		json_object_set_new(error, "intent", intent);
	json_t *record = json_object();
	json_object_set_new(record, "error", error);
	return record;
}

/*
 * Turns a record (borrowed) into the call's result: fills intent_out or
 * refund_out (either may be NULL) and, for an error record, err. A declined
 * authorization also fills intent_out with the recorded intent.
 */
static hbk_result record_result(const json_t *record, struct hbk_payment_intent *intent_out,
				struct hbk_refund *refund_out, struct hbk_error *err)
{
	const json_t *error = json_object_get(record, "error");
	const json_t *intent = json_object_get(error ? error : record, "intent");
	const json_t *refund = json_object_get(record, "refund");

	if (intent != NULL && intent_out != NULL)
		intent_from_json(intent, intent_out);
	if (refund != NULL && refund_out != NULL)
		refund_from_json(refund, refund_out);
	if (error == NULL) {
		if (intent == NULL && refund == NULL)
			return hbk_fail(err, HBK_EINTERNAL, "internal",
					"payment simulator: malformed stored result");
		return HBK_OK;
	}
	long long result = hbk_json_int(error, "result", HBK_EINTERNAL);
	if (result <= HBK_OK || result > HBK_EAUTH)
		result = HBK_EINTERNAL;
	return hbk_fail(err, (hbk_result)result, hbk_json_str(error, "code", "internal"), "%s",
			hbk_json_str(error, "message", "payment failed"));
}

/* ------------------------------------------------------------------------
 * The idempotent call: faults, key lookup, effect, record, commit.
 */

/*
 * An operation's effect. Runs inside the write transaction; on HBK_OK it
 * sets *record (new reference) to the outcome, success or business failure.
 * Any other result means the store failed: nothing is recorded.
 */
typedef hbk_result (*sim_apply_fn)(struct payment_sim *sim, const void *args, json_t **record,
				   struct hbk_error *err);

/* Looks key up: *fingerprint and *record new strings (caller frees) or NULL. */
static hbk_result key_load(struct hbk_store *store, const char *key, char **fingerprint,
			   char **record, struct hbk_error *err)
{
	*fingerprint = NULL;
	*record = NULL;
	sqlite3_stmt *stmt = NULL;
	hbk_result r = hbk_store_prepare(store,
					 "SELECT fingerprint, result FROM payment_sim_idempotency"
					 " WHERE key = ?1 AND created_ms >= ?2",
					 &stmt, err);
	if (r != HBK_OK)
		return r;
	hbk_bind_text(stmt, 1, key);
	sqlite3_bind_int64(stmt, 2, hbk_now_ms() - SIM_KEY_TTL_MS);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*fingerprint = hbk_xstrdup(hbk_column_text(stmt, 0));
		*record = hbk_xstrdup(hbk_column_text(stmt, 1));
	} else if (rc != SQLITE_DONE) {
		r = hbk_store_fail(store, err, "load idempotency key");
	}
	hbk_stmt_done(stmt);
	return r;
}

/* Deletes the keys recorded before cutoff_ms. */
static hbk_result key_prune(struct hbk_store *store, int64_t cutoff_ms, struct hbk_error *err)
{
	sqlite3_stmt *stmt = NULL;
	hbk_result r = hbk_store_prepare(
	    store, "DELETE FROM payment_sim_idempotency WHERE created_ms < ?1", &stmt, err);
	if (r != HBK_OK)
		return r;
	sqlite3_bind_int64(stmt, 1, cutoff_ms);
	r = hbk_store_step_done(store, stmt, "prune idempotency keys", err);
	hbk_stmt_done(stmt);
	return r;
}

static hbk_result key_save(struct hbk_store *store, const char *key, const char *fingerprint,
			   const json_t *record, struct hbk_error *err)
{
	sqlite3_stmt *stmt = NULL;
	hbk_result r =
	    hbk_store_prepare(store,
			      "INSERT OR REPLACE INTO payment_sim_idempotency"
			      " (key, fingerprint, result, created_ms) VALUES (?1, ?2, ?3, ?4)",
			      &stmt, err);
	if (r != HBK_OK)
		return r;
	char *text = hbk_json_dumps(record);
	hbk_bind_text(stmt, 1, key);
	hbk_bind_text(stmt, 2, fingerprint);
	hbk_bind_text(stmt, 3, text);
	sqlite3_bind_int64(stmt, 4, hbk_now_ms());
	r = hbk_store_step_done(store, stmt, "save idempotency key", err);
	hbk_stmt_done(stmt);
	free(text);
	/* Expired keys go as new ones come (an index range: cheap when none). */
	if (r == HBK_OK)
		r = key_prune(store, hbk_now_ms() - SIM_KEY_TTL_MS, err);
	return r;
}

/* NULL and "" mean no key (Stripe makes the header optional). */
static hbk_result key_check(const char *key, struct hbk_error *err)
{
	if (key == NULL || key[0] == '\0')
		return HBK_OK;
	if (strnlen(key, HBK_IDEMPOTENCY_KEY_MAX) >= HBK_IDEMPOTENCY_KEY_MAX)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_idempotency_key", "idempotency_key",
				      "idempotency key longer than %d characters",
				      HBK_IDEMPOTENCY_KEY_MAX - 1);
	return HBK_OK;
}

/*
 * Runs apply(args) once per key. fingerprint (borrowed) identifies the
 * operation and its parameters. On return *record (new reference, caller
 * releases) is the outcome to hand back, first or replayed; a non-OK
 * result with *record == NULL is a failure that changed nothing.
 */
static hbk_result run_idempotent(struct payment_sim *sim, const char *key, const char *fingerprint,
				 sim_apply_fn apply, const void *args, json_t **record,
				 struct hbk_error *err)
{
	*record = NULL;
	bool keyed = key != NULL && key[0] != '\0';
	bool owned = false;
	hbk_result r = hbk_store_join(sim->store, &owned, err);
	if (r != HBK_OK)
		return r;

	if (keyed) {
		char *stored_fingerprint = NULL, *stored_record = NULL;
		r = key_load(sim->store, key, &stored_fingerprint, &stored_record, err);
		if (r == HBK_OK && stored_record != NULL) {
			if (strcmp(stored_fingerprint, fingerprint) != 0)
				r = hbk_fail_field(err, HBK_EINVAL, "idempotency_error",
						   "idempotency_key",
						   "idempotency key '%.*s' was already used with "
						   "other parameters",
						   hbk_utf8_cut(key, 64), key);
			else
				*record =
				    hbk_json_loads(stored_record, strlen(stored_record), NULL);
			if (r == HBK_OK && *record == NULL)
				r = hbk_fail(err, HBK_EINTERNAL, "internal",
					     "payment simulator: unreadable stored result for key "
					     "'%.*s'",
					     hbk_utf8_cut(key, 64), key);
		}
		free(stored_fingerprint);
		free(stored_record);
		if (r != HBK_OK || *record != NULL) {
			/* A replay or a mismatch: nothing was written. */
			hbk_store_leave(sim->store, owned, false, NULL);
			return r;
		}
	}

	r = apply(sim, args, record, err);
	if (r == HBK_OK && keyed)
		r = key_save(sim->store, key, fingerprint, *record, err);
	if (r != HBK_OK) {
		json_decref(*record);
		*record = NULL;
		hbk_store_leave(sim->store, owned, false, NULL);
		return r;
	}
	r = hbk_store_leave(sim->store, owned, true, err);
	if (r != HBK_OK) {
		json_decref(*record);
		*record = NULL;
	}
	return r;
}

/* A fingerprint: the JSON array [operation, parameters...]. Caller frees. */
static char *fingerprint_of(const char *operation, json_t *params)
{
	json_t *array = json_array();
	json_array_append_new(array, json_string(operation));
	json_array_extend(array, params);
	json_decref(params);
	char *text = hbk_json_dumps(array);
	json_decref(array);
	return text;
}

/* Checks an intent id argument: present and of a storable length. */
static hbk_result intent_id_check(const char *intent_id, struct hbk_error *err)
{
	if (intent_id == NULL || intent_id[0] == '\0' ||
	    strnlen(intent_id, HBK_PAYMENT_REF_MAX) >= HBK_PAYMENT_REF_MAX)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_payment_intent", "payment_intent",
				      "missing or overlong payment intent id");
	return HBK_OK;
}

/* ------------------------------------------------------------------------
 * authorize: POST /v1/payment_intents with confirm=true, capture_method=manual.
 */

struct authorize_args {
	int64_t amount_minor;
	char currency[4]; /* lowercase */
	const char *payment_method;
	const char *booking_id; /* "" when none */
};

static const struct sim_decline *decline_for(const char *payment_method)
{
	for (size_t i = 0; i < sizeof(declines) / sizeof(declines[0]); i++) {
		if (strcmp(declines[i].payment_method, payment_method) == 0)
			return &declines[i];
	}
	return NULL;
}

static hbk_result authorize_apply(struct payment_sim *sim, const void *vargs, json_t **record,
				  struct hbk_error *err)
{
	const struct authorize_args *args = vargs;
	const struct sim_decline *decline = decline_for(args->payment_method);
	char id[HBK_PAYMENT_REF_MAX];
	new_object_id("pi_", id);
	int64_t now_ms = hbk_now_ms();

	sqlite3_stmt *stmt = NULL;
	hbk_result r = hbk_store_prepare(
	    sim->store,
	    "INSERT INTO payment_sim_intents (id, amount, currency, status, amount_capturable,"
	    " payment_method, booking_id, decline_code, created_ms, updated_ms)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
	    &stmt, err);
	if (r != HBK_OK)
		return r;
	hbk_bind_text(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, args->amount_minor);
	hbk_bind_text(stmt, 3, args->currency);
	hbk_bind_text(stmt, 4, decline ? "requires_payment_method" : "requires_capture");
	sqlite3_bind_int64(stmt, 5, decline ? 0 : args->amount_minor);
	hbk_bind_text(stmt, 6, args->payment_method);
	hbk_bind_text(stmt, 7, args->booking_id);
	hbk_bind_text(stmt, 8, decline ? decline->decline_code : "");
	sqlite3_bind_int64(stmt, 9, now_ms);
	r = hbk_store_step_done(sim->store, stmt, "create payment intent", err);
	hbk_stmt_done(stmt);
	if (r != HBK_OK)
		return r;

	json_t *intent = NULL;
	r = intent_load(sim->store, id, &intent, err);
	if (r != HBK_OK)
		return r;
	HBK_ASSERT(intent != NULL);
	if (decline != NULL)
		*record = record_error(HBK_EDECLINED, decline->code, intent, "card declined (%s)",
				       decline->decline_code);
	else
		*record = record_intent(intent);
	return HBK_OK;
}

/*
 * Authorizes amount on payment_method for manual capture. All arguments are
 * borrowed; booking_id may be NULL. On success and on a decline, out holds
 * the intent (a declined one is in requires_payment_method).
 */
static hbk_result sim_authorize(void *self, const char *idempotency_key,
				const struct hbk_money *amount, const char *payment_method,
				const char *booking_id, struct hbk_payment_intent *out,
				struct hbk_error *err)
{
	struct payment_sim *sim = self;
	HBK_ASSERT(sim != NULL);
	HBK_ASSERT(amount != NULL && out != NULL);
	memset(out, 0, sizeof(*out));

	hbk_result r = check_faults(sim, STEP_AUTHORIZE, err);
	if (r != HBK_OK)
		return r;
	if ((r = key_check(idempotency_key, err)) != HBK_OK)
		return r;
	if (amount->minor <= 0 || amount->minor > SIM_AMOUNT_MAX)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_amount", "amount",
				      "amount must be between 1 and %lld minor units",
				      SIM_AMOUNT_MAX);
	char upper[4];
	currency_case(upper, amount->currency, true);
	if (strnlen(amount->currency, sizeof(amount->currency)) != 3 ||
	    hbk_currency_exponent(upper) < 0)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_currency", "currency",
				      "unknown currency");
	/* Never echo the value: it could be a card number typed by mistake. */
	if (!hbk_payment_method_valid(payment_method))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_payment_method", "payment_method",
				      "payment method must be a pm_ token such as pm_card_visa");
	if (booking_id == NULL)
		booking_id = "";
	if (strnlen(booking_id, SIM_BOOKING_ID_MAX) >= SIM_BOOKING_ID_MAX)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_booking_id", "booking_id",
				      "booking id longer than %d characters",
				      SIM_BOOKING_ID_MAX - 1);

	struct authorize_args args = {
	    .amount_minor = amount->minor,
	    .payment_method = payment_method,
	    .booking_id = booking_id,
	};
	currency_case(args.currency, amount->currency, false);

	json_t *params = json_array();
	json_array_append_new(params, json_integer(args.amount_minor));
	json_array_append_new(params, json_string(args.currency));
	json_array_append_new(params, json_string(payment_method));
	json_array_append_new(params, json_string(booking_id));
	char *fingerprint = fingerprint_of("authorize", params);

	json_t *record = NULL;
	r = run_idempotent(sim, idempotency_key, fingerprint, authorize_apply, &args, &record, err);
	free(fingerprint);
	if (r == HBK_OK)
		r = lose_answer(sim, STEP_AUTHORIZE, &record, err);
	if (r == HBK_OK)
		r = record_result(record, out, NULL, err);
	json_decref(record);
	return r;
}

/* ------------------------------------------------------------------------
 * capture, cancel, refund: operations on an existing intent.
 */

struct intent_args {
	const char *intent_id;
	int64_t amount_minor; /* capture, refund */
};

static hbk_result not_found_record(const char *intent_id, json_t **record)
{
	*record = record_error(HBK_ENOTFOUND, "payment_intent_not_found", NULL,
			       "no such payment intent: '%.*s'", hbk_utf8_cut(intent_id, 64),
			       intent_id);
	return HBK_OK;
}

/* Reloads intent_id after a change and records it as the outcome. */
static hbk_result record_reloaded(struct payment_sim *sim, const char *intent_id, json_t **record,
				  struct hbk_error *err)
{
	json_t *intent = NULL;
	hbk_result r = intent_load(sim->store, intent_id, &intent, err);
	if (r != HBK_OK)
		return r;
	HBK_ASSERT(intent != NULL);
	*record = record_intent(intent);
	return HBK_OK;
}

static hbk_result capture_apply(struct payment_sim *sim, const void *vargs, json_t **record,
				struct hbk_error *err)
{
	const struct intent_args *args = vargs;
	json_t *intent = NULL;
	hbk_result r = intent_load(sim->store, args->intent_id, &intent, err);
	if (r != HBK_OK)
		return r;
	if (intent == NULL)
		return not_found_record(args->intent_id, record);

	const char *status = hbk_json_str(intent, "status", "");
	int64_t capturable = hbk_json_int(intent, "amount_capturable", 0);
	if (strcmp(status, "requires_capture") != 0) {
		*record = record_error(HBK_ECONFLICT, "payment_intent_unexpected_state", NULL,
				       "payment intent %s is %s; only a requires_capture intent "
				       "can be captured",
				       args->intent_id, status);
		json_decref(intent);
		return HBK_OK;
	}
	if (args->amount_minor > capturable) {
		char want[HBK_MONEY_STR + 8], have[HBK_MONEY_STR + 8];
		money_text(args->amount_minor, hbk_json_str(intent, "currency", ""), want);
		money_text(capturable, hbk_json_str(intent, "currency", ""), have);
		*record = record_error(HBK_ECONFLICT, "capture_exceeds_authorized", NULL,
				       "cannot capture %s: only %s is authorized", want, have);
		json_decref(intent);
		return HBK_OK;
	}
	json_decref(intent);

	/* As Stripe: a partial capture releases the rest of the authorization. */
	sqlite3_stmt *stmt = NULL;
	r = hbk_store_prepare(sim->store,
			      "UPDATE payment_sim_intents SET status = 'succeeded',"
			      " amount_received = ?2, amount_capturable = 0, updated_ms = ?3"
			      " WHERE id = ?1 AND status = 'requires_capture'",
			      &stmt, err);
	if (r != HBK_OK)
		return r;
	hbk_bind_text(stmt, 1, args->intent_id);
	sqlite3_bind_int64(stmt, 2, args->amount_minor);
	sqlite3_bind_int64(stmt, 3, hbk_now_ms());
	r = hbk_store_step_done(sim->store, stmt, "capture payment intent", err);
	hbk_stmt_done(stmt);
	if (r != HBK_OK)
		return r;
	HBK_ASSERT(sqlite3_changes(sim->store->db) == 1);
	return record_reloaded(sim, args->intent_id, record, err);
}

static hbk_result cancel_apply(struct payment_sim *sim, const void *vargs, json_t **record,
			       struct hbk_error *err)
{
	const struct intent_args *args = vargs;
	json_t *intent = NULL;
	hbk_result r = intent_load(sim->store, args->intent_id, &intent, err);
	if (r != HBK_OK)
		return r;
	if (intent == NULL)
		return not_found_record(args->intent_id, record);

	/* Stripe voids an intent in any status before capture or processing. */
	static const char *const cancelable[] = {"requires_payment_method", "requires_confirmation",
						 "requires_action", "requires_capture"};
	const char *status = hbk_json_str(intent, "status", "");
	bool ok = false;
	for (size_t i = 0; i < sizeof(cancelable) / sizeof(cancelable[0]); i++)
		ok = ok || strcmp(status, cancelable[i]) == 0;
	if (!ok) {
		*record = record_error(HBK_ECONFLICT, "payment_intent_unexpected_state", NULL,
				       "payment intent %s is %s; it cannot be canceled",
				       args->intent_id, status);
		json_decref(intent);
		return HBK_OK;
	}
	json_decref(intent);

	sqlite3_stmt *stmt = NULL;
	r = hbk_store_prepare(sim->store,
			      "UPDATE payment_sim_intents SET status = 'canceled',"
			      " amount_capturable = 0, canceled_ms = ?2, updated_ms = ?2"
			      " WHERE id = ?1",
			      &stmt, err);
	if (r != HBK_OK)
		return r;
	hbk_bind_text(stmt, 1, args->intent_id);
	sqlite3_bind_int64(stmt, 2, hbk_now_ms());
	r = hbk_store_step_done(sim->store, stmt, "cancel payment intent", err);
	hbk_stmt_done(stmt);
	if (r != HBK_OK)
		return r;
	return record_reloaded(sim, args->intent_id, record, err);
}

/* Creates a succeeded refund; *refund is its Refund object (new reference). */
static hbk_result refund_insert(struct payment_sim *sim, const char *intent_id,
				int64_t amount_minor, const char *currency, json_t **refund,
				struct hbk_error *err)
{
	char id[HBK_PAYMENT_REF_MAX];
	new_object_id("re_", id);
	int64_t now_ms = hbk_now_ms();
	sqlite3_stmt *stmt = NULL;
	hbk_result r = hbk_store_prepare(
	    sim->store,
	    "INSERT INTO payment_sim_refunds (id, payment_intent, amount, currency, status,"
	    " created_ms) VALUES (?1, ?2, ?3, ?4, 'succeeded', ?5)",
	    &stmt, err);
	if (r != HBK_OK)
		return r;
	hbk_bind_text(stmt, 1, id);
	hbk_bind_text(stmt, 2, intent_id);
	sqlite3_bind_int64(stmt, 3, amount_minor);
	hbk_bind_text(stmt, 4, currency);
	sqlite3_bind_int64(stmt, 5, now_ms);
	r = hbk_store_step_done(sim->store, stmt, "create refund", err);
	hbk_stmt_done(stmt);
	if (r != HBK_OK)
		return r;

	json_t *obj = json_object();
	json_object_set_new(obj, "id", json_string(id));
	json_object_set_new(obj, "object", json_string("refund"));
	json_object_set_new(obj, "amount", json_integer(amount_minor));
	json_object_set_new(obj, "currency", json_string(currency));
	json_object_set_new(obj, "status", json_string("succeeded"));
	json_object_set_new(obj, "created", json_integer(now_ms / 1000));
	json_object_set_new(obj, "payment_intent", json_string(intent_id));
	*refund = obj;
	return HBK_OK;
}

static hbk_result refund_apply(struct payment_sim *sim, const void *vargs, json_t **record,
			       struct hbk_error *err)
{
	const struct intent_args *args = vargs;
	json_t *intent = NULL;
	hbk_result r = intent_load(sim->store, args->intent_id, &intent, err);
	if (r != HBK_OK)
		return r;
	if (intent == NULL)
		return not_found_record(args->intent_id, record);

	char currency[4];
	currency_case(currency, hbk_json_str(intent, "currency", ""), false);
	const char *status = hbk_json_str(intent, "status", "");
	int64_t left =
	    hbk_json_int(intent, "amount_received", 0) - hbk_json_int(intent, "amount_refunded", 0);
	if (strcmp(status, "succeeded") != 0) {
		*record = record_error(HBK_ECONFLICT, "payment_intent_unexpected_state", NULL,
				       "payment intent %s is %s; only a succeeded intent can be "
				       "refunded",
				       args->intent_id, status);
		json_decref(intent);
		return HBK_OK;
	}
	json_decref(intent);
	if (args->amount_minor > left) {
		char want[HBK_MONEY_STR + 8], have[HBK_MONEY_STR + 8];
		money_text(args->amount_minor, currency, want);
		money_text(left, currency, have);
		*record = record_error(HBK_ECONFLICT, "refund_exceeds_captured", NULL,
				       "cannot refund %s: only %s of the captured amount is left",
				       want, have);
		return HBK_OK;
	}

	json_t *refund = NULL;
	r = refund_insert(sim, args->intent_id, args->amount_minor, currency, &refund, err);
	if (r != HBK_OK)
		return r;

	sqlite3_stmt *stmt = NULL;
	r = hbk_store_prepare(
	    sim->store,
	    "UPDATE payment_sim_intents SET amount_refunded = amount_refunded + ?2,"
	    " updated_ms = ?3 WHERE id = ?1",
	    &stmt, err);
	if (r == HBK_OK) {
		hbk_bind_text(stmt, 1, args->intent_id);
		sqlite3_bind_int64(stmt, 2, args->amount_minor);
		sqlite3_bind_int64(stmt, 3, hbk_now_ms());
		r = hbk_store_step_done(sim->store, stmt, "refund payment intent", err);
		hbk_stmt_done(stmt);
	}
	if (r != HBK_OK) {
		json_decref(refund);
		return r;
	}
	*record = json_object();
	json_object_set_new(*record, "refund", refund);
	return HBK_OK;
}

/* The shared front half of capture, cancel and refund. */
static hbk_result intent_call(struct payment_sim *sim, int step, const char *idempotency_key,
			      const char *intent_id, int64_t amount_minor, sim_apply_fn apply,
			      json_t **record, struct hbk_error *err)
{
	hbk_result r = check_faults(sim, step, err);
	if (r != HBK_OK)
		return r;
	if ((r = key_check(idempotency_key, err)) != HBK_OK)
		return r;
	if ((r = intent_id_check(intent_id, err)) != HBK_OK)
		return r;
	if (step != STEP_CANCEL && (amount_minor <= 0 || amount_minor > SIM_AMOUNT_MAX))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_amount", "amount",
				      "amount must be between 1 and %lld minor units",
				      SIM_AMOUNT_MAX);

	struct intent_args args = {.intent_id = intent_id, .amount_minor = amount_minor};
	json_t *params = json_array();
	json_array_append_new(params, json_string(intent_id));
	if (step != STEP_CANCEL)
		json_array_append_new(params, json_integer(amount_minor));
	char *fingerprint = fingerprint_of(step_names[step], params);
	r = run_idempotent(sim, idempotency_key, fingerprint, apply, &args, record, err);
	free(fingerprint);
	return r == HBK_OK ? lose_answer(sim, step, record, err) : r;
}

/* Captures amount_minor (<= amount_capturable) of intent_id. Borrowed
 * arguments; out filled on success. */
static hbk_result sim_capture(void *self, const char *idempotency_key, const char *intent_id,
			      int64_t amount_minor, struct hbk_payment_intent *out,
			      struct hbk_error *err)
{
	struct payment_sim *sim = self;
	HBK_ASSERT(sim != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	json_t *record = NULL;
	hbk_result r = intent_call(sim, STEP_CAPTURE, idempotency_key, intent_id, amount_minor,
				   capture_apply, &record, err);
	if (r == HBK_OK)
		r = record_result(record, out, NULL, err);
	json_decref(record);
	return r;
}

/* Voids an uncaptured intent. Borrowed arguments; out filled on success. */
static hbk_result sim_cancel(void *self, const char *idempotency_key, const char *intent_id,
			     struct hbk_payment_intent *out, struct hbk_error *err)
{
	struct payment_sim *sim = self;
	HBK_ASSERT(sim != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	json_t *record = NULL;
	hbk_result r = intent_call(sim, STEP_CANCEL, idempotency_key, intent_id, 0, cancel_apply,
				   &record, err);
	if (r == HBK_OK)
		r = record_result(record, out, NULL, err);
	json_decref(record);
	return r;
}

/* Refunds amount_minor of a succeeded intent. Borrowed arguments; out
 * filled on success. */
static hbk_result sim_refund(void *self, const char *idempotency_key, const char *intent_id,
			     int64_t amount_minor, struct hbk_refund *out, struct hbk_error *err)
{
	struct payment_sim *sim = self;
	HBK_ASSERT(sim != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	json_t *record = NULL;
	hbk_result r = intent_call(sim, STEP_REFUND, idempotency_key, intent_id, amount_minor,
				   refund_apply, &record, err);
	if (r == HBK_OK)
		r = record_result(record, NULL, out, err);
	json_decref(record);
	return r;
}

/* ------------------------------------------------------------------------
 * Reads.
 */

static hbk_result sim_get(void *self, const char *intent_id, struct hbk_payment_intent *out,
			  struct hbk_error *err)
{
	struct payment_sim *sim = self;
	HBK_ASSERT(sim != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	hbk_result r = check_faults(sim, -1, err);
	if (r != HBK_OK)
		return r;
	if ((r = intent_id_check(intent_id, err)) != HBK_OK)
		return r;
	json_t *intent = NULL;
	r = intent_load(sim->store, intent_id, &intent, err);
	if (r != HBK_OK)
		return r;
	if (intent == NULL)
		return hbk_fail(err, HBK_ENOTFOUND, "payment_intent_not_found",
				"no such payment intent: '%.*s'", hbk_utf8_cut(intent_id, 64),
				intent_id);
	intent_from_json(intent, out);
	json_decref(intent);
	return HBK_OK;
}

/* All intents, newest first, as Stripe PaymentIntent objects. *out is a new
 * reference on success. */
static hbk_result sim_list(void *self, json_t **out, struct hbk_error *err)
{
	struct payment_sim *sim = self;
	HBK_ASSERT(sim != NULL && out != NULL);
	*out = NULL;
	hbk_result r = check_faults(sim, -1, err);
	if (r != HBK_OK)
		return r;
	sqlite3_stmt *stmt = NULL;
	r = hbk_store_prepare(sim->store,
			      "SELECT " INTENT_COLUMNS " FROM payment_sim_intents"
			      " ORDER BY created_ms DESC, seq DESC",
			      &stmt, err);
	if (r != HBK_OK)
		return r;
	json_t *array = json_array();
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		json_array_append_new(array, intent_json(stmt));
	if (rc != SQLITE_DONE) {
		r = hbk_store_fail(sim->store, err, "list payment intents");
		json_decref(array);
		array = NULL;
	}
	hbk_stmt_done(stmt);
	*out = array;
	return r;
}

/*
 * The intent an authorize under idempotency_key created: its key's stored
 * outcome names it exactly, so booking_id and since_ms are not needed.
 * HBK_ENOTFOUND when no authorize ran under that key (or it expired).
 */
static hbk_result sim_find(void *self, const char *idempotency_key, const char *booking_id,
			   int64_t since_ms, struct hbk_payment_intent *out, struct hbk_error *err)
{
	struct payment_sim *sim = self;
	HBK_ASSERT(sim != NULL && out != NULL);
	(void)booking_id;
	(void)since_ms;
	memset(out, 0, sizeof(*out));
	hbk_result r = check_faults(sim, -1, err);
	if (r != HBK_OK)
		return r;
	if (idempotency_key == NULL || idempotency_key[0] == '\0')
		return hbk_fail_field(err, HBK_EINVAL, "invalid_idempotency_key", "idempotency_key",
				      "finding an authorization needs its idempotency key");
	if ((r = key_check(idempotency_key, err)) != HBK_OK)
		return r;
	char *fingerprint = NULL, *stored = NULL;
	r = key_load(sim->store, idempotency_key, &fingerprint, &stored, err);
	json_t *operation =
	    fingerprint ? hbk_json_loads(fingerprint, strlen(fingerprint), NULL) : NULL;
	json_t *record = stored ? hbk_json_loads(stored, strlen(stored), NULL) : NULL;
	free(fingerprint);
	free(stored);
	const json_t *error = json_object_get(record, "error");
	const char *id = hbk_json_str(json_object_get(error ? error : record, "intent"), "id", "");
	char intent_id[HBK_PAYMENT_REF_MAX];
	hbk_copy(intent_id, sizeof(intent_id), id);
	bool authorize = json_is_string(json_array_get(operation, 0)) &&
			 strcmp(json_string_value(json_array_get(operation, 0)), "authorize") == 0;
	json_decref(operation);
	json_decref(record);
	if (r != HBK_OK)
		return r;
	if (!authorize || intent_id[0] == '\0')
		return hbk_fail(err, HBK_ENOTFOUND, "payment_intent_not_found",
				"no payment intent was created under idempotency key '%.*s'",
				hbk_utf8_cut(idempotency_key, 64), idempotency_key);
	return sim_get(self, intent_id, out, err);
}

static void sim_destroy(void *self)
{
	free(self);
}

static const struct hbk_payment_ops sandbox_ops = {
    .name = "sandbox",
    .authorize = sim_authorize,
    .capture = sim_capture,
    .cancel = sim_cancel,
    .refund = sim_refund,
    .get = sim_get,
    .list = sim_list,
    .find = sim_find,
    .destroy = sim_destroy,
};

/* ------------------------------------------------------------------------
 * Construction.
 */

/*
 * Builds the sandbox adapter. cfg is borrowed and read only here (may be
 * NULL: no faults); store is borrowed and must outlive the adapter. On
 * success out owns the simulator until hbk_payment_close().
 */
hbk_result hbk_payment_sandbox_open(const struct hbk_config *cfg, struct hbk_store *store,
				    struct hbk_payment *out, struct hbk_error *err)
{
	HBK_ASSERT(store != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	struct payment_sim *sim = hbk_xcalloc(1, sizeof(*sim));
	sim->store = store;

	hbk_result r = hbk_faults_load(cfg, "payment", step_names, STEP_COUNT, &sim->faults, err);
	if (r != HBK_OK) {
		free(sim);
		return r;
	}
	out->ops = &sandbox_ops;
	out->self = sim;
	return HBK_OK;
}

/* ------------------------------------------------------------------------
 * The simulator's Stripe objects, for hbk-sandbox's HTTP face.
 */

static struct payment_sim *sim_of(struct hbk_payment *payment)
{
	HBK_ASSERT(payment != NULL && payment->ops == &sandbox_ops);
	return payment->self;
}

/* The PaymentIntent object of id (new reference), or HBK_ENOTFOUND. */
hbk_result hbk_payment_sim_intent(struct hbk_payment *payment, const char *id, json_t **out,
				  struct hbk_error *err)
{
	struct payment_sim *sim = sim_of(payment);
	*out = NULL;
	hbk_result r = intent_id_check(id, err);
	if (r == HBK_OK)
		r = intent_load(sim->store, id, out, err);
	if (r == HBK_OK && *out == NULL)
		r = hbk_fail(err, HBK_ENOTFOUND, "payment_intent_not_found",
			     "no such payment intent: '%.*s'", hbk_utf8_cut(id, 64), id);
	return r;
}

/* The Refund objects of intent_id (NULL: of every intent), newest first,
 * as a JSON array (new reference). */
hbk_result hbk_payment_sim_refunds(struct hbk_payment *payment, const char *intent_id,
				   json_t **out, struct hbk_error *err)
{
	struct payment_sim *sim = sim_of(payment);
	sqlite3_stmt *stmt = NULL;
	*out = NULL;
	hbk_result r = hbk_store_prepare(
	    sim->store,
	    "SELECT id, amount, currency, status, created_ms, payment_intent"
	    " FROM payment_sim_refunds WHERE ?1 IS NULL OR payment_intent = ?1"
	    " ORDER BY created_ms DESC, seq DESC",
	    &stmt, err);
	if (r != HBK_OK)
		return r;
	hbk_bind_text(stmt, 1, intent_id);
	json_t *array = json_array();
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		json_t *obj = json_object();
		json_object_set_new(obj, "id", json_string(hbk_column_text(stmt, 0)));
		json_object_set_new(obj, "object", json_string("refund"));
		json_object_set_new(obj, "amount", json_integer(sqlite3_column_int64(stmt, 1)));
		json_object_set_new(obj, "currency", json_string(hbk_column_text(stmt, 2)));
		json_object_set_new(obj, "status", json_string(hbk_column_text(stmt, 3)));
		json_object_set_new(obj, "created",
				    json_integer(sqlite3_column_int64(stmt, 4) / 1000));
		json_object_set_new(obj, "payment_intent", json_string(hbk_column_text(stmt, 5)));
		json_array_append_new(array, obj);
	}
	if (rc != SQLITE_DONE) {
		r = hbk_store_fail(sim->store, err, "list refunds");
		json_decref(array);
		array = NULL;
	}
	hbk_stmt_done(stmt);
	*out = array;
	return r;
}
