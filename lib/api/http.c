/*
 * http.c - the HTTP/1.1 transport of hbkd on libevent bufferevents.
 *
 * One request at a time per connection: the request line and headers must
 * arrive within max_header_bytes and the whole request within
 * request_timeout_ms of its first byte; the body is taken only when its
 * Content-Length is within max_body_bytes. Every refusal is a problem
 * response, and a refused connection is closed once the answer is sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "hbk/http.h"

struct http_conn {
	struct http_server *server;
	struct bufferevent *bev;
	struct event *deadline;
	char remote[64];
	bool in_request;	       /* the first byte of a request has arrived */
	bool closing;		       /* close once the output is written */
	struct http_exchange *pending; /* a request still being answered */
	struct http_conn *prev, *next;
};

struct http_server {
	struct event_base *base;
	struct evconnlistener *listener;
	struct http_limits limits;
	struct http_app app;
	int connections;
	bool draining;
	struct http_conn *conns;
};

int64_t http_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *http_header(const struct http_request *req, const char *name)
{
	for (int i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

void http_response_init(struct http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	resp->content_type = "application/json";
	hbk_buf_init(&resp->body, 0);
}

void http_response_free(struct http_response *resp)
{
	hbk_buf_free(&resp->body);
}

void http_response_header(struct http_response *resp, const char *name, const char *fmt, ...)
{
	char value[2 * sizeof(resp->headers[0].value)];
	va_list ap;
	HBK_ASSERT(resp->nheaders < HTTP_RESPONSE_HEADERS_MAX);
	hbk_copy(resp->headers[resp->nheaders].name, sizeof(resp->headers[0].name), name);
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	/* A value may echo the request: one too long is cut on a character. */
	hbk_copy(resp->headers[resp->nheaders].value, sizeof(resp->headers[0].value), value);
	/* A header value never carries a line break, whatever it came from. */
	for (char *p = resp->headers[resp->nheaders].value; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	resp->nheaders++;
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Status";
}

static void conn_free(struct http_conn *conn)
{
	struct http_server *server = conn->server;
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		server->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	server->connections--;
	if (server->limits.open_connections)
		atomic_fetch_sub(server->limits.open_connections, 1);
	if (conn->pending)
		conn->pending->conn = NULL;
	event_free(conn->deadline);
	bufferevent_free(conn->bev);
	free(conn);
}

/* The Date header, formatted once per second. */
static const char *http_date(void)
{
	static __thread char date[40];
	static __thread time_t cached;
	time_t now = time(NULL);
	if (now != cached) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		cached = now;
	}
	return date;
}

/* The status line and headers of a response: room for the longest. */
#define HTTP_HEAD_MAX (512 + HTTP_RESPONSE_HEADERS_MAX * (32 + 160 + 4))

struct head_text {
	char text[HTTP_HEAD_MAX];
	size_t len;
};

static void head_put(struct head_text *head, const char *s)
{
	size_t len = strlen(s);
	HBK_ASSERT(len <= sizeof(head->text) - head->len);
	memcpy(head->text + head->len, s, len);
	head->len += len;
}

static void head_put_int(struct head_text *head, int64_t value)
{
	HBK_ASSERT(HBK_DECIMAL_STR <= sizeof(head->text) - head->len);
	head->len += hbk_decimal_format(value, 0, head->text + head->len);
}

static void send_response(struct http_conn *conn, const struct http_response *resp, bool close)
{
	/* Written by hand into one block, then added at once: a printf per
	 * line cost more than the rest of a small answer. */
	struct evbuffer *out = bufferevent_get_output(conn->bev);
	struct head_text head = {.len = 0};
	HBK_ASSERT(resp->status >= 100 && resp->status <= 999);
	head_put(&head, "HTTP/1.1 ");
	head_put_int(&head, resp->status);
	head_put(&head, " ");
	head_put(&head, reason_phrase(resp->status));
	head_put(&head, "\r\nDate: ");
	head_put(&head, http_date());
	head_put(&head, "\r\nContent-Length: ");
	head_put_int(&head, (int64_t)resp->body.len);
	head_put(&head, "\r\n");
	if (resp->body.len || resp->status >= 400) {
		head_put(&head, "Content-Type: ");
		head_put(&head, resp->content_type);
		head_put(&head, "\r\n");
	}
	for (int i = 0; i < resp->nheaders; i++) {
		head_put(&head, resp->headers[i].name);
		head_put(&head, ": ");
		head_put(&head, resp->headers[i].value);
		head_put(&head, "\r\n");
	}
	if (close)
		head_put(&head, "Connection: close\r\n");
	head_put(&head, "\r\n");
	evbuffer_add(out, head.text, head.len);
	if (resp->body.len)
		evbuffer_add(out, resp->body.data, resp->body.len);
	if (close) {
		conn->closing = true;
		bufferevent_disable(conn->bev, EV_READ);
	}
}

/* Answers a request the transport refuses, then closes the connection. */
static void refuse(struct http_conn *conn, struct http_request *req, int status, const char *code,
		   const char *detail)
{
	struct http_server *server = conn->server;
	struct http_response resp;
	http_response_init(&resp);
	server->app.refuse(server->app.ctx, status, code, detail, &resp);
	if (status == 503)
		http_response_header(&resp, "Retry-After", "1");
	send_response(conn, &resp, true);
	if (req) {
		hbk_copy(req->remote, sizeof(req->remote), conn->remote);
		server->app.log(server->app.ctx, req, &resp,
				req->start_us ? http_now_us() - req->start_us : 0);
	}
	http_response_free(&resp);
	evbuffer_drain(bufferevent_get_input(conn->bev),
		       evbuffer_get_length(bufferevent_get_input(conn->bev)));
	conn->in_request = false;
	evtimer_del(conn->deadline);
}

static bool token_char(char c)
{
	return c > ' ' && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* Decodes %XX in a path; false on a bad escape or an encoded NUL. */
static bool decode_path(const char *in, size_t len, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '%') {
			unsigned int v;
			if (i + 2 >= len || sscanf(in + i + 1, "%2x", &v) != 1 || v == 0 ||
			    !strchr("0123456789abcdefABCDEF", in[i + 1]) ||
			    !strchr("0123456789abcdefABCDEF", in[i + 2]))
				return false;
			c = (char)v;
			i += 2;
		}
		if (o + 1 >= size)
			return false;
		out[o++] = c;
	}
	out[o] = '\0';
	return true;
}

/*
 * Parses the request line and headers in block (NUL-terminated, ends with
 * CRLF CRLF), in place. Returns 0, or the status to refuse with.
 */
static int parse_head(char *block, struct http_request *req, const char **why)
{
	char *line_end = strstr(block, "\r\n");
	*line_end = '\0';
	char *method = block, *sp1 = strchr(method, ' ');
	if (!sp1) {
		*why = "malformed request line";
		return 400;
	}
	*sp1 = '\0';
	char *target = sp1 + 1, *sp2 = strchr(target, ' ');
	if (!sp2 || method[0] == '\0') {
		*why = "malformed request line";
		return 400;
	}
	*sp2 = '\0';
	const char *version = sp2 + 1;
	for (const char *p = method; *p; p++)
		if (!token_char(*p)) {
			*why = "malformed method";
			return 400;
		}
	if (strncmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1') ||
	    version[8]) {
		*why = "only HTTP/1.0 and HTTP/1.1 are served";
		return strncmp(version, "HTTP/", 5) == 0 ? 505 : 400;
	}
	if (target[0] != '/') {
		*why = "the request target must be an absolute path";
		return 400;
	}
	req->method = method;
	req->target = target;
	req->version_minor = version[7] - '0';
	char *q = strchr(target, '?');
	size_t path_len = q ? (size_t)(q - target) : strlen(target);
	req->query = q ? q + 1 : "";
	if (!decode_path(target, path_len, req->path, sizeof(req->path))) {
		*why = "malformed request path";
		return 400;
	}
	for (const char *p = target; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			*why = "the request target has characters that must be encoded";
			return 400;
		}

	char *p = line_end + 2;
	while (*p && !(p[0] == '\r' && p[1] == '\n')) {
		char *end = strstr(p, "\r\n");
		*end = '\0';
		char *colon = strchr(p, ':');
		if (!colon || colon == p) {
			*why = "malformed header line";
			return 400;
		}
		*colon = '\0';
		for (const char *c = p; *c; c++)
			if (!token_char(*c)) {
				*why = "malformed header name";
				return 400;
			}
		char *value = colon + 1;
		while (*value == ' ' || *value == '\t')
			value++;
		char *vend = value + strlen(value);
		while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
			*--vend = '\0';
		if (req->nheaders == HTTP_HEADERS_MAX) {
			*why = "too many header fields";
			return 431;
		}
		req->headers[req->nheaders].name = p;
		req->headers[req->nheaders].value = value;
		req->nheaders++;
		p = end + 2;
	}
	return 0;
}

static void on_read(struct bufferevent *bev, void *arg);

static bool wants_close(const struct http_request *req)
{
	const char *connection = http_header(req, "Connection");
	if (connection && strcasecmp(connection, "close") == 0)
		return true;
	if (req->version_minor == 0)
		return !(connection && strcasecmp(connection, "keep-alive") == 0);
	return false;
}

/* Handles one complete request at the head of the input, if there is one.
 * Returns false when it needs more bytes or the connection is closing. */
static bool serve_one(struct http_conn *conn)
{
	struct http_server *server = conn->server;
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	size_t avail = evbuffer_get_length(in);
	struct http_request req;
	const char *why = NULL;

	if (conn->closing || conn->pending || avail == 0)
		return false;
	if (!conn->in_request) {
		conn->in_request = true;
		struct timeval tv = {server->limits.request_timeout_ms / 1000,
				     (server->limits.request_timeout_ms % 1000) * 1000};
		evtimer_add(conn->deadline, &tv);
	}
	memset(&req, 0, sizeof(req));
	req.start_us = http_now_us();
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0) {
		if (avail > server->limits.max_header_bytes) {
			req.method = "-";
			req.target = "-";
			refuse(conn, &req, 431, "headers_too_large",
			       "the request line and headers are larger than allowed");
		}
		return false;
	}
	size_t head_len = (size_t)end.pos + 4;
	if (head_len > server->limits.max_header_bytes) {
		req.method = "-";
		req.target = "-";
		refuse(conn, &req, 431, "headers_too_large",
		       "the request line and headers are larger than allowed");
		return false;
	}
	char *head = hbk_xmalloc(head_len + 1);
	evbuffer_copyout(in, head, head_len);
	head[head_len] = '\0';
	int status = memchr(head, '\0', head_len) ? 400 : parse_head(head, &req, &why);
	if (status == 400 && !why)
		why = "a NUL byte in the request head";
	size_t body_len = 0;
	if (status == 0) {
		const char *te = http_header(&req, "Transfer-Encoding");
		const char *cl = http_header(&req, "Content-Length");
		long long n = 0;
		if (te) {
			status = 411;
			why = "chunked request bodies are not accepted: send Content-Length";
		} else if (cl && !hbk_parse_int(cl, 0, INT64_MAX / 2, &n)) {
			status = 400;
			why = "malformed Content-Length";
		} else if ((size_t)n > server->limits.max_body_bytes) {
			status = 413;
			why = "the request body is larger than allowed";
		}
		body_len = (size_t)n;
	}
	if (status != 0) {
		if (!req.method) {
			req.method = "-";
			req.target = "-";
		}
		refuse(conn, &req, status,
		       status == 413   ? "body_too_large"
		       : status == 431 ? "headers_too_large"
		       : status == 411 ? "length_required"
		       : status == 505 ? "http_version_not_supported"
				       : "bad_request",
		       why);
		free(head);
		return false;
	}
	if (avail < head_len + body_len) {
		free(head);
		return false;
	}
	struct http_exchange *ex = hbk_xcalloc(1, sizeof(*ex));
	ex->req = req;
	ex->head = head;
	ex->body = hbk_xmalloc(body_len + 1);
	evbuffer_drain(in, head_len);
	evbuffer_remove(in, ex->body, body_len);
	ex->body[body_len] = '\0';
	/* The parsed pointers moved with the struct copy, but point into head. */
	ex->req.body = ex->body;
	ex->req.body_len = body_len;
	hbk_copy(ex->req.remote, sizeof(ex->req.remote), conn->remote);
	ex->req.start_us = http_now_us();
	ex->conn = conn;
	ex->server = server;
	evtimer_del(conn->deadline);
	conn->in_request = false;
	conn->pending = ex;
	http_response_init(&ex->resp);
	if (!server->app.handle(server->app.ctx, ex))
		return false; /* answered later, by http_exchange_finish() */
	ex->answered_inline = true;
	http_exchange_finish(ex);
	return !conn->closing;
}

