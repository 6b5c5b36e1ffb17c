/*
 * client.c - the REST client of hbkd over one reused libcurl easy handle.
 *
 * Each command builds a request (method, path with its query string, an
 * optional JSON body and the headers it needs), performs it, and turns the
 * answer into what the embedded engine returns: the JSON document, or a
 * result and message read from the RFC 9457 problem. The token goes into
 * the Authorization header only, and every message is scrubbed of it
 * before it leaves, so a server echoing it cannot leak it either.
 */
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "hbk/api.h"
#include "hbk/client.h"
#include "hbk/json.h"

/* Bounds: a request line, a token, and the retries of a dropped request. */
#define CLIENT_URL_MAX_BYTES   2048
#define CLIENT_PATH_MAX_BYTES  8192
#define CLIENT_TOKEN_MAX_BYTES 1024
#define CLIENT_RETRIES_MAX     1

struct hbk_client {
	CURL *curl;
	char *url;   /* base, without a trailing slash */
	char *token; /* NULL when none; wiped on close */
	long timeout_ms;
	int status; /* of the last answer, 0 when none */
	struct hbk_buf response;
	char curl_error[CURL_ERROR_SIZE];
};

/* One request: what perform() sends and how it reads the answer. */
struct request {
	const char *method;	     /* "GET", "POST" or "PATCH" */
	const char *path;	     /* with the query string */
	const json_t *body;	     /* borrowed, or NULL */
	const char *idempotency_key; /* or NULL */
	int64_t if_match;	     /* version, or -1 */
	bool retry_safe;	     /* idempotent: may be resent after a dropped connection */
	bool booking_on_error;	     /* a problem's "booking" goes to *out */
};

static bool curl_ready;

hbk_result hbk_client_open(const char *url, const char *token, long timeout_ms,
			   struct hbk_client **out, struct hbk_error *err)
{
	HBK_ASSERT(url != NULL && out != NULL);
	HBK_ASSERT(timeout_ms > 0);
	*out = NULL;
	size_t len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		len--;
	if (len == 0 || len >= CLIENT_URL_MAX_BYTES ||
	    (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0))
		return hbk_fail(err, HBK_EINVAL, "invalid_url",
				"invalid hbkd URL '%.*s' (expected http://HOST:PORT)",
				hbk_utf8_cut(url, 200), url);
	if (token && *token) {
		if (strlen(token) >= CLIENT_TOKEN_MAX_BYTES)
			return hbk_fail(err, HBK_EINVAL, "invalid_token",
					"the API token is longer than %d bytes",
					CLIENT_TOKEN_MAX_BYTES - 1);
		for (const char *p = token; *p; p++)
			if ((unsigned char)*p <= ' ' || *p == 0x7f)
				return hbk_fail(err, HBK_EINVAL, "invalid_token",
						"the API token has spaces or control characters");
	}
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return hbk_fail(err, HBK_EINTERNAL, "curl_init",
					"cannot initialise libcurl");
		curl_ready = true;
	}
	struct hbk_client *c = hbk_xcalloc(1, sizeof(*c));
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return hbk_fail(err, HBK_EINTERNAL, "curl_init", "cannot initialise libcurl");
	}
	c->url = hbk_xmalloc(len + 1);
	memcpy(c->url, url, len);
	c->url[len] = '\0';
	c->token = token && *token ? hbk_xstrdup(token) : NULL;
	c->timeout_ms = timeout_ms;
	hbk_buf_init(&c->response, HBK_CLIENT_RESPONSE_MAX_BYTES);
	*out = c;
	return HBK_OK;
}

void hbk_client_close(struct hbk_client *client)
{
	if (!client)
		return;
	curl_easy_cleanup(client->curl);
	if (client->token) {
		explicit_bzero(client->token, strlen(client->token));
		free(client->token);
	}
	free(client->url);
	hbk_buf_free(&client->response);
	free(client);
}

const char *hbk_client_url(const struct hbk_client *client)
{
	return client->url;
}

int hbk_client_status(const struct hbk_client *client)
{
	return client->status;
}

/* ------------------------------------------------------------------------
 * Errors.
 */

/* Replaces every occurrence of the token in s (a NUL-terminated array of
 * size bytes) with "<token>". */
