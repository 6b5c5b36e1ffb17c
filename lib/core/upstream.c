/*
 * upstream.c - outbound HTTP over libcurl, synchronous or on a libevent
 * loop, behind a circuit breaker per upstream name (see upstream.h).
 *
 * On a loop the calls share one curl multi handle: libcurl tells us which
 * sockets to watch (socket_cb) and when to wake it (timer_cb); libevent
 * calls back on readiness and we hand the socket to
 * curl_multi_socket_action(), then collect the finished transfers.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "hbk/core.h"
#include "hbk/upstream.h"

/* clang-format off */
#define UPSTREAM_TIMEOUT_MS_DEFAULT	 5000
#define UPSTREAM_CONNECT_MS_MAX		 2000
#define UPSTREAM_BREAKER_FAILURES	 5
#define UPSTREAM_BREAKER_OPEN_MS	 5000
#define UPSTREAM_BODY_MAX		 (16u << 20) /* a larger answer is an error */
#define UPSTREAM_URL_MAX		 4096
#define BREAKERS_MAX			 8
/* Connections a loop's multi keeps open to one upstream: at least the
 * calls in flight at a peak, so that a lull does not close them. */
#define UPSTREAM_CONNECTIONS_MAX	 512
/* Easy handles kept for reuse after their call (the rest are freed). */
#define UPSTREAM_IDLE_HANDLES_MAX	 256
/* Sockets below this number keep their watch between calls (struct watch). */
#define UPSTREAM_WATCH_FDS_MAX		 (1 << 20)
/* clang-format on */

enum circuit { CIRCUIT_CLOSED, CIRCUIT_OPEN, CIRCUIT_HALF_OPEN };

/* One per upstream name, shared by every thread of the process. */
struct breaker {
	char name[32];
	enum circuit state;
	int failures; /* consecutive */
	int64_t opened_ms;
	bool probing; /* the half-open probe is in flight */
	uint64_t ok, failed, rejected, opened_total;
};

static pthread_mutex_t breakers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct breaker breakers[BREAKERS_MAX];
static int nbreakers;

struct after;

struct hbk_upstream {
	char name[32];
	char base_url[1024];
	int timeout_ms, connect_timeout_ms;
	int breaker_failures, breaker_open_ms;
	struct breaker *breaker;
	CURL *easy; /* the synchronous calls' handle, kept for its connections */
	/* On a loop: */
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct hbk_upstream_call *flying; /* list of the calls in flight */
	struct after *afters;		  /* delays pending on the loop */
	CURL *idle[UPSTREAM_IDLE_HANDLES_MAX]; /* easy handles done with a call */
	int nidle;
	struct watch **watches; /* by socket: the watch of each open one */
	int nwatches;		/* room in watches */
};

/* A delay on the loop (hbk_upstream_after). */
struct after {
	struct event *ev;
	void (*fn)(void *arg);
	void *arg;
	struct hbk_upstream *up;
	struct after *prev, *next;
};

static void after_unlink(struct after *a)
{
	if (a->prev)
		a->prev->next = a->next;
	else
		a->up->afters = a->next;
	if (a->next)
		a->next->prev = a->prev;
}

/*
 * A socket libcurl asked us to watch. When a call ends, libcurl lets its
 * connection's socket go (CURL_POLL_REMOVE) and asks for it again at the
 * next call on that connection: the watch stays registered for reading
 * meanwhile ("parked"), which spares two epoll_ctl calls a call. A parked
 * socket that becomes readable (the server closed the connection) is
 * unregistered then; libcurl finds the connection dead at its next use.
 * The watch goes when libcurl closes the socket (close_cb).
 */
