/*
 * stripe.c - the stripe adapter (payment.kind stripe): PaymentIntents with
 * manual capture and refunds over the Stripe API (PROTOCOLS.md), through
 * the upstream named "payment" (lib/core/upstream.c: libcurl, one circuit
 * breaker, the event loop once attached).
 *
 * Requests are form-encoded with nested keys; every POST carries the
 * caller's Idempotency-Key, so a retried saga step never charges twice.
 * Answers are mapped to results by one function, hbk_payment_stripe_error(),
 * which the unit tests exercise directly:
 *
 *   402 card_error            HBK_EDECLINED    payment_declined | insufficient_funds
 *   401, 403                  HBK_EAUTH        payment_auth (never the key)
 *   400 idempotency_error     HBK_EINVAL       payment_idempotency_error
 *   400 unexpected state ...  HBK_ECONFLICT    Stripe's code
 *   400 other                 HBK_EINVAL       payment_invalid_request
 *   404                       HBK_ENOTFOUND    payment_intent_not_found
 *   409, 429, 5xx, no answer  HBK_EUNAVAILABLE payment_unavailable (+ Retry-After)
 *
 * An authorize whose answers were all lost is found again by listing the
 * intents created since it was sent (created[gte], newest first) and
 * taking the newest whose metadata names the booking: Stripe's list is
 * consistent at once, where its search lags.
 *
 * The secret key lives in this adapter only: it goes into the Authorization
 * header and nowhere else, and provider messages that quote a key are not
 * passed on.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/json.h"
#include "hbk/payment.h"
#include "hbk/upstream.h"

#define STRIPE_TIMEOUT_MS_DEFAULT 10000
#define STRIPE_TIMEOUT_MS_MAX	  120000
#define STRIPE_SECRET_KEY_MAX	  256
#define STRIPE_PATH_MAX		  256
#define STRIPE_FORM_MAX		  (16u * 1024u)
#define STRIPE_RESPONSE_MAX	  (4u * 1024u * 1024u)
#define STRIPE_LIST_PAGE	  100 /* Stripe's largest page */
#define STRIPE_LIST_PAGES_MAX	  1000
#define STRIPE_FIND_PAGES_MAX	  50  /* the 5000 newest intents of the window */
#define STRIPE_FIND_SLACK_S	  300 /* our clock and the provider's may differ */
#define STRIPE_BOOKING_ID_MAX	  128

struct stripe {
	struct hbk_upstream *up;      /* attached to the loop (saga calls) */
	struct hbk_upstream *up_sync; /* never attached: the synchronous ops */
	char secret_key[STRIPE_SECRET_KEY_MAX];
};

/* ------------------------------------------------------------------------
 * Form encoding.
 */

static bool unreserved(unsigned char c, bool key)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
	       (key && (c == '[' || c == ']'));
}

static void percent_encode(struct hbk_buf *buf, const char *s, bool key)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p, key)) {
			hbk_buf_putc(buf, (char)*p);
		} else {
			char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			hbk_buf_append(buf, esc, sizeof(esc));
		}
	}
}

/*
 * Appends "key=value" to an application/x-www-form-urlencoded body (with
 * '&' when buf is not empty). Nested keys keep their brackets readable
 * ("metadata[booking_id]"); everything else but RFC 3986's unreserved
 * characters is percent-encoded.
 */
void hbk_form_append(struct hbk_buf *buf, const char *key, const char *value)
{
	HBK_ASSERT(buf != NULL && key != NULL && value != NULL);
	if (buf->len > 0)
		hbk_buf_putc(buf, '&');
	percent_encode(buf, key, true);
	hbk_buf_putc(buf, '=');
	percent_encode(buf, value, false);
}

static void form_int(struct hbk_buf *buf, const char *key, long long value)
{
	char text[24];
	hbk_format(text, sizeof(text), "%lld", value);
	hbk_form_append(buf, key, text);
}

/* ------------------------------------------------------------------------
 * Error mapping.
 */

/* True when text quotes what looks like a credential. */
static bool quotes_secret(const char *text)
{
	return strstr(text, "sk_") || strstr(text, "rk_") || strstr(text, "whsec_") ||
	       strstr(text, "Bearer");
}

static const char *provider_message(const json_t *error)
{
	const char *message = hbk_json_str(error, "message", "");
	return quotes_secret(message) ? "" : message;
}

/*
 * Maps a non-2xx answer of the Stripe API to a result and fills err.
 * body (may be NULL) is the answer's JSON text; retry_after_ms the
 * Retry-After header (-1 when absent), only used by the caller.
 */