static void scrub(const struct hbk_client *c, char *s, size_t size)
{
	if (!c->token || !strstr(s, c->token))
		return;
	struct hbk_buf out;
	size_t token_len = strlen(c->token);
	hbk_buf_init(&out, size);
	for (const char *p = s, *at; *p; p = at + token_len) {
		at = strstr(p, c->token);
		if (!at) {
			hbk_buf_puts(&out, p);
			break;
		}
		hbk_buf_append(&out, p, (size_t)(at - p));
		hbk_buf_puts(&out, "<token>");
	}
	/* Truncated at a byte boundary by the bound, never with the token. */
	hbk_copy(s, size, out.data ? out.data : "");
	hbk_buf_free(&out);
}

static hbk_result scrubbed(const struct hbk_client *c, hbk_result rc, struct hbk_error *err)
{
	if (err && rc != HBK_OK) {
		scrub(c, err->message, sizeof(err->message));
		scrub(c, err->code, sizeof(err->code));
		scrub(c, err->field, sizeof(err->field));
	}
	return rc;
}

/* Failures that may be a dropped keep-alive connection: worth one retry. */
static bool transient(CURLcode rc)
{
	return rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR;
}

static hbk_result transport_error(const struct hbk_client *c, CURLcode rc, struct hbk_error *err)
{
	const char *why = c->curl_error[0] ? c->curl_error : curl_easy_strerror(rc);
	if (rc == CURLE_WRITE_ERROR && c->response.overflow)
		return hbk_fail(err, HBK_EINTERNAL, "answer_too_large",
				"hbkd at %s answered more than %u MiB", c->url,
				HBK_CLIENT_RESPONSE_MAX_BYTES >> 20);
	if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
		return hbk_fail(err, HBK_EINVAL, "invalid_url", "invalid hbkd URL '%s': %s", c->url,
				why);
	return hbk_fail(err, HBK_EUNAVAILABLE, "hbkd_unavailable", "cannot reach hbkd at %s: %s",
			c->url, why);
}

/* A result for a library error code, used where the status says too little. */
static hbk_result code_result(const char *code, hbk_result def)
{
	static const struct {
		const char *code;
		hbk_result result;
	} known[] = {
	    {"payment_declined", HBK_EDECLINED}, {"insufficient_funds", HBK_EDECLINED},
	    {"partner_rejected", HBK_EDECLINED}, {"no_availability", HBK_ECONFLICT},
	    {"price_changed", HBK_ECONFLICT},	 {"stale_version", HBK_ECONFLICT},
	    {"pending", HBK_EUNAVAILABLE},	 {"store_busy", HBK_EUNAVAILABLE},
	    {"partner_auth", HBK_EAUTH},	 {"payment_auth", HBK_EAUTH},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(code, known[i].code) == 0)
			return known[i].result;
	if (strstr(code, "unavailable"))
		return HBK_EUNAVAILABLE;
	return def;
}

/*
 * The result of an answer that is not 2xx: by status class, refined by the
 * problem's code where the status is ambiguous. A 500 may carry any result
 * the server did not map; a 502 is a partner refusal when hbkd says so
 * (code set) but a gateway in front of hbkd failing when it does not; a
 * 429 asks the caller to come back later.
 */
static hbk_result answer_result(int status, const char *code)
{
	hbk_result result = hbk_api_result(status);
	if (status == 429)
		return HBK_EUNAVAILABLE;
	if (!code)
		return status == 502 ? HBK_EUNAVAILABLE : result;
	if (status == 500 || status == 502 || result == HBK_EINTERNAL)
		return code_result(code, result);
	return result;
}

/* Fills err from an error answer; problem (borrowed) may be NULL. */
static hbk_result problem_error(const struct hbk_client *c, int status, const json_t *problem,
				struct hbk_error *err)
{
	const char *detail = hbk_json_str(problem, "detail", NULL);
	const char *code = hbk_json_str(problem, "code", NULL);
	const char *title = hbk_json_str(problem, "title", NULL);
	const json_t *first = json_array_get(json_object_get(problem, "errors"), 0);
	const char *field = hbk_json_str(first, "field", NULL);
	char fallback[32];
	hbk_result result = answer_result(status, code);