struct watch {
	struct hbk_upstream *up;
	curl_socket_t fd;
	struct event *ev;
	short kind;  /* what ev is registered for; 0: not registered */
	bool parked; /* libcurl let the socket go; it is still open */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct breaker *breaker_get(const char *name)
{
	pthread_mutex_lock(&breakers_lock);
	struct breaker *found = NULL;
	for (int i = 0; i < nbreakers && !found; i++)
		if (strcmp(breakers[i].name, name) == 0)
			found = &breakers[i];
	if (!found && nbreakers < BREAKERS_MAX) {
		found = &breakers[nbreakers++];
		hbk_copy(found->name, sizeof(found->name), name);
	}
	pthread_mutex_unlock(&breakers_lock);
	HBK_ASSERT(found != NULL);
	return found;
}

/* May a call go out now? Open circuits refuse until their time is up;
 * then exactly one probe goes (half-open). */
static bool breaker_admit(struct hbk_upstream *up)
{
	struct breaker *b = up->breaker;
	bool admit = true;
	pthread_mutex_lock(&breakers_lock);
	if (b->state == CIRCUIT_OPEN && monotonic_ms() - b->opened_ms >= up->breaker_open_ms)
		b->state = CIRCUIT_HALF_OPEN;
	if (b->state == CIRCUIT_OPEN)
		admit = false;
	else if (b->state == CIRCUIT_HALF_OPEN) {
		admit = !b->probing;
		b->probing = true;
	}
	if (!admit)
		b->rejected++;
	pthread_mutex_unlock(&breakers_lock);
	return admit;
}

static void breaker_record(struct hbk_upstream *up, bool ok)
{
	struct breaker *b = up->breaker;
	pthread_mutex_lock(&breakers_lock);
	if (ok) {
		b->ok++;
		b->failures = 0;
		b->state = CIRCUIT_CLOSED;
		b->probing = false;
	} else {
		b->failed++;
		b->failures++;
		if (b->state == CIRCUIT_HALF_OPEN ||
		    (b->state == CIRCUIT_CLOSED && b->failures >= up->breaker_failures)) {
			b->state = CIRCUIT_OPEN;
			b->opened_ms = monotonic_ms();
			b->opened_total++;
		}
		b->probing = false;
	}
	pthread_mutex_unlock(&breakers_lock);
}

void hbk_upstream_metrics(struct hbk_buf *out)
{
	pthread_mutex_lock(&breakers_lock);
	if (nbreakers > 0) {
		hbk_buf_puts(out, "# HELP hbk_upstream_circuit_state Circuit breaker per upstream: "
				  "0 closed, 1 open, 2 half-open.\n"
				  "# TYPE hbk_upstream_circuit_state gauge\n");
		for (int i = 0; i < nbreakers; i++)
			hbk_buf_printf(out, "hbk_upstream_circuit_state{upstream=\"%s\"} %d\n",
				       breakers[i].name, (int)breakers[i].state);
		hbk_buf_puts(out, "# HELP hbk_upstream_requests_total Calls to upstreams by "
				  "outcome (rejected: refused by an open circuit).\n"
				  "# TYPE hbk_upstream_requests_total counter\n");
		for (int i = 0; i < nbreakers; i++) {
			const struct breaker *b = &breakers[i];
			hbk_buf_printf(out,
				       "hbk_upstream_requests_total{upstream=\"%s\",outcome=\"ok\"} "
				       "%" PRIu64 "\n"
				       "hbk_upstream_requests_total{upstream=\"%s\",outcome=\"failed\"}"
				       " %" PRIu64 "\n"
				       "hbk_upstream_requests_total{upstream=\"%s\",outcome="
				       "\"rejected\"} %" PRIu64 "\n",
				       b->name, b->ok, b->name, b->failed, b->name, b->rejected);
		}
		hbk_buf_puts(out, "# HELP hbk_upstream_circuit_opened_total Times the circuit "
				  "opened.\n# TYPE hbk_upstream_circuit_opened_total counter\n");
		for (int i = 0; i < nbreakers; i++)
			hbk_buf_printf(out,
				       "hbk_upstream_circuit_opened_total{upstream=\"%s\"} %" PRIu64
				       "\n",
				       breakers[i].name, breakers[i].opened_total);
	}
	pthread_mutex_unlock(&breakers_lock);
}

hbk_result hbk_upstream_new(const struct hbk_upstream_options *opt, struct hbk_upstream **out,
			    struct hbk_error *err)
{
	*out = NULL;
	if (opt->base_url == NULL || opt->base_url[0] == '\0')
		return hbk_fail(err, HBK_EINVAL, "invalid_config", "%s: no url configured",
				opt->name);
	if (strncmp(opt->base_url, "http://", 7) != 0 && strncmp(opt->base_url, "https://", 8) != 0)
		return hbk_fail(err, HBK_EINVAL, "invalid_config",
				"%s: url must start with http:// or https://", opt->name);
	if (strlen(opt->base_url) >= sizeof(((struct hbk_upstream *)0)->base_url))
		return hbk_fail(err, HBK_EINVAL, "invalid_config", "%s: url too long", opt->name);
	pthread_once(&curl_once, curl_init_once);