void http_exchange_finish(struct http_exchange *ex)
{
	struct http_conn *conn = ex->conn;
	struct http_server *server = ex->server;
	if (!ex->held && server->app.hold && server->app.hold(server->app.ctx, ex)) {
		/* Finished again later: then the connection resumes. */
		ex->held = true;
		ex->answered_inline = false;
		return;
	}
	if (conn) {
		bool close = wants_close(&ex->req) || server->draining;
		if (strcmp(ex->req.method, "HEAD") == 0)
			hbk_buf_reset(&ex->resp.body);
		send_response(conn, &ex->resp, close);
		conn->pending = NULL;
	}
	server->app.log(server->app.ctx, &ex->req, &ex->resp, http_now_us() - ex->req.start_us);
	http_response_free(&ex->resp);
	free(ex->body);
	free(ex->head);
	bool resume = conn && !conn->closing && !ex->answered_inline;
	free(ex);
	/* Requests that arrived meanwhile (pipelined) are served now. */
	if (resume)
		on_read(conn->bev, conn);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct http_conn *conn = arg;
	(void)bev;
	while (serve_one(conn))
		;
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct http_conn *conn = arg;
	if (conn->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(conn);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *conn = arg;
	if ((what & BEV_EVENT_TIMEOUT) && conn->pending && !conn->closing) {
		/* The server is still answering: the client is not idle. The
		 * timeout disabled the side it fired on; it goes on. */
		bufferevent_enable(bev, (what & BEV_EVENT_READING) ? EV_READ : EV_WRITE);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && conn->in_request &&
	    !conn->closing) {
		refuse(conn, NULL, 408, "request_timeout", "the request did not arrive in time");
		return;
	}
	conn_free(conn);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *conn = arg;
	(void)fd;
	(void)what;
	if (!conn->closing)
		refuse(conn, NULL, 408, "request_timeout", "the request did not arrive in time");
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
		      int addrlen, void *arg)
{
	struct http_server *server = arg;
	(void)listener;
	(void)addrlen;
	struct http_conn *conn = hbk_xcalloc(1, sizeof(*conn));
	conn->server = server;
	conn->bev = bufferevent_socket_new(server->base, fd, BEV_OPT_CLOSE_ON_FREE);
	conn->deadline = evtimer_new(server->base, on_deadline, conn);
	if (!conn->bev || !conn->deadline) {
		if (conn->bev)
			bufferevent_free(conn->bev);
		else
			evutil_closesocket(fd);
		if (conn->deadline)
			event_free(conn->deadline);
		free(conn);
		return;
	}
	if (addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)addr)->sin_addr, conn->remote,
			  sizeof(conn->remote));
	else if (addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)addr)->sin6_addr, conn->remote,
			  sizeof(conn->remote));
	conn->next = server->conns;
	if (server->conns)
		server->conns->prev = conn;
	server->conns = conn;
	server->connections++;
	int open = server->limits.open_connections
		       ? atomic_fetch_add(server->limits.open_connections, 1) + 1
		       : server->connections;
	bufferevent_setcb(conn->bev, on_read, on_write, on_event, conn);
	struct timeval idle = {server->limits.idle_timeout_ms / 1000,
			       (server->limits.idle_timeout_ms % 1000) * 1000};
	bufferevent_set_timeouts(conn->bev, &idle, &idle);
	/* Stop reading what a client pipelines past one full request. */
	bufferevent_setwatermark(conn->bev, EV_READ, 0,
				 server->limits.max_header_bytes + server->limits.max_body_bytes +
				     1);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	if (open > server->limits.max_connections || server->draining) {
		struct http_request req = {.method = "-", .target = "-"};
		refuse(conn, &req, 503, "too_many_connections",
		       server->draining ? "the server is shutting down"
					: "too many open connections; retry shortly");
	}
}

