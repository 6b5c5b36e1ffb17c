/*
 * test_hotelbeds.c - proves the hotelbeds adapter's protocol handling:
 * the X-Signature is SHA-256 of key + secret + unix seconds and is checked
 * within +-300 s; a rate is chosen by room, board, rate class and
 * occupancy, tolerating numbers written as strings; and, against a canned
 * HTTP server on loopback (one scripted answer per request, every request
 * recorded), that statuses map to the documented results: 401 is
 * HBK_EAUTH without the key or secret in the message, a duplicate
 * clientReference and a 5xx on create are looked up by clientReference
 * (found is success, not found is HBK_EUNAVAILABLE), a 404 on find is
 * HBK_ENOTFOUND, 429 carries Retry-After, the list follows its pages, and
 * every request carries Api-key and a valid X-Signature. On an event loop
 * (as in hbkd), bookings go over kept-alive connections and over new ones
 * once the partner closes an idle one, whose socket number comes back.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "canned.h"
#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/inventory.h"
#include "hbk/partner.h"
#include "hbk/store.h"
#include "unit.h"

#define KEY    "test-key-1234"
#define SECRET "test-secret-5678"

/* ------------------------------------------------------------------------
 * Pure helpers.
 */

static void test_signature(void)
{
	char hex[65];
	/* printf 'keysecret1700000000' | sha256sum */
	hbk_partner_signature("key", "secret", 1700000000LL, hex);
	CHECK_STR(hex, "278d74471a3b5267e27221967122169ad26fac349e0fb6a94779cdf050a0d038");
	CHECK(hbk_partner_signature_ok("key", "secret", hex, 1700000000LL));
	CHECK(hbk_partner_signature_ok("key", "secret", hex, 1700000000LL + 300));
	CHECK(hbk_partner_signature_ok("key", "secret", hex, 1700000000LL - 300));
	CHECK(!hbk_partner_signature_ok("key", "secret", hex, 1700000000LL + 301));
	CHECK(!hbk_partner_signature_ok("key", "other", hex, 1700000000LL));
	CHECK(!hbk_partner_signature_ok("key", "secret", "abc", 1700000000LL));
	CHECK(!hbk_partner_signature_ok("key", "secret", NULL, 1700000000LL));
	/* Upper case hex is the same signature. */
	char upper[65];
	for (int i = 0; i < 65; i++)
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
	CHECK(hbk_partner_signature_ok("key", "secret", upper, 1700000000LL));
}

static const char availability[] =
    "{\"hotels\":{\"total\":1,\"hotels\":[{\"code\":\"1001\",\"currency\":\"EUR\",\"rooms\":["
    "{\"code\":\"SGL\",\"rates\":[{\"rateKey\":\"k-sgl\",\"rateClass\":\"NOR\",\"boardCode\":"
    "\"RO\",\"net\":\"50.00\",\"allotment\":3,\"rooms\":1,\"adults\":2,\"children\":0}]},"
    "{\"code\":\"DBL.ST\",\"rates\":["
    "{\"rateKey\":\"k-ro-nor\",\"rateClass\":\"NOR\",\"rateType\":\"BOOKABLE\",\"boardCode\":"
    "\"RO\",\"net\":\"100.00\",\"allotment\":3,\"rooms\":1,\"adults\":2,\"children\":0},"
    "{\"rateKey\":\"k-bb-nrf\",\"rateClass\":\"NRF\",\"rateType\":\"RECHECK\",\"boardCode\":"
    "\"BB\",\"net\":99.5,\"allotment\":\"2\",\"rooms\":\"1\",\"adults\":2,\"children\":0},"
    "{\"rateKey\":\"k-bb-nor-3\",\"rateClass\":\"NOR\",\"boardCode\":\"BB\",\"net\":\"150.00\","
    "\"allotment\":3,\"rooms\":1,\"adults\":3,\"children\":0},"
    "{\"rateKey\":\"k-bb-nor\",\"rateClass\":\"NOR\",\"boardCode\":\"BB\",\"net\":120,"
    "\"allotment\":0,\"rooms\":1,\"adults\":2,\"children\":0}]}]}]}}";