hbk_result hbk_payment_stripe_error(long status, const char *body, struct hbk_error *err)
{
	json_t *doc = body ? hbk_json_loads(body, strlen(body), NULL) : NULL;
	const json_t *error = json_object_get(doc, "error");
	const char *type = hbk_json_str(error, "type", "");
	const char *code = hbk_json_str(error, "code", "");
	const char *decline_code = hbk_json_str(error, "decline_code", "");
	const char *message = provider_message(error);
	hbk_result r;

	if (status == 402 || strcmp(type, "card_error") == 0) {
		bool funds = strcmp(decline_code, "insufficient_funds") == 0;
		r = hbk_fail(err, HBK_EDECLINED, funds ? "insufficient_funds" : "payment_declined",
			     "payment declined by the provider (%s)",
			     decline_code[0] ? decline_code : (code[0] ? code : "card_declined"));
	} else if (status == 401 || status == 403) {
		r = hbk_fail(err, HBK_EAUTH, "payment_auth",
			     "the payment provider refused our credentials (check "
			     "payment.secret_key)");
	} else if (status == 409 || status == 429 || status >= 500 || status == 0) {
		r = hbk_fail(err, HBK_EUNAVAILABLE, "payment_unavailable",
			     "payment provider unavailable (HTTP %ld)%s%.*s", status,
			     message[0] ? ": " : "", hbk_utf8_cut(message, 200), message);
	} else if (status == 404 || strcmp(code, "resource_missing") == 0) {
		r = hbk_fail(err, HBK_ENOTFOUND, "payment_intent_not_found",
			     "payment provider: no such object%s%.*s", message[0] ? ": " : "",
			     hbk_utf8_cut(message, 200), message);
	} else if (strcmp(type, "idempotency_error") == 0) {
		r = hbk_fail(err, HBK_EINVAL, "payment_idempotency_error",
			     "payment provider: idempotency key reused with other parameters");
	} else if (strcmp(code, "payment_intent_unexpected_state") == 0 ||
		   strcmp(code, "amount_too_large") == 0 ||
		   strcmp(code, "charge_already_refunded") == 0 ||
		   strcmp(code, "capture_exceeds_authorized") == 0 ||
		   strcmp(code, "refund_exceeds_captured") == 0) {
		r = hbk_fail(err, HBK_ECONFLICT, code, "payment provider: %.*s",
			     hbk_utf8_cut(message[0] ? message : code, 300),
			     message[0] ? message : code);
	} else {
		r = hbk_fail(err, HBK_EINVAL, "payment_invalid_request",
			     "payment provider rejected the request (HTTP %ld%s%s)%s%.*s", status,
			     code[0] ? ", " : "", code, message[0] ? ": " : "",
			     hbk_utf8_cut(message, 200), message);
		if (hbk_json_str(error, "param", NULL))
			hbk_copy(err->field, sizeof(err->field), hbk_json_str(error, "param", ""));
	}
	json_decref(doc);
	return r;
}

/* ------------------------------------------------------------------------
 * Objects.
 */

static void currency_upper(char out[4], const char *currency)
{
	size_t i = 0;
	for (; i < 3 && currency[i]; i++)
		out[i] = (char)toupper((unsigned char)currency[i]);
	out[i] = '\0';
}

/* payment_method is an id, or an expanded object with one. */
static const char *object_id(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	if (json_is_object(v))
		return hbk_json_str(v, "id", "");
	return json_is_string(v) ? json_string_value(v) : "";
}

static void intent_from_json(const json_t *obj, struct hbk_payment_intent *out)
{
	memset(out, 0, sizeof(*out));
	hbk_copy(out->id, sizeof(out->id), hbk_json_str(obj, "id", ""));
	hbk_copy(out->status, sizeof(out->status), hbk_json_str(obj, "status", ""));
	currency_upper(out->amount.currency, hbk_json_str(obj, "currency", ""));
	out->amount.minor = hbk_json_int(obj, "amount", 0);
	out->amount_captured = hbk_json_int(obj, "amount_received", 0);
	/* Not a PaymentIntent field at Stripe (it is the charge's); the
	 * simulator adds it. */
	out->amount_refunded = hbk_json_int(obj, "amount_refunded", 0);
	hbk_copy(out->payment_method, sizeof(out->payment_method),
		 object_id(obj, "payment_method"));
}

