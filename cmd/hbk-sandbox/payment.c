/*
 * payment.c - hbk-sandbox's payment area: the Stripe API shape
 * (PROTOCOLS.md) over the payment simulator of lib/payment/sandbox.c.
 *
 *   POST /v1/payment_intents              payment.payment_intents.create
 *   POST /v1/payment_intents/{id}/capture payment.payment_intents.capture
 *   POST /v1/payment_intents/{id}/cancel  payment.payment_intents.cancel
 *   GET  /v1/payment_intents/{id}         payment.payment_intents.get
 *   GET  /v1/payment_intents              payment.payment_intents.list
 *                                         (limit, starting_after, ending_before,
 *                                         created[gt|gte|lt|lte])
 *   POST /v1/refunds                      payment.refunds.create
 *   GET  /v1/refunds                      payment.refunds.list
 *
 * Requests are form-encoded with nested keys kept flat
 * ("metadata[booking_id]"), authenticated with "Authorization: Bearer
 * <--payment-key>". Idempotency-Key is honoured here, at the HTTP level, as
 * Stripe does: the first answer of an executed request (its status and
 * body, a decline or a state error included) is saved for 24 h with a
 * fingerprint of the endpoint and its parameters; a repeat with the same
 * parameters gets that answer again (header Idempotent-Replayed: true),
 * other parameters get 400 idempotency_error. Requests that failed
 * validation or authentication are not saved, so they can be corrected.
 * The server answers one request at a time on its loop, so two requests
 * with one key are never executing together here and the 409 of a race
 * does not arise.
 *
 * With --webhook-url, a cancel or a refund made through this API, of an
 * intent whose metadata names a booking, posts a signed Stripe event
 * (payment_intent.canceled, charge.refunded) there, on the loop, and
 * delivers it again while the answer is not 2xx (5 attempts, 0.5 s to 4 s
 * apart).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "hbk/json.h"
#include "hbk/store.h"
#include "hbk/upstream.h"
#include "sandbox.h"

#define FORM_FIELDS_MAX	     64
#define LIST_LIMIT_DEFAULT   10
#define LIST_LIMIT_MAX	     100
#define KEY_LENGTH_MAX	     255
#define KEY_TTL_MS	     (24LL * 3600 * 1000)
#define AMOUNT_MAX	     99999999LL
#define WEBHOOK_TIMEOUT_MS   3000
#define WEBHOOK_ATTEMPTS_MAX 5
#define WEBHOOK_RETRY_MS     500

static const char idempotency_schema[] =
    "CREATE TABLE IF NOT EXISTS sandbox_payment_requests ("
    " key TEXT PRIMARY KEY,"
    " fingerprint TEXT NOT NULL," /* endpoint, path and sorted parameters */
    " status INTEGER NOT NULL,"
    " body TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;";

/* ------------------------------------------------------------------------
 * Answers.
 */

static json_t *error_body(const char *type, const char *code, const char *decline_code,
			  const char *param, const char *message)
{
	json_t *error = json_object();
	/* param and message may echo the request (a parameter's name, a
	 * cursor): made valid UTF-8 here, whatever it held. */
	json_object_set_new(error, "type", json_string(type));
	if (code && code[0])
		json_object_set_new(error, "code", json_string(code));
	if (decline_code && decline_code[0])
		json_object_set_new(error, "decline_code", json_string(decline_code));
	if (param && param[0])
		json_object_set_new(error, "param", hbk_json_text(param));
	json_object_set_new(error, "message", hbk_json_text(message));
	return json_pack("{s:o}", "error", error);
}

static void reply_error(struct http_response *resp, int status, const char *type, const char *code,
			const char *param, const char *message)
{
	sandbox_json(resp, status, error_body(type, code, NULL, param, message));
}

static void payment_error(struct http_response *resp, int status, const char *code,
			  const char *message)
{
	reply_error(resp, status, status >= 500 ? "api_error" : "invalid_request_error", code, NULL,
		    message);
}

/* A simulator failure in Stripe's words. */
static void reply_result(struct http_response *resp, const struct hbk_error *err)
{
	switch (err->result) {
	case HBK_EINVAL:
		reply_error(resp, 400, "invalid_request_error",
			    strcmp(err->code, "invalid_amount") == 0 ? "amount_too_small"
								     : "parameter_invalid_string",
			    err->field, err->message);
		return;
	case HBK_ENOTFOUND:
		reply_error(resp, 404, "invalid_request_error", "resource_missing",
			    "payment_intent", err->message);
		return;
	case HBK_ECONFLICT:
		reply_error(resp, 400, "invalid_request_error",
			    strstr(err->code, "exceeds") ? "amount_too_large"
							 : "payment_intent_unexpected_state",
			    strstr(err->code, "exceeds") ? "amount" : NULL, err->message);
		return;
	case HBK_EUNAVAILABLE:
		reply_error(resp, 503, "api_error", "api_unavailable", NULL, err->message);
		return;
	default: reply_error(resp, 500, "api_error", NULL, NULL, err->message);
	}
}