static struct hbk_stay stay(const char *room, const char *board, bool refundable, int adults)
{
	struct hbk_stay s;
	memset(&s, 0, sizeof(s));
	hbk_copy(s.hotel_id, sizeof(s.hotel_id), "H-LIS-0001");
	hbk_copy(s.room_type, sizeof(s.room_type), room);
	hbk_copy(s.board, sizeof(s.board), board);
	s.refundable = refundable;
	s.checkin = hbk_date_today() + 10;
	s.checkout = s.checkin + 2;
	s.adults = adults;
	s.rooms = 1;
	return s;
}

static void test_pick_rate(void)
{
	json_t *doc = json_loads(availability, 0, NULL);
	struct hbk_partner_rate rate;
	struct hbk_error err;
	struct hbk_stay s = stay("DBL", "RO", true, 2);
	CHECK(doc != NULL);

	/* Room code with a characteristic, code as a string. */
	CHECK_INT(hbk_partner_pick_rate(doc, 1001, &s, &rate, &err), HBK_OK);
	CHECK_STR(rate.rate_key, "k-ro-nor");
	CHECK(!rate.recheck);
	CHECK_INT(rate.net.minor, 10000);
	CHECK_STR(rate.net.currency, "EUR");

	/* NRF: a number net and string counts; RECHECK. */
	s = stay("DBL", "BB", false, 2);
	CHECK_INT(hbk_partner_pick_rate(doc, 1001, &s, &rate, &err), HBK_OK);
	CHECK_STR(rate.rate_key, "k-bb-nrf");
	CHECK(rate.recheck);
	CHECK_INT(rate.net.minor, 9950);
	CHECK_INT(rate.allotment, 2);

	/* Occupancy decides among rates of the same room, board and class. */
	s = stay("DBL", "BB", true, 3);
	CHECK_INT(hbk_partner_pick_rate(doc, 1001, &s, &rate, &err), HBK_OK);
	CHECK_STR(rate.rate_key, "k-bb-nor-3");

	/* A rate with no allotment left, another hotel, another board: none. */
	s = stay("DBL", "BB", true, 2);
	CHECK_INT(hbk_partner_pick_rate(doc, 1001, &s, &rate, &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "no_availability");
	s = stay("DBL", "RO", true, 2);
	CHECK_INT(hbk_partner_pick_rate(doc, 1002, &s, &rate, &err), HBK_ECONFLICT);
	s = stay("DBL", "HB", true, 2);
	CHECK_INT(hbk_partner_pick_rate(doc, 1001, &s, &rate, &err), HBK_ECONFLICT);
	/* "DB" is not "DBL". */
	s = stay("DB", "RO", true, 2);
	CHECK_INT(hbk_partner_pick_rate(doc, 1001, &s, &rate, &err), HBK_ECONFLICT);
	json_decref(doc);
}

static void test_json_money(void)
{
	json_t *doc =
	    json_loads("{\"a\":\"12.30\",\"b\":12.3,\"c\":12,\"d\":true,\"e\":\"x\"}", 0, NULL);
	struct hbk_money m;
	struct hbk_error err;
	CHECK_INT(hbk_partner_json_money(doc, "a", "EUR", &m, &err), HBK_OK);
	CHECK_INT(m.minor, 1230);
	CHECK_INT(hbk_partner_json_money(doc, "b", "EUR", &m, &err), HBK_OK);
	CHECK_INT(m.minor, 1230);
	CHECK_INT(hbk_partner_json_money(doc, "c", "JPY", &m, &err), HBK_OK);
	CHECK_INT(m.minor, 12);
	CHECK(hbk_partner_json_money(doc, "d", "EUR", &m, &err) != HBK_OK);
	CHECK(hbk_partner_json_money(doc, "e", "EUR", &m, &err) != HBK_OK);
	CHECK(hbk_partner_json_money(doc, "missing", "EUR", &m, &err) != HBK_OK);
	CHECK_INT(hbk_partner_json_int(doc, "c", -1), 12);
	CHECK_INT(hbk_partner_json_int(doc, "e", -1), -1);
	json_decref(doc);
}

static struct hbk_store *demo_store(const char *name)
{
	char path[512];
	struct hbk_error err;
	struct hbk_store *store = NULL;
	snprintf(path, sizeof(path), "%s/%s.db", unit_tmpdir(), name);
	CHECK_INT(hbk_store_open(path, HBK_STORE_CREATE | HBK_STORE_NO_RECOVER, &store, &err),
		  HBK_OK);
	CHECK_INT(hbk_inventory_seed_demo(store, hbk_date_today(), 3, NULL, NULL, &err), HBK_OK);
	return store;
}

static hbk_result open_hotelbeds(struct hbk_store *store, int port, struct hbk_partner *out,
				 struct hbk_error *err)
{
	char yaml[512];
	struct hbk_config *cfg = NULL;
	/* Secrets are references, never inline. */
	setenv("HBK_TEST_PARTNER_KEY", KEY, 1);
	setenv("HBK_TEST_PARTNER_SECRET", SECRET, 1);
	snprintf(yaml, sizeof(yaml),
		 "partner:\n  kind: hotelbeds\n  url: http://127.0.0.1:%d/\n"
		 "  api_key: env:HBK_TEST_PARTNER_KEY\n  secret: env:HBK_TEST_PARTNER_SECRET\n"
		 "  timeout_ms: 2000\n",
		 port);
	hbk_result r = hbk_config_load_string(yaml, "test", &cfg, err);
	if (r == HBK_OK)
		r = hbk_partner_open(cfg, store, out, err);
	if (r != HBK_OK) {
		fprintf(stderr, "open hotelbeds: %s\n", err->message);
		abort(); /* every test below needs the adapter */
	}
	hbk_config_free(cfg);
	return r;
}

static struct hbk_partner_request request(const char *client_reference)
{
	struct hbk_partner_request req;
	memset(&req, 0, sizeof(req));
	hbk_copy(req.client_reference, sizeof(req.client_reference), client_reference);
	req.stay = stay("DBL", "RO", true, 2);
	hbk_copy(req.holder_name, sizeof(req.holder_name), "Ana Silva");
	req.total = hbk_money_make(10000, "EUR");
	return req;
}

static const char booking_body[] =
    "{\"booking\":{\"reference\":\"102-123456789\",\"clientReference\":\"BK-1\",\"status\":"
    "\"CONFIRMED\",\"hotel\":{\"code\":1001,\"checkIn\":\"2030-01-01\",\"checkOut\":"
    "\"2030-01-03\",\"rooms\":[{\"code\":\"DBL\",\"rates\":[{\"rateClass\":\"NOR\","
    "\"boardCode\":\"RO\",\"rooms\":1,\"adults\":2,\"children\":0}]}],\"totalNet\":\"100.00\","
    "\"currency\":\"EUR\"},\"totalNet\":100.0,\"currency\":\"EUR\"}}";

static const char found_body[] =
    "{\"bookings\":{\"from\":1,\"to\":1,\"total\":1,\"bookings\":[{\"reference\":\"102-123456789\","
    "\"clientReference\":\"BK-1\",\"status\":\"CONFIRMED\",\"hotel\":{\"code\":1001,\"rooms\":[],"
    "\"totalNet\":\"100.00\",\"currency\":\"EUR\"},\"totalNet\":100,\"currency\":\"EUR\"}]}}";

static const char empty_body[] = "{\"bookings\":{\"from\":1,\"to\":0,\"total\":0,\"bookings\":[]}}";

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Every recorded request carries Api-key and a signature of the moment. */
static void check_credentials(const struct canned *c)
{
	for (int i = 0; i < c->nrequests; i++) {
		const char *req = c->requests[i];
		CHECK(strstr(req, "Api-key: " KEY "\r\n") != NULL);
		const char *sig = strstr(req, "X-Signature: ");
		CHECK(sig != NULL);
		if (sig) {
			char hex[65];
			snprintf(hex, sizeof(hex), "%.64s", sig + 13);
			CHECK(hbk_partner_signature_ok(KEY, SECRET, hex, hbk_now_ms() / 1000));
		}
		CHECK(strstr(req, SECRET) == NULL);
	}
}

static void test_book_through_duplicate(void)
{
	struct hbk_store *store = demo_store("hb_dup");
	struct canned c;
	memset(&c, 0, sizeof(c));
	canned_add(&c, "200 OK", "", availability);
	canned_add(&c, "409 Conflict", "",
		   "{\"error\":{\"code\":\"INVALID_DATA\",\"message\":\"duplicate "
		   "clientReference BK-1\"}}");
	canned_add(&c, "200 OK", "", found_body);
	canned_start(&c);

	struct hbk_partner partner;
	struct hbk_partner_booking out;
	struct hbk_error err;
	CHECK_INT(open_hotelbeds(store, c.port, &partner, &err), HBK_OK);
	struct hbk_partner_request req = request("BK-1");
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_OK);
	CHECK_STR(out.reference, "102-123456789");
	CHECK_INT(out.total.minor, 10000);
	CHECK_STR(out.stay.hotel_id, "H-LIS-0001");
	hbk_partner_close(&partner);
	canned_stop(&c);

	CHECK_INT(c.nrequests, 3);
	CHECK(starts(c.requests[0], "POST /hotel-api/1.0/hotels "));
	CHECK(strstr(c.requests[0], "\"hotel\":[1001]") != NULL);
	/* Only the stay's board is asked for. */
	CHECK(strstr(c.requests[0], "\"boards\":{\"included\":true,\"board\":[\"RO\"]}") != NULL);
	CHECK(starts(c.requests[1], "POST /hotel-api/1.0/bookings "));
	CHECK(strstr(c.requests[1], "\"clientReference\":\"BK-1\"") != NULL);
	CHECK(strstr(c.requests[1], "\"rateKey\":\"k-ro-nor\"") != NULL);
	CHECK(starts(c.requests[2], "GET /hotel-api/1.0/bookings?"));
	CHECK(strstr(c.requests[2], "clientReference=BK-1") != NULL);
	CHECK(strstr(c.requests[2], "filterType=") != NULL);
	check_credentials(&c);
	hbk_store_close(store);
}

