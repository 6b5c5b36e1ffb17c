/*
 * main.c - hbk-sandbox(1): the partner and payment simulators served over
 * the providers' real protocols (see sandbox.h), for tests, demos and
 * staging. One thread, one event loop; state in an in-memory store seeded
 * with the demo catalog (or in --state FILE).
 *
 * Control routes, outside the protocols:
 *   GET  /__sandbox/state    every area's records and the faults
 *   GET  /__sandbox/faults   the faults in force
 *   POST /__sandbox/faults   {"endpoint":"partner.*","error_rate":0.3,...}
 *                            or an array of such; "reset":true clears all
 *   GET  /__sandbox/health   200 once serving
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <zlib.h>

#include "hbk/config.h"
#include "hbk/inventory.h"
#include "hbk/json.h"
#include "hbk/opt.h"
#include "sandbox.h"

/* clang-format off */
#define SANDBOX_LISTEN_DEFAULT	"127.0.0.1:8090"
#define SANDBOX_DAYS_DEFAULT	120   /* days of inventory seeded */
#define SANDBOX_BACKLOG		1024
#define SANDBOX_HOLD_MS		60000 /* how long a "timed out" request is held */
#define SANDBOX_LATENCY_MAX_MS	60000
#define SANDBOX_GZIP_MIN_BYTES	1024  /* smaller answers go uncompressed */
#define REQUEST_LOG_METHOD_MAX	32    /* bytes of a method in the request log */
#define REQUEST_LOG_PATH_MAX	512   /* bytes of a path in the request log */
/* clang-format on */

static const char usage[] =
    "usage: hbk-sandbox [--listen HOST:PORT] [--smtp-listen HOST:PORT] [--ready-file FILE]\n"
    "                   [--state FILE] [--days N] [--seed N] [--latency-ms N] [--error-rate R]\n"
    "                   [--partner-key K] [--partner-secret S] [--payment-key K]\n"
    "                   [--webhook-url URL] [--webhook-secret S]\n";

static const struct sandbox_area *const areas[] = {
    &sandbox_partner_area,
    &sandbox_payment_area,
    &sandbox_sns_area,
};
#define NAREAS ((int)(sizeof(areas) / sizeof(areas[0])))

static bool quiet;

void sandbox_json(struct http_response *resp, int status, json_t *body)
{
	resp->status = status;
	resp->content_type = "application/json";
	hbk_buf_reset(&resp->body);
	if (body == NULL) {
		/* json_pack refused a string (not UTF-8) that no check before
		 * made valid: answered as an error of the sandbox, never empty. */
		resp->status = 500;
		hbk_buf_puts(&resp->body, "{\"error\":{\"type\":\"api_error\",\"message\":"
					  "\"the answer could not be written\"}}");
		return;
	}
	hbk_json_dump(body, &resp->body);
	json_decref(body);
}

const struct sandbox_faults *sandbox_faults_for(const struct sandbox *sb, const char *endpoint)
{
	static const struct sandbox_faults none = {0};
	const struct sandbox_faults *area = NULL, *all = NULL;
	if (!endpoint)
		endpoint = "";
	size_t dot = strcspn(endpoint, ".");
	for (int i = 0; i < sb->nfaults; i++) {
		const char *e = sb->faults[i].endpoint;
		if (strcmp(e, endpoint) == 0)
			return &sb->faults[i];
		if (strcmp(e, "*") == 0)
			all = &sb->faults[i];
		else if (strncmp(e, endpoint, dot) == 0 && e[dot] == '.' && strcmp(e + dot, ".*") == 0)
			area = &sb->faults[i];
	}
	return area ? area : all ? all : &none;
}

/* A fault slot for endpoint, made when missing; NULL when full. */
static struct sandbox_faults *faults_slot(struct sandbox *sb, const char *endpoint)
{
	for (int i = 0; i < sb->nfaults; i++)
		if (strcmp(sb->faults[i].endpoint, endpoint) == 0)
			return &sb->faults[i];
	if (sb->nfaults == SANDBOX_ENDPOINTS_MAX)
		return NULL;
	struct sandbox_faults *f = &sb->faults[sb->nfaults++];
	memset(f, 0, sizeof(*f));
	hbk_copy(f->endpoint, sizeof(f->endpoint), endpoint);
	return f;
}

