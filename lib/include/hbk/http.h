/*
 * http.h - a small HTTP/1.1 server on libevent bufferevents: hbkd's API
 * (lib/api) and hbk-sandbox serve on it.
 *
 * Written on bufferevents rather than evhttp so that every refusal the
 * transport makes (headers too large, body too large, a slow client, too
 * many connections, a malformed request line) is answered with an RFC 9457
 * problem like every other error, and so that its limits are ours to set.
 * It supports keep-alive and pipelined requests (answered in order) and
 * Content-Length bodies; a chunked request body is refused with 411.
 */
#ifndef HBK_HTTP_H
#define HBK_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "hbk/core.h"

#define HTTP_HEADERS_MAX	  64
#define HTTP_RESPONSE_HEADERS_MAX 12

struct http_header {
	const char *name; /* points into the request's header block */
	const char *value;
};

struct http_request {
	const char *method;
	const char *target; /* path and query, as sent */
	char path[1024];    /* decoded path */
	const char *query;  /* after '?', or "" */
	int version_minor;  /* HTTP/1.x */
	int nheaders;
	struct http_header headers[HTTP_HEADERS_MAX];
	const char *body; /* NUL-terminated, body_len bytes */
	size_t body_len;
	char remote[64];  /* peer address */
	int64_t start_us; /* when the request was complete */
	void *app_data;	  /* the application's, until its log callback */
};

struct http_response {
	int status;
	const char *content_type;
	int nheaders;
	struct {
		char name[32];
		char value[160];
	} headers[HTTP_RESPONSE_HEADERS_MAX];
	struct hbk_buf body;
};

/* Case-insensitive header lookup; NULL when absent. Borrowed. */
const char *http_header(const struct http_request *req, const char *name);
void http_response_init(struct http_response *resp);
void http_response_free(struct http_response *resp);
void http_response_header(struct http_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct http_limits {
	size_t max_header_bytes;      /* request line and headers: 431 beyond */
	size_t max_body_bytes;	      /* 413 beyond */
	int idle_timeout_ms;	      /* a keep-alive connection with no request */
	int request_timeout_ms;	      /* from the first byte to a complete request: 408 */
	int max_connections;	      /* across the servers sharing open_connections: 503 beyond */
	atomic_int *open_connections; /* shared by every server of the process */
};

/*
 * One request and its response. The application may answer after its
 * handler has returned (a saga waiting on the event loop): it then calls
 * http_exchange_finish() later. Requests on one connection are answered in
 * order, so the next one waits.
 */
struct http_conn;
struct http_exchange {
	struct http_request req;
	struct http_response resp;
	struct http_conn *conn; /* NULL once the client has gone */
	struct http_server *server;
	char *head, *body;
	bool answered_inline;	    /* the handler answered before returning */
	bool held;		    /* the application held the answer once */
	struct http_exchange *next; /* the application's, while it holds it */
};

/* Sends ex->resp when the client is still there, logs it, frees ex. */
void http_exchange_finish(struct http_exchange *ex);

/*
 * The application: handle is called once per complete request on the
 * server's thread; it fills ex->resp and returns true, or returns false and
 * calls http_exchange_finish() later. hold (optional) may keep an answer
 * from being sent: returning true, it takes ex and calls
 * http_exchange_finish() again later, when the answer is sent as it is
 * then. refuse builds the problem body of a transport refusal; log writes
 * the access log line of every answer.
 */
struct http_app {
	bool (*handle)(void *ctx, struct http_exchange *ex);
	bool (*hold)(void *ctx, struct http_exchange *ex);
	void (*log)(void *ctx, const struct http_request *req, const struct http_response *resp,
		    int64_t duration_us);
	/* Builds a problem body for a transport refusal. */
	void (*refuse)(void *ctx, int status, const char *code, const char *detail,
		       struct http_response *resp);
	void *ctx;
};

struct http_server;

/*
 * Listens on fd (already bound and listening, shared by several servers
 * with SO_REUSEPORT or passed in) on base. Returns NULL on failure.
 */
struct http_server *http_server_new(struct event_base *base, int listen_fd,
				    const struct http_limits *limits, const struct http_app *app);
/* Stops accepting; idle connections close; in-flight requests finish. */
void http_server_drain(struct http_server *server);
/* Connections still open. */
int http_server_connections(const struct http_server *server);
void http_server_free(struct http_server *server);

/* Binds and listens on HOST:PORT (non-blocking, close-on-exec). */
hbk_result http_listen(const char *address, int backlog, int *fd, struct hbk_error *err);
/* The address actually bound, as HOST:PORT (port 0 picks a free one). */
void http_bound_address(int fd, char *out, size_t size);

/* Microseconds on a monotonic clock. */
int64_t http_now_us(void);

#endif