static void test_book_recheck(void)
{
	struct hbk_store *store = demo_store("hb_recheck");
	struct canned c;
	memset(&c, 0, sizeof(c));
	canned_add(&c, "200 OK", "", availability);
	canned_add(&c, "200 OK", "",
		   "{\"hotel\":{\"code\":1001,\"rooms\":[{\"code\":\"DBL\",\"rates\":[{"
		   "\"rateKey\":\"k-checked\",\"rateType\":\"BOOKABLE\"}]}]}}");
	canned_add(&c, "200 OK", "", booking_body);
	canned_start(&c);

	struct hbk_partner partner;
	struct hbk_partner_booking out;
	struct hbk_error err;
	CHECK_INT(open_hotelbeds(store, c.port, &partner, &err), HBK_OK);
	struct hbk_partner_request req = request("BK-1");
	req.stay = stay("DBL", "BB", false, 2);
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_OK);
	CHECK_STR(out.reference, "102-123456789");
	CHECK_STR(out.status, "CONFIRMED");
	CHECK_STR(out.stay.hotel_id, "H-LIS-0001");
	CHECK_STR(out.stay.room_type, "DBL");
	CHECK_INT(out.total.minor, 10000);
	hbk_partner_close(&partner);
	canned_stop(&c);
	CHECK_INT(c.nrequests, 3);
	CHECK(strstr(c.requests[0], "\"boards\":{\"included\":true,\"board\":[\"BB\"]}") != NULL);
	CHECK(starts(c.requests[1], "POST /hotel-api/1.0/checkrates "));
	CHECK(strstr(c.requests[1], "\"rateKey\":\"k-bb-nrf\"") != NULL);
	/* The booking uses the key checkrates gave. */
	CHECK(strstr(c.requests[2], "\"rateKey\":\"k-checked\"") != NULL);
	CHECK(strstr(c.requests[2], "\"surname\":\"Silva\"") != NULL);
	check_credentials(&c);
	hbk_store_close(store);
}