static void refund_from_json(const json_t *obj, struct hbk_refund *out)
{
	memset(out, 0, sizeof(*out));
	hbk_copy(out->id, sizeof(out->id), hbk_json_str(obj, "id", ""));
	hbk_copy(out->status, sizeof(out->status), hbk_json_str(obj, "status", ""));
	currency_upper(out->amount.currency, hbk_json_str(obj, "currency", ""));
	out->amount.minor = hbk_json_int(obj, "amount", 0);
}

/* ------------------------------------------------------------------------
 * One request: built, sent, its answer mapped, the caller's call finished.
 */

enum stripe_op { OP_AUTHORIZE, OP_CAPTURE, OP_CANCEL, OP_REFUND, OP_GET, OP_LIST_PAGE };

struct stripe_req {
	struct hbk_upstream_call up;
	struct hbk_buf form;
	char path[STRIPE_PATH_MAX];
	enum stripe_op op;
	struct hbk_payment_intent *intent_out;
	struct hbk_refund *refund_out;
	json_t **page_out; /* OP_LIST_PAGE: the list object */
	struct hbk_call *call;
};

/* Checks a successful answer's object and fills the outputs. */
static hbk_result answer_ok(struct stripe_req *rq, const json_t *doc, struct hbk_error *err)
{
	const char *object = hbk_json_str(doc, "object", "");
	switch (rq->op) {
	case OP_REFUND:
		if (strcmp(object, "refund") != 0)
			break;
		refund_from_json(doc, rq->refund_out);
		if (strcmp(rq->refund_out->status, "failed") == 0 ||
		    strcmp(rq->refund_out->status, "canceled") == 0)
			return hbk_fail(err, HBK_EDECLINED, "refund_failed",
					"payment provider: refund %s %s", rq->refund_out->id,
					rq->refund_out->status);
		return HBK_OK;
	case OP_LIST_PAGE:
		if (strcmp(object, "list") != 0 || !json_is_array(json_object_get(doc, "data")))
			break;
		*rq->page_out = json_incref((json_t *)doc);
		return HBK_OK;
	default:
		if (strcmp(object, "payment_intent") != 0)
			break;
		intent_from_json(doc, rq->intent_out);
		/* With confirm=true an intent that is not requires_capture was not
		 * authorized (3-D Secure would need the customer, absent here). */
		if (rq->op == OP_AUTHORIZE &&
		    strcmp(rq->intent_out->status, "requires_capture") != 0)
			return hbk_fail(err, HBK_EDECLINED, "payment_declined",
					"payment not authorized: intent %s is %s",
					rq->intent_out->id, rq->intent_out->status);
		return HBK_OK;
	}
	return hbk_fail(err, HBK_EINTERNAL, "payment_bad_response",
			"payment provider answered an unexpected object ('%.*s')",
			hbk_utf8_cut(object, 32), object);
}

static void request_done(struct hbk_upstream_call *ucall)
{
	struct stripe_req *rq = ucall->arg;
	struct hbk_call *call = rq->call;
	struct hbk_error err = {0};
	hbk_result r;

	call->retry_after_ms = 0;
	if (ucall->rc != HBK_OK) {
		/* No answer: timeout, refused connection, open circuit. */
		call->unsent = strcmp(ucall->err.code, "circuit_open") == 0 ||
			       strcmp(ucall->err.code, "upstream_unreachable") == 0;
		err = ucall->err;
		r = ucall->rc;
		if (r == HBK_EUNAVAILABLE && strcmp(err.code, "circuit_open") != 0)
			hbk_copy(err.code, sizeof(err.code), "payment_unavailable");
		hbk_error_prefix(&err, "payment provider");
	} else if (ucall->resp.status >= 200 && ucall->resp.status < 300) {
		json_t *doc = hbk_json_loads(ucall->resp.body.data, ucall->resp.body.len, NULL);
		if (doc == NULL)
			r = hbk_fail(&err, HBK_EINTERNAL, "payment_bad_response",
				     "payment provider answered something other than JSON");
		else
			r = answer_ok(rq, doc, &err);
		json_decref(doc);
	} else {
		r = hbk_payment_stripe_error(ucall->resp.status, ucall->resp.body.data, &err);
		if (rq->intent_out != NULL) {
			/* The intent rides along in the error (a declined one, or one
			 * in a state that refused the call: the caller learns what
			 * it is now). */
			json_t *doc =
			    hbk_json_loads(ucall->resp.body.data, ucall->resp.body.len, NULL);
			const json_t *pi =
			    json_object_get(json_object_get(doc, "error"), "payment_intent");
			if (json_is_object(pi))
				intent_from_json(pi, rq->intent_out);
			json_decref(doc);
		}
		if (r == HBK_EUNAVAILABLE && ucall->resp.retry_after_ms > 0)
			call->retry_after_ms = ucall->resp.retry_after_ms;
		/* A 429 is refused before it runs (a 409 races one that may). */
		call->unsent = ucall->resp.status == 429;
	}
	hbk_upstream_call_reset(ucall);
	hbk_buf_free(&rq->form);
	free(rq);
	hbk_call_finish(call, r, r == HBK_OK ? NULL : &err);
}