	struct hbk_upstream *up = hbk_xcalloc(1, sizeof(*up));
	hbk_copy(up->name, sizeof(up->name), opt->name);
	hbk_copy(up->base_url, sizeof(up->base_url), opt->base_url);
	size_t n = strlen(up->base_url);
	while (n > 0 && up->base_url[n - 1] == '/')
		up->base_url[--n] = '\0';
	up->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : UPSTREAM_TIMEOUT_MS_DEFAULT;
	up->connect_timeout_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms
				 : up->timeout_ms < UPSTREAM_CONNECT_MS_MAX ? up->timeout_ms
									    : UPSTREAM_CONNECT_MS_MAX;
	up->breaker_failures =
	    opt->breaker_failures > 0 ? opt->breaker_failures : UPSTREAM_BREAKER_FAILURES;
	up->breaker_open_ms =
	    opt->breaker_open_ms > 0 ? opt->breaker_open_ms : UPSTREAM_BREAKER_OPEN_MS;
	up->breaker = breaker_get(up->name);
	*out = up;
	return HBK_OK;
}

void hbk_upstream_header(struct hbk_upstream_request *req, const char *fmt, ...)
{
	HBK_ASSERT(req->nheaders < HBK_UPSTREAM_HEADERS_MAX);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(req->headers[req->nheaders++], sizeof(req->headers[0]), fmt, ap);
	va_end(ap);
}

void hbk_upstream_call_reset(struct hbk_upstream_call *call)
{
	hbk_buf_free(&call->resp.body);
	memset(&call->resp, 0, sizeof(call->resp));
	call->resp.retry_after_ms = -1;
	hbk_error_clear(&call->err);
	call->rc = HBK_OK;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct hbk_upstream_call *call = arg;
	return hbk_buf_append(&call->resp.body, data, size * nmemb) ? size * nmemb : 0;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct hbk_upstream_call *call = arg;
	size_t len = size * nmemb;
	static const char name[] = "retry-after:";
	if (len > sizeof(name) && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		char value[32];
		size_t vlen = len - (sizeof(name) - 1);
		if (vlen >= sizeof(value))
			vlen = sizeof(value) - 1;
		memcpy(value, data + sizeof(name) - 1, vlen);
		value[vlen] = '\0';
		char *end;
		long seconds = strtol(value, &end, 10);
		if (end != value && seconds >= 0 && seconds < 3600)
			call->resp.retry_after_ms = (int)seconds * 1000;
	}
	return len;
}

static int close_cb(void *arg, curl_socket_t fd);

/* Sets the easy handle up for call, to url. */
static void prepare(struct hbk_upstream *up, CURL *easy, struct hbk_upstream_call *call,
		    const char *url)
{
	const struct hbk_upstream_request *req = &call->req;
	hbk_buf_init(&call->resp.body, UPSTREAM_BODY_MAX);
	call->resp.retry_after_ms = -1;

	struct curl_slist *headers = NULL;
	for (int i = 0; i < req->nheaders; i++)
		headers = curl_slist_append(headers, req->headers[i]);
	if (req->content_type) {
		char line[160];
		hbk_format(line, sizeof(line), "Content-Type: %s", req->content_type);
		headers = curl_slist_append(headers, line);
	}
	/* No "Expect: 100-continue" round trip on POST bodies. */
	headers = curl_slist_append(headers, "Expect:");
	call->headers = headers;

	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
	if (strcmp(req->method, "GET") == 0)
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	if (req->body || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	}
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "gzip");
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)up->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)up->connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, call);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, call);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, call);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, up);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "hbk/" HBK_VERSION);
	if (req->aws_sigv4) {
		curl_easy_setopt(easy, CURLOPT_AWS_SIGV4, req->aws_sigv4);
		curl_easy_setopt(easy, CURLOPT_USERPWD, req->userpwd);
	}
}