static void test_create_5xx_not_found(void)
{
	struct hbk_store *store = demo_store("hb_5xx");
	struct canned c;
	memset(&c, 0, sizeof(c));
	canned_add(&c, "200 OK", "", availability);
	canned_add(&c, "500 Internal Server Error", "",
		   "{\"error\":{\"code\":\"SYSTEM_ERROR\",\"message\":\"boom\"}}");
	canned_add(&c, "200 OK", "", empty_body);
	canned_start(&c);

	struct hbk_partner partner;
	struct hbk_partner_booking out;
	struct hbk_error err;
	CHECK_INT(open_hotelbeds(store, c.port, &partner, &err), HBK_OK);
	struct hbk_partner_request req = request("BK-2");
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_EUNAVAILABLE);
	CHECK_STR(err.code, "partner_unavailable");
	hbk_partner_close(&partner);
	canned_stop(&c);
	/* It looked before answering. */
	CHECK_INT(c.nrequests, 3);
	CHECK(strstr(c.requests[2], "clientReference=BK-2") != NULL);
	hbk_store_close(store);
}

/* A lost create whose lookup first fails is looked up again; availability,
 * a read, is retried too; the create itself is sent once. */
static void test_reads_retried(void)
{
	struct hbk_store *store = demo_store("hb_retry");
	struct canned c;
	memset(&c, 0, sizeof(c));
	canned_add(&c, "503 Service Unavailable", "", "{}");
	canned_add(&c, "200 OK", "", availability);
	canned_add(&c, "502 Bad Gateway", "", "{}");
	canned_add(&c, "503 Service Unavailable", "", "{}");
	canned_add(&c, "200 OK", "", found_body);
	canned_start(&c);

	struct hbk_partner partner;
	struct hbk_partner_booking out;
	struct hbk_error err;
	CHECK_INT(open_hotelbeds(store, c.port, &partner, &err), HBK_OK);
	struct hbk_partner_request req = request("BK-1");
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_OK);
	CHECK_STR(out.reference, "102-123456789");
	hbk_partner_close(&partner);
	canned_stop(&c);
	CHECK_INT(c.nrequests, 5);
	CHECK(starts(c.requests[0], "POST /hotel-api/1.0/hotels "));
	CHECK(starts(c.requests[1], "POST /hotel-api/1.0/hotels "));
	CHECK(starts(c.requests[2], "POST /hotel-api/1.0/bookings "));
	CHECK(starts(c.requests[3], "GET /hotel-api/1.0/bookings?"));
	CHECK(starts(c.requests[4], "GET /hotel-api/1.0/bookings?"));
	hbk_store_close(store);
}