static struct stripe_req *request_new(enum stripe_op op, struct hbk_call *call)
{
	struct stripe_req *rq = hbk_xcalloc(1, sizeof(*rq));
	rq->op = op;
	rq->call = call;
	hbk_buf_init(&rq->form, STRIPE_FORM_MAX);
	hbk_buf_init(&rq->up.resp.body, STRIPE_RESPONSE_MAX);
	return rq;
}

/* Fails the call at once, before anything was sent. */
static void request_refuse(struct stripe_req *rq, const struct hbk_error *err)
{
	struct hbk_call *call = rq->call;
	hbk_buf_free(&rq->form);
	hbk_buf_free(&rq->up.resp.body);
	free(rq);
	call->retry_after_ms = 0;
	hbk_call_finish(call, err->result, err);
}

/* Sends rq: a POST with its form and key when method is "POST". */
static void request_send(struct stripe *st, struct hbk_upstream *up, struct stripe_req *rq,
			 const char *method, const char *idempotency_key)
{
	struct hbk_upstream_request *req = &rq->up.req;
	if (rq->form.overflow) {
		struct hbk_error err;
		hbk_fail(&err, HBK_EINVAL, "payment_invalid_request", "payment request too large");
		request_refuse(rq, &err);
		return;
	}
	req->method = method;
	req->path = rq->path;
	hbk_upstream_header(req, "Authorization: Bearer %s", st->secret_key);
	hbk_upstream_header(req, "Accept: application/json");
	if (strcmp(method, "POST") == 0) {
		req->content_type = "application/x-www-form-urlencoded";
		req->body = rq->form.data ? rq->form.data : "";
		req->body_len = rq->form.len;
		if (idempotency_key && idempotency_key[0])
			hbk_upstream_header(req, "Idempotency-Key: %s", idempotency_key);
	}
	rq->up.done = request_done;
	rq->up.arg = rq;
	hbk_upstream_send(up, &rq->up);
}

/* Checks what goes into a path or a header: a Stripe id or a key of
 * printable ASCII without separators. */
static bool token_ok(const char *s, size_t max)
{
	if (s == NULL || s[0] == '\0' || strnlen(s, max) >= max)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '/' || *p == '?' || *p == '#' || *p == '%')
			return false;
	return true;
}

static bool refuse_bad_args(struct stripe_req *rq, const char *idempotency_key,
			    const char *intent_id)
{
	struct hbk_error err;
	if (idempotency_key && !token_ok(idempotency_key, 256)) {
		hbk_fail_field(&err, HBK_EINVAL, "invalid_idempotency_key", "idempotency_key",
			       "idempotency key must be 1 to 255 printable characters");
	} else if (intent_id && !token_ok(intent_id, HBK_PAYMENT_REF_MAX)) {
		hbk_fail_field(&err, HBK_EINVAL, "invalid_payment_intent", "payment_intent",
			       "missing or malformed payment intent id");
	} else {
		return false;
	}
	request_refuse(rq, &err);
	return true;
}

/* ------------------------------------------------------------------------
 * The port's calls.
 */

static void authorize_on(struct stripe *st, struct hbk_upstream *up, const char *idempotency_key,
			 const struct hbk_money *amount, const char *payment_method,
			 const char *booking_id, struct hbk_payment_intent *out,
			 struct hbk_call *call)
{
	memset(out, 0, sizeof(*out));
	struct stripe_req *rq = request_new(OP_AUTHORIZE, call);
	rq->intent_out = out;
	if (refuse_bad_args(rq, idempotency_key, NULL))
		return;
	/* Never echo the value: it could be a card number typed by mistake. */
	if (!hbk_payment_method_valid(payment_method) || amount->minor <= 0) {
		struct hbk_error err;
		if (amount->minor <= 0)
			hbk_fail_field(&err, HBK_EINVAL, "invalid_amount", "amount",
				       "amount must be positive");
		else
			hbk_fail_field(&err, HBK_EINVAL, "invalid_payment_method", "payment_method",
				       "payment method must be a pm_ token such as pm_card_visa");
		request_refuse(rq, &err);
		return;
	}
	char currency[4];
	size_t i = 0;
	for (; i < 3 && amount->currency[i]; i++)
		currency[i] = (char)tolower((unsigned char)amount->currency[i]);
	currency[i] = '\0';

