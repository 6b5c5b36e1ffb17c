/*
 * routes.c - hbkd's API: routing, authentication, request parsing and the
 * handlers of api.h. Handlers that run a saga answer from its completion
 * callback; with the in-process adapters that is before they return.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "hbk/config.h"
#include "hbk/inventory.h"
#include "hbk/json.h"
#include "hbk/notify.h"
#include "hbk/payment.h"
#include "hbk/upstream.h"
#include "idempotency.h"
#include "server.h"

#define QUERY_PARAMS_MAX     32
#define REQUEST_ID_MAX	     72
#define LIST_LIMIT_DEFAULT   50
#define OFFERS_LIMIT_DEFAULT 20

/* A write request waiting for the end of its loop's turn, when the
 * worker runs the turn's writes in one batch (worker_flush). */
struct deferred_write {
	struct deferred_write *next;
	struct exchange_ctx *x;
	bool (*fn)(struct exchange_ctx *x, struct http_request *req, struct http_response *resp);
};

/* What one request carries from its handler to its answer and log line. */
struct exchange_ctx {
	struct worker *worker;
	struct http_exchange *ex;
	enum route route;
	char request_id[REQUEST_ID_MAX];
	char token_name[HBK_TOKEN_NAME_MAX];
	char booking_id[HBK_ID_MAX];
	char idempotency_key[256];
	bool idempotent;
	bool if_match_given;
	bool in_handler; /* the saga is being started: answer inline */
	bool answered;
	int created_status; /* 201 for a new booking, 200 otherwise */
};

/* ---- responses ---- */

/* A problem written by hand, for an answer that could not be built. */
static const char unwritable_problem[] =
    "{\"type\":\"" HBK_API_PROBLEM_BASE "internal\",\"title\":\"Internal Server Error\","
    "\"status\":500,\"detail\":\"the answer could not be written\",\"code\":\"internal\"}";

static void reply_json(struct http_response *resp, int status, json_t *doc)
{
	hbk_buf_reset(&resp->body);
	if (doc == NULL) {
		/* json_pack refused a string (not UTF-8) that no check before
		 * made valid: an error of this code, answered, never an abort. */
		resp->status = 500;
		resp->content_type = "application/problem+json";
		hbk_buf_puts(&resp->body, unwritable_problem);
		return;
	}
	char *text = hbk_json_dumps(doc);
	json_decref(doc);
	resp->status = status;
	resp->content_type = "application/json";
	hbk_buf_puts(&resp->body, text);
	free(text);
}

static void reply_problem(struct http_response *resp, int status, const struct hbk_error *err,
			  const json_t *booking)
{
	reply_json(resp, status, hbk_api_problem(status, err, booking));
	resp->content_type = "application/problem+json";
}