static void test_status_mapping(void)
{
	struct hbk_store *store = demo_store("hb_status");
	struct canned c;
	memset(&c, 0, sizeof(c));
	canned_add(&c, "401 Unauthorized", "",
		   "{\"error\":{\"code\":\"AUTH\",\"message\":\"no\"}}");
	canned_add(&c, "404 Not Found", "",
		   "{\"error\":{\"code\":\"NOT_FOUND\",\"message\":\"x\"}}");
	canned_add(&c, "200 OK", "",
		   "{\"booking\":{\"reference\":\"102-1\",\"status\":\"CONFIRMED\","
		   "\"currency\":\"EUR\",\"hotel\":{\"cancellationAmount\":\"12.00\"}}}");
	canned_add(&c, "400 Bad Request", "",
		   "{\"error\":{\"code\":\"INVALID_DATA\",\"message\":\"cannot cancel\"}}");
	canned_add(&c, "200 OK", "",
		   "{\"booking\":{\"reference\":\"102-1\",\"status\":\"CONFIRMED\"}}");
	canned_add(&c, "429 Too Many Requests", "Retry-After: 7\r\n",
		   "{\"error\":{\"code\":\"RATE\",\"message\":\"slow down\"}}");
	canned_start(&c);

	struct hbk_partner partner;
	struct hbk_partner_booking out;
	struct hbk_money penalty;
	struct hbk_error err;
	CHECK_INT(open_hotelbeds(store, c.port, &partner, &err), HBK_OK);
	struct hbk_partner_request req = request("BK-3");

	/* 401: authentication, naming the partner, never the credentials. */
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_EAUTH);
	CHECK_STR(err.code, "partner_auth");
	CHECK(strstr(err.message, "partner rejected the credentials (401)") != NULL);
	CHECK(strstr(err.message, KEY) == NULL && strstr(err.message, SECRET) == NULL);

	/* 404 on find: not found. */
	CHECK_INT(partner.ops->find(partner.self, "BK-3", &out, &err), HBK_ENOTFOUND);

	/* The penalty is asked first (SIMULATION); then a refused cancel of a
	 * booking that is not cancelled: declined. */
	CHECK_INT(partner.ops->cancel(partner.self, "102-1", false, 0, &penalty, &err),
		  HBK_EDECLINED);
	CHECK_STR(err.code, "partner_rejected");
	CHECK(strstr(err.message, "cannot cancel") != NULL);

	/* 429 on a modification: unavailable, with the partner's Retry-After. */
	CHECK_INT(partner.ops->modify(partner.self, "102-1", &req, true, &out, &err),
		  HBK_EUNAVAILABLE);
	CHECK_STR(err.code, "partner_unavailable");
	hbk_partner_close(&partner);
	canned_stop(&c);
	CHECK_INT(c.nrequests, 6);
	CHECK(starts(c.requests[2],
		     "DELETE /hotel-api/1.0/bookings/102-1?cancellationFlag=SIMULATION "));
	CHECK(starts(c.requests[3],
		     "DELETE /hotel-api/1.0/bookings/102-1?cancellationFlag=CANCELLATION "));
	CHECK(starts(c.requests[4], "GET /hotel-api/1.0/bookings/102-1 "));
	CHECK(starts(c.requests[5], "PUT /hotel-api/1.0/bookings/102-1 "));
	CHECK(strstr(c.requests[5], "\"mode\":\"SIMULATION\"") != NULL);
	check_credentials(&c);
	hbk_store_close(store);
}