static json_t *faults_json(const struct sandbox *sb)
{
	json_t *list = json_array();
	for (int i = 0; i < sb->nfaults; i++) {
		const struct sandbox_faults *f = &sb->faults[i];
		json_array_append_new(
		    list, json_pack("{s:s, s:i, s:i, s:f, s:f, s:f, s:f}", "endpoint", f->endpoint,
				    "latency_ms", f->latency_ms, "jitter_ms", f->jitter_ms,
				    "error_rate", f->error_rate, "timeout_rate", f->timeout_rate,
				    "decline_rate", f->decline_rate, "throttle_rate",
				    f->throttle_rate));
	}
	return list;
}

static bool rate_ok(json_t *v, double *out)
{
	if (!v)
		return true;
	if (!json_is_number(v))
		return false;
	double r = json_number_value(v);
	if (r < 0 || r > 1)
		return false;
	*out = r;
	return true;
}

static bool ms_ok(json_t *v, int *out)
{
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > SANDBOX_LATENCY_MAX_MS)
		return false;
	*out = (int)json_integer_value(v);
	return true;
}

/* Applies one fault object; false with a reason in why. */
static bool fault_set(struct sandbox *sb, json_t *obj, char *why, size_t size)
{
	static const char *const known[] = {"endpoint",	    "latency_ms",   "jitter_ms",
					    "error_rate",   "timeout_rate", "decline_rate",
					    "throttle_rate"};
	const char *key;
	json_t *value;
	if (!json_is_object(obj)) {
		hbk_format(why, size, "each fault must be an object");
		return false;
	}
	json_object_foreach(obj, key, value)
	{
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok) {
			hbk_format(why, size, "unknown field '%.*s'", hbk_utf8_cut(key, 40), key);
			return false;
		}
	}
	const char *endpoint = json_string_value(json_object_get(obj, "endpoint"));
	if (!endpoint || !endpoint[0] || strlen(endpoint) >= sizeof(sb->faults[0].endpoint)) {
		hbk_format(why, size, "endpoint must be a name such as partner.bookings.create, "
				      "payment.*, or *");
		return false;
	}
	struct sandbox_faults f = *sandbox_faults_for(sb, endpoint);
	if (strcmp(f.endpoint, endpoint) != 0) {
		memset(&f, 0, sizeof(f));
		hbk_copy(f.endpoint, sizeof(f.endpoint), endpoint);
	}
	if (!ms_ok(json_object_get(obj, "latency_ms"), &f.latency_ms) ||
	    !ms_ok(json_object_get(obj, "jitter_ms"), &f.jitter_ms)) {
		hbk_format(why, size, "latency_ms and jitter_ms are integers from 0 to %d",
			   SANDBOX_LATENCY_MAX_MS);
		return false;
	}
	if (!rate_ok(json_object_get(obj, "error_rate"), &f.error_rate) ||
	    !rate_ok(json_object_get(obj, "timeout_rate"), &f.timeout_rate) ||
	    !rate_ok(json_object_get(obj, "decline_rate"), &f.decline_rate) ||
	    !rate_ok(json_object_get(obj, "throttle_rate"), &f.throttle_rate)) {
		hbk_format(why, size, "rates are numbers from 0 to 1");
		return false;
	}
	struct sandbox_faults *slot = faults_slot(sb, endpoint);
	if (!slot) {
		hbk_format(why, size, "too many fault entries (%d)", SANDBOX_ENDPOINTS_MAX);
		return false;
	}
	*slot = f;
	return true;
}