static void problem(struct http_response *resp, int status, const char *code, const char *field,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void problem(struct http_response *resp, int status, const char *code, const char *field,
		    const char *fmt, ...)
{
	struct hbk_error err = {0};
	char text[2 * HBK_ERROR_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* Through the error context, which keeps the text valid UTF-8. */
	hbk_fail_field(&err, HBK_EINVAL, code, field, "%s", text);
	reply_problem(resp, status, &err, NULL);
}

static void reply_error(struct http_response *resp, const struct hbk_error *err,
			const json_t *booking)
{
	reply_problem(resp, hbk_api_status(err->result, err->code), err, booking);
}

void app_refuse(void *ctx, int status, const char *code, const char *detail,
		struct http_response *resp)
{
	(void)ctx;
	problem(resp, status, code, NULL, "%s", detail);
}

/* ---- query strings ---- */

struct query {
	int count;
	char *keys[QUERY_PARAMS_MAX];
	char *values[QUERY_PARAMS_MAX];
	char *storage;
};

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes application/x-www-form-urlencoded text in place. */
static bool form_decode(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (*p == '+') {
			*o++ = ' ';
		} else if (*p == '%') {
			int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return false;
			*o++ = (char)(hi * 16 + lo);
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return hbk_utf8_valid(s, strlen(s));
}

static void query_free(struct query *q)
{
	free(q->storage);
}

/* Parses a query string; only the allowed names, each at most once. */
static bool query_parse(const char *text, const char *const *allowed, struct query *q,
			struct http_response *resp)
{
	memset(q, 0, sizeof(*q));
	q->storage = hbk_xstrdup(text);
	for (char *p = q->storage, *next; p && *p; p = next) {
		next = strchr(p, '&');
		if (next)
			*next++ = '\0';
		if (!*p)
			continue;
		char *eq = strchr(p, '=');
		char *value = eq ? eq + 1 : p + strlen(p);
		if (eq)
			*eq = '\0';
		if (!form_decode(p) || !form_decode(value)) {
			problem(resp, 400, "invalid_query", NULL, "malformed query string");
			return false;
		}
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = strcmp(*a, p) == 0;
		if (!known) {
			problem(resp, 400, "unknown_parameter", p,
				"unknown query parameter '%.*s'", hbk_utf8_cut(p, 64), p);
			return false;
		}
		for (int i = 0; i < q->count; i++)
			if (strcmp(q->keys[i], p) == 0) {
				problem(resp, 400, "duplicate_parameter", p,
					"query parameter '%.*s' is given twice", hbk_utf8_cut(p, 64),
					p);
				return false;
			}
		if (q->count == QUERY_PARAMS_MAX) {
			problem(resp, 400, "invalid_query", NULL, "too many query parameters");
			return false;
		}
		q->keys[q->count] = p;
		q->values[q->count] = value;
		q->count++;
	}
	return true;
}

static const char *query_get(const struct query *q, const char *key)
{
	for (int i = 0; i < q->count; i++)
		if (strcmp(q->keys[i], key) == 0)
			return q->values[i];
	return NULL;
}

static bool query_int(const struct query *q, const char *key, long long min, long long max,
		      long long def, long long *out, struct http_response *resp)
{
	const char *v = query_get(q, key);
	if (!v) {
		*out = def;
		return true;
	}
	if (!hbk_parse_int(v, min, max, out)) {
		problem(resp, 422, "invalid_parameter", key,
			"%s: expected a whole number from %lld to %lld", key, min, max);
		return false;
	}
	return true;
}

static bool query_date(const struct query *q, const char *key, hbk_date *out,
		       struct http_response *resp)
{
	const char *v = query_get(q, key);
	if (v && !hbk_date_parse(v, out)) {
		problem(resp, 422, "invalid_date", key,
			"%s: invalid date '%.*s' (expected YYYY-MM-DD)", key, hbk_utf8_cut(v, 32),
			v);
		return false;
	}
	return true;
}

/* ---- JSON bodies ---- */

static json_t *body_object(const struct http_request *req, const char *const *allowed,
			   bool may_be_empty, struct http_response *resp)
{
	struct hbk_error err = {0};
	if (req->body_len == 0 && may_be_empty)
		return json_object();
	const char *type = http_header(req, "Content-Type");
	size_t n = type ? strcspn(type, ";") : 0;
	if (!type || !((n == 16 && strncasecmp(type, "application/json", 16) == 0) ||
		       (n > 5 && strncasecmp(type + n - 5, "+json", 5) == 0))) {
		problem(resp, 415, "unsupported_media_type", NULL,
			"the body must be application/json");
		return NULL;
	}
	json_t *body = hbk_json_loads(req->body, req->body_len, &err);
	if (!body) {
		reply_problem(resp, 400, &err, NULL);
		return NULL;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		problem(resp, 400, "invalid_body", NULL, "the body must be a JSON object");
		return NULL;
	}
	const char *key;
	json_t *value;
	json_object_foreach(body, key, value)
	{
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = strcmp(*a, key) == 0;
		if (!known) {
			problem(resp, 400, "unknown_field", key, "unknown field '%.*s'",
				hbk_utf8_cut(key, 64), key);
			json_decref(body);
			return NULL;
		}
	}
	return body;
}

/* Copies an optional string member; false (answered) on a wrong type or length. */
static bool body_string(const json_t *obj, const char *key, const char *field, char *dst,
			size_t size, bool required, bool *given, struct http_response *resp)
{
	const json_t *v = json_object_get(obj, key);
	if (given)
		*given = v != NULL;
	if (!v) {
		if (required) {
			problem(resp, 422, "missing_field", field, "%s is required", field);
			return false;
		}
		return true;
	}
	if (!json_is_string(v)) {
		problem(resp, 422, "invalid_field", field, "%s must be a string", field);
		return false;
	}
	if (!hbk_copy(dst, size, json_string_value(v))) {
		problem(resp, 422, "invalid_field", field, "%s is longer than %zu bytes", field,
			size - 1);
		return false;
	}
	if (strlen(dst) != json_string_length(v)) {
		problem(resp, 422, "invalid_field", field, "%s has a NUL character", field);
		return false;
	}
	return true;
}

static bool body_int(const json_t *obj, const char *key, const char *field, long long min,
		     long long max, int *dst, bool *given, struct http_response *resp)
{
	const json_t *v = json_object_get(obj, key);
	*given = v != NULL;
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		problem(resp, 422, "invalid_field", field,
			"%s must be a whole number from %lld to %lld", field, min, max);
		return false;
	}
	*dst = (int)json_integer_value(v);
	return true;
}

static bool body_object_member(const json_t *obj, const char *key, const char *const *allowed,
			       const json_t **out, bool required, struct http_response *resp)
{
	const json_t *v = json_object_get(obj, key);
	*out = v;
	if (!v) {
		if (required)
			problem(resp, 422, "missing_field", key, "%s is required", key);
		return !required;
	}
	if (!json_is_object(v)) {
		problem(resp, 422, "invalid_field", key, "%s must be an object", key);
		return false;
	}
	const char *k;
	json_t *value;
	json_object_foreach((json_t *)v, k, value)
	{
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = strcmp(*a, k) == 0;
		if (!known) {
			problem(resp, 400, "unknown_field", key, "unknown field '%s.%.*s'", key,
				hbk_utf8_cut(k, 64), k);
			return false;
		}
	}
	return true;
}

/* "7", "\"7\"", W/"7" or "*" (-1: any). */
static bool parse_if_match(const char *value, int64_t *version)
{
	long long v;
	char buf[32];
	if (strcmp(value, "*") == 0) {
		*version = -1;
		return true;
	}
	if (strncmp(value, "W/", 2) == 0)
		value += 2;
	size_t len = strlen(value);
	if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
		if (len - 2 >= sizeof(buf))
			return false;
		memcpy(buf, value + 1, len - 2);
		buf[len - 2] = '\0';
		value = buf;
	}
	if (!hbk_parse_int(value, 0, INT64_MAX / 2, &v))
		return false;
	*version = v;
	return true;
}

static void set_etag(struct http_response *resp, const json_t *booking)
{
	json_int_t version = json_integer_value(json_object_get(booking, "version"));
	http_response_header(resp, "ETag", "\"%lld\"", (long long)version);
}

/* ---- handlers ---- */

static bool h_offers(struct exchange_ctx *x, struct http_request *req, struct http_response *resp)
{
	static const char *const allowed[] = {
	    "city",  "hotel",	  "checkin",	"checkout", "nights", "adults", "children",
	    "rooms", "max_price", "refundable", "sort",	    "limit",  NULL};
	struct hbk_search_query q = {0};
	struct hbk_error err = {0};
	struct query query;
	long long adults, children, rooms, limit, nights;

	if (!query_parse(req->query, allowed, &query, resp))
		goto done;
	const char *city = query_get(&query, "city"), *hotel = query_get(&query, "hotel");
	const char *refundable = query_get(&query, "refundable"), *sort = query_get(&query, "sort");
	if ((city && !hbk_copy(q.city, sizeof(q.city), city)) ||
	    (hotel && !hbk_copy(q.hotel_id, sizeof(q.hotel_id), hotel))) {
		problem(resp, 422,
			city && strlen(city) >= sizeof(q.city) ? "unknown_city" : "unknown_hotel",
			city && strlen(city) >= sizeof(q.city) ? "city" : "hotel", "unknown %s",
			city && strlen(city) >= sizeof(q.city) ? "city" : "hotel");
		goto done;
	}
	if (!query_get(&query, "checkin")) {
		problem(resp, 400, "usage", "checkin", "checkin is required");
		goto done;
	}
	if (!query_get(&query, "checkout") == !query_get(&query, "nights")) {
		problem(resp, 400, "usage", "checkout", "give exactly one of checkout and nights");
		goto done;
	}
	if (!query_date(&query, "checkin", &q.checkin, resp) ||
	    !query_date(&query, "checkout", &q.checkout, resp) ||
	    !query_int(&query, "nights", 1, HBK_MAX_NIGHTS, 1, &nights, resp) ||
	    !query_int(&query, "adults", 0, HBK_MAX_GUESTS, 2, &adults, resp) ||
	    !query_int(&query, "children", 0, HBK_MAX_GUESTS, 0, &children, resp) ||
	    !query_int(&query, "rooms", 1, HBK_MAX_ROOMS, 1, &rooms, resp) ||
	    !query_int(&query, "limit", 1, 500, OFFERS_LIMIT_DEFAULT, &limit, resp))
		goto done;
	if (query_get(&query, "nights"))
		q.checkout = q.checkin + (hbk_date)nights;
	q.adults = (int)adults;
	q.children = (int)children;
	q.rooms = (int)rooms;
	q.limit = (int)limit;
	if (refundable && strcmp(refundable, "true") != 0 && strcmp(refundable, "false") != 0) {
		problem(resp, 422, "invalid_parameter", "refundable",
			"refundable must be true or false");
		goto done;
	}
	q.refundable_only = refundable && strcmp(refundable, "true") == 0;
	if (!sort || strcmp(sort, "price") == 0)
		q.sort = HBK_SORT_PRICE;
	else if (strcmp(sort, "stars") == 0)
		q.sort = HBK_SORT_STARS;
	else if (strcmp(sort, "name") == 0)
		q.sort = HBK_SORT_NAME;
	else {
		problem(resp, 422, "invalid_parameter", "sort",
			"sort must be price, stars or name");
		goto done;
	}
	const char *max_price = query_get(&query, "max_price");
	if (max_price && !hbk_copy(q.max_price, sizeof(q.max_price), max_price)) {
		problem(resp, 422, "invalid_amount", "max_price", "max_price: invalid amount");
		goto done;
	}
	if (hbk_search_query_check(&q, hbk_date_today(), &err) != HBK_OK ||
	    hbk_search_text(x->worker->engine->store, &q, hbk_now_ms(), &resp->body, &err) !=
		HBK_OK) {
		hbk_buf_reset(&resp->body);
		reply_error(resp, &err, NULL);
		goto done;
	}
	resp->status = 200;
	resp->content_type = "application/json";
done:
	query_free(&query);
	return true;
}

static void count_outcome(struct exchange_ctx *x, hbk_result rc, const json_t *booking)
{
	struct metrics *m = x->worker->server->metrics;
	const char *status = hbk_json_str(booking, "status", "");
	enum outcome o = rc == HBK_OK && strcmp(status, "CONFIRMED") == 0 ? OUTCOME_CONFIRMED
			 : strcmp(status, "FAILED") == 0		  ? OUTCOME_FAILED
									  : OUTCOME_REJECTED;
	atomic_fetch_add_explicit(&m->bookings[o], 1, memory_order_relaxed);
}

/* Keeps the answer of an Idempotency-Key request for replays. */
static void remember(struct exchange_ctx *x, struct http_response *resp)
{
	struct hbk_error err = {0};
	const char *location = NULL, *etag = NULL;
	if (!x->idempotent)
		return;
	for (int i = 0; i < resp->nheaders; i++) {
		if (strcmp(resp->headers[i].name, "Location") == 0)
			location = resp->headers[i].value;
		else if (strcmp(resp->headers[i].name, "ETag") == 0)
			etag = resp->headers[i].value;
	}
	idempotency_complete(x->worker->engine->store, x->idempotency_key, resp->status,
			     resp->body.data ? resp->body.data : "", location, etag, &err);
}

/* A saga has ended: the command's answer is the booking, or a problem. */
static void saga_done(void *arg, hbk_result saga_rc, const struct hbk_error *saga_err)
{
	struct exchange_ctx *x = arg;
	struct http_response *resp = &x->ex->resp;
	struct hbk_error err = {0};
	json_t *booking = NULL;

	hbk_result rc =
	    hbk_saga_outcome(x->worker->engine, x->booking_id, saga_rc, saga_err, &booking, &err);
	if (x->route == ROUTE_BOOKINGS)
		count_outcome(x, rc, booking);
	if (rc == HBK_OK) {
		set_etag(resp, booking);
		if (x->created_status == 201)
			http_response_header(resp, "Location", "/v1/bookings/%s", x->booking_id);
		reply_json(resp, x->created_status, booking);
	} else {
		reply_error(resp, &err, booking);
		json_decref(booking);
	}
	remember(x, resp);
	x->answered = true;
	atomic_fetch_sub(&x->worker->server->metrics->in_flight, 1);
	if (!x->in_handler)
		http_exchange_finish(x->ex);
}

/* Runs the saga of x->booking_id; true when it answered at once. */
static bool run_saga(struct exchange_ctx *x)
{
	x->in_handler = true;
	hbk_saga_start(x->worker->engine, x->booking_id, saga_done, x);
	x->in_handler = false;
	return x->answered;
}

/* A saga that runs on after its request was answered (?wait=0). */
struct background_saga {
	struct worker *worker;
	char id[HBK_ID_MAX];
};

static void background_done(void *arg, hbk_result rc, const struct hbk_error *err)
{
	struct background_saga *bg = arg;
	struct metrics *m = bg->worker->server->metrics;
	(void)err;
	atomic_fetch_add_explicit(&m->bookings[rc == HBK_OK ? OUTCOME_CONFIRMED : OUTCOME_FAILED],
				  1, memory_order_relaxed);
	atomic_fetch_sub(&m->in_flight, 1);
	free(bg);
}

static void background_start(void *arg)
{
	struct background_saga *bg = arg;
	hbk_saga_start(bg->worker->engine, bg->id, background_done, bg);
}

/* Answers 202 with the PENDING booking; its saga starts on the next turn
 * of the event loop. */
static bool answer_accepted(struct exchange_ctx *x, struct http_response *resp)
{
	struct hbk_error err = {0};
	json_t *booking = NULL;
	struct background_saga *bg = hbk_xcalloc(1, sizeof(*bg));
	bg->worker = x->worker;
	hbk_copy(bg->id, sizeof(bg->id), x->booking_id);
	atomic_fetch_add(&x->worker->server->metrics->in_flight, 1);
	x->worker->saga_env.defer(x->worker->saga_env.ctx, 0, background_start, bg);
	if (hbk_booking_view(x->worker->engine, x->booking_id, &booking, &err) != HBK_OK) {
		reply_error(resp, &err, NULL);
	} else {
		set_etag(resp, booking);
		http_response_header(resp, "Location", "/v1/bookings/%s", x->booking_id);
		reply_json(resp, 202, booking);
	}
	remember(x, resp);
	return true;
}

/* Answers a refused change: a stale If-Match is 412, not 409. */
static void reply_change_error(struct exchange_ctx *x, struct hbk_error *err,
			       struct http_response *resp)
{
	if (x->if_match_given && strcmp(err->code, "stale_version") == 0)
		hbk_copy(err->code, sizeof(err->code), "precondition_failed");
	reply_error(resp, err, NULL);
}

/* ---- cluster mode: a command, answered from this store ---- */

struct parked {
	struct waiter w; /* first: cluster.c frees it */
	struct exchange_ctx *x;
	bool no_wait;	  /* answer once the booking is here, PENDING or not */
	int64_t sequence; /* the booking's last event when asked (a change) */
};

static void parked_answer(struct exchange_ctx *x)
{
	remember(x, &x->ex->resp);
	x->answered = true;
	atomic_fetch_sub(&x->worker->server->metrics->in_flight, 1);
	http_exchange_finish(x->ex);
}

/* What the command's outcome says now; true once the request is answered. */
static bool settle(struct waiter *w, enum waiter_news news, const char *reason)
{
	struct parked *p = (struct parked *)w;
	struct exchange_ctx *x = p->x;
	struct http_response *resp = &x->ex->resp;
	struct hbk_engine *engine = x->worker->engine;
	struct hbk_error err = {0}, why;
	struct hbk_booking b;
	json_t *booking;

	switch (news) {
	case WAITER_WRITTEN: return false;
	case WAITER_REFUSED:
		hbk_fail(&err, HBK_EUNAVAILABLE, "kafka_unavailable",
			 "the command could not be written to Kafka: %s", reason);
		reply_error(resp, &err, NULL);
		break;
	case WAITER_EXPIRED:
		hbk_fail(&err, HBK_EUNAVAILABLE, "command_pending",
			 "command %s was sent but its outcome did not arrive in time; booking %s "
			 "may still change: look at GET /v1/bookings/%s",
			 w->command_id, x->booking_id, x->booking_id);
		reply_error(resp, &err, NULL);
		http_response_header(resp, "Location", "/v1/bookings/%s", x->booking_id);
		http_response_header(resp, "Retry-After", "1");
		break;
	case WAITER_CHANGED:
		switch (command_rejection(engine->store, w->command_id, &why, &err)) {
		case HBK_OK:
			if (x->route == ROUTE_BOOKINGS)
				count_outcome(x, why.result, NULL);
			reply_change_error(x, &why, resp);
			parked_answer(x);
			return true;
		case HBK_ENOTFOUND: break;
		default: return false; /* look again on the next change */
		}
		if (hbk_booking_get(engine, x->booking_id, &b, &err) != HBK_OK)
			return false;
		if (p->no_wait) {
			if (hbk_booking_view(engine, x->booking_id, &booking, &err) != HBK_OK)
				return false;
			set_etag(resp, booking);
			http_response_header(resp, "Location", "/v1/bookings/%s", x->booking_id);
			reply_json(resp, 202, booking);
			break;
		}
		if (x->route == ROUTE_BOOKINGS
			? b.status == HBK_BOOKING_PENDING
			: b.sequence <= p->sequence || b.saga != HBK_SAGA_NONE)
			return false;
		x->in_handler = false;
		saga_done(x, HBK_OK, NULL); /* answers, and counts the request out */
		return true;
	}
	parked_answer(x);
	return true;
}

/*
 * Publishes the command of x (type, data taken) for hotel_id and parks the
 * request; false when parked, true when answered at once.
 */
static bool park(struct exchange_ctx *x, const char *type, const char *hotel_id, json_t *data,
		 bool no_wait, int64_t sequence, struct http_response *resp)
{
	struct hbk_event command;
	struct hbk_error err = {0};
	struct parked *p = hbk_xcalloc(1, sizeof(*p));
	command_make(&command, type, x->booking_id, hotel_id, x->request_id, data);
	p->w.settle = settle;
	p->x = x;
	p->no_wait = no_wait;
	p->sequence = sequence;
	hbk_result rc = cluster_send(x->worker, &command, &p->w, &err);
	json_decref(command.data);
	if (rc != HBK_OK) {
		free(p);
		reply_error(resp, &err, NULL);
		remember(x, resp);
		return true;
	}
	atomic_fetch_add(&x->worker->server->metrics->in_flight, 1);
	return false;
}

/* The body again, as the command's data (it was checked already). */
static json_t *body_data(const struct http_request *req)
{
	json_t *data = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
	return json_is_object(data) ? data : (json_decref(data), json_object());
}

/* A change in cluster mode: to the booking's hotel, which must be here. */
static bool park_change(struct exchange_ctx *x, const char *type, json_t *data, int64_t if_match,
			struct http_response *resp)
{
	struct hbk_booking b;
	struct hbk_error err = {0};
	if (hbk_booking_get(x->worker->engine, x->booking_id, &b, &err) != HBK_OK) {
		json_decref(data);
		reply_error(resp, &err, NULL);
		return true;
	}
	if (if_match >= 0)
		json_object_set_new(data, "if_match", json_integer(if_match));
	x->created_status = 200;
	return park(x, type, b.stay.hotel_id, data, false, b.sequence, resp);
}

static bool h_create(struct exchange_ctx *x, struct http_request *req, struct http_response *resp)
{
	static const char *const allowed[] = {"offer_id", "guest", "payment_method", NULL};
	static const char *const guest_allowed[] = {"name", "email", "phone", NULL};
	struct hbk_book_request book = {0};
	struct hbk_error err = {0};
	char offer_id[HBK_OFFER_ID_MAX];
	const json_t *guest;
	struct query query;

	static const char *const params[] = {"wait", NULL};
	bool ok_query = query_parse(req->query, params, &query, resp);
	const char *wait = ok_query ? query_get(&query, "wait") : NULL;
	if (ok_query && wait && strcmp(wait, "0") != 0 && strcmp(wait, "1") != 0) {
		problem(resp, 422, "invalid_parameter", "wait", "wait must be 0 or 1");
		ok_query = false;
	}
	bool no_wait = wait && strcmp(wait, "0") == 0;
	query_free(&query);
	if (!ok_query)
		return true;
	const char *key = http_header(req, "Idempotency-Key");
	if (key && !idempotency_key_valid(key)) {
		problem(resp, 400, "invalid_idempotency_key", "Idempotency-Key",
			"Idempotency-Key must be 1 to 255 printable ASCII characters");
		return true;
	}
	json_t *body = body_object(req, allowed, false, resp);
	if (!body)
		return true;
	bool ok = body_string(body, "offer_id", "offer_id", offer_id, sizeof(offer_id), true, NULL,
			      resp) &&
		  body_object_member(body, "guest", guest_allowed, &guest, true, resp) &&
		  body_string(guest, "name", "guest.name", book.guest.name, sizeof(book.guest.name),
			      true, NULL, resp) &&
		  body_string(guest, "email", "guest.email", book.guest.email,
			      sizeof(book.guest.email), true, NULL, resp) &&
		  body_string(guest, "phone", "guest.phone", book.guest.phone,
			      sizeof(book.guest.phone), false, NULL, resp);
	if (ok) {
		const json_t *pm = json_object_get(body, "payment_method");
		if (pm && !json_is_string(pm)) {
			problem(resp, 422, "invalid_field", "payment_method",
				"payment_method must be a string");
			ok = false;
		} else if (pm && hbk_looks_like_card_number(json_string_value(pm))) {
			problem(resp, 422, "card_number_refused", "payment_method",
				"card numbers are not accepted: give a payment method token "
				"(pm_...)");
			ok = false;
		} else if (!hbk_copy(book.payment_method, sizeof(book.payment_method),
				     pm ? json_string_value(pm) : "pm_card_visa")) {
			problem(resp, 422, "invalid_payment_method", "payment_method",
				"invalid payment method");
			ok = false;
		}
	}
	json_decref(body);
	if (!ok)
		return true;
	if (hbk_offer_id_decode(offer_id, &book.stay, &book.expected_total, &err) != HBK_OK) {
		reply_error(resp, &err, NULL);
		return true;
	}

	if (key) {
		unsigned char fingerprint[IDEMPOTENCY_FINGERPRINT_BYTES];
		enum idempotency_state state;
		struct idempotency_record rec;
		idempotency_fingerprint(req->method, req->path, req->body, req->body_len,
					fingerprint);
		if (idempotency_claim(x->worker->engine->store, key, fingerprint, &state, &rec,
				      &err) != HBK_OK) {
			reply_error(resp, &err, NULL);
			return true;
		}
		switch (state) {
		case IDEMPOTENCY_REPLAY:
			resp->status = rec.status;
			resp->content_type =
			    rec.status >= 400 ? "application/problem+json" : "application/json";
			hbk_buf_puts(&resp->body, rec.body);
			if (rec.location[0])
				http_response_header(resp, "Location", "%s", rec.location);
			if (rec.etag[0])
				http_response_header(resp, "ETag", "%s", rec.etag);
			http_response_header(resp, "Idempotent-Replayed", "true");
			idempotency_record_free(&rec);
			return true;
		case IDEMPOTENCY_IN_PROGRESS:
			problem(resp, 409, "idempotency_key_in_use", "Idempotency-Key",
				"a request with this Idempotency-Key is in progress; retry later");
			return true;
		case IDEMPOTENCY_MISMATCH:
			problem(resp, 422, "idempotency_key_reused", "Idempotency-Key",
				"this Idempotency-Key was used with a different request");
			return true;
		case IDEMPOTENCY_NEW: break;
		}
		x->idempotent = true;
		hbk_copy(x->idempotency_key, sizeof(x->idempotency_key), key);
	}
	if (x->worker->commands) {
		x->created_status = 201;
		hbk_id_new("BK", x->booking_id);
		return park(x, COMMAND_CREATE, book.stay.hotel_id, body_data(req), no_wait, 0,
			    resp);
	}
	hbk_copy(book.correlation_id, sizeof(book.correlation_id), x->request_id);
	if (hbk_book_begin(x->worker->engine, &book, x->booking_id, &err) != HBK_OK) {
		reply_error(resp, &err, NULL);
		count_outcome(x, err.result, NULL);
		remember(x, resp);
		return true;
	}
	x->created_status = 201;
	if (no_wait) {
		/* The saga starts on a later turn: what the command recorded is
		 * committed now, so that the answer shows it. */
		struct hbk_engine *engine = x->worker->engine;
		if (engine->start_open) {
			engine->start_open = false;
			if (hbk_store_commit(engine->store, &err) != HBK_OK) {
				reply_error(resp, &err, NULL);
				remember(x, resp);
				return true;
			}
		}
		return answer_accepted(x, resp);
	}
	atomic_fetch_add(&x->worker->server->metrics->in_flight, 1);
	return run_saga(x);
}

static bool h_list(struct exchange_ctx *x, struct http_request *req, struct http_response *resp)
{
	static const char *const allowed[] = {"status", "hotel", "checkin_from", "checkin_to",
					      "email",	"limit", "cursor",	 NULL};
	struct hbk_list_filter f = {0};
	struct hbk_error err = {0};
	struct query query;
	long long limit;
	json_t *result;

	if (query_parse(req->query, allowed, &query, resp) &&
	    query_date(&query, "checkin_from", &f.checkin_from, resp) &&
	    query_date(&query, "checkin_to", &f.checkin_to, resp) &&
	    query_int(&query, "limit", 1, 1000, LIST_LIMIT_DEFAULT, &limit, resp)) {
		f.status = query_get(&query, "status");
		f.hotel_id = query_get(&query, "hotel");
		f.email = query_get(&query, "email");
		f.cursor = query_get(&query, "cursor");
		f.limit = (int)limit;
		if (hbk_booking_list(x->worker->engine, &f, &result, &err) == HBK_OK)
			reply_json(resp, 200, result);
		else
			reply_error(resp, &err, NULL);
	}
	query_free(&query);
	return true;
}

static bool h_view(struct exchange_ctx *x, struct http_request *req, struct http_response *resp)
{
	struct hbk_error err = {0};
	int64_t version = 0;
	/* The projection holds the document as the API sends it. */
	if (hbk_booking_view_text(x->worker->engine, x->booking_id, &resp->body, &version, &err) !=
	    HBK_OK) {
		hbk_buf_reset(&resp->body);
		reply_error(resp, &err, NULL);
		return true;
	}
	http_response_header(resp, "ETag", "\"%lld\"", (long long)version);
	const char *none_match = http_header(req, "If-None-Match");
	if (none_match && strcmp(none_match, resp->headers[resp->nheaders - 1].value) == 0) {
		hbk_buf_reset(&resp->body);
		resp->status = 304;
		return true;
	}
	resp->status = 200;
	resp->content_type = "application/json";
	return true;
}

static bool if_match(struct exchange_ctx *x, struct http_request *req, int64_t *version,
		     struct http_response *resp)
{
	const char *value = http_header(req, "If-Match");
	*version = -1;
	if (!value)
		return true;
	if (!parse_if_match(value, version)) {
		problem(resp, 400, "invalid_if_match", "If-Match",
			"If-Match must be the booking's ETag, e.g. \"3\"");
		return false;
	}
	x->if_match_given = *version >= 0;
	return true;
}

static bool h_update(struct exchange_ctx *x, struct http_request *req, struct http_response *resp)
{
	static const char *const allowed[] = {"checkin", "checkout", "room_type",
					      "guests",	 "guest",    NULL};
	static const char *const guests_allowed[] = {"adults", "children", NULL};
	static const char *const guest_allowed[] = {"name", "email", "phone", NULL};
	struct hbk_update_request u = {0};
	struct hbk_error err = {0};
	char checkin[16] = "", checkout[16] = "";
	const json_t *guests, *guest;
	bool saga = false;

	if (!if_match(x, req, &u.if_match, resp))
		return true;
	json_t *body = body_object(req, allowed, false, resp);
	if (!body)
		return true;
	bool ok = body_string(body, "checkin", "checkin", checkin, sizeof(checkin), false,
			      &u.set_checkin, resp) &&
		  body_string(body, "checkout", "checkout", checkout, sizeof(checkout), false,
			      &u.set_checkout, resp) &&
		  body_string(body, "room_type", "room_type", u.room_type, sizeof(u.room_type),
			      false, &u.set_room_type, resp) &&
		  body_object_member(body, "guests", guests_allowed, &guests, false, resp) &&
		  body_int(guests, "adults", "guests.adults", 0, HBK_MAX_GUESTS, &u.adults,
			   &u.set_adults, resp) &&
		  body_int(guests, "children", "guests.children", 0, HBK_MAX_GUESTS, &u.children,
			   &u.set_children, resp) &&
		  body_object_member(body, "guest", guest_allowed, &guest, false, resp) &&
		  body_string(guest, "name", "guest.name", u.guest.name, sizeof(u.guest.name),
			      false, &u.set_name, resp) &&
		  body_string(guest, "email", "guest.email", u.guest.email, sizeof(u.guest.email),
			      false, &u.set_email, resp) &&
		  body_string(guest, "phone", "guest.phone", u.guest.phone, sizeof(u.guest.phone),
			      false, &u.set_phone, resp);
	json_decref(body);
	if (!ok)
		return true;
	if ((u.set_checkin && !hbk_date_parse(checkin, &u.checkin)) ||
	    (u.set_checkout && !hbk_date_parse(checkout, &u.checkout))) {
		problem(resp, 422, "invalid_date", u.set_checkin ? "checkin" : "checkout",
			"invalid date (expected YYYY-MM-DD)");
		return true;
	}
	if (x->worker->commands)
		return park_change(x, COMMAND_UPDATE, body_data(req), u.if_match, resp);
	if (hbk_update_begin(x->worker->engine, x->booking_id, &u, &saga, &err) != HBK_OK) {
		reply_change_error(x, &err, resp);
		return true;
	}
	x->created_status = 200;
	atomic_fetch_add(&x->worker->server->metrics->in_flight, 1);
	if (!saga) {
		x->in_handler = true;
		saga_done(x, HBK_OK, NULL);
		return true;
	}
	return run_saga(x);
}

static bool h_cancel(struct exchange_ctx *x, struct http_request *req, struct http_response *resp)
{
	static const char *const allowed[] = {"reason", "dry_run", NULL};
	struct hbk_error err = {0};
	char reason[HBK_REASON_MAX * 2] = "";
	int64_t version;

	if (!if_match(x, req, &version, resp))
		return true;
	json_t *body = body_object(req, allowed, true, resp);
	if (!body)
		return true;
	bool ok = body_string(body, "reason", "reason", reason, sizeof(reason), false, NULL, resp);
	const json_t *dry = json_object_get(body, "dry_run");
	if (ok && dry && !json_is_boolean(dry)) {
		problem(resp, 422, "invalid_field", "dry_run", "dry_run must be true or false");
		ok = false;
	}
	bool dry_run = dry && json_is_true(dry);
	json_decref(body);
	if (!ok)
		return true;
	if (dry_run) {
		json_t *preview;
		if (hbk_cancel(x->worker->engine, x->booking_id, reason, true, version, &preview,
			       &err) != HBK_OK)
			reply_change_error(x, &err, resp);
		else
			reply_json(resp, 200, preview);
		return true;
	}
	if (x->worker->commands)
		return park_change(x, COMMAND_CANCEL, body_data(req), version, resp);
	if (hbk_cancel_begin(x->worker->engine, x->booking_id, reason, version, &err) != HBK_OK) {
		reply_change_error(x, &err, resp);
		return true;
	}
	x->created_status = 200;
	atomic_fetch_add(&x->worker->server->metrics->in_flight, 1);
	return run_saga(x);
}

static bool h_events(struct exchange_ctx *x, struct http_request *req, struct http_response *resp)
{
	struct hbk_error err = {0};
	json_t *history;
	(void)req;
	if (hbk_history(x->worker->engine, x->booking_id, &history, &err) != HBK_OK)
		reply_error(resp, &err, NULL);
	else
		reply_json(resp, 200, history);
	return true;
}

static bool h_healthz(struct exchange_ctx *x, struct http_request *req, struct http_response *resp)
{
	(void)x;
	(void)req;
	reply_json(resp, 200, json_pack("{s:s}", "status", "ok"));
	return true;
}

static bool h_readyz(struct exchange_ctx *x, struct http_request *req, struct http_response *resp)
{
	struct hbk_error err = {0};
	(void)req;
	if (atomic_load(&x->worker->server->draining)) {
		reply_json(resp, 503,
			   json_pack("{s:s, s:s}", "status", "unavailable", "detail",
				     "the server is shutting down"));
		return true;
	}
	if (hbk_store_exec(x->worker->engine->store, "SELECT 1 FROM bookings LIMIT 1", &err) !=
	    HBK_OK) {
		reply_json(resp, 503,
			   json_pack("{s:s, s:s}", "status", "unavailable", "detail", err.message));
		return true;
	}
	reply_json(resp, 200, json_pack("{s:s}", "status", "ok"));
	return true;
}

static bool h_metrics(struct exchange_ctx *x, struct http_request *req, struct http_response *resp)
{
	(void)req;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	metrics_render(x->worker->server->metrics, &resp->body);
	struct hbk_error err = {0};
	hbk_notify_metrics(x->worker->engine->store, &resp->body, &err);
	return true;
}

/* ---- the payment provider's webhook ---- */

#define WEBHOOK_TOLERANCE_S    300 /* Stripe's default tolerance */
#define WEBHOOK_SIGNATURES_MAX 8
#define WEBHOOK_SIGNATURE_HEX  64

/*
 * Checks "Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]" against
 * HMAC-SHA256(secret, "<t>.<raw body>"), in constant time, and that t is
 * within WEBHOOK_TOLERANCE_S of now. Fills err on failure.
 */
static bool webhook_signature_ok(const char *header, const char *secret, const char *body,
				 size_t body_len, struct hbk_error *err)
{
	long long t = -1;
	int nsigs = 0;
	bool any_v1 = false;
	char sigs[WEBHOOK_SIGNATURES_MAX][WEBHOOK_SIGNATURE_HEX + 1];

	for (const char *p = header; p && *p;) {
		size_t len = strcspn(p, ",");
		char item[128];
		if (len < sizeof(item)) {
			memcpy(item, p, len);
			item[len] = '\0';
			const char *value = strchr(item, '=');
			if (value && strncmp(item, "t=", 2) == 0) {
				if (!hbk_parse_int(value + 1, 0, 99999999999LL, &t))
					t = -1;
			} else if (value && strncmp(item, "v1=", 3) == 0) {
				any_v1 = true;
				if (strlen(value + 1) == WEBHOOK_SIGNATURE_HEX &&
				    nsigs < WEBHOOK_SIGNATURES_MAX)
					hbk_copy(sigs[nsigs++], sizeof(sigs[0]), value + 1);
			}
		}
		p += len;
		while (*p == ',' || *p == ' ')
			p++;
	}
	if (t < 0 || !any_v1) {
		hbk_fail(err, HBK_EINVAL, "invalid_signature",
			 "a Stripe-Signature header with t= and v1= is needed");
		return false;
	}
	long long now_s = hbk_now_ms() / 1000;
	if (t < now_s - WEBHOOK_TOLERANCE_S || t > now_s + WEBHOOK_TOLERANCE_S) {
		hbk_fail(err, HBK_EINVAL, "signature_expired",
			 "the signature's timestamp is more than %d s from now",
			 WEBHOOK_TOLERANCE_S);
		return false;
	}
	struct hbk_buf text;
	hbk_buf_init(&text, body_len + 32);
	hbk_buf_printf(&text, "%lld.", t);
	hbk_buf_append(&text, body, body_len);
	char expected[65];
	hbk_hmac_sha256_hex(secret, text.data, text.len, expected);
	hbk_buf_free(&text);
	bool match = false;
	for (int i = 0; i < nsigs; i++) {
		for (char *c = sigs[i]; *c; c++)
			if (*c >= 'A' && *c <= 'F')
				*c = (char)(*c - 'A' + 'a');
		match |= CRYPTO_memcmp(sigs[i], expected, WEBHOOK_SIGNATURE_HEX) == 0;
	}
	if (!match)
		hbk_fail(err, HBK_EINVAL, "invalid_signature",
			 "the Stripe-Signature does not match the body");
	return match;
}

/* The id of a field that is an id or an expanded object. */
static const char *object_ref(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	if (json_is_object(v))
		return hbk_json_str(v, "id", "");
	return json_is_string(v) ? json_string_value(v) : "";
}

/* Adds a succeeded refund object to ext (up to its bound). */
static void webhook_refund(struct hbk_external_payment *ext, const json_t *refund)
{
	if (ext->nrefunds == HBK_EXTERNAL_REFUNDS_MAX ||
	    strcmp(hbk_json_str(refund, "status", "succeeded"), "succeeded") != 0)
		return;
	hbk_copy(ext->refunds[ext->nrefunds].id, HBK_PAYMENT_REF_MAX,
		 hbk_json_str(refund, "id", ""));
	ext->refunds[ext->nrefunds].amount_minor = hbk_json_int(refund, "amount", 0);
	ext->nrefunds++;
}

/* Reads the events hbk acts on; false for any other type. */
static bool webhook_event(const json_t *event, struct hbk_external_payment *ext)
{
	const char *type = hbk_json_str(event, "type", "");
	const json_t *object = json_object_get(json_object_get(event, "data"), "object");
	const json_t *metadata = json_object_get(object, "metadata");

	memset(ext, 0, sizeof(*ext));
	hbk_copy(ext->event_id, sizeof(ext->event_id), hbk_json_str(event, "id", ""));
	hbk_copy(ext->event_type, sizeof(ext->event_type), type);
	hbk_copy(ext->booking_id, sizeof(ext->booking_id),
		 hbk_json_str(metadata, "booking_id", ""));
	if (strcmp(type, "payment_intent.canceled") == 0) {
		ext->kind = HBK_EXTERNAL_CANCEL;
		hbk_copy(ext->intent_id, sizeof(ext->intent_id), hbk_json_str(object, "id", ""));
		return true;
	}
	if (strcmp(type, "charge.refunded") == 0) {
		/* The charge lists every refund so far. */
		const json_t *refunds = json_object_get(json_object_get(object, "refunds"), "data");
		size_t i;
		const json_t *refund;
		ext->kind = HBK_EXTERNAL_REFUND;
		hbk_copy(ext->intent_id, sizeof(ext->intent_id),
			 object_ref(object, "payment_intent"));
		json_array_foreach(refunds, i, refund)
		{
			webhook_refund(ext, refund);
		}
		return true;
	}
	if (strcmp(type, "refund.created") == 0) {
		ext->kind = HBK_EXTERNAL_REFUND;
		hbk_copy(ext->intent_id, sizeof(ext->intent_id),
			 object_ref(object, "payment_intent"));
		webhook_refund(ext, object);
		return true;
	}
	return false;
}

static bool h_webhook_payments(struct exchange_ctx *x, struct http_request *req,
			       struct http_response *resp)
{
	struct hbk_error err = {0};
	const char *secret = hbk_config_get(x->worker->server->cfg, "payment.webhook_secret", NULL);
	if (secret == NULL || secret[0] == '\0') {
		problem(resp, 503, "webhook_not_configured", NULL,
			"payment webhooks are off: payment.webhook_secret is not set");
		return true;
	}
	if (!webhook_signature_ok(http_header(req, "Stripe-Signature"), secret, req->body,
				  req->body_len, &err)) {
		reply_problem(resp, 400, &err, NULL);
		return true;
	}
	json_t *event = hbk_json_loads(req->body, req->body_len, &err);
	if (event == NULL) {
		reply_problem(resp, 400, &err, NULL);
		return true;
	}
	struct hbk_external_payment *ext = hbk_xcalloc(1, sizeof(*ext));
	const char *outcome = "ignored";
	char booking_id[HBK_ID_MAX] = "";
	hbk_result rc = HBK_OK;
	if (webhook_event(event, ext))
		rc = hbk_payment_external(x->worker->engine, ext, &outcome, booking_id, &err);
	if (rc != HBK_OK) {
		reply_error(resp, &err, NULL);
	} else {
		if (booking_id[0])
			hbk_copy(x->booking_id, sizeof(x->booking_id), booking_id);
		reply_json(resp, 200,
			   json_pack("{s:b, s:s, s:s, s:s?}", "received", 1, "event",
				     hbk_json_str(event, "id", ""), "outcome", outcome,
				     "booking_id", booking_id[0] ? booking_id : NULL));
	}
	free(ext);
	json_decref(event);
	return true;
}

/* ---- routing ---- */

typedef bool (*handler_fn)(struct exchange_ctx *x, struct http_request *req,
			   struct http_response *resp);

struct route_methods {
	const char *method;
	handler_fn fn;
	bool public; /* no token needed */
	/* Only reads the store, and answers before it returns: the token
	 * check and the handler share one read transaction (one snapshot,
	 * one lock taken and dropped). */
	bool reads;
	bool writes; /* waits for the end of the loop's turn (app_run_writes) */
};

static const struct {
	struct route_methods methods[2];
	const char *allow;
} routes[ROUTE_COUNT] = {
    [ROUTE_OFFERS] = {{{"GET", h_offers, .reads = true}}, "GET"},
    [ROUTE_BOOKINGS] = {{{"GET", h_list}, {"POST", h_create, .writes = true}}, "GET, POST"},
    [ROUTE_BOOKING] = {{{"GET", h_view, .reads = true}, {"PATCH", h_update, .writes = true}},
		       "GET, PATCH"},
    [ROUTE_CANCEL] = {{{"POST", h_cancel, .writes = true}}, "POST"},
    [ROUTE_EVENTS] = {{{"GET", h_events}}, "GET"},
    [ROUTE_HEALTHZ] = {{{"GET", h_healthz, .public = true}}, "GET"},
    [ROUTE_READYZ] = {{{"GET", h_readyz, .public = true}}, "GET"},
    [ROUTE_METRICS] = {{{"GET", h_metrics, .public = true}}, "GET"},
    /* Public: the provider's signature authenticates it. */
    [ROUTE_WEBHOOK_PAYMENTS] = {{{"POST", h_webhook_payments, .public = true, .writes = true}},
				 "POST"},
};

/* The route of a path; the booking id when it has one. */
static enum route route_of(const char *path, char id[HBK_ID_MAX])
{
	static const char prefix[] = "/v1/bookings/";
	if (strcmp(path, "/v1/offers") == 0)
		return ROUTE_OFFERS;
	if (strcmp(path, "/v1/bookings") == 0)
		return ROUTE_BOOKINGS;
	if (strcmp(path, "/healthz") == 0)
		return ROUTE_HEALTHZ;
	if (strcmp(path, "/readyz") == 0)
		return ROUTE_READYZ;
	if (strcmp(path, "/metrics") == 0)
		return ROUTE_METRICS;
	if (strcmp(path, "/v1/webhooks/payments") == 0)
		return ROUTE_WEBHOOK_PAYMENTS;
	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return ROUTE_NONE;
	const char *rest = path + sizeof(prefix) - 1;
	size_t len = strcspn(rest, "/");
	if (len == 0 || len >= HBK_ID_MAX)
		return ROUTE_NONE;
	memcpy(id, rest, len);
	id[len] = '\0';
	if (rest[len] == '\0')
		return ROUTE_BOOKING;
	if (strcmp(rest + len, "/cancel") == 0)
		return ROUTE_CANCEL;
	if (strcmp(rest + len, "/events") == 0)
		return ROUTE_EVENTS;
	return ROUTE_NONE;
}

static bool request_id_ok(const char *id)
{
	size_t len = strlen(id);
	if (len == 0 || len > 64)
		return false;
	for (const char *p = id; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-",
			    *p))
			return false;
	return true;
}