static void done_record(struct hbk_call *call)
{
	(void)call;
}

static void test_retry_after_and_pages(void)
{
	struct hbk_store *store = demo_store("hb_pages");
	struct canned c;
	memset(&c, 0, sizeof(c));
	canned_add(&c, "429 Too Many Requests", "Retry-After: 7\r\n", "{}");
	canned_add(&c, "200 OK", "",
		   "{\"bookings\":{\"from\":1,\"to\":1,\"total\":2,\"bookings\":[{\"reference\":"
		   "\"102-1\",\"clientReference\":\"BK-A\",\"hotel\":{\"code\":1001,"
		   "\"totalNet\":\"1.00\",\"currency\":\"EUR\"},\"currency\":\"EUR\"}]}}");
	canned_add(&c, "200 OK", "",
		   "{\"bookings\":{\"from\":2,\"to\":2,\"total\":2,\"bookings\":[{\"reference\":"
		   "\"102-2\",\"clientReference\":\"BK-B\",\"status\":\"CANCELLED\","
		   "\"hotel\":{\"code\":\"1002\",\"totalNet\":2.5,\"currency\":\"EUR\"},"
		   "\"currency\":\"EUR\"}]}}");
	canned_start(&c);

	struct hbk_partner partner;
	struct hbk_partner_booking out;
	struct hbk_money penalty;
	struct hbk_error err;
	CHECK_INT(open_hotelbeds(store, c.port, &partner, &err), HBK_OK);
	/* The saga's asynchronous cancel: 429 is unavailable with the hint. */
	struct hbk_call call = {.done = done_record, .rc = HBK_EINTERNAL};
	hbk_partner_cancel(&partner, "102-1", false, 0, &penalty, &call);
	CHECK_INT(call.rc, HBK_EUNAVAILABLE);
	CHECK_INT(call.retry_after_ms, 7000);
	(void)out;
	/* The list follows "from" past "total". */
	json_t *list = NULL;
	CHECK_INT(partner.ops->list(partner.self, &list, &err), HBK_OK);
	CHECK_INT(json_array_size(list), 2);
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "client_reference")),
		  "BK-B");
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "hotel_id")),
		  "H-LIS-0002");
	json_decref(list);
	hbk_partner_close(&partner);
	canned_stop(&c);
	CHECK_INT(c.nrequests, 3);
	CHECK(strstr(c.requests[1], "from=1&") != NULL);
	CHECK(strstr(c.requests[2], "from=2&") != NULL);
	hbk_store_close(store);
}