/* ------------------------------------------------------------------------
 * Form decoding: "a=1&metadata[booking_id]=BK-1" into {"a":"1", ...}.
 */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes [s, s + len) into a new string; NULL when malformed. */
static char *percent_decode(const char *s, size_t len)
{
	char *out = hbk_xmalloc(len + 1), *o = out;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%') {
			int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
			int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* Adds the pairs of text to form; false when malformed, not UTF-8 (a
 * pair jansson cannot hold, never to be dropped unseen) or too many. */
static bool form_parse(const char *text, json_t *form)
{
	int fields = 0;
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "&");
		if (len > 0) {
			const char *eq = memchr(p, '=', len);
			size_t klen = eq ? (size_t)(eq - p) : len;
			char *key = percent_decode(p, klen);
			char *value = eq ? percent_decode(eq + 1, len - klen - 1) : hbk_xstrdup("");
			bool ok = key && value && key[0] && hbk_utf8_valid(key, strlen(key)) &&
				  hbk_utf8_valid(value, strlen(value)) && ++fields <= FORM_FIELDS_MAX;
			if (ok)
				json_object_set_new(form, key, json_string(value));
			free(key);
			free(value);
			if (!ok)
				return false;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return true;
}

static const char *form_get(const json_t *form, const char *key)
{
	return hbk_json_str(form, key, NULL);
}

/* An integer parameter in [min, max]; false (with a 400 sent) when bad. */
static bool form_int(struct http_response *resp, const json_t *form, const char *key, long long min,
		     long long max, long long def, long long *out)
{
	const char *text = form_get(form, key);
	*out = def;
	if (text == NULL)
		return true;
	if (hbk_parse_int(text, min, max, out))
		return true;
	char message[160];
	hbk_format(message, sizeof(message), "Invalid integer: %s must be from %lld to %lld", key,
		   min, max);
	reply_error(resp, 400, "invalid_request_error", "parameter_invalid_integer", key, message);
	return false;
}

/* ------------------------------------------------------------------------
 * Routing.
 */

static const char intents_prefix[] = "/v1/payment_intents/";

/* The intent id of /v1/payment_intents/{id}[suffix] into id, or false. */
static bool intent_path(const char *path, const char *suffix, char id[HBK_PAYMENT_REF_MAX])
{
	if (strncmp(path, intents_prefix, sizeof(intents_prefix) - 1) != 0)
		return false;
	const char *rest = path + sizeof(intents_prefix) - 1;
	size_t len = strcspn(rest, "/");
	if (len == 0 || len >= HBK_PAYMENT_REF_MAX || strcmp(rest + len, suffix) != 0)
		return false;
	memcpy(id, rest, len);
	id[len] = '\0';
	return true;
}

static const char *payment_endpoint(const struct http_request *req)
{
	char id[HBK_PAYMENT_REF_MAX];
	bool post = strcmp(req->method, "POST") == 0;
	bool get = strcmp(req->method, "GET") == 0;
	if (strcmp(req->path, "/v1/payment_intents") == 0)
		return post  ? "payment.payment_intents.create"
		       : get ? "payment.payment_intents.list"
			     : NULL;
	if (strcmp(req->path, "/v1/refunds") == 0)
		return post ? "payment.refunds.create" : get ? "payment.refunds.list" : NULL;
	if (post && intent_path(req->path, "/capture", id))
		return "payment.payment_intents.capture";
	if (post && intent_path(req->path, "/cancel", id))
		return "payment.payment_intents.cancel";
	if (get && intent_path(req->path, "", id))
		return "payment.payment_intents.get";
	return NULL;
}

/* ------------------------------------------------------------------------
 * Webhooks.
 */

/*
 * One event's delivery. As Stripe does, an answer other than 2xx (or none)
 * is delivered again later, with a fresh signature, up to
 * WEBHOOK_ATTEMPTS_MAX times, the wait doubling from WEBHOOK_RETRY_MS.
 */
struct webhook_post {
	struct hbk_upstream_call call;
	const char *secret; /* borrowed from the sandbox */
	char *body;
	int attempts;
};

static struct hbk_upstream *webhook_upstream;

static void webhook_attempt(void *arg);

static void webhook_done(struct hbk_upstream_call *call)
{
	struct webhook_post *post = call->arg;
	bool delivered = call->rc == HBK_OK && call->resp.status >= 200 && call->resp.status < 300;
	hbk_upstream_call_reset(call);
	if (!delivered && post->attempts < WEBHOOK_ATTEMPTS_MAX) {
		int delay_ms = WEBHOOK_RETRY_MS << (post->attempts - 1);
		hbk_upstream_after(webhook_upstream, delay_ms, webhook_attempt, post);
		return;
	}
	free(post->body);
	free(post);
}

/* Signs the body at the current time and sends it. */
static void webhook_attempt(void *arg)
{
	struct webhook_post *post = arg;
	size_t body_len = strlen(post->body);
	int64_t now_s = hbk_now_ms() / 1000;
	struct hbk_buf signed_text;
	hbk_buf_init(&signed_text, body_len + 64);
	hbk_buf_printf(&signed_text, "%lld.", (long long)now_s);
	hbk_buf_append(&signed_text, post->body, body_len);
	char signature[65];
	hbk_hmac_sha256_hex(post->secret, signed_text.data, signed_text.len, signature);
	hbk_buf_free(&signed_text);

	struct hbk_upstream_request *req = &post->call.req;
	memset(req, 0, sizeof(*req));
	req->method = "POST";
	req->path = "";
	req->content_type = "application/json";
	req->body = post->body;
	req->body_len = body_len;
	hbk_upstream_header(req, "Stripe-Signature: t=%lld,v1=%s", (long long)now_s, signature);
	post->call.done = webhook_done;
	post->call.arg = post;
	post->attempts++;
	hbk_upstream_send(webhook_upstream, &post->call);
}

/* Posts a Stripe event of type with data.object = object (taken), on the
 * loop: the answer is not waited for. */
static void webhook_send(struct sandbox *sb, const char *type, json_t *object,
			 const char *idempotency_key)
{
	if (sb->webhook_url == NULL || sb->webhook_url[0] == '\0') {
		json_decref(object);
		return;
	}
	if (webhook_upstream == NULL) {
		struct hbk_error err = {0};
		struct hbk_upstream_options opt = {
		    .name = "webhook",
		    .base_url = sb->webhook_url,
		    .timeout_ms = WEBHOOK_TIMEOUT_MS,
		};
		if (hbk_upstream_new(&opt, &webhook_upstream, &err) != HBK_OK) {
			json_decref(object);
			return;
		}
		hbk_upstream_attach(webhook_upstream, sb->base);
	}

	char id[HBK_ID_MAX], event_id[HBK_ID_MAX + 8];
	hbk_id_new("EV", id);
	hbk_format(event_id, sizeof(event_id), "evt_%s", id + 3);
	json_t *event = json_pack("{s:s, s:s, s:s, s:I, s:s, s:b, s:i, s:{s:n, s:s?}, s:{s:o}}",
				  "id", event_id, "object", "event", "api_version", "2024-06-20",
				  "created", (json_int_t)(hbk_now_ms() / 1000), "type", type,
				  "livemode", 0, "pending_webhooks", 1, "request", "id",
				  "idempotency_key", idempotency_key, "data", "object", object);
	HBK_ASSERT(event != NULL);

	struct webhook_post *post = hbk_xcalloc(1, sizeof(*post));
	post->body = hbk_json_dumps(event);
	post->secret = sb->webhook_secret ? sb->webhook_secret : "";
	json_decref(event);
	webhook_attempt(post);
}

/* The charge of an intent, as charge.refunded carries it. New reference. */
static json_t *charge_of(struct sandbox *sb, const json_t *intent)
{
	const char *intent_id = hbk_json_str(intent, "id", "");
	char charge_id[HBK_PAYMENT_REF_MAX + 4];
	hbk_format(charge_id, sizeof(charge_id), "ch_%s",
		   strncmp(intent_id, "pi_", 3) == 0 ? intent_id + 3 : intent_id);
	json_t *refunds = NULL;
	struct hbk_error err = {0};
	if (hbk_payment_sim_refunds(&sb->payment, intent_id, &refunds, &err) != HBK_OK)
		refunds = json_array();
	long long received = hbk_json_int(intent, "amount_received", 0);
	long long refunded = hbk_json_int(intent, "amount_refunded", 0);
	json_t *charge = json_pack(
	    "{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:b, s:b, s:O, s:{s:s, s:o, s:b, s:s}}", "id",
	    charge_id, "object", "charge", "amount", (json_int_t)hbk_json_int(intent, "amount", 0),
	    "amount_captured", (json_int_t)received, "amount_refunded", (json_int_t)refunded,
	    "currency", hbk_json_str(intent, "currency", ""), "payment_intent", intent_id,
	    "captured", received > 0, "refunded", received > 0 && refunded >= received, "metadata",
	    json_object_get(intent, "metadata"), "refunds", "object", "list", "data", refunds,
	    "has_more", 0, "url", "/v1/refunds");
	HBK_ASSERT(charge != NULL);
	return charge;
}

/* After a cancel or a refund: tells the webhook about the intent's change
 * when the intent belongs to a booking. */
static void webhook_after(struct sandbox *sb, const char *type, const char *intent_id,
			  const char *idempotency_key)
{
	json_t *intent = NULL;
	struct hbk_error err = {0};
	if (sb->webhook_url == NULL ||
	    hbk_payment_sim_intent(&sb->payment, intent_id, &intent, &err) != HBK_OK)
		return;
	const char *booking_id =
	    hbk_json_str(json_object_get(intent, "metadata"), "booking_id", "");
	if (booking_id[0] == '\0') {
		json_decref(intent);
		return;
	}
	if (strcmp(type, "charge.refunded") == 0) {
		json_t *charge = charge_of(sb, intent);
		json_decref(intent);
		intent = charge;
	}
	webhook_send(sb, type, intent, idempotency_key);
}

/* ------------------------------------------------------------------------
 * The endpoints. Each answers into pr->resp; a request that executed sets
 * pr->executed so that its answer is saved under its Idempotency-Key.
 */

struct payment_request {
	struct sandbox *sb;
	const struct http_request *req;
	struct http_response *resp;
	const char *endpoint;
	json_t *form;		     /* borrowed */
	const char *idempotency_key; /* NULL: none */
	bool executed;
};

/* A refusal of an intent's call, with the intent as it is now in
 * error.payment_intent, as Stripe answers. */
static void reply_intent_error(struct payment_request *pr, const struct hbk_error *err,
			       const char *intent_id)
{
	reply_result(pr->resp, err);
	json_t *intent = NULL;
	struct hbk_error load_err = {0};
	if (err->result != HBK_ECONFLICT ||
	    hbk_payment_sim_intent(&pr->sb->payment, intent_id, &intent, &load_err) != HBK_OK)
		return;
	json_t *body = hbk_json_loads(pr->resp->body.data, pr->resp->body.len, NULL);
	json_object_set_new(json_object_get(body, "error"), "payment_intent", intent);
	sandbox_json(pr->resp, pr->resp->status, body);
}

static void reply_intent(struct payment_request *pr, const char *intent_id)
{
	json_t *intent = NULL;
	struct hbk_error err = {0};
	if (hbk_payment_sim_intent(&pr->sb->payment, intent_id, &intent, &err) != HBK_OK) {
		reply_result(pr->resp, &err);
		return;
	}
	sandbox_json(pr->resp, 200, intent);
}

/* True with probability rate. */
static bool roll(double rate)
{
	if (rate <= 0)
		return false;
	uint32_t r;
	hbk_random_bytes(&r, sizeof(r));
	return (double)r / 4294967296.0 < rate;
}

static void intents_create(struct payment_request *pr)
{
	const json_t *form = pr->form;
	struct sandbox *sb = pr->sb;
	const char *currency = form_get(form, "currency");
	const char *payment_method = form_get(form, "payment_method");
	const char *confirm = form_get(form, "confirm");
	const char *capture_method = form_get(form, "capture_method");
	long long amount;

	if (!form_int(pr->resp, form, "amount", 1, AMOUNT_MAX, 0, &amount))
		return;
	if (form_get(form, "amount") == NULL || currency == NULL) {
		const char *param = currency ? "amount" : "currency";
		char message[96];
		hbk_format(message, sizeof(message), "Missing required param: %s.", param);
		reply_error(pr->resp, 400, "invalid_request_error", "parameter_missing", param,
			    message);
		return;
	}
	if (payment_method == NULL || confirm == NULL || strcmp(confirm, "true") != 0) {
		reply_error(pr->resp, 400, "invalid_request_error", "parameter_missing",
			    payment_method ? "confirm" : "payment_method",
			    "this simulator creates confirmed intents only: send payment_method "
			    "and confirm=true");
		return;
	}
	if (capture_method && strcmp(capture_method, "manual") != 0 &&
	    strcmp(capture_method, "automatic") != 0 &&
	    strcmp(capture_method, "automatic_async") != 0) {
		reply_error(pr->resp, 400, "invalid_request_error", "parameter_invalid_string",
			    "capture_method", "Invalid capture_method.");
		return;
	}
	struct hbk_money money = {.minor = amount};
	hbk_copy(money.currency, sizeof(money.currency), currency);
	if (strlen(currency) != 3) {
		reply_error(pr->resp, 400, "invalid_request_error", "parameter_invalid_string",
			    "currency", "Invalid currency.");
		return;
	}

	const struct sandbox_faults *faults = sandbox_faults_for(sb, pr->endpoint);
	if (faults && roll(faults->decline_rate) && hbk_payment_method_valid(payment_method))
		payment_method = "pm_card_chargeDeclined"; /* the decline_rate fault */

	struct hbk_payment_intent intent;
	struct hbk_error err = {0};
	hbk_result r =
	    sb->payment.ops->authorize(sb->payment.self, NULL, &money, payment_method,
				       form_get(form, "metadata[booking_id]"), &intent, &err);
	if (r == HBK_EINVAL || r == HBK_EUNAVAILABLE || r == HBK_EINTERNAL) {
		reply_result(pr->resp, &err); /* changed nothing: not saved */
		return;
	}
	pr->executed = true;
	if (r == HBK_EDECLINED) {
		json_t *pi = NULL;
		struct hbk_error load_err = {0};
		hbk_payment_sim_intent(&sb->payment, intent.id, &pi, &load_err);
		const char *decline_code = hbk_json_str(json_object_get(pi, "last_payment_error"),
							"decline_code", "generic_decline");
		json_t *body = error_body("card_error", "card_declined", decline_code, NULL,
					  strcmp(decline_code, "insufficient_funds") == 0
					      ? "Your card has insufficient funds."
					      : "Your card was declined.");
		if (pi)
			json_object_set_new(json_object_get(body, "error"), "payment_intent", pi);
		sandbox_json(pr->resp, 402, body);
		return;
	}
	if (r != HBK_OK) {
		reply_result(pr->resp, &err);
		return;
	}
	if (capture_method == NULL || strcmp(capture_method, "manual") != 0) {
		/* Stripe's default: captured at once. */
		struct hbk_payment_intent captured;
		r = sb->payment.ops->capture(sb->payment.self, NULL, intent.id, amount, &captured,
					     &err);
		if (r != HBK_OK) {
			reply_result(pr->resp, &err);
			return;
		}
	}
	reply_intent(pr, intent.id);
}

static void intents_capture(struct payment_request *pr, const char *id)
{
	struct sandbox *sb = pr->sb;
	json_t *pi = NULL;
	struct hbk_error err = {0};
	if (hbk_payment_sim_intent(&sb->payment, id, &pi, &err) != HBK_OK) {
		reply_result(pr->resp, &err);
		pr->executed = err.result == HBK_ENOTFOUND;
		return;
	}
	long long capturable = hbk_json_int(pi, "amount_capturable", 0);
	json_decref(pi);
	long long amount;
	if (!form_int(pr->resp, pr->form, "amount_to_capture", 1, AMOUNT_MAX,
		      capturable > 0 ? capturable : 1, &amount))
		return;
	struct hbk_payment_intent intent;
	hbk_result r = sb->payment.ops->capture(sb->payment.self, NULL, id, amount, &intent, &err);
	pr->executed = r == HBK_OK || r == HBK_ECONFLICT || r == HBK_ENOTFOUND;
	if (r != HBK_OK) {
		reply_intent_error(pr, &err, id);
		return;
	}
	reply_intent(pr, id);
}

static void intents_cancel(struct payment_request *pr, const char *id)
{
	struct sandbox *sb = pr->sb;
	struct hbk_payment_intent intent;
	struct hbk_error err = {0};
	hbk_result r = sb->payment.ops->cancel(sb->payment.self, NULL, id, &intent, &err);
	pr->executed = r == HBK_OK || r == HBK_ECONFLICT || r == HBK_ENOTFOUND;
	if (r != HBK_OK) {
		reply_intent_error(pr, &err, id);
		return;
	}
	reply_intent(pr, id);
	webhook_after(sb, "payment_intent.canceled", id, pr->idempotency_key);
}

static void refunds_create(struct payment_request *pr)
{
	struct sandbox *sb = pr->sb;
	const char *id = form_get(pr->form, "payment_intent");
	struct hbk_error err = {0};
	if (id == NULL) {
		reply_error(pr->resp, 400, "invalid_request_error", "parameter_missing",
			    "payment_intent",
			    "Missing required param: payment_intent (this simulator refunds "
			    "payment intents, not charges).");
		return;
	}
	json_t *pi = NULL;
	if (hbk_payment_sim_intent(&sb->payment, id, &pi, &err) != HBK_OK) {
		pr->executed = err.result == HBK_ENOTFOUND;
		reply_result(pr->resp, &err);
		return;
	}
	long long left =
	    hbk_json_int(pi, "amount_received", 0) - hbk_json_int(pi, "amount_refunded", 0);
	json_decref(pi);
	long long amount;
	if (!form_int(pr->resp, pr->form, "amount", 1, AMOUNT_MAX, left, &amount))
		return;
	if (amount <= 0) {
		pr->executed = true;
		reply_error(pr->resp, 400, "invalid_request_error", "charge_already_refunded", NULL,
			    "This payment intent has nothing left to refund.");
		return;
	}
	struct hbk_refund refund;
	hbk_result r = sb->payment.ops->refund(sb->payment.self, NULL, id, amount, &refund, &err);
	pr->executed = r == HBK_OK || r == HBK_ECONFLICT || r == HBK_ENOTFOUND;
	if (r != HBK_OK) {
		reply_result(pr->resp, &err);
		return;
	}
	json_t *refunds = NULL;
	json_t *found = NULL;
	if (hbk_payment_sim_refunds(&sb->payment, id, &refunds, &err) == HBK_OK) {
		size_t i;
		json_t *obj;
		json_array_foreach(refunds, i, obj)
		{
			if (strcmp(hbk_json_str(obj, "id", ""), refund.id) == 0)
				found = json_incref(obj);
		}
	}
	json_decref(refunds);
	if (found == NULL) {
		reply_error(pr->resp, 500, "api_error", NULL, NULL, "refund vanished");
		return;
	}
	const char *reason = form_get(pr->form, "reason");
	json_object_set_new(found, "reason", reason ? json_string(reason) : json_null());
	sandbox_json(pr->resp, 200, found);
	webhook_after(sb, "charge.refunded", id, pr->idempotency_key);
}

/*
 * One page of items (newest first), as Stripe pages: starting_after gives
 * the items after (older than) that id, ending_before those just before
 * (newer than) it; has_more says whether more lie beyond the page in the
 * direction of travel.
 */
static void reply_page(struct payment_request *pr, json_t *items, const char *url)
{
	long long limit;
	const char *after = form_get(pr->form, "starting_after");
	const char *before = form_get(pr->form, "ending_before");
	if (!form_int(pr->resp, pr->form, "limit", 1, LIST_LIMIT_MAX, LIST_LIMIT_DEFAULT, &limit)) {
		json_decref(items);
		return;
	}
	if (after && before) {
		json_decref(items);
		reply_error(pr->resp, 400, "invalid_request_error", "parameter_invalid_string",
			    "ending_before",
			    "You may only specify one of these parameters: starting_after, "
			    "ending_before.");
		return;
	}
	size_t n = json_array_size(items), start = 0, end = n;
	const char *cursor = after ? after : before;
	if (cursor) {
		size_t at = n;
		for (size_t i = 0; i < n; i++)
			if (strcmp(hbk_json_str(json_array_get(items, i), "id", ""), cursor) == 0)
				at = i;
		if (at == n) {
			json_decref(items);
			char message[160];
			hbk_format(message, sizeof(message), "No such object: '%.*s'",
				   hbk_utf8_cut(cursor, 64), cursor);
			reply_error(pr->resp, 400, "invalid_request_error", "resource_missing",
				    after ? "starting_after" : "ending_before", message);
			return;
		}
		if (after)
			start = at + 1;
		else
			end = at;
	}
	bool more;
	if (before) {
		start = end > (size_t)limit ? end - (size_t)limit : 0;
		more = start > 0;
	} else {
		end = n - start > (size_t)limit ? start + (size_t)limit : n;
		more = end < n;
	}
	json_t *data = json_array();
	for (size_t i = start; i < end; i++)
		json_array_append(data, json_array_get(items, i));
	json_decref(items);
	sandbox_json(pr->resp, 200,
		     json_pack("{s:s, s:o, s:b, s:s}", "object", "list", "data", data, "has_more",
			       more, "url", url));
}

/* The created[gt|gte|lt|lte] bounds of a list (unix seconds, inclusive);
 * false (with a 400 sent) when one is not an integer. */
static bool created_range(struct payment_request *pr, long long *from_s, long long *to_s)
{
	long long gt, lt;
	if (!form_int(pr->resp, pr->form, "created[gte]", 0, INT64_MAX / 2, 0, from_s) ||
	    !form_int(pr->resp, pr->form, "created[gt]", 0, INT64_MAX / 2, -1, &gt) ||
	    !form_int(pr->resp, pr->form, "created[lte]", 0, INT64_MAX / 2, INT64_MAX / 2, to_s) ||
	    !form_int(pr->resp, pr->form, "created[lt]", 1, INT64_MAX / 2, INT64_MAX / 2, &lt))
		return false;
	if (gt + 1 > *from_s)
		*from_s = gt + 1;
	if (lt - 1 < *to_s)
		*to_s = lt - 1;
	return true;
}

static void intents_list(struct payment_request *pr)
{
	struct sandbox *sb = pr->sb;
	json_t *all = NULL;
	struct hbk_error err = {0};
	long long from_s, to_s;
	if (!created_range(pr, &from_s, &to_s))
		return;
	if (sb->payment.ops->list(sb->payment.self, &all, &err) != HBK_OK) {
		reply_result(pr->resp, &err);
		return;
	}
	json_t *within = json_array();
	size_t i;
	json_t *intent;
	json_array_foreach(all, i, intent)
	{
		long long created = hbk_json_int(intent, "created", 0);
		if (created >= from_s && created <= to_s)
			json_array_append(within, intent);
	}
	json_decref(all);
	reply_page(pr, within, "/v1/payment_intents");
}

static void refunds_list(struct payment_request *pr)
{
	json_t *all = NULL;
	struct hbk_error err = {0};
	if (hbk_payment_sim_refunds(&pr->sb->payment, form_get(pr->form, "payment_intent"), &all,
				    &err) != HBK_OK) {
		reply_result(pr->resp, &err);
		return;
	}
	reply_page(pr, all, "/v1/refunds");
}

static void dispatch(struct payment_request *pr)
{
	const char *endpoint = pr->endpoint;
	const char *path = pr->req->path;
	char id[HBK_PAYMENT_REF_MAX] = "";
	if (strcmp(endpoint, "payment.payment_intents.create") == 0)
		intents_create(pr);
	else if (strcmp(endpoint, "payment.payment_intents.capture") == 0 &&
		 intent_path(path, "/capture", id))
		intents_capture(pr, id);
	else if (strcmp(endpoint, "payment.payment_intents.cancel") == 0 &&
		 intent_path(path, "/cancel", id))
		intents_cancel(pr, id);
	else if (strcmp(endpoint, "payment.payment_intents.get") == 0 && intent_path(path, "", id))
		reply_intent(pr, id);
	else if (strcmp(endpoint, "payment.payment_intents.list") == 0)
		intents_list(pr);
	else if (strcmp(endpoint, "payment.refunds.create") == 0)
		refunds_create(pr);
	else if (strcmp(endpoint, "payment.refunds.list") == 0)
		refunds_list(pr);
	else
		reply_error(pr->resp, 404, "invalid_request_error", "resource_missing", NULL,
			    "Unrecognized request URL.");
}

/* ------------------------------------------------------------------------
 * Idempotency.
 */

/* The saved answer of key: *found, with its fingerprint, status and body. */
static hbk_result saved_load(struct hbk_store *store, const char *key, bool *found,
			     char **fingerprint, int *status, char **body, struct hbk_error *err)
{
	sqlite3_stmt *stmt = NULL;
	*found = false;
	hbk_result r =
	    hbk_store_prepare(store,
			      "SELECT fingerprint, status, body FROM sandbox_payment_requests"
			      " WHERE key = ?1 AND created_ms >= ?2",
			      &stmt, err);
	if (r != HBK_OK)
		return r;
	hbk_bind_text(stmt, 1, key);
	sqlite3_bind_int64(stmt, 2, hbk_now_ms() - KEY_TTL_MS);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*found = true;
		*fingerprint = hbk_xstrdup(hbk_column_text(stmt, 0));
		*status = sqlite3_column_int(stmt, 1);
		*body = hbk_xstrdup(hbk_column_text(stmt, 2));
	} else if (rc != SQLITE_DONE) {
		r = hbk_store_fail(store, err, "load idempotency key");
	}
	hbk_stmt_done(stmt);
	return r;
}

