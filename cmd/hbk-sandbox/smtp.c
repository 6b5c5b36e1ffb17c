/*
 * smtp.c - the SMTP sink of hbk-sandbox: a small RFC 5321 server on the
 * sandbox's event loop that accepts every message and records it, so that
 * tests can read what a guest would have received.
 *
 * One bufferevent per connection. Commands: EHLO, HELO, MAIL FROM, RCPT TO,
 * DATA (lines until "." alone, dot-unstuffed), RSET, NOOP, VRFY, QUIT; the
 * usual order is enforced with 503. Each message is recorded in
 * sb->smtp_messages as {"id", "from", "to":[...], "subject", "data",
 * "received_at"} (data with CRLF line ends, as sent); sns.c shows them in
 * the state under "sns"."smtp". A fault set for "smtp.data" (or "smtp.*")
 * with an error_rate refuses that share of messages with 451 at the end of
 * DATA; each message counts under "smtp.data" in the state's requests. Lines, recipients, messages
 * and connections are bounded, and an idle connection is closed.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "sandbox.h"

#define SMTP_LINE_MAX	     4096 /* a command or a data line, CRLF excluded */
#define SMTP_MESSAGE_MAX     (10 * 1024 * 1024)
#define SMTP_RCPTS_MAX	     100
#define SMTP_CONNECTIONS_MAX 64
#define SMTP_IDLE_SECONDS    60
#define SMTP_ADDRESS_MAX     320
#define SMTP_MESSAGES_MAX    1000
#define SMTP_SUBJECT_MAX     998

enum smtp_phase { SMTP_COMMAND, SMTP_DATA, SMTP_CLOSING };

struct smtp_session {
	struct sandbox *sb;
	struct bufferevent *bev;
	enum smtp_phase phase;
	bool greeted;	     /* EHLO or HELO seen */
	char *from;	     /* NULL: no MAIL yet */
	json_t *rcpts;	     /* the RCPT TO addresses */
	struct hbk_buf data; /* the message, unstuffed */
	bool data_too_large;
};

static int sessions_open;
static unsigned long messages_received;

static void reply(struct smtp_session *s, const char *text)
{
	evbuffer_add_printf(bufferevent_get_output(s->bev), "%s\r\n", text);
}

static void reset_transaction(struct smtp_session *s)
{
	free(s->from);
	s->from = NULL;
	json_array_clear(s->rcpts);
	hbk_buf_reset(&s->data);
	s->data_too_large = false;
}

static void session_free(struct smtp_session *s)
{
	reset_transaction(s);
	json_decref(s->rcpts);
	hbk_buf_free(&s->data);
	bufferevent_free(s->bev);
	free(s);
	sessions_open--;
}

/* "FROM:<a@b> SIZE=1" after the verb: the address between < and >
 * (possibly empty, the null sender) into out; false on bad syntax. */