	hbk_copy(rq->path, sizeof(rq->path), "/payment_intents");
	form_int(&rq->form, "amount", amount->minor);
	hbk_form_append(&rq->form, "currency", currency);
	hbk_form_append(&rq->form, "payment_method", payment_method);
	hbk_form_append(&rq->form, "capture_method", "manual");
	hbk_form_append(&rq->form, "confirm", "true");
	hbk_form_append(&rq->form, "automatic_payment_methods[enabled]", "true");
	hbk_form_append(&rq->form, "automatic_payment_methods[allow_redirects]", "never");
	if (booking_id && booking_id[0]) {
		hbk_form_append(&rq->form, "metadata[booking_id]", booking_id);
		hbk_form_append(&rq->form, "description", booking_id);
	}
	request_send(st, up, rq, "POST", idempotency_key);
}

static void capture_on(struct stripe *st, struct hbk_upstream *up, const char *idempotency_key,
		       const char *intent_id, int64_t amount_minor, struct hbk_payment_intent *out,
		       struct hbk_call *call)
{
	memset(out, 0, sizeof(*out));
	struct stripe_req *rq = request_new(OP_CAPTURE, call);
	rq->intent_out = out;
	if (refuse_bad_args(rq, idempotency_key, intent_id))
		return;
	hbk_format(rq->path, sizeof(rq->path), "/payment_intents/%s/capture", intent_id);
	if (amount_minor > 0)
		form_int(&rq->form, "amount_to_capture", amount_minor);
	request_send(st, up, rq, "POST", idempotency_key);
}

static void cancel_on(struct stripe *st, struct hbk_upstream *up, const char *idempotency_key,
		      const char *intent_id, struct hbk_payment_intent *out, struct hbk_call *call)
{
	memset(out, 0, sizeof(*out));
	struct stripe_req *rq = request_new(OP_CANCEL, call);
	rq->intent_out = out;
	if (refuse_bad_args(rq, idempotency_key, intent_id))
		return;
	hbk_format(rq->path, sizeof(rq->path), "/payment_intents/%s/cancel", intent_id);
	request_send(st, up, rq, "POST", idempotency_key);
}

static void refund_on(struct stripe *st, struct hbk_upstream *up, const char *idempotency_key,
		      const char *intent_id, int64_t amount_minor, struct hbk_refund *out,
		      struct hbk_call *call)
{
	memset(out, 0, sizeof(*out));
	struct stripe_req *rq = request_new(OP_REFUND, call);
	rq->refund_out = out;
	if (refuse_bad_args(rq, idempotency_key, intent_id))
		return;
	hbk_copy(rq->path, sizeof(rq->path), "/refunds");
	hbk_form_append(&rq->form, "payment_intent", intent_id);
	if (amount_minor > 0)
		form_int(&rq->form, "amount", amount_minor);
	request_send(st, up, rq, "POST", idempotency_key);
}

static void authorize_async(void *self, const char *idempotency_key, const struct hbk_money *amount,
			    const char *payment_method, const char *booking_id,
			    struct hbk_payment_intent *out, struct hbk_call *call)
{
	struct stripe *st = self;
	authorize_on(st, st->up, idempotency_key, amount, payment_method, booking_id, out, call);
}

static void capture_async(void *self, const char *idempotency_key, const char *intent_id,
			  int64_t amount_minor, struct hbk_payment_intent *out,
			  struct hbk_call *call)
{
	struct stripe *st = self;
	capture_on(st, st->up, idempotency_key, intent_id, amount_minor, out, call);
}

static void cancel_async(void *self, const char *idempotency_key, const char *intent_id,
			 struct hbk_payment_intent *out, struct hbk_call *call)
{
	struct stripe *st = self;
	cancel_on(st, st->up, idempotency_key, intent_id, out, call);
}

static void refund_async(void *self, const char *idempotency_key, const char *intent_id,
			 int64_t amount_minor, struct hbk_refund *out, struct hbk_call *call)
{
	struct stripe *st = self;
	refund_on(st, st->up, idempotency_key, intent_id, amount_minor, out, call);
}

/* The synchronous ops: the same requests on the upstream that is never
 * attached, so they complete before returning even inside hbkd. */

static void sync_done(struct hbk_call *call)
{
	(void)call;
}

