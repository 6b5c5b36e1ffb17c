/*
 * server.h - hbkd, the booking service: the API of api.h over HTTP on
 * worker threads, each with its own event loop and store connection.
 */
#ifndef HBK_SERVER_H
#define HBK_SERVER_H

#include "hbk/core.h"

struct hbk_config;

struct hbk_server_options {
	const char *listen;   /* HOST:PORT; NULL: server.listen, HBK_LISTEN, 127.0.0.1:8080 */
	const char *log_path; /* NULL: log.file, else stderr */
	int workers;	      /* 0: one per core, at most HBK_SERVER_WORKERS_MAX */
	/* Called once the socket listens (e.g. to print the address). */
	void (*on_listen)(void *ctx, const char *address);
	void *ctx;
};

#define HBK_SERVER_WORKERS_MAX 16

/*
 * Serves until SIGTERM or SIGINT (drains in-flight requests, then returns
 * HBK_OK); SIGHUP reopens the log file. Fails when the address cannot be
 * bound or the store cannot be opened.
 */
hbk_result hbk_server_run(const struct hbk_config *cfg, const struct hbk_server_options *opts,
			  struct hbk_error *err);

#endif