static void control(struct sandbox *sb, struct http_exchange *ex)
{
	const struct http_request *req = &ex->req;
	struct http_response *resp = &ex->resp;
	bool get = strcmp(req->method, "GET") == 0;

	if (strcmp(req->path, "/__sandbox/health") == 0 && get) {
		sandbox_json(resp, 200, json_pack("{s:s}", "status", "ok"));
	} else if (strcmp(req->path, "/__sandbox/state") == 0 && get) {
		json_t *state = json_object();
		for (int i = 0; i < NAREAS; i++)
			json_object_set_new(state, areas[i]->name, areas[i]->state(sb));
		json_object_set_new(state, "faults", faults_json(sb));
		json_object_set(state, "requests", sb->requests);
		sandbox_json(resp, 200, state);
	} else if (strcmp(req->path, "/__sandbox/faults") == 0 && get) {
		sandbox_json(resp, 200, faults_json(sb));
	} else if (strcmp(req->path, "/__sandbox/faults") == 0 &&
		   strcmp(req->method, "POST") == 0) {
		json_error_t jerr;
		json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
		char why[160] = "";
		bool ok = body != NULL;
		if (!ok)
			hbk_format(why, sizeof(why), "malformed JSON: %s", jerr.text);
		/* All or nothing: a bad entry leaves the faults as they were. */
		int saved_n = sb->nfaults;
		struct sandbox_faults saved[SANDBOX_ENDPOINTS_MAX];
		memcpy(saved, sb->faults, sizeof(saved));
		if (ok && json_is_object(body) && json_is_true(json_object_get(body, "reset"))) {
			sb->nfaults = 0;
		} else if (ok && json_is_array(body)) {
			size_t i;
			json_t *one;
			json_array_foreach(body, i, one) if (ok) ok = fault_set(sb, one, why, sizeof(why));
		} else if (ok) {
			ok = fault_set(sb, body, why, sizeof(why));
		}
		json_decref(body);
		if (!ok) {
			sb->nfaults = saved_n;
			memcpy(sb->faults, saved, sizeof(saved));
			sandbox_json(resp, 400, json_pack("{s:s}", "error", why));
		} else {
			sandbox_json(resp, 200, faults_json(sb));
		}
	} else {
		sandbox_json(resp, 404,
			     json_pack("{s:s}", "error", "no such sandbox control route"));
	}
}

/*
 * Compresses a protocol answer when the client accepts gzip, as the
 * partner's gateway does (PROTOCOLS.md), so clients' decoding is exercised.
 * Small answers are left as they are.
 *
 * One stream serves every answer (the sandbox has one thread), reset
 * between them: a deflateInit2 per answer allocated and cleared some
 * 270 KiB, which cost more than building the answer. A 4 KiB hash table
 * (memLevel 5) and the fastest level suit answers of a few kilobytes.
 */
static z_stream gzip_stream;
static bool gzip_ready;
/* The compressed text's room, kept between answers and grown to the
 * largest: allocating a few kilobytes for each made malloc consolidate
 * its free lists. */
static unsigned char *gzip_out;
static size_t gzip_out_size;

static void maybe_gzip(const struct http_request *req, struct http_response *resp)
{
	const char *accept = http_header(req, "Accept-Encoding");
	if (!accept || !strstr(accept, "gzip") || resp->body.len < SANDBOX_GZIP_MIN_BYTES)
		return;
	z_stream *z = &gzip_stream;
	if (!gzip_ready) {
		if (deflateInit2(z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 5, Z_DEFAULT_STRATEGY) !=
		    Z_OK)
			return;
		gzip_ready = true;
	} else if (deflateReset(z) != Z_OK) {
		return;
	}
	uLong bound = deflateBound(z, (uLong)resp->body.len) + 32;
	if (gzip_out_size < bound) {
		gzip_out = hbk_xrealloc(gzip_out, bound);
		gzip_out_size = bound;
	}
	z->next_in = (Bytef *)resp->body.data;
	z->avail_in = (uInt)resp->body.len;
	z->next_out = gzip_out;
	z->avail_out = (uInt)bound;
	if (deflate(z, Z_FINISH) == Z_STREAM_END) {
		hbk_buf_reset(&resp->body);
		hbk_buf_append(&resp->body, gzip_out, z->total_out);
		http_response_header(resp, "Content-Encoding", "gzip");
	}
}

/* A request held by a latency fault, answered when its timer fires. */
struct held {
	struct sandbox *sb;
	struct http_exchange *ex;
	const struct sandbox_area *area;
	const char *endpoint;
	struct event *timer;
	bool timed_out; /* held for a timeout fault: answer 504 at the end */
};

static void held_fire(evutil_socket_t fd, short what, void *arg)
{
	struct held *h = arg;
	(void)fd;
	(void)what;
	event_free(h->timer);
	if (!h->timed_out) {
		h->area->handle(h->sb, h->ex, h->endpoint);
		maybe_gzip(&h->ex->req, &h->ex->resp);
	}
	http_exchange_finish(h->ex);
	free(h);
}