	hbk_format(fallback, sizeof(fallback), "http_%d", status);
	if (!code || !*code)
		code = fallback;
	if (status == 401 && !c->token)
		hbk_fail(err, HBK_EAUTH, code,
			 "hbkd at %s needs an API token: give --token, or set HBK_TOKEN or "
			 "client.token",
			 c->url);
	else if (status == 401)
		hbk_fail(err, HBK_EAUTH, code, "hbkd at %s refused the API token%s%s", c->url,
			 detail && *detail ? ": " : "", detail ? detail : "");
	else if (detail && *detail)
		hbk_fail(err, result, code, "%s", detail);
	else
		hbk_fail(err, result, code, "hbkd at %s answered HTTP %d%s%s%s", c->url, status,
			 title ? " (" : "", title ? title : "", title ? ")" : "");
	if (err && field)
		hbk_copy(err->field, sizeof(err->field), field);
	return result;
}

/* ------------------------------------------------------------------------
 * Requests.
 */

static size_t on_data(char *data, size_t size, size_t count, void *user)
{
	struct hbk_buf *buf = user;
	size_t len = size * count;
	/* Returning less than len makes curl stop with CURLE_WRITE_ERROR. */
	return hbk_buf_append(buf, data, len) ? len : 0;
}

static struct curl_slist *header_add(struct curl_slist *list, const char *line)
{
	struct curl_slist *next = curl_slist_append(list, line);
	HBK_ASSERT(next != NULL); /* out of memory: the tools cannot do better */
	return next;
}

static struct curl_slist *request_headers(const struct hbk_client *c, const struct request *req)
{
	struct curl_slist *list = NULL;
	char line[128];
	list = header_add(list, "Accept: application/json");
	if (req->body) {
		list = header_add(list, "Content-Type: application/json");
		list = header_add(list, "Expect:"); /* no 100-continue round trip */
	}
	if (req->idempotency_key) {
		struct hbk_buf key;
		hbk_buf_init(&key, 512);
		hbk_buf_printf(&key, "Idempotency-Key: %s", req->idempotency_key);
		list = header_add(list, key.data);
		hbk_buf_free(&key);
	}
	if (req->if_match >= 0) {
		hbk_format(line, sizeof(line), "If-Match: \"%lld\"", (long long)req->if_match);
		list = header_add(list, line);
	}
	if (c->token) {
		char auth[CLIENT_TOKEN_MAX_BYTES + 32];
		hbk_format(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		list = header_add(list, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	return list;
}

static void request_options(struct hbk_client *c, const struct request *req, const char *url,
			    struct curl_slist *headers, const char *body)
{
	curl_easy_reset(c->curl); /* keeps the open connection */
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "hbk/" HBK_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->response);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_error);
	if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body ? body : "");
		if (strcmp(req->method, "POST") != 0)
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, req->method);
	}
}

/* Reads a finished answer: the document, or the error it tells. */
static hbk_result read_answer(struct hbk_client *c, const struct request *req, json_t **out,
			      struct hbk_error *err)
{
	struct hbk_error parse_err = {0};
	json_t *doc = NULL;
	if (c->response.len > 0)
		doc = hbk_json_loads(c->response.data, c->response.len, &parse_err);
	if (c->status >= 200 && c->status < 300) {
		if (json_is_object(doc)) {
			*out = doc;
			return HBK_OK;
		}
		json_decref(doc);
		size_t path_len = strcspn(req->path, "?"); /* the query may hold an email */
		return hbk_fail(err, HBK_EINTERNAL, "invalid_answer",
				"hbkd answered %s %.*s with HTTP %d and a body that is not JSON",
				req->method, (int)path_len, req->path, c->status);
	}
	const json_t *problem = json_is_object(doc) ? doc : NULL;
	hbk_result rc = problem_error(c, c->status, problem, err);
	json_t *booking = json_object_get(problem, "booking");
	if (req->booking_on_error && json_is_object(booking))
		*out = json_incref(booking);
	json_decref(doc);
	return rc;
}

