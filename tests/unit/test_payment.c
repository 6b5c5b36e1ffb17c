/*
 * test_payment.c - proves that the payment sandbox behaves like Stripe's
 * PaymentIntents with manual capture: authorize, capture, cancel and refund
 * move an intent through the right statuses and refuse the wrong ones; a
 * repeated idempotency key returns the first outcome (success or decline)
 * without a second effect; injected faults fail before any state change.
 * Each test opens its own store file in the test's temporary directory and
 * checks the simulator's tables directly with SQL where the port's answers
 * alone would not show a double effect.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/payment.h"
#include "hbk/store.h"
#include "unit.h"

static struct hbk_store *open_store(const char *name)
{
	char path[512];
	struct hbk_error err;
	struct hbk_store *store = NULL;
	snprintf(path, sizeof(path), "%s/%s.db", unit_tmpdir(), name);
	hbk_result r = hbk_store_open(path, HBK_STORE_CREATE | HBK_STORE_NO_RECOVER, &store, &err);
	if (r != HBK_OK)
		fprintf(stderr, "store open: %s\n", err.message);
	CHECK_INT(r, HBK_OK);
	return store;
}

/* Opens the payment adapter of a configuration given as YAML. */
static hbk_result open_payment(struct hbk_store *store, const char *yaml, struct hbk_payment *out,
			       struct hbk_error *err)
{
	struct hbk_config *cfg = NULL;
	hbk_result r = hbk_config_load_string(yaml, "test", &cfg, err);
	if (r != HBK_OK)
		return r;
	r = hbk_payment_open(cfg, store, out, err);
	hbk_config_free(cfg);
	return r;
}