static hbk_result saved_store(struct hbk_store *store, const char *key, const char *fingerprint,
			      const struct http_response *resp, struct hbk_error *err)
{
	sqlite3_stmt *stmt = NULL;
	hbk_result r = hbk_store_prepare(
	    store,
	    "INSERT OR REPLACE INTO sandbox_payment_requests (key, fingerprint, status, body,"
	    " created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
	    &stmt, err);
	if (r != HBK_OK)
		return r;
	hbk_bind_text(stmt, 1, key);
	hbk_bind_text(stmt, 2, fingerprint);
	sqlite3_bind_int(stmt, 3, resp->status);
	hbk_bind_text(stmt, 4, resp->body.data ? resp->body.data : "");
	sqlite3_bind_int64(stmt, 5, hbk_now_ms());
	r = hbk_store_step_done(store, stmt, "save idempotency key", err);
	hbk_stmt_done(stmt);
	return r;
}

/* The table of saved answers, made once per store (the sandbox has one). */
static hbk_result saved_schema(struct hbk_store *store, struct hbk_error *err)
{
	static const struct hbk_store *ready;
	if (ready == store)
		return HBK_OK;
	hbk_result r = hbk_store_exec(store, idempotency_schema, err);
	if (r == HBK_OK)
		ready = store;
	return r;
}

