/*
 * canned.c - the canned HTTP server of canned.h.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "canned.h"
#include "hbk/core.h"
#include "unit.h"

static void read_request(int client, char *out, size_t size)
{
	size_t len = 0;
	long body = -1;
	out[0] = '\0';
	while (len + 1 < size) {
		ssize_t n = read(client, out + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		out[len] = '\0';
		char *end = strstr(out, "\r\n\r\n");
		if (end == NULL)
			continue;
		if (body < 0) {
			const char *cl = strcasestr(out, "Content-Length:");
			body = cl ? strtol(cl + 15, NULL, 10) : 0;
		}
		if ((long)(len - (size_t)(end + 4 - out)) >= body)
			break;
	}
}

static void *serve(void *arg)
{
	struct canned *c = arg;
	int per_connection = c->per_connection > 0 ? c->per_connection : 1;
	for (int i = 0; i < c->nanswers;) {
		int client = accept(c->fd, NULL, NULL);
		if (client < 0)
			break;
		for (int n = 0; n < per_connection && i < c->nanswers; n++, i++) {
			read_request(client, c->requests[c->nrequests], REQUEST_MAX);
			if (c->requests[c->nrequests][0] == '\0')
				break; /* the client closed the connection */
			c->nrequests++;
			ssize_t written = write(client, c->answers[i], strlen(c->answers[i]));
			(void)written;
		}
		close(client);
	}
	return NULL;
}

void canned_add(struct canned *c, const char *status, const char *extra, const char *body)
{
	struct hbk_buf buf;
	HBK_ASSERT(c->nanswers < CANNED_MAX);
	hbk_buf_init(&buf, 0);
	hbk_buf_printf(&buf,
		       "HTTP/1.1 %s\r\nContent-Type: application/json\r\n%s%s"
		       "Content-Length: %zu\r\n\r\n%s",
		       status, c->per_connection > 0 ? "" : "Connection: close\r\n", extra,
		       strlen(body), body);
	c->answers[c->nanswers++] = hbk_buf_detach(&buf);
}

void canned_start(struct canned *c)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c->fd >= 0);
	CHECK(bind(c->fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	CHECK(listen(c->fd, 8) == 0);
	CHECK(getsockname(c->fd, (struct sockaddr *)&addr, &len) == 0);
	c->port = ntohs(addr.sin_port);
	CHECK(pthread_create(&c->thread, NULL, serve, c) == 0);
}

void canned_stop(struct canned *c)
{
	/* Unblock accept() when fewer requests came than were scripted. */
	shutdown(c->fd, SHUT_RDWR);
	pthread_join(c->thread, NULL);
	close(c->fd);
	for (int i = 0; i < c->nanswers; i++)
		free(c->answers[i]);
	c->nanswers = 0;
}