static bool authenticate(struct exchange_ctx *x, const struct http_request *req,
			 struct http_response *resp)
{
	struct hbk_error err = {0};
	const char *auth = http_header(req, "Authorization");
	if (hbk_token_set_refresh(x->worker->tokens, x->worker->engine->store, &err) != HBK_OK) {
		reply_error(resp, &err, NULL);
		return false;
	}
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		const char *token = auth + 7;
		while (*token == ' ')
			token++;
		if (hbk_token_set_check(x->worker->tokens, token, x->token_name))
			return true;
	}
	problem(resp, 401, "unauthorized", NULL,
		auth ? "the bearer token is not valid"
		     : "an Authorization: Bearer token is needed");
	http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"hbk\"");
	return false;
}

bool app_handle(void *ctx, struct http_exchange *ex)
{
	struct worker *worker = ctx;
	struct http_request *req = &ex->req;
	struct http_response *resp = &ex->resp;
	struct exchange_ctx *x = hbk_xcalloc(1, sizeof(*x));

	x->worker = worker;
	x->ex = ex;
	req->app_data = x;
	const char *rid = http_header(req, "X-Request-Id");
	if (rid && request_id_ok(rid))
		hbk_copy(x->request_id, sizeof(x->request_id), rid);
	else
		hbk_id_new("RQ", x->request_id);
	http_response_header(resp, "X-Request-Id", "%s", x->request_id);

	x->route = route_of(req->path, x->booking_id);
	if (x->route == ROUTE_NONE) {
		problem(resp, 404, "not_found", NULL, "no such resource: %.*s",
			hbk_utf8_cut(req->path, 200), req->path);
		return true;
	}
	const struct route_methods *m = NULL;
	for (int i = 0; i < 2; i++)
		if (routes[x->route].methods[i].method &&
		    strcmp(routes[x->route].methods[i].method, req->method) == 0)
			m = &routes[x->route].methods[i];
	if (!m) {
		problem(resp, 405, "method_not_allowed", NULL, "%.*s is not allowed on %.*s",
			hbk_utf8_cut(req->method, 16), req->method, hbk_utf8_cut(req->path, 200),
			req->path);
		http_response_header(resp, "Allow", "%s", routes[x->route].allow);
		return true;
	}
	struct hbk_store *store = worker->engine->store;
	if (m->writes && store->batching && !worker->server->clustered) {
		if (!m->public && !authenticate(x, req, resp))
			return true;
		struct deferred_write *d = hbk_xmalloc(sizeof(*d));
		*d = (struct deferred_write){NULL, x, m->fn};
		*worker->writes_tail = d;
		worker->writes_tail = &d->next;
		return false;
	}
	if (m->public)
		return m->fn(x, req, resp);
	if (m->reads) {
		struct hbk_error err = {0};
		if (hbk_store_begin(store, false, &err) != HBK_OK) {
			reply_error(resp, &err, NULL);
			return true;
		}
	}
	bool answered = !authenticate(x, req, resp) || m->fn(x, req, resp);
	if (m->reads) {
		HBK_ASSERT(answered);
		hbk_store_rollback(store);
	}
	return answered;
}

