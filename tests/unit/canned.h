/*
 * canned.h - a canned HTTP server for the adapters' unit tests: it answers
 * the scripted responses in order, one per connection (or several, kept
 * alive), and keeps the text of each request it received.
 */
#ifndef HBK_TEST_CANNED_H
#define HBK_TEST_CANNED_H

#include <pthread.h>

#define CANNED_MAX  8
#define REQUEST_MAX 16384

struct canned {
	int fd;
	int port;
	/* 0: one answer per connection, with "Connection: close". N: up to N
	 * answers on a kept-alive connection, which is then closed without
	 * notice, as a server does with an idle one. Set before canned_add. */
	int per_connection;
	int nanswers;
	char *answers[CANNED_MAX]; /* full HTTP responses, owned */
	int nrequests;
	char requests[CANNED_MAX][REQUEST_MAX];
	pthread_t thread;
};

/* Scripts the next answer: a JSON body with its status line and any extra
 * header lines (each ending in CRLF). */
void canned_add(struct canned *c, const char *status, const char *extra, const char *body);
/* Listens on a free loopback port (c->port) and serves in a thread. */
void canned_start(struct canned *c);
/* Stops (also when fewer requests came than were scripted) and frees the
 * answers; the requests stay readable. */
void canned_stop(struct canned *c);

#endif