static hbk_result sync_result(struct hbk_call *call, struct hbk_error *err)
{
	if (call->rc != HBK_OK && err != NULL)
		*err = call->err;
	return call->rc;
}

static hbk_result stripe_authorize(void *self, const char *idempotency_key,
				   const struct hbk_money *amount, const char *payment_method,
				   const char *booking_id, struct hbk_payment_intent *out,
				   struct hbk_error *err)
{
	struct stripe *st = self;
	struct hbk_call call = {.done = sync_done};
	authorize_on(st, st->up_sync, idempotency_key, amount, payment_method, booking_id, out,
		     &call);
	return sync_result(&call, err);
}

static hbk_result stripe_capture(void *self, const char *idempotency_key, const char *intent_id,
				 int64_t amount_minor, struct hbk_payment_intent *out,
				 struct hbk_error *err)
{
	struct stripe *st = self;
	struct hbk_call call = {.done = sync_done};
	capture_on(st, st->up_sync, idempotency_key, intent_id, amount_minor, out, &call);
	return sync_result(&call, err);
}

static hbk_result stripe_cancel(void *self, const char *idempotency_key, const char *intent_id,
				struct hbk_payment_intent *out, struct hbk_error *err)
{
	struct stripe *st = self;
	struct hbk_call call = {.done = sync_done};
	cancel_on(st, st->up_sync, idempotency_key, intent_id, out, &call);
	return sync_result(&call, err);
}

static hbk_result stripe_refund(void *self, const char *idempotency_key, const char *intent_id,
				int64_t amount_minor, struct hbk_refund *out, struct hbk_error *err)
{
	struct stripe *st = self;
	struct hbk_call call = {.done = sync_done};
	refund_on(st, st->up_sync, idempotency_key, intent_id, amount_minor, out, &call);
	return sync_result(&call, err);
}

static hbk_result stripe_get(void *self, const char *intent_id, struct hbk_payment_intent *out,
			     struct hbk_error *err)
{
	struct stripe *st = self;
	struct hbk_call call = {.done = sync_done};
	memset(out, 0, sizeof(*out));
	struct stripe_req *rq = request_new(OP_GET, &call);
	rq->intent_out = out;
	if (!refuse_bad_args(rq, NULL, intent_id)) {
		hbk_format(rq->path, sizeof(rq->path), "/payment_intents/%s", intent_id);
		request_send(st, st->up_sync, rq, "GET", NULL);
	}
	return sync_result(&call, err);
}

/* Every intent, newest first, following has_more with starting_after. */
static hbk_result stripe_list(void *self, json_t **out, struct hbk_error *err)
{
	struct stripe *st = self;
	char last[HBK_PAYMENT_REF_MAX] = "";
	json_t *all = json_array();
	*out = NULL;

	for (int page = 0; page < STRIPE_LIST_PAGES_MAX; page++) {
		struct hbk_call call = {.done = sync_done};
		json_t *list = NULL;
		struct stripe_req *rq = request_new(OP_LIST_PAGE, &call);
		rq->page_out = &list;
		if (last[0])
			hbk_format(rq->path, sizeof(rq->path),
				   "/payment_intents?limit=%d&starting_after=%s", STRIPE_LIST_PAGE,
				   last);
		else
			hbk_format(rq->path, sizeof(rq->path), "/payment_intents?limit=%d",
				   STRIPE_LIST_PAGE);
		request_send(st, st->up_sync, rq, "GET", NULL);
		if (call.rc != HBK_OK) {
			json_decref(all);
			return sync_result(&call, err);
		}
		const json_t *data = json_object_get(list, "data");
		json_array_extend(all, (json_t *)data);
		size_t n = json_array_size(data);
		bool more = json_is_true(json_object_get(list, "has_more")) && n > 0;
		if (more) {
			const char *id = hbk_json_str(json_array_get(data, n - 1), "id", "");
			more = token_ok(id, sizeof(last)) && strcmp(id, last) != 0;
			hbk_copy(last, sizeof(last), id);
		}
		json_decref(list);
		if (!more) {
			*out = all;
			return HBK_OK;
		}
	}
	json_decref(all);
	return hbk_fail(err, HBK_EINTERNAL, "payment_bad_response",
			"payment provider: more than %d pages of payment intents",
			STRIPE_LIST_PAGES_MAX);
}

/* A find in progress: list pages, newest first, until the booking's
 * intent turns up. Owned by the chain of page calls; freed when it ends. */