static void hold(struct sandbox *sb, struct http_exchange *ex, const struct sandbox_area *area,
		 const char *endpoint, int delay_ms, bool timed_out)
{
	struct held *h = hbk_xcalloc(1, sizeof(*h));
	h->sb = sb;
	h->ex = ex;
	h->area = area;
	h->endpoint = endpoint;
	h->timed_out = timed_out;
	h->timer = evtimer_new(sb->base, held_fire, h);
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
	evtimer_add(h->timer, &tv);
}

static double chance(void)
{
	return (double)random() / ((double)RAND_MAX + 1.0);
}

static bool app_handle(void *ctx, struct http_exchange *ex)
{
	struct sandbox *sb = ctx;
	const struct http_request *req = &ex->req;

	if (strncmp(req->path, "/__sandbox/", 11) == 0) {
		control(sb, ex);
		return true;
	}
	for (int i = 0; i < NAREAS; i++) {
		const struct sandbox_area *area = areas[i];
		size_t plen = strlen(area->prefix);
		/* "/v1" alone matches the prefix "/v1/" too. */
		if (strncmp(req->path, area->prefix, plen) != 0 &&
		    !(strncmp(req->path, area->prefix, plen - 1) == 0 && req->path[plen - 1] == '\0'))
			continue;
		const char *endpoint = area->endpoint(req);
		const struct sandbox_faults *f = sandbox_faults_for(sb, endpoint);
		if (endpoint) {
			json_t *n = json_object_get(sb->requests, endpoint);
			json_object_set_new(sb->requests, endpoint,
					    json_integer(n ? json_integer_value(n) + 1 : 1));
		}
		if (endpoint && f->throttle_rate > 0 && chance() < f->throttle_rate) {
			area->error(&ex->resp, 429, "rate_limit", "too many requests");
			http_response_header(&ex->resp, "Retry-After", "1");
			return true;
		}
		if (endpoint && f->timeout_rate > 0 && chance() < f->timeout_rate) {
			/* The worst kind of timeout: the request takes effect and
			 * its answer is lost, so clients must look before retrying. */
			area->handle(sb, ex, endpoint);
			hold(sb, ex, area, endpoint, SANDBOX_HOLD_MS, true);
			return false;
		}
		if (endpoint && f->error_rate > 0 && chance() < f->error_rate) {
			area->error(&ex->resp, 500, "server_error", "injected fault");
			return true;
		}
		int delay = endpoint ? f->latency_ms : 0;
		if (endpoint && f->jitter_ms > 0)
			delay += (int)(chance() * (f->jitter_ms + 1));
		if (delay > 0) {
			hold(sb, ex, area, endpoint, delay, false);
			return false;
		}
		area->handle(sb, ex, endpoint);
		maybe_gzip(&ex->req, &ex->resp);
		return true;
	}
	sandbox_json(&ex->resp, 404, json_pack("{s:s}", "error", "no such route"));
	return true;
}

static void app_log(void *ctx, const struct http_request *req, const struct http_response *resp,
		    int64_t duration_us)
{
	/* The method and path are the client's bytes: logged as valid UTF-8,
	 * cut on a character. */
	char method[REQUEST_LOG_METHOD_MAX], path[REQUEST_LOG_PATH_MAX];
	(void)ctx;
	if (quiet)
		return;
	hbk_utf8_copy(method, sizeof(method), req->method, strlen(req->method));
	hbk_utf8_copy(path, sizeof(path), req->path, strlen(req->path));
	fprintf(stderr, "hbk-sandbox: %s %s %d %.1f ms\n", method, path, resp->status,
		(double)duration_us / 1000.0);
}

static void app_refuse(void *ctx, int status, const char *code, const char *detail,
		       struct http_response *resp)
{
	(void)ctx;
	sandbox_json(resp, status, json_pack("{s:s, s:s}", "error", code, "message", detail));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static void write_ready(const char *path, const char *http, const char *smtp)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s\n%s\n", http, smtp ? smtp : "") < 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0)
		fprintf(stderr, "hbk-sandbox: error: cannot write %s\n", path);
}

static int fail(const struct hbk_error *err)
{
	fprintf(stderr, "hbk-sandbox: error: %s\n", err->message);
	return hbk_exit_code(err->result);
}