static hbk_result perform(struct hbk_client *c, const struct request *req, json_t **out,
			  struct hbk_error *err)
{
	HBK_ASSERT(c != NULL && req->path[0] == '/');
	HBK_ASSERT(out != NULL);
	*out = NULL;
	c->status = 0;

	struct hbk_buf url;
	hbk_buf_init(&url, CLIENT_URL_MAX_BYTES + CLIENT_PATH_MAX_BYTES);
	hbk_buf_puts(&url, c->url);
	hbk_buf_puts(&url, req->path);
	HBK_ASSERT(!url.overflow); /* paths are bounded by their builders */
	char *body = req->body ? hbk_json_dumps(req->body) : NULL;
	struct curl_slist *headers = request_headers(c, req);
	request_options(c, req, url.data, headers, body);

	CURLcode rc;
	for (int attempt = 0;; attempt++) {
		hbk_buf_reset(&c->response);
		c->curl_error[0] = '\0';
		rc = curl_easy_perform(c->curl);
		if (rc == CURLE_OK || !req->retry_safe || !transient(rc) ||
		    attempt == CLIENT_RETRIES_MAX)
			break;
	}
	curl_slist_free_all(headers);
	free(body);
	hbk_buf_free(&url);
	if (rc != CURLE_OK)
		return scrubbed(c, transport_error(c, rc, err), err);
	long status = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	c->status = (int)status;
	return scrubbed(c, read_answer(c, req, out, err), err);
}

/* ------------------------------------------------------------------------
 * Paths and query strings.
 */

static void put_escaped(struct hbk_client *c, struct hbk_buf *buf, const char *s)
{
	char *escaped = curl_easy_escape(c->curl, s, 0);
	HBK_ASSERT(escaped != NULL); /* out of memory */
	hbk_buf_puts(buf, escaped);
	curl_free(escaped);
}

static void query_str(struct hbk_client *c, struct hbk_buf *path, const char *name,
		      const char *value)
{
	if (!value || !*value)
		return;
	hbk_buf_putc(path, strchr(path->data, '?') ? '&' : '?');
	hbk_buf_puts(path, name);
	hbk_buf_putc(path, '=');
	put_escaped(c, path, value);
}

static void query_int(struct hbk_client *c, struct hbk_buf *path, const char *name, long long value)
{
	char text[24];
	if (value == 0)
		return;
	hbk_format(text, sizeof(text), "%lld", value);
	query_str(c, path, name, text);
}

static void query_date(struct hbk_client *c, struct hbk_buf *path, const char *name, hbk_date date)
{
	char text[HBK_DATE_STR];
	if (date == 0)
		return;
	hbk_date_format(date, text);
	query_str(c, path, name, text);
}

/* "/v1/bookings/<id><suffix>" into path (initialised here). */
static void booking_path(struct hbk_client *c, struct hbk_buf *path, const char *id,
			 const char *suffix)
{
	hbk_buf_init(path, CLIENT_PATH_MAX_BYTES);
	hbk_buf_puts(path, "/v1/bookings/");
	put_escaped(c, path, id);
	hbk_buf_puts(path, suffix);
}

static hbk_result path_too_long(struct hbk_buf *path, struct hbk_error *err)
{
	hbk_buf_free(path);
	return hbk_fail(err, HBK_EINVAL, "request_too_long", "the request is longer than %d bytes",
			CLIENT_PATH_MAX_BYTES);
}

/* GETs: safe to resend. */
static hbk_result get(struct hbk_client *c, struct hbk_buf *path, bool booking_on_error,
		      json_t **out, struct hbk_error *err)
{
	if (path->overflow)
		return path_too_long(path, err);
	struct request req = {.method = "GET",
			      .path = path->data,
			      .if_match = -1,
			      .retry_safe = true,
			      .booking_on_error = booking_on_error};
	hbk_result rc = perform(c, &req, out, err);
	hbk_buf_free(path);
	return rc;
}

/* ------------------------------------------------------------------------
 * Commands.
 */

static const char *sort_name(enum hbk_sort sort)
{
	switch (sort) {
	case HBK_SORT_PRICE: return "price";
	case HBK_SORT_STARS: return "stars";
	case HBK_SORT_NAME: return "name";
	}
	return "price";
}