struct stripe_find {
	struct stripe *st;
	struct hbk_upstream *up;
	struct hbk_call page_call; /* the page being fetched */
	json_t *page;
	struct hbk_call *call; /* the caller's */
	struct hbk_payment_intent *out;
	char booking_id[STRIPE_BOOKING_ID_MAX];
	char last[HBK_PAYMENT_REF_MAX]; /* starting_after of the next page */
	long long created_gte_s;
	int pages;
};

static void find_page(struct stripe_find *find);

static void find_end(struct stripe_find *find, hbk_result r, const struct hbk_error *err,
		     int retry_after_ms)
{
	struct hbk_call *call = find->call;
	json_decref(find->page);
	free(find);
	call->retry_after_ms = retry_after_ms;
	hbk_call_finish(call, r, err);
}

static void find_page_done(struct hbk_call *page_call)
{
	struct stripe_find *find =
	    (struct stripe_find *)((char *)page_call - offsetof(struct stripe_find, page_call));
	struct hbk_error err = {0};
	if (page_call->rc != HBK_OK) {
		find_end(find, page_call->rc, &page_call->err, page_call->retry_after_ms);
		return;
	}
	const json_t *data = json_object_get(find->page, "data");
	size_t i;
	const json_t *item;
	json_array_foreach(data, i, item)
	{
		const char *booking =
		    hbk_json_str(json_object_get(item, "metadata"), "booking_id", "");
		if (strcmp(hbk_json_str(item, "object", ""), "payment_intent") == 0 &&
		    strcmp(booking, find->booking_id) == 0) {
			intent_from_json(item, find->out);
			find_end(find, HBK_OK, NULL, 0);
			return;
		}
	}
	size_t n = json_array_size(data);
	bool more = json_is_true(json_object_get(find->page, "has_more")) && n > 0;
	if (more) {
		const char *id = hbk_json_str(json_array_get(data, n - 1), "id", "");
		more = token_ok(id, sizeof(find->last)) && strcmp(id, find->last) != 0;
		hbk_copy(find->last, sizeof(find->last), id);
	}
	json_decref(find->page);
	find->page = NULL;
	if (!more) {
		hbk_fail(&err, HBK_ENOTFOUND, "payment_intent_not_found",
			 "payment provider: no payment intent of booking %s", find->booking_id);
		find_end(find, HBK_ENOTFOUND, &err, 0);
		return;
	}
	if (++find->pages >= STRIPE_FIND_PAGES_MAX) {
		/* Not knowing is not "none": the caller must not assume nothing is held. */
		hbk_fail(&err, HBK_EINTERNAL, "payment_lookup_incomplete",
			 "payment provider: booking %s's intent not among the %d newest",
			 find->booking_id, STRIPE_FIND_PAGES_MAX * STRIPE_LIST_PAGE);
		find_end(find, HBK_EINTERNAL, &err, 0);
		return;
	}
	find_page(find);
}

static void find_page(struct stripe_find *find)
{
	find->page_call = (struct hbk_call){.done = find_page_done};
	struct stripe_req *rq = request_new(OP_LIST_PAGE, &find->page_call);
	rq->page_out = &find->page;
	/* created[gte], its brackets percent-encoded. */
	hbk_format(rq->path, sizeof(rq->path),
		   "/payment_intents?limit=%d&created%%5Bgte%%5D=%lld%s%s", STRIPE_LIST_PAGE,
		   find->created_gte_s, find->last[0] ? "&starting_after=" : "", find->last);
	request_send(find->st, find->up, rq, "GET", NULL);
}

/* Stripe keeps no index from an Idempotency-Key to what it created, so the
 * key is not needed: the booking's newest intent since since_ms is it. */
static void find_on(struct stripe *st, struct hbk_upstream *up, const char *booking_id,
		    int64_t since_ms, struct hbk_payment_intent *out, struct hbk_call *call)
{
	memset(out, 0, sizeof(*out));
	if (booking_id == NULL || !token_ok(booking_id, STRIPE_BOOKING_ID_MAX)) {
		struct hbk_error err;
		hbk_fail_field(&err, HBK_EINVAL, "invalid_booking_id", "booking_id",
			       "finding a payment intent needs the booking id");
		call->retry_after_ms = 0;
		hbk_call_finish(call, HBK_EINVAL, &err);
		return;
	}
	struct stripe_find *find = hbk_xcalloc(1, sizeof(*find));
	find->st = st;
	find->up = up;
	find->call = call;
	find->out = out;
	hbk_copy(find->booking_id, sizeof(find->booking_id), booking_id);
	long long since_s = since_ms / 1000 - STRIPE_FIND_SLACK_S;
	find->created_gte_s = since_s > 0 ? since_s : 0;
	find_page(find);
}

