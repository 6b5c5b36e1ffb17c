/*
 * test_client.c - proves the hbkd client (lib/api/client.c) sends what
 * api.h says and reads every kind of answer the way the tools need: the
 * query string and the PATCH body carry only the fields set; the bearer
 * token, Idempotency-Key, If-Match and User-Agent go out as headers; one
 * connection serves several requests; a 2xx document comes back as is; a
 * problem gives its detail, code and field and the exit code of its status
 * (refined by the code), and hands over its "booking"; a 401, a 200 that is
 * not JSON, a refused connection and an answer slower than the timeout map
 * to exit codes 7, 1, 6 and 6; a dropped request is resent with the same
 * Idempotency-Key; and the token never appears in an error message, even
 * when the server echoes it. How: a fork()ed child listens on 127.0.0.1
 * (port 0), answers canned responses in order, and saves each request it
 * reads to a file the test then inspects.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hbk/api.h"
#include "hbk/client.h"
#include "hbk/json.h"
#include "unit.h"

#define TOKEN		     "tok-5ecret-a1b2c3d4e5f6"
#define FAKE_REQUEST_MAX     65536
#define FAKE_ANSWERS_MAX     8
#define TEST_TIMEOUT_MS	     5000
#define SLOW_TIMEOUT_MS	     300
#define SLOW_ANSWER_DELAY_MS 3000

/* A canned answer; drop closes the connection without one. */
struct canned {
	int status;
	const char *content_type;
	const char *body;
	int delay_ms;
	bool drop;
};

struct fake {
	pid_t pid;
	int port;
	char dir[512];
};

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

/* Reads one request (headers and a Content-Length body); its length, or 0
 * at end of connection. */
static size_t read_request(int fd, char *buf, size_t size)
{
	size_t len = 0, need = 0;
	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		if (!need) {
			long long body = 0;
			*end = '\0';
			const char *field = strcasestr(buf, "\r\nContent-Length:");
			if (field) {
				char digits[24];
				field += strlen("\r\nContent-Length:");
				hbk_copy(digits, sizeof(digits), field + strspn(field, " "));
				digits[strcspn(digits, "\r")] = '\0';
				hbk_parse_int(digits, 0, FAKE_REQUEST_MAX, &body);
			}
			*end = '\r';
			need = (size_t)(end + 4 - buf) + (size_t)body;
		}
		if (len >= need)
			return len;
	}
	return len;
}

/* The child: answers in order, saving request N as dir/request-N with a
 * first line naming the connection it came on. */
static _Noreturn void fake_serve(int listener, const char *dir, const struct canned *answers,
				 int count)
{
	static char request[FAKE_REQUEST_MAX];
	int served = 0, connections = 0;
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int fd = accept(listener, NULL, NULL);
		if (fd < 0)
			continue;
		connections++;
		size_t len;
		while ((len = read_request(fd, request, sizeof(request))) > 0) {
			char path[600];
			hbk_format(path, sizeof(path), "%s/request-%d", dir, served + 1);
			FILE *f = fopen(path, "w");
			if (f) {
				fprintf(f, "connection %d\n", connections);
				fwrite(request, 1, len, f);
				fclose(f);
			}
			const struct canned *a = &answers[served < count ? served : count - 1];
			served++;
			if (a->delay_ms)
				sleep_ms(a->delay_ms);
			if (a->drop)
				break;
			struct hbk_buf out;
			hbk_buf_init(&out, FAKE_REQUEST_MAX);
			hbk_buf_printf(&out,
				       "HTTP/1.1 %d Canned\r\nContent-Type: %s\r\n"
				       "Content-Length: %zu\r\n\r\n%s",
				       a->status, a->content_type, strlen(a->body), a->body);
			write_all(fd, out.data, out.len);
			hbk_buf_free(&out);
		}
		close(fd);
	}
}