hbk_result hbk_client_search(struct hbk_client *client, const struct hbk_search_query *query,
			     json_t **out, struct hbk_error *err)
{
	struct hbk_buf path;
	hbk_buf_init(&path, CLIENT_PATH_MAX_BYTES);
	hbk_buf_puts(&path, "/v1/offers");
	query_str(client, &path, "city", query->city);
	query_str(client, &path, "hotel", query->hotel_id);
	query_date(client, &path, "checkin", query->checkin);
	query_date(client, &path, "checkout", query->checkout);
	query_int(client, &path, "adults", query->adults);
	query_int(client, &path, "children", query->children);
	query_int(client, &path, "rooms", query->rooms);
	query_str(client, &path, "max_price", query->max_price);
	if (query->refundable_only)
		query_str(client, &path, "refundable", "true");
	if (query->sort != HBK_SORT_PRICE) /* the default */
		query_str(client, &path, "sort", sort_name(query->sort));
	query_int(client, &path, "limit", query->limit);
	return get(client, &path, false, out, err);
}

hbk_result hbk_client_book(struct hbk_client *client, const char *offer_id,
			   const struct hbk_guest *guest, const char *payment_method,
			   const char *idempotency_key, json_t **out, struct hbk_error *err)
{
	char generated[HBK_ID_MAX];
	HBK_ASSERT(offer_id != NULL && guest != NULL);
	*out = NULL;
	json_t *contact = json_object(), *body = json_object();
	bool ok = json_object_set_new(body, "offer_id", json_string(offer_id)) == 0 &&
		  json_object_set_new(contact, "name", json_string(guest->name)) == 0 &&
		  json_object_set_new(contact, "email", json_string(guest->email)) == 0;
	if (ok && guest->phone[0])
		ok = json_object_set_new(contact, "phone", json_string(guest->phone)) == 0;
	json_object_set_new(body, "guest", contact);
	if (ok && payment_method)
		ok = json_object_set_new(body, "payment_method", json_string(payment_method)) == 0;
	if (!ok) {
		json_decref(body);
		/* Not valid UTF-8: the engine's own check names the guest field. */
		hbk_result rc = hbk_guest_check(guest, err);
		return rc != HBK_OK ? rc
				    : hbk_fail(err, HBK_EINVAL, "invalid_request",
					       "the offer id or payment method is not valid UTF-8");
	}
	if (!idempotency_key) {
		hbk_id_new("IK", generated);
		idempotency_key = generated;
	}
	struct request req = {.method = "POST",
			      .path = "/v1/bookings",
			      .body = body,
			      .idempotency_key = idempotency_key,
			      .if_match = -1,
			      .retry_safe = true, /* the key makes a resend harmless */
			      .booking_on_error = true};
	hbk_result rc = perform(client, &req, out, err);
	json_decref(body);
	return rc;
}

hbk_result hbk_client_view(struct hbk_client *client, const char *id, json_t **out,
			   struct hbk_error *err)
{
	struct hbk_buf path;
	booking_path(client, &path, id, "");
	return get(client, &path, true, out, err);
}

hbk_result hbk_client_list(struct hbk_client *client, const struct hbk_list_filter *filter,
			   json_t **out, struct hbk_error *err)
{
	struct hbk_buf path;
	hbk_buf_init(&path, CLIENT_PATH_MAX_BYTES);
	hbk_buf_puts(&path, "/v1/bookings");
	query_str(client, &path, "status", filter->status);
	query_str(client, &path, "hotel", filter->hotel_id);
	query_date(client, &path, "checkin_from", filter->checkin_from);
	query_date(client, &path, "checkin_to", filter->checkin_to);
	query_str(client, &path, "email", filter->email);
	query_int(client, &path, "limit", filter->limit);
	query_str(client, &path, "cursor", filter->cursor);
	return get(client, &path, false, out, err);
}

/* The PATCH body: only the fields the request sets. NULL when a string is
 * not valid UTF-8. New reference. */