static long long count_rows(struct hbk_store *store, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	long long n = -1;
	if (hbk_store_prepare(store, sql, &stmt, NULL) != HBK_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

static long long intents(struct hbk_store *store)
{
	return count_rows(store, "SELECT count(*) FROM payment_sim_intents");
}

static struct hbk_money eur(int64_t minor)
{
	return hbk_money_make(minor, "EUR");
}

/* Authorizes minor EUR on pm_card_visa; returns the intent id in out. */
static void authorized(struct hbk_payment *pay, const char *key, int64_t minor,
		       struct hbk_payment_intent *out)
{
	struct hbk_error err;
	struct hbk_money amount = eur(minor);
	CHECK_INT(
	    pay->ops->authorize(pay->self, key, &amount, "pm_card_visa", "BK-TEST", out, &err),
	    HBK_OK);
	CHECK_STR(out->status, "requires_capture");
}

static void test_method_valid(void)
{
	char long_ok[64 + 4], long_bad[64 + 5];
	snprintf(long_ok, sizeof(long_ok), "pm_%060d", 0);
	snprintf(long_bad, sizeof(long_bad), "pm_%061d", 0);
	CHECK(hbk_payment_method_valid("pm_card_visa"));
	CHECK(hbk_payment_method_valid("pm_1Abc_2"));
	CHECK(hbk_payment_method_valid(long_ok));
	CHECK(!hbk_payment_method_valid(long_bad));
	CHECK(!hbk_payment_method_valid("pm_"));
	CHECK(!hbk_payment_method_valid("pm_card-visa"));
	CHECK(!hbk_payment_method_valid("card_visa"));
	CHECK(!hbk_payment_method_valid("4242424242424242"));
	CHECK(!hbk_payment_method_valid(NULL));
}

static void test_open_kinds(void)
{
	struct hbk_store *store = open_store("open");
	struct hbk_payment pay;
	struct hbk_error err;
	CHECK_INT(open_payment(store, "", &pay, &err), HBK_OK);
	CHECK_STR(pay.ops->name, "sandbox");
	hbk_payment_close(&pay);
	CHECK(pay.ops == NULL);
	hbk_payment_close(&pay); /* twice is harmless */

	CHECK_INT(open_payment(store, "payment:\n  kind: stripe\n", &pay, &err), HBK_EINVAL);
	CHECK(strstr(err.message, "stripe") != NULL);
	CHECK_INT(open_payment(store, "payment:\n  kind: paypal\n", &pay, &err), HBK_EINVAL);
	CHECK(strstr(err.message, "unknown payment kind") != NULL);
	CHECK_INT(
	    open_payment(store, "payment:\n  faults:\n    fail: authorize, charge\n", &pay, &err),
	    HBK_EINVAL);
	CHECK(strstr(err.message, "charge") != NULL);
	CHECK(pay.ops == NULL);
	hbk_store_close(store);
}

static void test_happy_path(void)
{
	struct hbk_store *store = open_store("happy");
	struct hbk_payment pay;
	struct hbk_error err;
	struct hbk_payment_intent pi, got;
	struct hbk_refund re;
	CHECK_INT(open_payment(store, "", &pay, &err), HBK_OK);

	authorized(&pay, "BK-1:authorize", 36000, &pi);
	CHECK(strncmp(pi.id, "pi_", 3) == 0);
	CHECK_INT(strlen(pi.id), 27);
	CHECK_STR(pi.amount.currency, "EUR");
	CHECK_INT(pi.amount.minor, 36000);
	CHECK_INT(pi.amount_captured, 0);
	CHECK_STR(pi.payment_method, "pm_card_visa");
	CHECK_INT(count_rows(store,
			     "SELECT count(*) FROM payment_sim_intents WHERE currency = 'eur'"
			     " AND amount_capturable = 36000 AND booking_id = 'BK-TEST'"),
		  1);

	CHECK_INT(pay.ops->capture(pay.self, "BK-1:capture", pi.id, 36000, &got, &err), HBK_OK);
	CHECK_STR(got.id, pi.id);
	CHECK_STR(got.status, "succeeded");
	CHECK_INT(got.amount_captured, 36000);

	CHECK_INT(pay.ops->refund(pay.self, "BK-1:refund", pi.id, 12000, &re, &err), HBK_OK);
	CHECK(strncmp(re.id, "re_", 3) == 0);
	CHECK_INT(strlen(re.id), 27);
	CHECK_STR(re.status, "succeeded");
	CHECK_INT(re.amount.minor, 12000);
	CHECK_STR(re.amount.currency, "EUR");

	CHECK_INT(pay.ops->get(pay.self, pi.id, &got, &err), HBK_OK);
	CHECK_STR(got.status, "succeeded");
	CHECK_INT(got.amount_captured, 36000);
	CHECK_INT(got.amount_refunded, 12000);

	json_t *list = NULL;
	CHECK_INT(pay.ops->list(pay.self, &list, &err), HBK_OK);
	CHECK_INT(json_array_size(list), 1);
	json_t *first = json_array_get(list, 0);
	CHECK_STR(json_string_value(json_object_get(first, "id")), pi.id);
	CHECK_STR(json_string_value(json_object_get(first, "object")), "payment_intent");
	CHECK_STR(json_string_value(json_object_get(first, "currency")), "eur");
	CHECK_STR(json_string_value(json_object_get(first, "capture_method")), "manual");
	CHECK_INT(json_integer_value(json_object_get(first, "amount_received")), 36000);
	CHECK_STR(
	    json_string_value(json_object_get(json_object_get(first, "metadata"), "booking_id")),
	    "BK-TEST");
	json_decref(list);
	hbk_payment_close(&pay);
	hbk_store_close(store);
}

static void test_idempotent_replay(void)
{
	struct hbk_store *store = open_store("replay");
	struct hbk_payment pay;
	struct hbk_error err;
	struct hbk_payment_intent a, b;
	struct hbk_refund r1, r2;
	CHECK_INT(open_payment(store, "", &pay, &err), HBK_OK);

	authorized(&pay, "BK-2:authorize", 20000, &a);
	authorized(&pay, "BK-2:authorize", 20000, &b);
	CHECK_STR(a.id, b.id);
	CHECK_INT(intents(store), 1);

	CHECK_INT(pay.ops->capture(pay.self, "BK-2:capture", a.id, 20000, &b, &err), HBK_OK);
	CHECK_INT(pay.ops->capture(pay.self, "BK-2:capture", a.id, 20000, &b, &err), HBK_OK);
	CHECK_STR(b.status, "succeeded");

	CHECK_INT(pay.ops->refund(pay.self, "BK-2:refund", a.id, 5000, &r1, &err), HBK_OK);
	CHECK_INT(pay.ops->refund(pay.self, "BK-2:refund", a.id, 5000, &r2, &err), HBK_OK);
	CHECK_STR(r1.id, r2.id);
	CHECK_INT(count_rows(store, "SELECT count(*) FROM payment_sim_refunds"), 1);
	CHECK_INT(pay.ops->get(pay.self, a.id, &b, &err), HBK_OK);
	CHECK_INT(b.amount_refunded, 5000);

	/* A replay returns the first answer as it was, as Stripe does. */
	CHECK_INT(pay.ops->authorize(pay.self, "BK-2:authorize", &(struct hbk_money){20000, "EUR"},
				     "pm_card_visa", "BK-TEST", &b, &err),
		  HBK_OK);
	CHECK_STR(b.status, "requires_capture");
	CHECK_INT(intents(store), 1);

	/* Without a key every call is a new intent. */
	authorized(&pay, NULL, 20000, &a);
	authorized(&pay, "", 20000, &b);
	CHECK(strcmp(a.id, b.id) != 0);
	CHECK_INT(intents(store), 3);
	hbk_payment_close(&pay);
	hbk_store_close(store);
}

static void test_key_reuse_other_parameters(void)
{
	struct hbk_store *store = open_store("reuse");
	struct hbk_payment pay;
	struct hbk_error err;
	struct hbk_payment_intent pi, other;
	CHECK_INT(open_payment(store, "", &pay, &err), HBK_OK);

	authorized(&pay, "K1", 36000, &pi);
	struct hbk_money more = eur(40000);
	CHECK_INT(
	    pay.ops->authorize(pay.self, "K1", &more, "pm_card_visa", "BK-TEST", &other, &err),
	    HBK_EINVAL);
	CHECK_STR(err.code, "idempotency_error");
	struct hbk_money same = eur(36000);
	CHECK_INT(
	    pay.ops->authorize(pay.self, "K1", &same, "pm_card_visa", "BK-OTHER", &other, &err),
	    HBK_EINVAL);
	CHECK_STR(err.code, "idempotency_error");
	/* The key belongs to an authorization: a capture cannot reuse it. */
	CHECK_INT(pay.ops->capture(pay.self, "K1", pi.id, 36000, &other, &err), HBK_EINVAL);
	CHECK_STR(err.code, "idempotency_error");
	CHECK_INT(intents(store), 1);
	CHECK_INT(pay.ops->get(pay.self, pi.id, &other, &err), HBK_OK);
	CHECK_STR(other.status, "requires_capture");

	char long_key[HBK_IDEMPOTENCY_KEY_MAX + 1];
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	CHECK_INT(pay.ops->authorize(pay.self, long_key, &same, "pm_card_visa", NULL, &other, &err),
		  HBK_EINVAL);
	CHECK_INT(intents(store), 1);
	hbk_payment_close(&pay);
	hbk_store_close(store);
}

static void test_declines(void)
{
	struct hbk_store *store = open_store("declines");
	struct hbk_payment pay;
	struct hbk_error err;
	struct hbk_payment_intent pi, again;
	struct hbk_money amount = eur(36000);
	CHECK_INT(open_payment(store, "", &pay, &err), HBK_OK);

	CHECK_INT(pay.ops->authorize(pay.self, "D1", &amount, "pm_card_chargeDeclined", "BK-D", &pi,
				     &err),
		  HBK_EDECLINED);
	CHECK_STR(err.code, "payment_declined");
	CHECK(strstr(err.message, "generic_decline") != NULL);
	CHECK(strncmp(pi.id, "pi_", 3) == 0);
	CHECK_STR(pi.status, "requires_payment_method");
	CHECK_INT(count_rows(store,
			     "SELECT count(*) FROM payment_sim_intents"
			     " WHERE status = 'requires_payment_method'"
			     " AND decline_code = 'generic_decline' AND amount_capturable = 0"),
		  1);

	/* The same key replays the decline: same intent, no second attempt. */
	hbk_error_clear(&err);
	CHECK_INT(pay.ops->authorize(pay.self, "D1", &amount, "pm_card_chargeDeclined", "BK-D",
				     &again, &err),
		  HBK_EDECLINED);
	CHECK_STR(err.code, "payment_declined");
	CHECK_STR(again.id, pi.id);
	CHECK_INT(intents(store), 1);

	CHECK_INT(pay.ops->authorize(pay.self, "D2", &amount,
				     "pm_card_chargeDeclinedInsufficientFunds", "BK-D", &again,
				     &err),
		  HBK_EDECLINED);
	CHECK_STR(err.code, "insufficient_funds");
	CHECK_INT(intents(store), 2);

	/* A declined intent cannot be captured, but it can be canceled. */
	CHECK_INT(pay.ops->capture(pay.self, "D1:capture", pi.id, 36000, &again, &err),
		  HBK_ECONFLICT);
	CHECK_INT(pay.ops->cancel(pay.self, "D1:cancel", pi.id, &again, &err), HBK_OK);
	CHECK_STR(again.status, "canceled");

	/* Not a token: refused, not recorded, and never echoed. */
	CHECK_INT(pay.ops->authorize(pay.self, "D3", &amount, "4242 4242 4242 4242", "BK-D", &again,
				     &err),
		  HBK_EINVAL);
	CHECK(strstr(err.message, "4242") == NULL);
	CHECK_INT(intents(store), 2);
	CHECK_INT(
	    count_rows(store, "SELECT count(*) FROM payment_sim_idempotency WHERE key = 'D3'"), 0);
	hbk_payment_close(&pay);
	hbk_store_close(store);
}

static void test_capture_limits(void)
{
	struct hbk_store *store = open_store("capture");
	struct hbk_payment pay;
	struct hbk_error err;
	struct hbk_payment_intent pi, out;
	CHECK_INT(open_payment(store, "", &pay, &err), HBK_OK);

	authorized(&pay, "C1", 10000, &pi);
	CHECK_INT(pay.ops->capture(pay.self, "C1:cap1", pi.id, 10001, &out, &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "capture_exceeds_authorized");
	CHECK_INT(pay.ops->capture(pay.self, "C1:cap0", pi.id, 0, &out, &err), HBK_EINVAL);
	CHECK_INT(pay.ops->get(pay.self, pi.id, &out, &err), HBK_OK);
	CHECK_STR(out.status, "requires_capture");

	/* A partial capture releases the rest, as Stripe does. */
	CHECK_INT(pay.ops->capture(pay.self, "C1:cap2", pi.id, 8000, &out, &err), HBK_OK);
	CHECK_STR(out.status, "succeeded");
	CHECK_INT(out.amount_captured, 8000);
	CHECK_INT(pay.ops->capture(pay.self, "C1:cap3", pi.id, 1000, &out, &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "payment_intent_unexpected_state");

	CHECK_INT(pay.ops->capture(pay.self, "C1:x", "pi_doesnotexist", 1000, &out, &err),
		  HBK_ENOTFOUND);
	CHECK_INT(pay.ops->get(pay.self, "pi_doesnotexist", &out, &err), HBK_ENOTFOUND);
	hbk_payment_close(&pay);
	hbk_store_close(store);
}

static void test_refund_limits(void)
{
	struct hbk_store *store = open_store("refund");
	struct hbk_payment pay;
	struct hbk_error err;
	struct hbk_payment_intent pi, out;
	struct hbk_refund re;
	CHECK_INT(open_payment(store, "", &pay, &err), HBK_OK);

	authorized(&pay, "R1", 8000, &pi);
	CHECK_INT(pay.ops->refund(pay.self, "R1:early", pi.id, 1000, &re, &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "payment_intent_unexpected_state");
	CHECK_INT(pay.ops->capture(pay.self, "R1:cap", pi.id, 8000, &out, &err), HBK_OK);

	CHECK_INT(pay.ops->refund(pay.self, "R1:a", pi.id, 8001, &re, &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "refund_exceeds_captured");
	CHECK_INT(pay.ops->refund(pay.self, "R1:b", pi.id, 5000, &re, &err), HBK_OK);
	CHECK_INT(pay.ops->refund(pay.self, "R1:c", pi.id, 3001, &re, &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "refund_exceeds_captured");
	CHECK_INT(pay.ops->refund(pay.self, "R1:d", pi.id, 3000, &re, &err), HBK_OK);
	CHECK_INT(pay.ops->refund(pay.self, "R1:e", pi.id, 1, &re, &err), HBK_ECONFLICT);
	CHECK_INT(pay.ops->refund(pay.self, "R1:f", pi.id, 0, &re, &err), HBK_EINVAL);
	CHECK_INT(pay.ops->refund(pay.self, "R1:g", pi.id, -5, &re, &err), HBK_EINVAL);
	CHECK_INT(pay.ops->get(pay.self, pi.id, &out, &err), HBK_OK);
	CHECK_INT(out.amount_refunded, 8000);
	CHECK_INT(count_rows(store, "SELECT count(*) FROM payment_sim_refunds"), 2);
	hbk_payment_close(&pay);
	hbk_store_close(store);
}

static void test_double_cancel(void)
{
	struct hbk_store *store = open_store("cancel");
	struct hbk_payment pay;
	struct hbk_error err;
	struct hbk_payment_intent pi, out;
	CHECK_INT(open_payment(store, "", &pay, &err), HBK_OK);

	authorized(&pay, "V1", 5000, &pi);
	CHECK_INT(pay.ops->cancel(pay.self, "V1:void", pi.id, &out, &err), HBK_OK);
	CHECK_STR(out.status, "canceled");
	CHECK_INT(pay.ops->cancel(pay.self, "V1:void", pi.id, &out, &err), HBK_OK);
	CHECK_STR(out.status, "canceled");
	CHECK_INT(pay.ops->cancel(pay.self, "V1:void-again", pi.id, &out, &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "payment_intent_unexpected_state");
	CHECK_INT(pay.ops->capture(pay.self, "V1:cap", pi.id, 5000, &out, &err), HBK_ECONFLICT);

	/* A captured intent is refunded, not canceled. */
	authorized(&pay, "V2", 5000, &pi);
	CHECK_INT(pay.ops->capture(pay.self, "V2:cap", pi.id, 5000, &out, &err), HBK_OK);
	CHECK_INT(pay.ops->cancel(pay.self, "V2:void", pi.id, &out, &err), HBK_ECONFLICT);
	CHECK_INT(pay.ops->get(pay.self, pi.id, &out, &err), HBK_OK);
	CHECK_STR(out.status, "succeeded");
	hbk_payment_close(&pay);
	hbk_store_close(store);
}

static void test_forced_fault(void)
{
	struct hbk_store *store = open_store("forced");
	struct hbk_payment faulty, clean;
	struct hbk_error err;
	struct hbk_payment_intent pi, out;
	CHECK_INT(open_payment(store, "payment:\n  faults:\n    fail: capture\n", &faulty, &err),
		  HBK_OK);
	CHECK_INT(open_payment(store, "", &clean, &err), HBK_OK);

	authorized(&faulty, "F1", 7000, &pi);
	CHECK_INT(faulty.ops->capture(faulty.self, "F1:cap", pi.id, 7000, &out, &err),
		  HBK_EUNAVAILABLE);
	CHECK_STR(err.code, "payment_unavailable");
	CHECK_INT(clean.ops->get(clean.self, pi.id, &out, &err), HBK_OK);
	CHECK_STR(out.status, "requires_capture");
	/* The failure was not recorded: the same key works once the fault is gone. */
	CHECK_INT(clean.ops->capture(clean.self, "F1:cap", pi.id, 7000, &out, &err), HBK_OK);
	CHECK_STR(out.status, "succeeded");
	hbk_payment_close(&faulty);
	hbk_payment_close(&clean);
	hbk_store_close(store);
}

/* payment.faults.lose: the effect is made and kept under the key, the
 * caller hears "unavailable"; find names what the key made. */
static void test_lost_answer_and_find(void)
{
	struct hbk_store *store = open_store("lose");
	struct hbk_payment lossy, clean;
	struct hbk_error err;
	struct hbk_payment_intent out, found;
	struct hbk_money amount = eur(4200);
	CHECK_INT(open_payment(store, "payment:\n  faults:\n    lose: authorize\n", &lossy, &err),
		  HBK_OK);
	CHECK_INT(open_payment(store, "", &clean, &err), HBK_OK);

	CHECK_INT(lossy.ops->authorize(lossy.self, "L1:authorize", &amount, "pm_card_visa", "BK-L1",
				       &out, &err),
		  HBK_EUNAVAILABLE);
	CHECK_STR(err.code, "payment_unavailable");
	CHECK_INT(intents(store), 1);
	/* A retry under the key makes nothing more, and is lost too. */
	CHECK_INT(lossy.ops->authorize(lossy.self, "L1:authorize", &amount, "pm_card_visa", "BK-L1",
				       &out, &err),
		  HBK_EUNAVAILABLE);
	CHECK_INT(intents(store), 1);
	CHECK_INT(clean.ops->find(clean.self, "L1:authorize", "BK-L1", 0, &found, &err), HBK_OK);
	CHECK_STR(found.status, "requires_capture");
	CHECK_INT(found.amount.minor, 4200);
	CHECK_INT(clean.ops->cancel(clean.self, "L1:void", found.id, &out, &err), HBK_OK);
	CHECK_INT(clean.ops->find(clean.self, "L1:authorize", "BK-L1", 0, &found, &err), HBK_OK);
	CHECK_STR(found.status, "canceled");
	/* A key that made nothing, or made no authorization, finds none. */
	CHECK_INT(clean.ops->find(clean.self, "L2:authorize", "BK-L2", 0, &found, &err),
		  HBK_ENOTFOUND);
	CHECK_INT(clean.ops->find(clean.self, "L1:void", "BK-L1", 0, &found, &err), HBK_ENOTFOUND);
	CHECK_INT(clean.ops->find(clean.self, "", "BK-L1", 0, &found, &err), HBK_EINVAL);
	/* The lose list names steps as fail does. */
	hbk_payment_close(&lossy);
	CHECK_INT(open_payment(store, "payment:\n  faults:\n    lose: charge\n", &lossy, &err),
		  HBK_EINVAL);
	hbk_payment_close(&clean);
	hbk_store_close(store);
}

static void test_error_rate_one(void)
{
	struct hbk_store *store = open_store("rate1");
	struct hbk_payment faulty, clean;
	struct hbk_error err;
	struct hbk_payment_intent pi, out;
	struct hbk_refund re;
	json_t *list = NULL;
	struct hbk_money amount = eur(9000);
	CHECK_INT(open_payment(store, "payment:\n  faults:\n    error_rate: 1.0\n", &faulty, &err),
		  HBK_OK);
	CHECK_INT(open_payment(store, "", &clean, &err), HBK_OK);
	authorized(&clean, "E0", 9000, &pi);

	CHECK_INT(
	    faulty.ops->authorize(faulty.self, "E1", &amount, "pm_card_visa", "BK-E", &out, &err),
	    HBK_EUNAVAILABLE);
	CHECK_STR(err.code, "payment_unavailable");
	CHECK_INT(faulty.ops->capture(faulty.self, "E2", pi.id, 9000, &out, &err),
		  HBK_EUNAVAILABLE);
	CHECK_INT(faulty.ops->cancel(faulty.self, "E3", pi.id, &out, &err), HBK_EUNAVAILABLE);
	CHECK_INT(faulty.ops->refund(faulty.self, "E4", pi.id, 100, &re, &err), HBK_EUNAVAILABLE);
	CHECK_INT(faulty.ops->get(faulty.self, pi.id, &out, &err), HBK_EUNAVAILABLE);
	CHECK_INT(faulty.ops->list(faulty.self, &list, &err), HBK_EUNAVAILABLE);
	CHECK(list == NULL);

	CHECK_INT(intents(store), 1);
	CHECK_INT(count_rows(store, "SELECT count(*) FROM payment_sim_idempotency"), 1);
	CHECK_INT(clean.ops->get(clean.self, pi.id, &out, &err), HBK_OK);
	CHECK_STR(out.status, "requires_capture");
	CHECK_INT(
	    clean.ops->authorize(clean.self, "E1", &amount, "pm_card_visa", "BK-E", &out, &err),
	    HBK_OK);
	CHECK_INT(intents(store), 2);
	hbk_payment_close(&faulty);
	hbk_payment_close(&clean);
	hbk_store_close(store);
}

/* With error_rate 0.5 some calls fail and some pass; retrying a key until it
 * passes leaves exactly one intent per key. */
static void test_error_rate_retry(void)
{
	enum { KEYS = 100, ATTEMPTS_MAX = 64 };
	struct hbk_store *store = open_store("rate05");
	struct hbk_payment pay;
	struct hbk_error err;
	struct hbk_payment_intent out;
	struct hbk_money amount = eur(1500);
	int failures = 0, successes = 0;
	CHECK_INT(open_payment(store, "payment:\n  faults:\n    error_rate: 0.5\n", &pay, &err),
		  HBK_OK);
	for (int k = 0; k < KEYS; k++) {
		char key[32];
		snprintf(key, sizeof(key), "retry-%d", k);
		hbk_result r = HBK_EUNAVAILABLE;
		for (int attempt = 0; attempt < ATTEMPTS_MAX && r == HBK_EUNAVAILABLE; attempt++) {
			r = pay.ops->authorize(pay.self, key, &amount, "pm_card_visa", key, &out,
					       &err);
			if (r == HBK_EUNAVAILABLE)
				failures++;
		}
		CHECK_INT(r, HBK_OK);
		successes += r == HBK_OK;
	}
	CHECK_INT(successes, KEYS);
	CHECK(failures > 20 && failures < 400);
	CHECK_INT(intents(store), KEYS);
	hbk_payment_close(&pay);
	hbk_store_close(store);
}

/* Inside the caller's transaction the simulator neither begins nor commits. */
static void test_caller_transaction(void)
{
	struct hbk_store *store = open_store("callertx");
	struct hbk_payment pay;
	struct hbk_error err;
	struct hbk_payment_intent pi;
	CHECK_INT(open_payment(store, "", &pay, &err), HBK_OK);

	CHECK_INT(hbk_store_begin(store, true, &err), HBK_OK);
	authorized(&pay, "T1", 4000, &pi);
	CHECK_INT(store->tx_depth, 1);
	hbk_store_rollback(store);
	CHECK_INT(intents(store), 0);

	CHECK_INT(hbk_store_begin(store, true, &err), HBK_OK);
	authorized(&pay, "T1", 4000, &pi);
	CHECK_INT(hbk_store_commit(store, &err), HBK_OK);
	CHECK_INT(intents(store), 1);
	hbk_payment_close(&pay);
	hbk_store_close(store);
}

static void test_list_newest_first(void)
{
	struct hbk_store *store = open_store("list");
	struct hbk_payment pay;
	struct hbk_error err;
	struct hbk_payment_intent a, b, c;
	json_t *list = NULL;
	CHECK_INT(open_payment(store, "", &pay, &err), HBK_OK);
	authorized(&pay, "L1", 100, &a);
	authorized(&pay, "L2", 200, &b);
	authorized(&pay, "L3", 300, &c);
	CHECK_INT(pay.ops->list(pay.self, &list, &err), HBK_OK);
	CHECK_INT(json_array_size(list), 3);
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "id")), c.id);
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "id")), b.id);
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 2), "id")), a.id);
	json_decref(list);
	hbk_payment_close(&pay);
	hbk_store_close(store);
}