/* Maps the transfer's outcome onto the call, feeds the breaker, calls back. */
static void complete(struct hbk_upstream *up, CURL *easy, struct hbk_upstream_call *call,
		     CURLcode code)
{
	curl_slist_free_all(call->headers);
	call->headers = NULL;
	if (code == CURLE_OK) {
		long status = 0;
		char *type = NULL;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &type);
		call->resp.status = status;
		if (type)
			hbk_copy(call->resp.content_type, sizeof(call->resp.content_type), type);
		call->rc = HBK_OK;
		breaker_record(up, status < 500);
	} else {
		call->resp.status = 0;
		/* Only a connection never made is sure not to have reached it. */
		bool unreachable = code == CURLE_COULDNT_CONNECT ||
				   code == CURLE_COULDNT_RESOLVE_HOST ||
				   code == CURLE_COULDNT_RESOLVE_PROXY;
		call->rc = hbk_fail(&call->err, HBK_EUNAVAILABLE,
				    code == CURLE_OPERATION_TIMEDOUT ? "upstream_timeout"
				    : unreachable		     ? "upstream_unreachable"
								     : "upstream_failed",
				    "%s %s: %s", up->name, call->req.method,
				    code == CURLE_OPERATION_TIMEDOUT ? "timed out"
								     : curl_easy_strerror(code));
		breaker_record(up, false);
	}
	/* The body is NUL-terminated for the adapters' JSON parsers. */
	hbk_buf_putc(&call->resp.body, '\0');
	if (call->resp.body.len > 0)
		call->resp.body.len--;
	call->done(call);
}

static void refuse(struct hbk_upstream *up, struct hbk_upstream_call *call)
{
	call->resp.status = 0;
	call->resp.retry_after_ms = -1;
	call->rc = hbk_fail(&call->err, HBK_EUNAVAILABLE, "circuit_open",
			    "%s unavailable: circuit open after %d consecutive failures", up->name,
			    up->breaker_failures);
	call->done(call);
}

/* ---- on a loop ---------------------------------------------------------- */

static void unlink_call(struct hbk_upstream *up, struct hbk_upstream_call *call)
{
	if (call->prev)
		call->prev->next = call->next;
	else
		up->flying = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
	call->handle = NULL;
}

/*
 * An easy handle for a call on the loop: a reused one when there is one.
 * curl_easy_init and _cleanup allocate and clear several kilobytes a
 * call; the connections themselves live in the multi's cache either way.
 */
static CURL *handle_get(struct hbk_upstream *up)
{
	if (up->nidle > 0)
		return up->idle[--up->nidle];
	CURL *easy = curl_easy_init();
	HBK_ASSERT(easy != NULL);
	return easy;
}

static void handle_put(struct hbk_upstream *up, CURL *easy)
{
	if (up->nidle == UPSTREAM_IDLE_HANDLES_MAX) {
		curl_easy_cleanup(easy);
		return;
	}
	curl_easy_reset(easy);
	up->idle[up->nidle++] = easy;
}

static void collect(struct hbk_upstream *up)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(up->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode code = msg->data.result;
		struct hbk_upstream_call *call = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
		curl_multi_remove_handle(up->multi, easy);
		unlink_call(up, call);
		complete(up, easy, call, code);
		handle_put(up, easy);
	}
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	struct hbk_upstream *up = w->up;
	if (w->parked) {
		/* Not libcurl's now: stop watching until it asks again. */
		event_del(w->ev);
		w->kind = 0;
		return;
	}
	int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
		    ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;
	curl_multi_socket_action(up->multi, fd, flags, &running);
	collect(up);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hbk_upstream *up = arg;
	int running;
	(void)fd;
	(void)what;
	curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect(up);
}