/* Takes the turn's deferred writes, leaving the worker's list empty. */
static struct deferred_write *take_writes(struct worker *w)
{
	struct deferred_write *d = w->writes;
	w->writes = NULL;
	w->writes_tail = &w->writes;
	return d;
}

void app_run_writes(struct worker *w)
{
	struct deferred_write *d = take_writes(w);
	while (d) {
		struct deferred_write *next = d->next;
		struct http_exchange *ex = d->x->ex;
		if (d->fn(d->x, &ex->req, &ex->resp))
			http_exchange_finish(ex);
		free(d);
		d = next;
	}
}

void app_fail_writes(struct worker *w, const struct hbk_error *err)
{
	struct deferred_write *d = take_writes(w);
	while (d) {
		struct deferred_write *next = d->next;
		app_fail(d->x->ex, err);
		http_exchange_finish(d->x->ex);
		free(d);
		d = next;
	}
}

bool app_hold(void *ctx, struct http_exchange *ex)
{
	struct worker *w = ctx;
	if (!w->engine->store->batch_open)
		return false;
	ex->next = NULL;
	if (w->held)
		*w->held_tail = ex;
	else
		w->held = ex;
	w->held_tail = &ex->next;
	return true;
}

void app_fail(struct http_exchange *ex, const struct hbk_error *err)
{
	struct exchange_ctx *x = ex->req.app_data;
	http_response_free(&ex->resp);
	http_response_init(&ex->resp);
	if (x)
		http_response_header(&ex->resp, "X-Request-Id", "%s", x->request_id);
	reply_error(&ex->resp, err, NULL);
}