/* A key is kept 24 h: after that it is free again, and expired keys are
 * deleted as new ones are saved. */
static void test_key_expiry(void)
{
	struct hbk_store *store = open_store("expiry");
	struct hbk_payment pay;
	struct hbk_error err;
	struct hbk_payment_intent first, second;
	CHECK_INT(open_payment(store, "", &pay, &err), HBK_OK);
	authorized(&pay, "EXP-1", 100, &first);
	authorized(&pay, "EXP-OLD", 100, &first);
	CHECK_INT(
	    hbk_store_exec(store,
			   "UPDATE payment_sim_idempotency SET created_ms = created_ms - 90000000",
			   &err),
	    HBK_OK);
	/* Other parameters under an expired key: a new request, not a conflict. */
	authorized(&pay, "EXP-1", 200, &second);
	CHECK(strcmp(first.id, second.id) != 0);
	CHECK_INT(second.amount.minor, 200);
	CHECK_INT(intents(store), 3);
	/* The save pruned the other expired key. */
	CHECK_INT(
	    count_rows(store, "SELECT count(*) FROM payment_sim_idempotency WHERE key = 'EXP-OLD'"),
	    0);
	CHECK_INT(count_rows(store, "SELECT count(*) FROM payment_sim_idempotency"), 1);
	hbk_payment_close(&pay);
	hbk_store_close(store);
}

UNIT_TESTS(UNIT_T(test_key_expiry), UNIT_T(test_method_valid), UNIT_T(test_open_kinds),
	   UNIT_T(test_happy_path), UNIT_T(test_idempotent_replay),
	   UNIT_T(test_key_reuse_other_parameters), UNIT_T(test_declines),
	   UNIT_T(test_capture_limits), UNIT_T(test_refund_limits), UNIT_T(test_double_cancel),
	   UNIT_T(test_forced_fault), UNIT_T(test_lost_answer_and_find),
	   UNIT_T(test_error_rate_one), UNIT_T(test_error_rate_retry),
	   UNIT_T(test_caller_transaction), UNIT_T(test_list_newest_first));