static json_t *update_body(const struct hbk_update_request *req)
{
	char date[HBK_DATE_STR];
	json_t *body = json_object(), *guests = json_object(), *guest = json_object();
	bool ok = true;
	if (req->set_checkin) {
		hbk_date_format(req->checkin, date);
		json_object_set_new(body, "checkin", json_string(date));
	}
	if (req->set_checkout) {
		hbk_date_format(req->checkout, date);
		json_object_set_new(body, "checkout", json_string(date));
	}
	if (req->set_room_type)
		ok = ok && json_object_set_new(body, "room_type", json_string(req->room_type)) == 0;
	if (req->set_adults)
		json_object_set_new(guests, "adults", json_integer(req->adults));
	if (req->set_children)
		json_object_set_new(guests, "children", json_integer(req->children));
	if (req->set_name)
		ok = ok && json_object_set_new(guest, "name", json_string(req->guest.name)) == 0;
	if (req->set_email)
		ok = ok && json_object_set_new(guest, "email", json_string(req->guest.email)) == 0;
	if (req->set_phone)
		ok = ok && json_object_set_new(guest, "phone", json_string(req->guest.phone)) == 0;
	if (json_object_size(guests) > 0)
		json_object_set(body, "guests", guests);
	if (json_object_size(guest) > 0)
		json_object_set(body, "guest", guest);
	json_decref(guests);
	json_decref(guest);
	if (!ok) {
		json_decref(body);
		return NULL;
	}
	return body;
}

hbk_result hbk_client_update(struct hbk_client *client, const char *id,
			     const struct hbk_update_request *req, json_t **out,
			     struct hbk_error *err)
{
	*out = NULL;
	json_t *body = update_body(req);
	if (!body) {
		/* Not valid UTF-8: the engine's own check names the guest field;
		 * the fields not set take values it accepts. */
		struct hbk_guest guest;
		hbk_copy(guest.name, sizeof(guest.name), req->set_name ? req->guest.name : "guest");
		hbk_copy(guest.email, sizeof(guest.email),
			 req->set_email ? req->guest.email : "guest@example.com");
		hbk_copy(guest.phone, sizeof(guest.phone), req->set_phone ? req->guest.phone : "");
		hbk_result rc = hbk_guest_check(&guest, err);
		return rc != HBK_OK ? rc
				    : hbk_fail(err, HBK_EINVAL, "unknown_room_type",
					       "unknown room type '%s'", req->room_type);
	}
	struct hbk_buf path;
	booking_path(client, &path, id, "");
	if (path.overflow) {
		json_decref(body);
		return path_too_long(&path, err);
	}
	struct request r = {.method = "PATCH",
			    .path = path.data,
			    .body = body,
			    .if_match = req->if_match,
			    .booking_on_error = true};
	hbk_result rc = perform(client, &r, out, err);
	hbk_buf_free(&path);
	json_decref(body);
	return rc;
}

hbk_result hbk_client_cancel(struct hbk_client *client, const char *id, const char *reason,
			     bool dry_run, int64_t if_match, json_t **out, struct hbk_error *err)
{
	*out = NULL;
	json_t *body = json_pack("{s:b}", "dry_run", dry_run);
	if (reason && json_object_set_new(body, "reason", json_string(reason)) != 0) {
		json_decref(body);
		/* The engine's checks, in its order. */
		if (strlen(reason) >= HBK_REASON_MAX)
			return hbk_fail_field(err, HBK_EINVAL, "invalid_reason", "reason",
					      "reason is longer than %d bytes", HBK_REASON_MAX - 1);
		return hbk_fail_field(err, HBK_EINVAL, "invalid_reason", "reason",
				      "reason is not valid UTF-8");
	}
	struct hbk_buf path;
	booking_path(client, &path, id, "/cancel");
	if (path.overflow) {
		json_decref(body);
		return path_too_long(&path, err);
	}
	struct request r = {.method = "POST",
			    .path = path.data,
			    .body = body,
			    .if_match = if_match,
			    .retry_safe = dry_run, /* a preview changes nothing */
			    .booking_on_error = true};
	hbk_result rc = perform(client, &r, out, err);
	hbk_buf_free(&path);
	json_decref(body);
	return rc;
}

hbk_result hbk_client_history(struct hbk_client *client, const char *id, json_t **out,
			      struct hbk_error *err)
{
	struct hbk_buf path;
	booking_path(client, &path, id, "/events");
	return get(client, &path, false, out, err);
}