struct http_server *http_server_new(struct event_base *base, int listen_fd,
				    const struct http_limits *limits, const struct http_app *app)
{
	struct http_server *server = hbk_xcalloc(1, sizeof(*server));
	server->base = base;
	server->limits = *limits;
	server->app = *app;
	server->listener =
	    evconnlistener_new(base, on_accept, server, LEV_OPT_CLOSE_ON_EXEC, -1, listen_fd);
	if (!server->listener) {
		free(server);
		return NULL;
	}
	return server;
}

void http_server_drain(struct http_server *server)
{
	server->draining = true;
	if (server->listener)
		evconnlistener_disable(server->listener);
	/*
	 * Idle keep-alive connections have nothing in flight: close them now.
	 * A request arriving or being answered keeps its connection, which
	 * closes after the answer (it carries Connection: close now).
	 */
	for (struct http_conn *conn = server->conns, *next; conn; conn = next) {
		next = conn->next;
		if (conn->in_request || conn->pending)
			continue;
		if (!conn->closing && evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
			conn_free(conn);
		else
			conn->closing = true;
	}
}

int http_server_connections(const struct http_server *server)
{
	return server->connections;
}

void http_server_free(struct http_server *server)
{
	if (!server)
		return;
	while (server->conns)
		conn_free(server->conns);
	if (server->listener)
		evconnlistener_free(server->listener);
	free(server);
}

hbk_result http_listen(const char *address, int backlog, int *out, struct hbk_error *err)
{
	char host[256];
	const char *colon = strrchr(address, ':');
	if (!colon || colon == address || !colon[1] || (size_t)(colon - address) >= sizeof(host))
		return hbk_fail(err, HBK_EINVAL, "invalid_listen",
				"invalid listen address '%s' (expected HOST:PORT)", address);
	memcpy(host, address, (size_t)(colon - address));
	host[colon - address] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host) - 2);
		host[strlen(host) - 2] = '\0';
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	int gai = getaddrinfo(host, colon + 1, &hints, &res);
	if (gai != 0)
		return hbk_fail(err, HBK_EINVAL, "invalid_listen", "cannot resolve '%s': %s",
				address, gai_strerror(gai));
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return hbk_fail(err, HBK_EUNAVAILABLE, "listen", "cannot listen on %s: %s", address,
				strerror(e));
	}
	freeaddrinfo(res);
	*out = fd;
	return HBK_OK;
}

void http_bound_address(int fd, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
				  sizeof(host));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
				  sizeof(host));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	snprintf(out, size, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
}