/* The watch of socket fd, if it has one. */
static struct watch *watch_of(struct hbk_upstream *up, curl_socket_t fd)
{
	return fd >= 0 && fd < up->nwatches ? up->watches[fd] : NULL;
}

/* A new watch of fd, kept by socket when fd is within the table's bound. */
static struct watch *watch_new(struct hbk_upstream *up, curl_socket_t fd)
{
	struct watch *w = hbk_xcalloc(1, sizeof(*w));
	w->up = up;
	w->fd = fd;
	w->ev = event_new(up->base, fd, 0, on_socket, w);
	HBK_ASSERT(w->ev != NULL);
	if (fd < 0 || fd >= UPSTREAM_WATCH_FDS_MAX)
		return w;
	if (fd >= up->nwatches) {
		int n = up->nwatches ? up->nwatches : 64;
		while (n <= fd)
			n *= 2;
		up->watches = hbk_xrealloc(up->watches, (size_t)n * sizeof(*up->watches));
		memset(up->watches + up->nwatches, 0,
		       (size_t)(n - up->nwatches) * sizeof(*up->watches));
		up->nwatches = n;
	}
	HBK_ASSERT(up->watches[fd] == NULL);
	up->watches[fd] = w;
	return w;
}

static void watch_free(struct hbk_upstream *up, struct watch *w)
{
	if (watch_of(up, w->fd) == w)
		up->watches[w->fd] = NULL;
	event_free(w->ev);
	free(w);
}

/* Registers w for kind (EV_READ, EV_WRITE or both; 0: none). */
static void watch_set(struct watch *w, short kind)
{
	if (w->kind == kind)
		return;
	if (w->kind)
		event_del(w->ev);
	w->kind = kind;
	if (!kind)
		return;
	event_assign(w->ev, w->up->base, w->fd, (short)(EV_PERSIST | kind), on_socket, w);
	event_add(w->ev, NULL);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *socketp)
{
	struct hbk_upstream *up = arg;
	struct watch *w = socketp;
	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (!w)
			return 0;
		if (watch_of(up, fd) != w) {
			watch_free(up, w);
			return 0;
		}
		/* Parked: a writable socket would wake the loop for ever. */
		if (w->kind != EV_READ)
			watch_set(w, 0);
		w->parked = true;
		return 0;
	}
	short kind =
	    ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (!w) {
		w = watch_of(up, fd);
		if (!w)
			w = watch_new(up, fd);
		w->parked = false;
		curl_multi_assign(up->multi, fd, w);
	}
	watch_set(w, kind);
	return 0;
}

/* libcurl closes its sockets here, so a watch never outlives its socket
 * (a later socket with the same number starts afresh). */
static int close_cb(void *arg, curl_socket_t fd)
{
	struct hbk_upstream *up = arg;
	struct watch *w = watch_of(up, fd);
	if (w)
		watch_free(up, w);
	return close(fd);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct hbk_upstream *up = arg;
	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(up->timer);
		return 0;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(up->timer, &tv);
	return 0;
}