static void test_unreachable_and_config(void)
{
	struct hbk_store *store = demo_store("hb_down");
	struct hbk_partner partner;
	struct hbk_partner_booking out;
	struct hbk_error err;
	struct hbk_config *cfg = NULL;

	/* Port 1 on loopback refuses connections. */
	CHECK_INT(open_hotelbeds(store, 1, &partner, &err), HBK_OK);
	struct hbk_partner_request req = request("BK-4");
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_EUNAVAILABLE);
	CHECK(strcmp(err.code, "partner_unavailable") == 0 ||
	      strcmp(err.code, "circuit_open") == 0);
	/* An unknown hotel fails before any request. */
	hbk_copy(req.stay.hotel_id, sizeof(req.stay.hotel_id), "H-XXX-0001");
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_EINVAL);
	CHECK_STR(err.code, "unknown_hotel");
	hbk_partner_close(&partner);

	/* Missing settings name the key. */
	CHECK_INT(hbk_config_load_string("partner:\n  kind: hotelbeds\n  url: http://x\n", "t",
					 &cfg, &err),
		  HBK_OK);
	CHECK_INT(hbk_partner_open(cfg, store, &partner, &err), HBK_EINVAL);
	CHECK(strstr(err.message, "partner.api_key") != NULL);
	hbk_config_free(cfg);
	hbk_store_close(store);
}

static bool booked;
static void booked_done(struct hbk_call *call)
{
	(void)call;
	booked = true;
}

/* Runs base until *done, at most 5 s; true when it was. */
static bool run_until(struct event_base *base, const bool *done)
{
	int64_t deadline_ms = hbk_now_ms() + 5000;
	while (!*done && hbk_now_ms() < deadline_ms)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	return *done;
}

static void test_book_on_loop(void)
{
	struct hbk_store *store = demo_store("hb_loop");
	struct canned c;
	memset(&c, 0, sizeof(c));
	/* Two answers a connection: each booking (availability, create) ends
	 * with the partner closing the connection it kept alive. */
	c.per_connection = 2;
	for (int i = 0; i < 3; i++) {
		canned_add(&c, "200 OK", "", availability);
		canned_add(&c, "200 OK", "", booking_body);
	}
	canned_start(&c);

	struct hbk_partner partner;
	struct hbk_error err;
	CHECK_INT(open_hotelbeds(store, c.port, &partner, &err), HBK_OK);
	struct event_base *base = event_base_new();
	hbk_partner_attach(&partner, base);
	for (int i = 0; i < 3; i++) {
		struct hbk_partner_booking out;
		struct hbk_call call = {.done = booked_done, .rc = HBK_EINTERNAL};
		char reference[16];
		hbk_format(reference, sizeof(reference), "BK-%d", i + 1);
		struct hbk_partner_request req = request(reference);
		booked = false;
		hbk_partner_book(&partner, &req, &out, &call);
		CHECK(run_until(base, &booked));
		CHECK_INT(call.rc, HBK_OK);
		CHECK_STR(out.reference, "102-123456789");
		/* The close reaches the idle connection's watch before the next. */
		struct timespec pause = {0, 20 * 1000 * 1000};
		nanosleep(&pause, NULL);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	hbk_partner_attach(&partner, NULL);
	hbk_partner_close(&partner);
	event_base_free(base);
	canned_stop(&c);
	CHECK_INT(c.nrequests, 6);
	for (int i = 0; i < 6; i += 2) {
		CHECK(starts(c.requests[i], "POST /hotel-api/1.0/hotels "));
		CHECK(starts(c.requests[i + 1], "POST /hotel-api/1.0/bookings "));
	}
	check_credentials(&c);
	hbk_store_close(store);
}

UNIT_TESTS(UNIT_T(test_signature), UNIT_T(test_pick_rate), UNIT_T(test_json_money),
	   UNIT_T(test_book_recheck), UNIT_T(test_book_through_duplicate),
	   UNIT_T(test_create_5xx_not_found), UNIT_T(test_reads_retried),
	   UNIT_T(test_status_mapping), UNIT_T(test_retry_after_and_pages),
	   UNIT_T(test_unreachable_and_config), UNIT_T(test_book_on_loop));