/*
 * Runs a POST under its Idempotency-Key, in one transaction: the lookup,
 * the simulator's effect and the saved answer are kept together or not at
 * all (a request that did not execute changed nothing and is rolled back).
 */
static void run_keyed(struct payment_request *pr)
{
	struct hbk_store *store = pr->sb->store;
	struct hbk_error err = {0};
	if (saved_schema(store, &err) != HBK_OK || hbk_store_begin(store, true, &err) != HBK_OK) {
		reply_result(pr->resp, &err);
		return;
	}
	char *fingerprint_params = json_dumps(pr->form, JSON_COMPACT | JSON_SORT_KEYS);
	struct hbk_buf fingerprint;
	hbk_buf_init(&fingerprint, HBK_BUF_MAX_DEFAULT);
	hbk_buf_printf(&fingerprint, "%s %s %s", pr->endpoint, pr->req->path, fingerprint_params);
	free(fingerprint_params);

	bool found = false;
	char *saved_fingerprint = NULL, *saved_body = NULL;
	int saved_status = 0;
	if (saved_load(store, pr->idempotency_key, &found, &saved_fingerprint, &saved_status,
		       &saved_body, &err) != HBK_OK) {
		reply_result(pr->resp, &err);
	} else if (found && strcmp(saved_fingerprint, fingerprint.data) != 0) {
		char message[400];
		hbk_format(message, sizeof(message),
			   "Keys for idempotent requests can only be used with the same "
			   "parameters they were first used with. Try using a key other than "
			   "'%.*s' if you meant to execute a different request.",
			   hbk_utf8_cut(pr->idempotency_key, 255), pr->idempotency_key);
		reply_error(pr->resp, 400, "idempotency_error", NULL, NULL, message);
	} else if (found) {
		pr->resp->status = saved_status;
		pr->resp->content_type = "application/json";
		hbk_buf_reset(&pr->resp->body);
		hbk_buf_puts(&pr->resp->body, saved_body);
		http_response_header(pr->resp, "Idempotent-Replayed", "true");
	} else {
		dispatch(pr);
		if (pr->executed && saved_store(store, pr->idempotency_key, fingerprint.data,
						pr->resp, &err) != HBK_OK) {
			pr->executed = false;
			reply_result(pr->resp, &err);
		}
	}
	if (!pr->executed)
		hbk_store_rollback(store);
	else if (hbk_store_commit(store, &err) != HBK_OK)
		reply_result(pr->resp, &err);
	http_response_header(pr->resp, "Idempotency-Key", "%.*s",
			     hbk_utf8_cut(pr->idempotency_key, 150), pr->idempotency_key);
	free(saved_fingerprint);
	free(saved_body);
	hbk_buf_free(&fingerprint);
}

