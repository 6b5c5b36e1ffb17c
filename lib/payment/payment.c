/*
 * payment.c - the payment port: picks the adapter named by payment.kind and
 * checks the shape of payment method tokens.
 *
 * "sandbox" is the Stripe simulator of sandbox.c, linked in (the embedded
 * default); "stripe" is the Stripe API over HTTP (stripe.c), against
 * Stripe itself or hbk-sandbox.
 */
#include <string.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/payment.h"
#include "hbk/store.h"

/* Longest token body after "pm_": Stripe's ids are far shorter. */
#define PAYMENT_METHOD_BODY_MAX 60

/*
 * Builds the adapter named by payment.kind (default "sandbox"). cfg is
 * borrowed and may be NULL (built-in defaults); store is borrowed and must
 * outlive the payment. On success out owns the adapter until
 * hbk_payment_close(); on failure out is left empty.
 */
hbk_result hbk_payment_open(const struct hbk_config *cfg, struct hbk_store *store,
			    struct hbk_payment *out, struct hbk_error *err)
{
	HBK_ASSERT(store != NULL);
	HBK_ASSERT(out != NULL);
	memset(out, 0, sizeof(*out));

	const char *kind = cfg ? hbk_config_get(cfg, "payment.kind", "sandbox") : "sandbox";
	if (kind == NULL || kind[0] == '\0')
		kind = "sandbox";
	hbk_result rc;
	if (strcmp(kind, "sandbox") == 0)
		rc = hbk_payment_sandbox_open(cfg, store, out, err);
	else if (strcmp(kind, "stripe") == 0)
		rc = hbk_payment_stripe_open(cfg, out, err);
	else
		return hbk_fail_field(err, HBK_EINVAL, "invalid_config", "payment.kind",
				      "unknown payment kind '%.*s' (expected sandbox or stripe)",
				      hbk_utf8_cut(kind, 64), kind);
	if (rc == HBK_OK)
		hbk_config_provider(cfg, "payment", out->identity, sizeof(out->identity));
	return rc;
}

/* Destroys the adapter and empties payment. Safe on NULL and on an empty
 * payment, and safe to call twice. */
void hbk_payment_close(struct hbk_payment *payment)
{
	if (payment == NULL)
		return;
	if (payment->ops != NULL && payment->ops->destroy != NULL)
		payment->ops->destroy(payment->self);
	payment->ops = NULL;
	payment->self = NULL;
}

/* "pm_" followed by 1 to 60 of [A-Za-z0-9_]. A card number never matches. */
bool hbk_payment_method_valid(const char *payment_method)
{
	if (payment_method == NULL || strncmp(payment_method, "pm_", 3) != 0)
		return false;
	const char *body = payment_method + 3;
	size_t len = 0;
	for (; body[len] != '\0'; len++) {
		char c = body[len];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_';
		if (!ok || len >= PAYMENT_METHOD_BODY_MAX)
			return false;
	}
	return len >= 1;
}

void hbk_payment_authorize(struct hbk_payment *payment, const char *idempotency_key,
			   const struct hbk_money *amount, const char *payment_method,
			   const char *booking_id, struct hbk_payment_intent *out,
			   struct hbk_call *call)
{
	const struct hbk_payment_ops *ops = payment->ops;
	if (ops->authorize_async) {
		ops->authorize_async(payment->self, idempotency_key, amount, payment_method,
				     booking_id, out, call);
		return;
	}
	call->retry_after_ms = 0;
	hbk_result rc = ops->authorize(payment->self, idempotency_key, amount, payment_method,
				       booking_id, out, &call->err);
	hbk_call_finish(call, rc, NULL);
}

void hbk_payment_capture(struct hbk_payment *payment, const char *idempotency_key,
			 const char *intent_id, int64_t amount_minor,
			 struct hbk_payment_intent *out, struct hbk_call *call)
{
	const struct hbk_payment_ops *ops = payment->ops;
	if (ops->capture_async) {
		ops->capture_async(payment->self, idempotency_key, intent_id, amount_minor, out,
				   call);
		return;
	}
	call->retry_after_ms = 0;
	hbk_result rc = ops->capture(payment->self, idempotency_key, intent_id, amount_minor, out,
				     &call->err);
	hbk_call_finish(call, rc, NULL);
}

void hbk_payment_void(struct hbk_payment *payment, const char *idempotency_key,
		      const char *intent_id, struct hbk_payment_intent *out, struct hbk_call *call)
{
	const struct hbk_payment_ops *ops = payment->ops;
	if (ops->cancel_async) {
		ops->cancel_async(payment->self, idempotency_key, intent_id, out, call);
		return;
	}
	call->retry_after_ms = 0;
	hbk_result rc = ops->cancel(payment->self, idempotency_key, intent_id, out, &call->err);
	hbk_call_finish(call, rc, NULL);
}

void hbk_payment_refund(struct hbk_payment *payment, const char *idempotency_key,
			const char *intent_id, int64_t amount_minor, struct hbk_refund *out,
			struct hbk_call *call)
{
	const struct hbk_payment_ops *ops = payment->ops;
	if (ops->refund_async) {
		ops->refund_async(payment->self, idempotency_key, intent_id, amount_minor, out,
				  call);
		return;
	}
	call->retry_after_ms = 0;
	hbk_result rc = ops->refund(payment->self, idempotency_key, intent_id, amount_minor, out,
				    &call->err);
	hbk_call_finish(call, rc, NULL);
}

void hbk_payment_find(struct hbk_payment *payment, const char *idempotency_key,
		      const char *booking_id, int64_t since_ms, struct hbk_payment_intent *out,
		      struct hbk_call *call)
{
	const struct hbk_payment_ops *ops = payment->ops;
	if (ops->find_async) {
		ops->find_async(payment->self, idempotency_key, booking_id, since_ms, out, call);
		return;
	}
	call->retry_after_ms = 0;
	hbk_result rc =
	    ops->find(payment->self, idempotency_key, booking_id, since_ms, out, &call->err);
	hbk_call_finish(call, rc, NULL);
}

void hbk_payment_attach(struct hbk_payment *payment, struct event_base *base)
{
	if (payment->ops && payment->ops->attach)
		payment->ops->attach(payment->self, base);
}