void app_log(void *ctx, const struct http_request *req, const struct http_response *resp,
	     int64_t duration_us)
{
	struct worker *worker = ctx;
	struct exchange_ctx *x = req->app_data;
	char booking_id[HBK_ID_MAX] = "";
	enum route route = x ? x->route : route_of(req->path, booking_id);
	metrics_request(worker->server->metrics, route, req->method ? req->method : "-",
			resp->status, duration_us);

	/* Built by hand: one line per request is the server's hottest output. */
	char time[HBK_TIME_STR];
	struct hbk_buf line;
	hbk_time_format(hbk_now_ms(), time);
	hbk_buf_init(&line, 4096);
	hbk_buf_reserve(&line, 512);
	hbk_buf_puts(&line, "{\"time\":\"");
	hbk_buf_puts(&line, time);
	hbk_buf_puts(&line, resp->status >= 500 ? "\",\"level\":\"error\",\"msg\":\"request\""
						: "\",\"level\":\"info\",\"msg\":\"request\"");
	if (x) {
		hbk_buf_puts(&line, ",\"request_id\":");
		hbk_buf_json_string(&line, x->request_id);
	}
	hbk_buf_puts(&line, ",\"method\":");
	hbk_buf_json_string(&line, req->method ? req->method : "-");
	hbk_buf_puts(&line, ",\"path\":");
	hbk_buf_json_string(&line, req->path[0] ? req->path : "-");
	hbk_buf_puts(&line, ",\"status\":");
	hbk_buf_put_int(&line, resp->status);
	hbk_buf_puts(&line, ",\"duration_ms\":");
	hbk_buf_put_thousandths(&line, duration_us);
	hbk_buf_puts(&line, ",\"bytes_in\":");
	hbk_buf_put_int(&line, (int64_t)req->body_len);
	hbk_buf_puts(&line, ",\"bytes_out\":");
	hbk_buf_put_int(&line, (int64_t)resp->body.len);
	hbk_buf_puts(&line, ",\"remote\":");
	hbk_buf_json_string(&line, req->remote);
	hbk_buf_puts(&line, ",\"worker\":");
	hbk_buf_put_int(&line, worker->index);
	if (x && x->token_name[0]) {
		hbk_buf_puts(&line, ",\"token\":");
		hbk_buf_json_string(&line, x->token_name);
	}
	if (x && x->booking_id[0]) {
		hbk_buf_puts(&line, ",\"booking_id\":");
		hbk_buf_json_string(&line, x->booking_id);
	}
	hbk_buf_puts(&line, "}\n");
	if (!line.overflow)
		server_write_log(worker->server, line.data, line.len);
	hbk_buf_free(&line);
	free(x);
}