int main(int argc, char **argv)
{
	const char *listen = SANDBOX_LISTEN_DEFAULT, *smtp_listen = NULL, *ready_file = NULL;
	const char *state = NULL;
	long long days = SANDBOX_DAYS_DEFAULT, seed = 0, latency_ms = 0;
	const char *error_rate = NULL;
	bool help = false, version = false;
	struct sandbox sb = {0};
	sb.partner_key = "sandbox-key";
	sb.partner_secret = "sandbox-secret";
	sb.payment_key = "sk_test_sandbox";
	sb.webhook_secret = "whsec_sandbox";
	const char *positional[HBK_OPT_MAX_POSITIONAL];
	int npositional;
	struct hbk_error err = {0};

	const struct hbk_option options[] = {
	    {HBK_OPT_STRING, "listen", 'l', &listen, NULL, "HOST:PORT",
	     "serve HTTP on (default " SANDBOX_LISTEN_DEFAULT "; port 0 picks one)", 0, 0,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_STRING, "smtp-listen", 0, &smtp_listen, NULL, "HOST:PORT",
	     "also run the SMTP sink there", 0, 0, HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_STRING, "ready-file", 0, &ready_file, NULL, "FILE",
	     "once listening, write the HTTP (line 1) and SMTP (line 2) addresses", 0, 0,
	     HBK_COMPLETE_FILE, NULL},
	    {HBK_OPT_STRING, "state", 0, &state, NULL, "FILE",
	     "keep the simulators' state in this SQLite file (default: in memory)", 0, 0,
	     HBK_COMPLETE_FILE, NULL},
	    {HBK_OPT_INT, "days", 0, &days, NULL, "N",
	     "days of demo inventory from today (default 120)", 1, 1096, HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_INT, "seed", 0, &seed, NULL, "N",
	     "seed of the fault dice (default: from the clock)", 0, 2147483647,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_INT, "latency-ms", 0, &latency_ms, NULL, "N",
	     "latency added to every protocol request", 0, SANDBOX_LATENCY_MAX_MS,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_STRING, "error-rate", 0, &error_rate, NULL, "R",
	     "fraction (0 to 1) of protocol requests answered 500", 0, 0, HBK_COMPLETE_NONE,
	     NULL},
	    {HBK_OPT_STRING, "partner-key", 0, &sb.partner_key, NULL, "KEY",
	     "partner Api-key accepted (default sandbox-key)", 0, 0, HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_STRING, "partner-secret", 0, &sb.partner_secret, NULL, "SECRET",
	     "partner secret of X-Signature (default sandbox-secret)", 0, 0, HBK_COMPLETE_NONE,
	     NULL},
	    {HBK_OPT_STRING, "payment-key", 0, &sb.payment_key, NULL, "KEY",
	     "payment secret key accepted (default sk_test_sandbox)", 0, 0, HBK_COMPLETE_NONE,
	     NULL},
	    {HBK_OPT_STRING, "webhook-url", 0, &sb.webhook_url, NULL, "URL",
	     "post payment events (refunds, cancellations) there", 0, 0, HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_STRING, "webhook-secret", 0, &sb.webhook_secret, NULL, "SECRET",
	     "signing secret of those events (default whsec_sandbox)", 0, 0, HBK_COMPLETE_NONE,
	     NULL},
	    {HBK_OPT_BOOL, "quiet", 'q', &quiet, NULL, NULL, "no request log on stderr", 0, 0,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_BOOL, "help", 'h', &help, NULL, NULL, "show help and exit", 0, 0,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_BOOL, "version", 0, &version, NULL, NULL, "show the version and exit", 0, 0,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_END},
	};
	const struct hbk_option *tables[] = {options, NULL};

	if (hbk_opt_parse(tables, argc, argv, positional, &npositional, &err) != HBK_OK ||
	    npositional > 0) {
		fprintf(stderr, "hbk-sandbox: error: %s\n%s",
			npositional > 0 ? "unexpected argument" : err.message, usage);
		return 2;
	}
	if (help) {
		fputs(usage, stdout);
		hbk_opt_usage(stdout, options);
		puts("\nSee hbk-sandbox(1).");
		return 0;
	}
	if (version) {
		printf("hbk-sandbox %s\n", HBK_VERSION);
		return 0;
	}
	srandom(seed ? (unsigned)seed : (unsigned)time(NULL) ^ (unsigned)getpid());
	if (latency_ms > 0 || error_rate) {
		struct sandbox_faults *f = faults_slot(&sb, "*");
		f->latency_ms = (int)latency_ms;
		if (error_rate) {
			char *end;
			double r = strtod(error_rate, &end);
			if (end == error_rate || *end || r < 0 || r > 1) {
				fprintf(stderr,
					"hbk-sandbox: error: --error-rate must be a number from 0 "
					"to 1\n%s",
					usage);
				return 2;
			}
			f->error_rate = r;
		}
	}

	/* The simulators keep their records in an hbk store of their own. */
	/* Built-in defaults only: faults come from the sandbox's own controls. */
	if (hbk_config_load_string("{}", "hbk-sandbox", &sb.cfg, &err) != HBK_OK)
		return fail(&err);
	bool fresh = !state || access(state, F_OK) != 0;
	if (hbk_store_open(state ? state : ":memory:", HBK_STORE_CREATE, &sb.store, &err) !=
	    HBK_OK)
		return fail(&err);
	if (fresh && hbk_inventory_seed_demo(sb.store, hbk_date_today(), (int)days, NULL, NULL,
					     &err) != HBK_OK)
		return fail(&err);
	/* One connection for the process's life: keep its prepared statements. */
	sb.store->cache_statements = true;
	sb.store->keep_search_model = true;
	if (hbk_partner_sandbox_open(sb.cfg, sb.store, &sb.partner, &err) != HBK_OK ||
	    hbk_payment_sandbox_open(sb.cfg, sb.store, &sb.payment, &err) != HBK_OK)
		return fail(&err);
	sb.requests = json_object();
	sb.sns_messages = json_array();
	sb.smtp_messages = json_array();

	int fd = -1, smtp_fd = -1;
	char http_address[300], smtp_address[300] = "";
	if (http_listen(listen, SANDBOX_BACKLOG, &fd, &err) != HBK_OK)
		return fail(&err);
	if (smtp_listen && http_listen(smtp_listen, SANDBOX_BACKLOG, &smtp_fd, &err) != HBK_OK)
		return fail(&err);
	http_bound_address(fd, http_address, sizeof(http_address));
	if (smtp_fd >= 0)
		http_bound_address(smtp_fd, smtp_address, sizeof(smtp_address));

	signal(SIGPIPE, SIG_IGN);
	sb.base = event_base_new();
	if (!sb.base) {
		fprintf(stderr, "hbk-sandbox: error: cannot create an event loop\n");
		return 1;
	}
	atomic_int open_connections = 0;
	struct http_limits limits = {
	    .max_header_bytes = 16384,
	    .max_body_bytes = 1 << 20,
	    .idle_timeout_ms = 60000,
	    .request_timeout_ms = 10000,
	    .max_connections = 4096,
	    .open_connections = &open_connections,
	};
	struct http_app app = {
	    .handle = app_handle, .log = app_log, .refuse = app_refuse, .ctx = &sb};
	struct http_server *server = http_server_new(sb.base, fd, &limits, &app);
	if (!server) {
		fprintf(stderr, "hbk-sandbox: error: cannot start the HTTP server\n");
		return 1;
	}
	if (smtp_fd >= 0 && sandbox_smtp_start(&sb, smtp_fd, &err) != HBK_OK)
		return fail(&err);
	struct event *term = evsignal_new(sb.base, SIGTERM, on_signal, sb.base);
	struct event *intr = evsignal_new(sb.base, SIGINT, on_signal, sb.base);
	evsignal_add(term, NULL);
	evsignal_add(intr, NULL);

	if (!quiet)
		fprintf(stderr, "hbk-sandbox: serving on http://%s%s%s\n", http_address,
			smtp_fd >= 0 ? ", SMTP on " : "", smtp_address);
	if (ready_file)
		write_ready(ready_file, http_address, smtp_fd >= 0 ? smtp_address : NULL);
	event_base_dispatch(sb.base);

	http_server_free(server);
	sandbox_smtp_stop(&sb);
	event_free(term);
	event_free(intr);
	event_base_free(sb.base);
	close(fd);
	if (smtp_fd >= 0)
		close(smtp_fd);
	json_decref(sb.requests);
	json_decref(sb.sns_messages);
	json_decref(sb.smtp_messages);
	hbk_partner_close(&sb.partner);
	hbk_payment_close(&sb.payment);
	hbk_store_close(sb.store);
	if (gzip_ready)
		deflateEnd(&gzip_stream);
	free(gzip_out);
	hbk_config_free(sb.cfg);
	return 0;
}