static void find_async(void *self, const char *idempotency_key, const char *booking_id,
		       int64_t since_ms, struct hbk_payment_intent *out, struct hbk_call *call)
{
	struct stripe *st = self;
	(void)idempotency_key;
	find_on(st, st->up, booking_id, since_ms, out, call);
}

static hbk_result stripe_find(void *self, const char *idempotency_key, const char *booking_id,
			      int64_t since_ms, struct hbk_payment_intent *out,
			      struct hbk_error *err)
{
	struct stripe *st = self;
	struct hbk_call call = {.done = sync_done};
	(void)idempotency_key;
	find_on(st, st->up_sync, booking_id, since_ms, out, &call);
	return sync_result(&call, err);
}

static void stripe_attach(void *self, struct event_base *base)
{
	struct stripe *st = self;
	hbk_upstream_attach(st->up, base);
}

static void stripe_destroy(void *self)
{
	struct stripe *st = self;
	if (st == NULL)
		return;
	hbk_upstream_free(st->up);
	hbk_upstream_free(st->up_sync);
	/* The key does not outlive the adapter in freed memory. */
	memset(st->secret_key, 0, sizeof(st->secret_key));
	free(st);
}

static const struct hbk_payment_ops stripe_ops = {
    .name = "stripe",
    .authorize = stripe_authorize,
    .capture = stripe_capture,
    .cancel = stripe_cancel,
    .refund = stripe_refund,
    .get = stripe_get,
    .list = stripe_list,
    .find = stripe_find,
    .destroy = stripe_destroy,
    .remote = true,
    .attach = stripe_attach,
    .authorize_async = authorize_async,
    .capture_async = capture_async,
    .cancel_async = cancel_async,
    .refund_async = refund_async,
    .find_async = find_async,
};

/*
 * Builds the stripe adapter from payment.url (the API's origin, e.g.
 * https://api.stripe.com), payment.secret_key and payment.timeout_ms. cfg
 * is borrowed and read only here. On success out owns the adapter until
 * hbk_payment_close().
 */
hbk_result hbk_payment_stripe_open(const struct hbk_config *cfg, struct hbk_payment *out,
				   struct hbk_error *err)
{
	HBK_ASSERT(out != NULL);
	memset(out, 0, sizeof(*out));
	const char *url = cfg ? hbk_config_get(cfg, "payment.url", NULL) : NULL;
	const char *key = cfg ? hbk_config_get(cfg, "payment.secret_key", NULL) : NULL;
	long long timeout_ms = STRIPE_TIMEOUT_MS_DEFAULT;

	if (url == NULL || url[0] == '\0')
		return hbk_fail_field(err, HBK_EINVAL, "invalid_config", "payment.url",
				      "payment.kind stripe needs payment.url");
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_config", "payment.url",
				      "payment.url must be an http:// or https:// URL");
	if (key == NULL || key[0] == '\0')
		return hbk_fail_field(err, HBK_EINVAL, "invalid_config", "payment.secret_key",
				      "payment.kind stripe needs payment.secret_key");
	if (!token_ok(key, STRIPE_SECRET_KEY_MAX))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_config", "payment.secret_key",
				      "payment.secret_key has characters a key cannot have");
	hbk_result r = hbk_config_get_int(cfg, "payment.timeout_ms", STRIPE_TIMEOUT_MS_DEFAULT, 1,
					  STRIPE_TIMEOUT_MS_MAX, &timeout_ms, err);
	if (r != HBK_OK)
		return r;

	char base_url[1024];
	size_t len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		len--;
	if (len + sizeof("/v1") > sizeof(base_url))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_config", "payment.url",
				      "payment.url is too long");
	hbk_format(base_url, sizeof(base_url), "%.*s/v1", (int)len, url);

	struct stripe *st = hbk_xcalloc(1, sizeof(*st));
	hbk_copy(st->secret_key, sizeof(st->secret_key), key);
	struct hbk_upstream_options opt = {
	    .name = "payment",
	    .base_url = base_url,
	    .timeout_ms = (int)timeout_ms,
	};
	r = hbk_upstream_new(&opt, &st->up, err);
	if (r == HBK_OK)
		r = hbk_upstream_new(&opt, &st->up_sync, err);
	if (r != HBK_OK) {
		stripe_destroy(st);
		return r;
	}
	out->ops = &stripe_ops;
	out->self = st;
	return HBK_OK;
}