void hbk_upstream_attach(struct hbk_upstream *up, struct event_base *base)
{
	if (up->base == base)
		return;
	if (up->multi) {
		/* Finish what is still in flight, so no caller waits forever. */
		while (up->flying) {
			struct hbk_upstream_call *call = up->flying;
			CURL *easy = call->handle;
			curl_multi_remove_handle(up->multi, easy);
			unlink_call(up, call);
			complete(up, easy, call, CURLE_ABORTED_BY_CALLBACK);
			curl_easy_cleanup(easy);
		}
		while (up->nidle > 0)
			curl_easy_cleanup(up->idle[--up->nidle]);
		curl_multi_cleanup(up->multi);
		/* Closing the connections took their watches; any left belong
		 * to the loop being left. */
		for (int fd = 0; fd < up->nwatches; fd++)
			if (up->watches[fd])
				watch_free(up, up->watches[fd]);
		free(up->watches);
		up->watches = NULL;
		up->nwatches = 0;
		event_free(up->timer);
		up->multi = NULL;
		up->timer = NULL;
	}
	/* Delays still pending belong to the loop being left: they are dropped,
	 * so none fires into an adapter that is gone. */
	while (up->afters) {
		struct after *a = up->afters;
		after_unlink(a);
		event_free(a->ev);
		free(a);
	}
	up->base = base;
	if (!base)
		return;
	up->multi = curl_multi_init();
	HBK_ASSERT(up->multi != NULL);
	up->timer = evtimer_new(base, on_timer, up);
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
	curl_multi_setopt(up->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 256L);
	/* By default the cache holds 4 connections per handle in the multi at
	 * the moment one is returned, so after a burst the next lull closed
	 * most of them and the next burst connected again. */
	curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, (long)UPSTREAM_CONNECTIONS_MAX);
}

void hbk_upstream_send(struct hbk_upstream *up, struct hbk_upstream_call *call)
{
	HBK_ASSERT(call->done != NULL);
	call->up = up;
	hbk_upstream_call_reset(call);
	if (!breaker_admit(up)) {
		refuse(up, call);
		return;
	}
	char url[UPSTREAM_URL_MAX];
	const char *path = call->req.path ? call->req.path : "";
	int n = snprintf(url, sizeof(url), "%s%s", up->base_url, path);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		call->rc = hbk_fail(&call->err, HBK_EINVAL, "invalid_request",
				    "%s: request path too long", up->name);
		call->done(call);
		return;
	}
	if (!up->multi) {
		if (!up->easy)
			up->easy = curl_easy_init();
		HBK_ASSERT(up->easy != NULL);
		curl_easy_reset(up->easy);
		prepare(up, up->easy, call, url);
		complete(up, up->easy, call, curl_easy_perform(up->easy));
		return;
	}
	CURL *easy = handle_get(up);
	prepare(up, easy, call, url);
	call->handle = easy;
	call->prev = NULL;
	call->next = up->flying;
	if (up->flying)
		up->flying->prev = call;
	up->flying = call;
	curl_multi_add_handle(up->multi, easy);
}

static void after_fire(evutil_socket_t fd, short what, void *arg)
{
	struct after *a = arg;
	(void)fd;
	(void)what;
	after_unlink(a);
	event_free(a->ev);
	void (*fn)(void *) = a->fn;
	void *fn_arg = a->arg;
	free(a);
	fn(fn_arg);
}

void hbk_upstream_after(struct hbk_upstream *up, int delay_ms, void (*fn)(void *arg), void *arg)
{
	if (delay_ms < 0)
		delay_ms = 0;
	if (!up->base) {
		struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		fn(arg);
		return;
	}
	struct after *a = hbk_xcalloc(1, sizeof(*a));
	a->fn = fn;
	a->arg = arg;
	a->up = up;
	a->next = up->afters;
	if (up->afters)
		up->afters->prev = a;
	up->afters = a;
	a->ev = evtimer_new(up->base, after_fire, a);
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
	evtimer_add(a->ev, &tv);
}

void hbk_upstream_free(struct hbk_upstream *up)
{
	if (!up)
		return;
	hbk_upstream_attach(up, NULL);
	if (up->easy)
		curl_easy_cleanup(up->easy);
	free(up);
}

static void hex(const unsigned char *bytes, unsigned int n, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	for (unsigned int i = 0; i < n && i < 32; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * (n < 32 ? n : 32)] = '\0';
}

/* SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up
 * on every digest, which cost as much as hashing a signature's text. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	HBK_ASSERT(sha256 != NULL);
}

void hbk_sha256_hex(const char *s, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	pthread_once(&sha256_once, sha256_fetch);
	HBK_ASSERT(EVP_Digest(s, len, md, &n, sha256, NULL) == 1);
	hex(md, n, out);
}

void hbk_hmac_sha256_hex(const char *key, const char *msg, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	HBK_ASSERT(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, len, md,
			&n) != NULL);
	hex(md, n, out);
}