static void fake_start(struct fake *f, const struct canned *answers, int count)
{
	static int serial;
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t addr_len = sizeof(addr);
	HBK_ASSERT(count > 0 && count <= FAKE_ANSWERS_MAX);
	hbk_format(f->dir, sizeof(f->dir), "%s/fake-%d", unit_tmpdir(), ++serial);
	HBK_ASSERT(mkdir(f->dir, 0700) == 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	HBK_ASSERT(listener >= 0);
	HBK_ASSERT(bind(listener, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	HBK_ASSERT(listen(listener, 16) == 0);
	HBK_ASSERT(getsockname(listener, (struct sockaddr *)&addr, &addr_len) == 0);
	f->port = ntohs(addr.sin_port);
	fflush(NULL);
	f->pid = fork();
	HBK_ASSERT(f->pid >= 0);
	if (f->pid == 0)
		fake_serve(listener, f->dir, answers, count);
	close(listener);
}

static void fake_stop(struct fake *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
}

/* Request n as saved by the fake (caller frees); "" when there is none. */
static char *fake_request(const struct fake *f, int n)
{
	char path[600];
	struct hbk_buf buf;
	char chunk[4096];
	size_t got;
	hbk_format(path, sizeof(path), "%s/request-%d", f->dir, n);
	hbk_buf_init(&buf, FAKE_REQUEST_MAX * 2);
	hbk_buf_puts(&buf, "");
	FILE *file = fopen(path, "r");
	while (file && (got = fread(chunk, 1, sizeof(chunk), file)) > 0)
		hbk_buf_append(&buf, chunk, got);
	if (file)
		fclose(file);
	return hbk_buf_detach(&buf);
}

/* The body of a saved request, parsed. New reference, or NULL. */
static json_t *request_body(const char *request)
{
	const char *body = strstr(request, "\r\n\r\n");
	struct hbk_error err = {0};
	return body ? hbk_json_loads(body + 4, strlen(body + 4), &err) : NULL;
}

static char *fake_url(const struct fake *f)
{
	char url[64];
	hbk_format(url, sizeof(url), "http://127.0.0.1:%d", f->port);
	return hbk_xstrdup(url);
}

static struct hbk_client *client_for(const struct fake *f, const char *token, long timeout_ms)
{
	struct hbk_client *client = NULL;
	struct hbk_error err = {0};
	char *url = fake_url(f);
	CHECK_INT(hbk_client_open(url, token, timeout_ms, &client, &err), HBK_OK);
	free(url);
	return client;
}

static bool has_header(const char *request, const char *line)
{
	struct hbk_buf want;
	hbk_buf_init(&want, 4096);
	hbk_buf_printf(&want, "\r\n%s\r\n", line);
	bool found = strstr(request, want.data) != NULL;
	hbk_buf_free(&want);
	return found;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char booking_json[] = "{\"id\":\"BK-01TEST\",\"status\":\"CONFIRMED\",\"version\":3}";

/* ------------------------------------------------------------------------ */

static void test_search_sends_only_set_parameters(void)
{
	const struct canned answers[] = {
	    {200, "application/json", "{\"offers\":[{\"n\":1,\"offer_id\":\"OF1.x\"}]}", 0, false},
	    {200, "application/json", "{\"offers\":[]}", 0, false},
	};
	struct fake f;
	fake_start(&f, answers, 2);
	struct hbk_client *client = client_for(&f, TOKEN, TEST_TIMEOUT_MS);
	struct hbk_error err = {0};
	json_t *out = NULL;

	struct hbk_search_query q = {.city = "LIS", .adults = 2, .rooms = 1, .limit = 20};
	hbk_date_parse("2026-12-01", &q.checkin);
	hbk_date_parse("2026-12-04", &q.checkout);
	CHECK_INT(hbk_client_search(client, &q, &out, &err), HBK_OK);
	CHECK_INT(hbk_client_status(client), 200);
	CHECK_STR(hbk_json_str(json_array_get(json_object_get(out, "offers"), 0), "offer_id", ""),
		  "OF1.x");
	json_decref(out);
	char *req = fake_request(&f, 1);
	CHECK(starts_with(req, "connection 1\nGET /v1/offers?city=LIS&checkin=2026-12-01"
			       "&checkout=2026-12-04&adults=2&rooms=1&limit=20 HTTP/1.1\r\n"));
	CHECK(has_header(req, "Authorization: Bearer " TOKEN));
	CHECK(has_header(req, "Accept: application/json"));
	CHECK(has_header(req, "User-Agent: hbk/" HBK_VERSION));
	CHECK(!strstr(req, "Idempotency-Key"));
	CHECK(!strstr(req, "Content-Type"));
	free(req);

	/* Everything set; values escaped; the same connection (keep-alive). */
	struct hbk_search_query all = {.hotel_id = "H LIS&1",
				       .adults = 1,
				       .children = 2,
				       .rooms = 2,
				       .max_price = "300.50",
				       .refundable_only = true,
				       .sort = HBK_SORT_STARS,
				       .limit = 5};
	hbk_date_parse("2026-12-01", &all.checkin);
	hbk_date_parse("2026-12-02", &all.checkout);
	CHECK_INT(hbk_client_search(client, &all, &out, &err), HBK_OK);
	json_decref(out);
	req = fake_request(&f, 2);
	CHECK(starts_with(req, "connection 1\nGET /v1/offers?hotel=H%20LIS%261&checkin=2026-12-01"
			       "&checkout=2026-12-02&adults=1&children=2&rooms=2&max_price=300.50"
			       "&refundable=true&sort=stars&limit=5 HTTP/1.1\r\n"));
	free(req);
	hbk_client_close(client);
	fake_stop(&f);
}

static void test_book_failed_problem_hands_over_booking(void)
{
	const char problem[] =
	    "{\"type\":\"https://hbk.invalid/problems/payment_declined\",\"title\":\"Payment "
	    "Required\",\"status\":402,\"detail\":\"booking BK-01TEST failed: card declined "
	    "(card_declined)\",\"code\":\"payment_declined\",\"booking\":{\"id\":\"BK-01TEST\","
	    "\"status\":\"FAILED\"}}";
	const struct canned answers[] = {{402, "application/problem+json", problem, 0, false}};
	struct fake f;
	fake_start(&f, answers, 1);
	struct hbk_client *client = client_for(&f, TOKEN, TEST_TIMEOUT_MS);
	struct hbk_error err = {0};
	struct hbk_guest guest = {"Ana Silva", "ana@example.com", ""};
	json_t *out = NULL;

	hbk_result rc = hbk_client_book(client, "OF1.abc", &guest, "pm_card_chargeDeclined",
					"IK-FIXED", &out, &err);
	CHECK_INT(rc, HBK_EDECLINED);
	CHECK_INT(hbk_exit_code(rc), 5);
	CHECK_STR(err.message, "booking BK-01TEST failed: card declined (card_declined)");
	CHECK_STR(err.code, "payment_declined");
	CHECK_STR(hbk_json_str(out, "status", ""), "FAILED");
	json_decref(out);

	char *req = fake_request(&f, 1);
	CHECK(starts_with(req, "connection 1\nPOST /v1/bookings HTTP/1.1\r\n"));
	CHECK(has_header(req, "Idempotency-Key: IK-FIXED"));
	CHECK(has_header(req, "Content-Type: application/json"));
	json_t *body = request_body(req);
	CHECK_STR(hbk_json_str(body, "offer_id", ""), "OF1.abc");
	CHECK_STR(hbk_json_str(body, "payment_method", ""), "pm_card_chargeDeclined");
	CHECK_STR(hbk_json_str(json_object_get(body, "guest"), "name", ""), "Ana Silva");
	CHECK(json_object_get(json_object_get(body, "guest"), "phone") == NULL);
	json_decref(body);
	free(req);
	hbk_client_close(client);
	fake_stop(&f);
}

static void test_book_generates_key_and_resends_after_drop(void)
{
	const struct canned answers[] = {
	    {0, "", "", 0, true},
	    {201, "application/json", booking_json, 0, false},
	};
	struct fake f;
	fake_start(&f, answers, 2);
	struct hbk_client *client = client_for(&f, TOKEN, TEST_TIMEOUT_MS);
	struct hbk_error err = {0};
	struct hbk_guest guest = {"Ana Silva", "ana@example.com", "+351912345678"};
	json_t *out = NULL;

	CHECK_INT(hbk_client_book(client, "OF1.abc", &guest, "pm_card_visa", NULL, &out, &err),
		  HBK_OK);
	CHECK_INT(hbk_client_status(client), 201);
	CHECK_STR(hbk_json_str(out, "id", ""), "BK-01TEST");
	json_decref(out);
	char *first = fake_request(&f, 1), *second = fake_request(&f, 2);
	const char *key1 = strstr(first, "\r\nIdempotency-Key: IK-");
	const char *key2 = strstr(second, "\r\nIdempotency-Key: IK-");
	CHECK(key1 != NULL && key2 != NULL);
	if (key1 && key2)
		CHECK(strncmp(key1, key2, strcspn(key1 + 2, "\r") + 2) == 0);
	json_t *body = request_body(second);
	CHECK_STR(hbk_json_str(json_object_get(body, "guest"), "phone", ""), "+351912345678");
	json_decref(body);
	free(first);
	free(second);
	hbk_client_close(client);
	fake_stop(&f);
}

static void test_update_sends_only_fields_set(void)
{
	const struct canned answers[] = {
	    {200, "application/json", booking_json, 0, false},
	    {200, "application/json", booking_json, 0, false},
	};
	struct fake f;
	fake_start(&f, answers, 2);
	struct hbk_client *client = client_for(&f, TOKEN, TEST_TIMEOUT_MS);
	struct hbk_error err = {0};
	json_t *out = NULL;

	struct hbk_update_request req = {
	    .set_adults = true, .adults = 3, .set_email = true, .if_match = 3};
	hbk_copy(req.guest.email, sizeof(req.guest.email), "new@example.com");
	CHECK_INT(hbk_client_update(client, "BK-01TEST", &req, &out, &err), HBK_OK);
	json_decref(out);
	char *sent = fake_request(&f, 1);
	CHECK(starts_with(sent, "connection 1\nPATCH /v1/bookings/BK-01TEST HTTP/1.1\r\n"));
	CHECK(has_header(sent, "If-Match: \"3\""));
	const char *body = strstr(sent, "\r\n\r\n");
	CHECK_STR(body ? body + 4 : NULL,
		  "{\"guests\":{\"adults\":3},\"guest\":{\"email\":\"new@example.com\"}}");
	free(sent);

	struct hbk_update_request dates = {
	    .set_checkin = true, .set_checkout = true, .if_match = -1};
	hbk_date_parse("2026-12-02", &dates.checkin);
	hbk_date_parse("2026-12-05", &dates.checkout);
	CHECK_INT(hbk_client_update(client, "BK-01TEST", &dates, &out, &err), HBK_OK);
	json_decref(out);
	sent = fake_request(&f, 2);
	CHECK(!strstr(sent, "If-Match"));
	body = strstr(sent, "\r\n\r\n");
	CHECK_STR(body ? body + 4 : NULL,
		  "{\"checkin\":\"2026-12-02\",\"checkout\":\"2026-12-05\"}");
	free(sent);
	hbk_client_close(client);
	fake_stop(&f);
}

static void test_cancel_view_history_paths(void)
{
	const struct canned answers[] = {
	    {200, "application/json", "{\"booking\":{},\"dry_run\":true}", 0, false},
	    {200, "application/json", booking_json, 0, false},
	    {200, "application/json", "{\"id\":\"BK-01TEST\",\"events\":[]}", 0, false},
	    {200, "application/json", "{\"bookings\":[],\"next_cursor\":null}", 0, false},
	};
	struct fake f;
	fake_start(&f, answers, 4);
	struct hbk_client *client = client_for(&f, TOKEN, TEST_TIMEOUT_MS);
	struct hbk_error err = {0};
	json_t *out = NULL;

	CHECK_INT(hbk_client_cancel(client, "BK-01TEST", "plans changed", true, -1, &out, &err),
		  HBK_OK);
	CHECK(json_is_true(json_object_get(out, "dry_run")));
	json_decref(out);
	CHECK_INT(hbk_client_view(client, "../x y", &out, &err), HBK_OK);
	json_decref(out);
	CHECK_INT(hbk_client_history(client, "BK-01TEST", &out, &err), HBK_OK);
	json_decref(out);
	struct hbk_list_filter filter = {
	    .status = "CONFIRMED", .email = "a+b@example.com", .limit = 50};
	hbk_date_parse("2026-12-01", &filter.checkin_from);
	CHECK_INT(hbk_client_list(client, &filter, &out, &err), HBK_OK);
	CHECK(json_is_null(json_object_get(out, "next_cursor")));
	json_decref(out);

	char *sent = fake_request(&f, 1);
	CHECK(starts_with(sent, "connection 1\nPOST /v1/bookings/BK-01TEST/cancel HTTP/1.1\r\n"));
	const char *body = strstr(sent, "\r\n\r\n");
	CHECK_STR(body ? body + 4 : NULL, "{\"dry_run\":true,\"reason\":\"plans changed\"}");
	free(sent);
	sent = fake_request(&f, 2);
	CHECK(starts_with(sent, "connection 1\nGET /v1/bookings/..%2Fx%20y HTTP/1.1\r\n"));
	free(sent);
	sent = fake_request(&f, 3);
	CHECK(starts_with(sent, "connection 1\nGET /v1/bookings/BK-01TEST/events HTTP/1.1\r\n"));
	free(sent);
	sent = fake_request(&f, 4);
	CHECK(starts_with(sent, "connection 1\nGET /v1/bookings?status=CONFIRMED"
				"&checkin_from=2026-12-01&email=a%2Bb%40example.com&limit=50 "
				"HTTP/1.1\r\n"));
	free(sent);
	hbk_client_close(client);
	fake_stop(&f);
}

static void test_problems_map_to_exit_codes(void)
{
	const struct canned answers[] = {
	    {404, "application/problem+json",
	     "{\"status\":404,\"detail\":\"no booking BK-NOPE\",\"code\":\"booking_not_found\"}", 0,
	     false},
	    {412, "application/problem+json",
	     "{\"status\":412,\"detail\":\"booking BK-1 is at version 4, not 3\","
	     "\"code\":\"stale_version\"}",
	     0, false},
	    {422, "application/problem+json",
	     "{\"status\":422,\"detail\":\"invalid amount 'x'\",\"code\":\"invalid_amount\","
	     "\"errors\":[{\"field\":\"max_price\",\"detail\":\"invalid amount 'x'\"}]}",
	     0, false},
	    {502, "text/html", "<html>bad gateway</html>", 0, false},
	    {502, "application/problem+json",
	     "{\"status\":502,\"detail\":\"the partner refused\",\"code\":\"partner_rejected\"}", 0,
	     false},
	    {500, "application/problem+json",
	     "{\"status\":500,\"detail\":\"the payment provider is down\","
	     "\"code\":\"payment_unavailable\"}",
	     0, false},
	    {503, "application/problem+json", "{\"status\":503,\"code\":\"store_busy\"}", 0, false},
	};
	const struct {
		hbk_result result;
		const char *message, *field;
	} want[] = {
	    {HBK_ENOTFOUND, "no booking BK-NOPE", ""},
	    {HBK_ECONFLICT, "booking BK-1 is at version 4, not 3", ""},
	    {HBK_EINVAL, "invalid amount 'x'", "max_price"},
	    {HBK_EUNAVAILABLE, NULL, ""},
	    {HBK_EDECLINED, "the partner refused", ""},
	    {HBK_EUNAVAILABLE, "the payment provider is down", ""},
	    {HBK_EUNAVAILABLE, NULL, ""},
	};
	struct fake f;
	fake_start(&f, answers, 7);
	struct hbk_client *client = client_for(&f, TOKEN, TEST_TIMEOUT_MS);
	char *url = fake_url(&f);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct hbk_error err = {0};
		json_t *out = NULL;
		hbk_result rc = hbk_client_view(client, "BK-1", &out, &err);
		CHECK_INT(rc, want[i].result);
		CHECK_INT(err.result, want[i].result);
		CHECK(out == NULL);
		if (want[i].message)
			CHECK_STR(err.message, want[i].message);
		else
			CHECK(starts_with(err.message, "hbkd at ") && strstr(err.message, url));
		CHECK_STR(err.field, want[i].field);
	}
	free(url);
	hbk_client_close(client);
	fake_stop(&f);
}

static void test_unauthorized_never_shows_token(void)
{
	/* A server that echoes the token it refuses. */
	const struct canned answers[] = {
	    {401, "application/problem+json",
	     "{\"status\":401,\"detail\":\"unknown token " TOKEN "\",\"code\":\"unauthorized\"}", 0,
	     false},
	    {401, "application/problem+json",
	     "{\"status\":401,\"detail\":\"missing token\",\"code\":\"unauthorized\"}", 0, false},
	};
	struct fake f;
	fake_start(&f, answers, 2);
	struct hbk_client *client = client_for(&f, TOKEN, TEST_TIMEOUT_MS);
	struct hbk_error err = {0};
	json_t *out = NULL;

	hbk_result rc = hbk_client_view(client, "BK-1", &out, &err);
	CHECK_INT(rc, HBK_EAUTH);
	CHECK_INT(hbk_exit_code(rc), 7);
	CHECK(strstr(err.message, TOKEN) == NULL);
	CHECK(strstr(err.message, "refused the API token") != NULL);
	char *sent = fake_request(&f, 1);
	CHECK(has_header(sent, "Authorization: Bearer " TOKEN));
	free(sent);
	hbk_client_close(client);

	/* Without a token: no Authorization header, and a hint where to set one. */
	client = client_for(&f, NULL, TEST_TIMEOUT_MS);
	rc = hbk_client_view(client, "BK-1", &out, &err);
	CHECK_INT(rc, HBK_EAUTH);
	CHECK(strstr(err.message, "needs an API token") != NULL);
	sent = fake_request(&f, 2);
	CHECK(strstr(sent, "Authorization") == NULL);
	free(sent);
	hbk_client_close(client);
	fake_stop(&f);
}

static void test_success_that_is_not_json(void)
{
	const struct canned answers[] = {{200, "text/html", "<html>hello</html>", 0, false}};
	struct fake f;
	fake_start(&f, answers, 1);
	struct hbk_client *client = client_for(&f, TOKEN, TEST_TIMEOUT_MS);
	struct hbk_error err = {0};
	json_t *out = NULL;
	struct hbk_list_filter filter = {.email = "secret@example.com", .limit = 10};

	hbk_result rc = hbk_client_list(client, &filter, &out, &err);
	CHECK_INT(rc, HBK_EINTERNAL);
	CHECK_INT(hbk_exit_code(rc), 1);
	CHECK(out == NULL);
	CHECK(starts_with(err.message, "hbkd answered GET /v1/bookings with HTTP 200"));
	CHECK(strstr(err.message, "not JSON") != NULL);
	CHECK(strstr(err.message, "secret@example.com") == NULL);
	hbk_client_close(client);
	fake_stop(&f);
}

static void test_refused_connection(void)
{
	/* A port that was free a moment ago and has no listener now. */
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t addr_len = sizeof(addr);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	HBK_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	HBK_ASSERT(getsockname(fd, (struct sockaddr *)&addr, &addr_len) == 0);
	close(fd);

	char url[64];
	hbk_format(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(addr.sin_port));
	struct hbk_client *client = NULL;
	struct hbk_error err = {0};
	json_t *out = NULL;
	CHECK_INT(hbk_client_open(url, TOKEN, TEST_TIMEOUT_MS, &client, &err), HBK_OK);
	url[strlen(url) - 1] = '\0'; /* the client drops the trailing slash */
	CHECK_STR(hbk_client_url(client), url);
	hbk_result rc = hbk_client_view(client, "BK-1", &out, &err);
	CHECK_INT(rc, HBK_EUNAVAILABLE);
	CHECK_INT(hbk_exit_code(rc), 6);
	CHECK_INT(hbk_client_status(client), 0);
	struct hbk_buf want;
	hbk_buf_init(&want, 256);
	hbk_buf_printf(&want, "cannot reach hbkd at %s: ", url);
	CHECK(starts_with(err.message, want.data));
	CHECK(strstr(err.message, TOKEN) == NULL);
	hbk_buf_free(&want);
	hbk_client_close(client);
}

static void test_slow_answer_times_out(void)
{
	const struct canned answers[] = {
	    {200, "application/json", booking_json, SLOW_ANSWER_DELAY_MS, false}};
	struct fake f;
	fake_start(&f, answers, 1);
	struct hbk_client *client = client_for(&f, TOKEN, SLOW_TIMEOUT_MS);
	struct hbk_error err = {0};
	json_t *out = NULL;
	int64_t start_ms = hbk_now_ms();
	hbk_result rc = hbk_client_view(client, "BK-1", &out, &err);
	int64_t elapsed_ms = hbk_now_ms() - start_ms;
	CHECK_INT(rc, HBK_EUNAVAILABLE);
	CHECK(starts_with(err.message, "cannot reach hbkd at "));
	CHECK(elapsed_ms >= SLOW_TIMEOUT_MS - 50);
	/* No resend after a timeout: one wait, well short of the answer's delay. */
	CHECK(elapsed_ms < SLOW_ANSWER_DELAY_MS - 500);
	hbk_client_close(client);
	fake_stop(&f);
}

static void test_open_refuses_bad_input(void)
{
	struct hbk_client *client = NULL;
	struct hbk_error err = {0};
	CHECK_INT(hbk_client_open("ftp://example.com", NULL, 1000, &client, &err), HBK_EINVAL);
	CHECK(client == NULL);
	CHECK_INT(hbk_client_open("", NULL, 1000, &client, &err), HBK_EINVAL);
	CHECK_INT(
	    hbk_client_open("http://127.0.0.1:1", "bad\r\nX-Injected: 1", 1000, &client, &err),
	    HBK_EINVAL);
	CHECK(strstr(err.message, "X-Injected") == NULL);
	CHECK(client == NULL);
	hbk_client_close(NULL);
}

static void test_status_mapping_matches_server(void)
{
	/* The inverse of hbk_api_status() for what the server sends. */
	CHECK_INT(hbk_api_result(hbk_api_status(HBK_EINVAL, "invalid_json")), HBK_EINVAL);
	CHECK_INT(hbk_api_result(hbk_api_status(HBK_ENOTFOUND, "booking_not_found")),
		  HBK_ENOTFOUND);
	CHECK_INT(hbk_api_result(hbk_api_status(HBK_EDECLINED, "payment_declined")), HBK_EDECLINED);
	CHECK_INT(hbk_api_result(hbk_api_status(HBK_EUNAVAILABLE, "pending")), HBK_EUNAVAILABLE);
	CHECK_INT(hbk_api_result(hbk_api_status(HBK_EAUTH, "unauthorized")), HBK_EAUTH);
}

UNIT_TESTS(UNIT_T(test_search_sends_only_set_parameters),
	   UNIT_T(test_book_failed_problem_hands_over_booking),
	   UNIT_T(test_book_generates_key_and_resends_after_drop),
	   UNIT_T(test_update_sends_only_fields_set), UNIT_T(test_cancel_view_history_paths),
	   UNIT_T(test_problems_map_to_exit_codes), UNIT_T(test_unauthorized_never_shows_token),
	   UNIT_T(test_success_that_is_not_json), UNIT_T(test_refused_connection),
	   UNIT_T(test_slow_answer_times_out), UNIT_T(test_open_refuses_bad_input),
	   UNIT_T(test_status_mapping_matches_server));