static bool path_argument(const char *arg, const char *keyword, char *out, size_t size)
{
	size_t klen = strlen(keyword);

	if (strncasecmp(arg, keyword, klen) != 0)
		return false;
	arg += klen;
	while (*arg == ' ')
		arg++;
	if (*arg != '<')
		return false;
	const char *close = strchr(arg, '>');
	size_t len = close ? (size_t)(close - arg - 1) : 0;
	if (!close || len >= size || len > SMTP_ADDRESS_MAX)
		return false;
	memcpy(out, arg + 1, len);
	out[len] = '\0';
	for (const char *p = out; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<')
			return false;
	/* Recorded as JSON text: SMTPUTF8 addresses must at least be UTF-8. */
	return hbk_utf8_valid(out, len);
}

/* The unfolded Subject header of a message, cut at SMTP_SUBJECT_MAX. */
static void subject_of(const char *data, struct hbk_buf *out)
{
	const char *line = data;

	while (line && *line && strncmp(line, "\r\n", 2) != 0) {
		const char *end = strstr(line, "\r\n");
		if (strncasecmp(line, "Subject:", 8) == 0) {
			const char *p = line + 8;
			while (*p == ' ' || *p == '\t')
				p++;
			for (;;) {
				const char *stop = end ? end : p + strlen(p);
				for (; p < stop && out->len < SMTP_SUBJECT_MAX; p++)
					hbk_buf_putc(out, *p == '\t' ? ' ' : *p);
				/* A folded continuation starts with white space. */
				if (!end || (end[2] != ' ' && end[2] != '\t'))
					return;
				p = end + 2;
				end = strstr(p, "\r\n");
			}
		}
		line = end ? end + 2 : NULL;
	}
}

/* The message as JSON text: itself when it is UTF-8, else with every octet
 * above 0x7f shown as '?' (the record says which). */
static json_t *data_text(const struct hbk_buf *data, bool *utf8)
{
	const char *text = data->data ? data->data : "";

	*utf8 = hbk_utf8_valid(text, data->len);
	if (*utf8)
		return json_stringn(text, data->len);
	char *ascii = hbk_xmalloc(data->len + 1);
	for (size_t i = 0; i < data->len; i++)
		ascii[i] = (unsigned char)text[i] >= 0x80 || text[i] == '\0' ? '?' : text[i];
	ascii[data->len] = '\0';
	json_t *value = json_stringn(ascii, data->len);
	free(ascii);
	return value;
}

static void record_message(struct smtp_session *s)
{
	char id[40], received_at[HBK_TIME_STR];
	struct hbk_buf subject;
	bool utf8;

	hbk_buf_init(&subject, SMTP_SUBJECT_MAX + 1);
	hbk_buf_puts(&subject, "");
	subject_of(s->data.data ? s->data.data : "", &subject);
	if (!hbk_utf8_valid(subject.data, subject.len)) {
		for (size_t i = 0; i < subject.len; i++)
			if ((unsigned char)subject.data[i] >= 0x80)
				subject.data[i] = '?';
	}
	hbk_format(id, sizeof(id), "smtp-%lu", ++messages_received);
	hbk_time_format(hbk_now_ms(), received_at);
	json_t *record = json_pack("{s:s, s:s, s:o, s:s, s:o, s:s}", "id", id, "from", s->from,
				   "to", json_copy(s->rcpts), "subject", subject.data, "data",
				   data_text(&s->data, &utf8), "received_at", received_at);
	hbk_buf_free(&subject);
	HBK_ASSERT(record != NULL);
	if (!utf8)
		json_object_set_new(record, "data_utf8", json_false());
	if (!s->sb->smtp_messages)
		s->sb->smtp_messages = json_array();
	json_array_append_new(s->sb->smtp_messages, record);
	while (json_array_size(s->sb->smtp_messages) > SMTP_MESSAGES_MAX)
		json_array_remove(s->sb->smtp_messages, 0);
}

/* Counts a message under "smtp.data" in the state's requests. */
static void count_request(struct sandbox *sb)
{
	if (!sb->requests)
		return;
	json_t *n = json_object_get(sb->requests, "smtp.data");
	json_object_set_new(sb->requests, "smtp.data",
			    json_integer(n ? json_integer_value(n) + 1 : 1));
}

/* The error_rate of the faults set for "smtp.data" or "smtp.*" (not the
 * catch-all "*", which is for the HTTP areas): a message refused with 451. */
static bool fault_injected(const struct sandbox *sb)
{
	const struct sandbox_faults *f = sandbox_faults_for(sb, "smtp.data");
	if (strncmp(f->endpoint, "smtp.", 5) != 0 || f->error_rate <= 0)
		return false;
	return (double)random() / ((double)RAND_MAX + 1.0) < f->error_rate;
}

static void on_data_line(struct smtp_session *s, const char *line, size_t len)
{
	char text[80];

	if (len == 1 && line[0] == '.') {
		s->phase = SMTP_COMMAND;
		count_request(s->sb);
		if (s->data_too_large) {
			reply(s, "552 5.3.4 message too big");
		} else if (fault_injected(s->sb)) {
			reply(s, "451 4.3.0 injected fault, try again later");
		} else {
			record_message(s);
			hbk_format(text, sizeof(text), "250 2.0.0 OK queued as smtp-%lu",
				   messages_received);
			reply(s, text);
		}
		reset_transaction(s);
		return;
	}
	/* Dot-unstuffing: a leading dot was doubled by the client. */
	if (line[0] == '.') {
		line++;
		len--;
	}
	if (s->data_too_large || s->data.len + len + 2 > SMTP_MESSAGE_MAX) {
		s->data_too_large = true;
		return;
	}
	hbk_buf_append(&s->data, line, len);
	hbk_buf_append(&s->data, "\r\n", 2);
}

static bool verb_is(const char *line, const char *verb)
{
	size_t len = strlen(verb);
	return strncasecmp(line, verb, len) == 0 && (line[len] == '\0' || line[len] == ' ');
}

static void on_command(struct smtp_session *s, const char *line)
{
	char address[SMTP_ADDRESS_MAX + 1];

	if (verb_is(line, "EHLO")) {
		reset_transaction(s);
		s->greeted = true;
		reply(s, "250-hbk-sandbox\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-SIZE 10485760\r\n"
			 "250 HELP");
	} else if (verb_is(line, "HELO")) {
		reset_transaction(s);
		s->greeted = true;
		reply(s, "250 hbk-sandbox");
	} else if (verb_is(line, "MAIL")) {
		if (!s->greeted)
			reply(s, "503 5.5.1 EHLO or HELO first");
		else if (s->from)
			reply(s, "503 5.5.1 nested MAIL command");
		else if (!path_argument(line + 5, "FROM:", address, sizeof(address)))
			reply(s, "501 5.5.4 syntax: MAIL FROM:<address>");
		else {
			s->from = hbk_xstrdup(address);
			reply(s, "250 2.1.0 OK");
		}
	} else if (verb_is(line, "RCPT")) {
		if (!s->from)
			reply(s, "503 5.5.1 MAIL first");
		else if (!path_argument(line + 5, "TO:", address, sizeof(address)) || !*address)
			reply(s, "501 5.5.4 syntax: RCPT TO:<address>");
		else if (json_array_size(s->rcpts) >= SMTP_RCPTS_MAX)
			reply(s, "452 4.5.3 too many recipients");
		else {
			json_array_append_new(s->rcpts, json_string(address));
			reply(s, "250 2.1.5 OK");
		}
	} else if (verb_is(line, "DATA")) {
		if (!s->from || json_array_size(s->rcpts) == 0)
			reply(s, "503 5.5.1 RCPT first");
		else {
			s->phase = SMTP_DATA;
			reply(s, "354 end data with <CR><LF>.<CR><LF>");
		}
	} else if (verb_is(line, "RSET")) {
		reset_transaction(s);
		reply(s, "250 2.0.0 OK");
	} else if (verb_is(line, "NOOP")) {
		reply(s, "250 2.0.0 OK");
	} else if (verb_is(line, "VRFY")) {
		reply(s, "252 2.1.5 cannot verify, but will accept");
	} else if (verb_is(line, "QUIT")) {
		reply(s, "221 2.0.0 bye");
		s->phase = SMTP_CLOSING;
	} else {
		reply(s, "500 5.5.2 command not recognized");
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	while (s->phase != SMTP_CLOSING &&
	       (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		if (len > SMTP_LINE_MAX) {
			reply(s, "500 5.5.6 line too long");
			s->phase = SMTP_CLOSING;
		} else if (s->phase == SMTP_DATA) {
			on_data_line(s, line, len);
		} else {
			on_command(s, line);
		}
		free(line);
	}
	if (s->phase != SMTP_CLOSING && evbuffer_get_length(in) > SMTP_LINE_MAX) {
		reply(s, "500 5.5.6 line too long");
		s->phase = SMTP_CLOSING;
	}
	if (s->phase == SMTP_CLOSING) {
		bufferevent_disable(bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			session_free(s);
	}
}

/* Once the last reply is written, a closing session goes. */
static void on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	if (s->phase == SMTP_CLOSING)
		session_free(s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		session_free(s);
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
		      int socklen, void *arg)
{
	struct sandbox *sb = arg;
	(void)addr;
	(void)socklen;

	struct bufferevent *bev =
	    bufferevent_socket_new(evconnlistener_get_base(listener), fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		evutil_closesocket(fd);
		return;
	}
	struct smtp_session *s = hbk_xcalloc(1, sizeof(*s));
	s->sb = sb;
	s->bev = bev;
	s->rcpts = json_array();
	hbk_buf_init(&s->data, SMTP_MESSAGE_MAX + 1);
	sessions_open++;
	bufferevent_setcb(bev, on_read, on_write, on_event, s);
	struct timeval idle = {SMTP_IDLE_SECONDS, 0};
	bufferevent_set_timeouts(bev, &idle, &idle);
	if (sessions_open > SMTP_CONNECTIONS_MAX) {
		reply(s, "421 4.3.2 too many connections, try again later");
		s->phase = SMTP_CLOSING;
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	reply(s, "220 hbk-sandbox ESMTP ready");
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* Accepts on fd (bound and listening; main.c closes it) from now on. */
hbk_result sandbox_smtp_start(struct sandbox *sb, int fd, struct hbk_error *err)
{
	HBK_ASSERT(sb != NULL && sb->base != NULL && fd >= 0);
	if (!sb->smtp_messages)
		sb->smtp_messages = json_array();
	evutil_make_socket_nonblocking(fd);
	/* Backlog 0: the socket is listening already. */
	sb->smtp_listener = evconnlistener_new(sb->base, on_accept, sb, LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!sb->smtp_listener)
		return hbk_fail(err, HBK_EUNAVAILABLE, "smtp", "cannot accept SMTP connections");
	return HBK_OK;
}

void sandbox_smtp_stop(struct sandbox *sb)
{
	if (sb->smtp_listener)
		evconnlistener_free(sb->smtp_listener);
	sb->smtp_listener = NULL;
}