/* ------------------------------------------------------------------------
 * The area.
 */

static bool authorized(const struct sandbox *sb, const struct http_request *req)
{
	const char *auth = http_header(req, "Authorization");
	const char *key = sb->payment_key ? sb->payment_key : "sk_test_sandbox";
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
		return false;
	const char *given = auth + 7;
	size_t len = strlen(key);
	/* Compared in constant time, as a real API would. */
	return strlen(given) == len && CRYPTO_memcmp(given, key, len) == 0;
}

static void payment_handle(struct sandbox *sb, struct http_exchange *ex, const char *endpoint)
{
	struct http_request *req = &ex->req;
	struct http_response *resp = &ex->resp;
	if (!authorized(sb, req)) {
		const char *auth = http_header(req, "Authorization");
		reply_error(resp, 401, "invalid_request_error", NULL, NULL,
			    auth ? "Invalid API Key provided."
				 : "You did not provide an API key. Provide it in the "
				   "Authorization header as a Bearer token.");
		http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"Stripe\"");
		return;
	}
	if (endpoint == NULL) {
		reply_error(resp, 404, "invalid_request_error", "resource_missing", NULL,
			    "Unrecognized request URL.");
		return;
	}

	json_t *form = json_object();
	bool ok = form_parse(req->query ? req->query : "", form);
	if (ok && strcmp(req->method, "POST") == 0 && req->body_len > 0)
		ok = strlen(req->body) == req->body_len && form_parse(req->body, form);
	if (!ok) {
		json_decref(form);
		reply_error(resp, 400, "invalid_request_error", "parameter_invalid_string", NULL,
			    "The request's parameters are not valid "
			    "application/x-www-form-urlencoded UTF-8 text.");
		return;
	}
	struct payment_request pr = {
	    .sb = sb,
	    .req = req,
	    .resp = resp,
	    .endpoint = endpoint,
	    .form = form,
	    .idempotency_key = http_header(req, "Idempotency-Key"),
	};
	if (strcmp(req->method, "POST") != 0 || pr.idempotency_key == NULL) {
		pr.idempotency_key = NULL;
		dispatch(&pr);
	} else if (pr.idempotency_key[0] == '\0' || strlen(pr.idempotency_key) > KEY_LENGTH_MAX) {
		reply_error(resp, 400, "invalid_request_error", "idempotency_key_invalid", NULL,
			    "Idempotency-Key must be 1 to 255 characters.");
	} else {
		run_keyed(&pr);
	}
	json_decref(form);
}

static json_t *payment_state(struct sandbox *sb)
{
	json_t *intents = NULL, *refunds = NULL;
	struct hbk_error err = {0};
	if (sb->payment.ops->list(sb->payment.self, &intents, &err) != HBK_OK)
		intents = json_array();
	if (hbk_payment_sim_refunds(&sb->payment, NULL, &refunds, &err) != HBK_OK)
		refunds = json_array();
	return json_pack("{s:o, s:o}", "payment_intents", intents, "refunds", refunds);
}

const struct sandbox_area sandbox_payment_area = {
    .name = "payment",
    .prefix = "/v1/",
    .endpoint = payment_endpoint,
    .handle = payment_handle,
    .error = payment_error,
    .state = payment_state,
};
