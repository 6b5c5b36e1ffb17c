/*
 * test_partner.c - proves that the partner sandbox behaves like the
 * Hotelbeds booking API the saga relies on: bookings get "102-" references
 * and CONFIRMED status, a clientReference books once, modify and cancel
 * simulate without writing, the cancellation penalty follows the stored
 * policy at the given instant and stays the same on a repeated cancel, and
 * injected faults fail before any state change. Each test opens its own
 * store in the test's temporary directory; a second, fault-free adapter on
 * the same store checks what a failed call left behind.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/partner.h"
#include "hbk/store.h"
#include "unit.h"

static struct hbk_store *open_store(const char *name)
{
	char path[512];
	struct hbk_error err;
	struct hbk_store *store = NULL;
	snprintf(path, sizeof(path), "%s/%s.db", unit_tmpdir(), name);
	hbk_result r = hbk_store_open(path, HBK_STORE_CREATE | HBK_STORE_NO_RECOVER, &store, &err);
	if (r != HBK_OK)
		fprintf(stderr, "store open: %s\n", err.message);
	CHECK_INT(r, HBK_OK);
	return store;
}

static hbk_result open_partner(struct hbk_store *store, const char *yaml, struct hbk_partner *out,
			       struct hbk_error *err)
{
	struct hbk_config *cfg = NULL;
	hbk_result r = hbk_config_load_string(yaml, "test", &cfg, err);
	if (r != HBK_OK)
		return r;
	r = hbk_partner_open(cfg, store, out, err);
	hbk_config_free(cfg);
	return r;
}

static long long bookings(struct hbk_store *store)
{
	sqlite3_stmt *stmt = NULL;
	long long n = -1;
	if (hbk_store_prepare(store, "SELECT count(*) FROM partner_sim_bookings", &stmt, NULL) !=
	    HBK_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

static int64_t at(const char *rfc3339)
{
	int64_t ms = 0;
	CHECK(hbk_time_parse(rfc3339, &ms));
	return ms;
}

/* 3 nights in Lisbon, 360.00 EUR; 120.00 due from 2026-11-28, all of it
 * from check-in. */
static struct hbk_partner_request request(const char *client_reference)
{
	struct hbk_partner_request req;
	memset(&req, 0, sizeof(req));
	hbk_copy(req.client_reference, sizeof(req.client_reference), client_reference);
	hbk_copy(req.stay.hotel_id, sizeof(req.stay.hotel_id), "H-LIS-0001");
	hbk_copy(req.stay.room_type, sizeof(req.stay.room_type), "DBL");
	hbk_copy(req.stay.board, sizeof(req.stay.board), "BB");
	req.stay.refundable = true;
	req.stay.checkin = hbk_date_from_ymd(2026, 12, 1);
	req.stay.checkout = hbk_date_from_ymd(2026, 12, 4);
	req.stay.adults = 2;
	req.stay.rooms = 1;
	hbk_copy(req.holder_name, sizeof(req.holder_name), "Ana Silva");
	req.total = hbk_money_make(36000, "EUR");
	req.policy.count = 2;
	req.policy.entries[0].from_ms = at("2026-11-28T00:00:00Z");
	req.policy.entries[0].penalty = hbk_money_make(12000, "EUR");
	req.policy.entries[1].from_ms = at("2026-12-01T00:00:00Z");
	req.policy.entries[1].penalty = hbk_money_make(36000, "EUR");
	return req;
}

static void test_open_kinds(void)
{
	struct hbk_store *store = open_store("open");
	struct hbk_partner partner;
	struct hbk_error err;
	CHECK_INT(open_partner(store, "", &partner, &err), HBK_OK);
	CHECK_STR(partner.ops->name, "sandbox");
	hbk_partner_close(&partner);
	CHECK(partner.ops == NULL);
	hbk_partner_close(&partner);

	CHECK_INT(open_partner(store, "partner:\n  kind: hotelbeds\n", &partner, &err), HBK_EINVAL);
	CHECK(strstr(err.message, "hotelbeds") != NULL);
	CHECK_INT(open_partner(store, "partner:\n  kind: expedia\n", &partner, &err), HBK_EINVAL);
	CHECK(strstr(err.message, "unknown partner kind") != NULL);
	CHECK_INT(open_partner(store, "partner:\n  faults:\n    fail: book, pay\n", &partner, &err),
		  HBK_EINVAL);
	CHECK(strstr(err.message, "pay") != NULL);
	CHECK(partner.ops == NULL);
	hbk_store_close(store);
}

static void test_book_find_list(void)
{
	struct hbk_store *store = open_store("book");
	struct hbk_partner partner;
	struct hbk_error err;
	struct hbk_partner_booking a, b, found;
	CHECK_INT(open_partner(store, "", &partner, &err), HBK_OK);

	struct hbk_partner_request req = request("BK-01AAAAAAAAAA");
	CHECK_INT(partner.ops->book(partner.self, &req, &a, &err), HBK_OK);
	CHECK(strncmp(a.reference, "102-", 4) == 0);
	CHECK_INT(strlen(a.reference), 13);
	CHECK_STR(a.client_reference, "BK-01AAAAAAAAAA");
	CHECK_STR(a.status, "CONFIRMED");
	CHECK_STR(a.stay.hotel_id, "H-LIS-0001");
	CHECK_STR(a.stay.room_type, "DBL");
	CHECK_STR(a.stay.board, "BB");
	CHECK(a.stay.refundable);
	CHECK_INT(a.stay.checkin, req.stay.checkin);
	CHECK_INT(a.stay.checkout, req.stay.checkout);
	CHECK_INT(a.stay.adults, 2);
	CHECK_INT(a.total.minor, 36000);
	CHECK_STR(a.total.currency, "EUR");

	req = request("BK-01BBBBBBBBBB");
	CHECK_INT(partner.ops->book(partner.self, &req, &b, &err), HBK_OK);
	CHECK(strcmp(a.reference, b.reference) != 0);

	CHECK_INT(partner.ops->find(partner.self, "BK-01AAAAAAAAAA", &found, &err), HBK_OK);
	CHECK_STR(found.reference, a.reference);
	CHECK_INT(partner.ops->find(partner.self, "BK-01CCCCCCCCCC", &found, &err), HBK_ENOTFOUND);
	CHECK_STR(err.code, "booking_not_found");

	json_t *list = NULL;
	CHECK_INT(partner.ops->list(partner.self, &list, &err), HBK_OK);
	CHECK_INT(json_array_size(list), 2);
	json_t *first = json_array_get(list, 0);
	CHECK_STR(json_string_value(json_object_get(first, "reference")), a.reference);
	CHECK_STR(json_string_value(json_object_get(first, "client_reference")), "BK-01AAAAAAAAAA");
	CHECK_STR(json_string_value(json_object_get(first, "status")), "CONFIRMED");
	CHECK_STR(json_string_value(json_object_get(first, "holder")), "Ana Silva");
	CHECK_STR(json_string_value(json_object_get(first, "checkin")), "2026-12-01");
	CHECK_STR(json_string_value(json_object_get(json_object_get(first, "total"), "amount")),
		  "360.00");
	json_t *policy = json_object_get(first, "cancellation_policy");
	CHECK_INT(json_array_size(policy), 2);
	CHECK_STR(json_string_value(json_object_get(
		      json_object_get(json_array_get(policy, 0), "penalty"), "amount")),
		  "120.00");
	CHECK(json_object_get(first, "penalty") == NULL);
	json_decref(list);
	hbk_partner_close(&partner);
	hbk_store_close(store);
}

static void test_duplicate_client_reference(void)
{
	struct hbk_store *store = open_store("duplicate");
	struct hbk_partner partner;
	struct hbk_error err;
	struct hbk_partner_booking first, second;
	CHECK_INT(open_partner(store, "", &partner, &err), HBK_OK);

	struct hbk_partner_request req = request("BK-01DDDDDDDDDD");
	CHECK_INT(partner.ops->book(partner.self, &req, &first, &err), HBK_OK);
	req.stay.rooms = 2;
	CHECK_INT(partner.ops->book(partner.self, &req, &second, &err), HBK_ECONFLICT);
	CHECK_STR(err.code, "duplicate_client_reference");
	CHECK(strstr(err.message, first.reference) != NULL);
	CHECK_INT(bookings(store), 1);
	CHECK_INT(partner.ops->find(partner.self, "BK-01DDDDDDDDDD", &second, &err), HBK_OK);
	CHECK_INT(second.stay.rooms, 1);
	hbk_partner_close(&partner);
	hbk_store_close(store);
}

static void test_invalid_requests(void)
{
	struct hbk_store *store = open_store("invalid");
	struct hbk_partner partner;
	struct hbk_error err;
	struct hbk_partner_booking out;
	CHECK_INT(open_partner(store, "", &partner, &err), HBK_OK);

	struct hbk_partner_request req = request("BK-01EEEEEEEEEE");
	req.stay.checkout = req.stay.checkin;
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_EINVAL);
	req = request("BK-01EEEEEEEEEE");
	req.holder_name[0] = '\0';
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_EINVAL);
	req = request("");
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_EINVAL);
	req = request("BK-01EEEEEEEEEE");
	req.policy.entries[1].penalty = hbk_money_make(100, "USD");
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_EINVAL);
	CHECK_INT(bookings(store), 0);
	hbk_partner_close(&partner);
	hbk_store_close(store);
}

static void test_modify(void)
{
	struct hbk_store *store = open_store("modify");
	struct hbk_partner partner;
	struct hbk_error err;
	struct hbk_partner_booking booked, out, found;
	CHECK_INT(open_partner(store, "", &partner, &err), HBK_OK);
	struct hbk_partner_request req = request("BK-01FFFFFFFFFF");
	CHECK_INT(partner.ops->book(partner.self, &req, &booked, &err), HBK_OK);

	struct hbk_partner_request change = req;
	change.stay.checkout = hbk_date_from_ymd(2026, 12, 5);
	change.total = hbk_money_make(48000, "EUR");
	CHECK_INT(partner.ops->modify(partner.self, booked.reference, &change, true, &out, &err),
		  HBK_OK);
	CHECK_STR(out.reference, booked.reference);
	CHECK_INT(out.stay.checkout, change.stay.checkout);
	CHECK_INT(out.total.minor, 48000);
	CHECK_INT(partner.ops->find(partner.self, "BK-01FFFFFFFFFF", &found, &err), HBK_OK);
	CHECK_INT(found.stay.checkout, req.stay.checkout);
	CHECK_INT(found.total.minor, 36000);

	CHECK_INT(partner.ops->modify(partner.self, booked.reference, &change, false, &out, &err),
		  HBK_OK);
	CHECK_STR(out.status, "CONFIRMED");
	CHECK_INT(partner.ops->find(partner.self, "BK-01FFFFFFFFFF", &found, &err), HBK_OK);
	CHECK_INT(found.stay.checkout, change.stay.checkout);
	CHECK_INT(found.total.minor, 48000);
	CHECK_STR(found.reference, booked.reference);

	CHECK_INT(partner.ops->modify(partner.self, "102-000000000", &change, false, &out, &err),
		  HBK_ENOTFOUND);
	struct hbk_partner_request move = change;
	hbk_copy(move.stay.hotel_id, sizeof(move.stay.hotel_id), "H-LIS-0002");
	CHECK_INT(partner.ops->modify(partner.self, booked.reference, &move, false, &out, &err),
		  HBK_EDECLINED);
	CHECK_STR(err.code, "partner_rejected");
	hbk_partner_close(&partner);
	hbk_store_close(store);
}

static void test_cancel_penalty(void)
{
	struct hbk_store *store = open_store("cancel");
	struct hbk_partner partner;
	struct hbk_error err;
	struct hbk_partner_booking booked, found;
	struct hbk_money penalty;
	CHECK_INT(open_partner(store, "", &partner, &err), HBK_OK);
	struct hbk_partner_request req = request("BK-01GGGGGGGGGG");
	CHECK_INT(partner.ops->book(partner.self, &req, &booked, &err), HBK_OK);

	/* Simulations at three instants; nothing is written. */
	CHECK_INT(partner.ops->cancel(partner.self, booked.reference, true,
				      at("2026-11-27T23:59:59Z"), &penalty, &err),
		  HBK_OK);
	CHECK_INT(penalty.minor, 0);
	CHECK_STR(penalty.currency, "EUR");
	CHECK_INT(partner.ops->cancel(partner.self, booked.reference, true,
				      at("2026-11-28T00:00:00Z"), &penalty, &err),
		  HBK_OK);
	CHECK_INT(penalty.minor, 12000);
	CHECK_INT(partner.ops->cancel(partner.self, booked.reference, true,
				      at("2026-12-01T10:00:00Z"), &penalty, &err),
		  HBK_OK);
	CHECK_INT(penalty.minor, 36000);
	CHECK_INT(partner.ops->find(partner.self, "BK-01GGGGGGGGGG", &found, &err), HBK_OK);
	CHECK_STR(found.status, "CONFIRMED");

	/* The real cancellation stores its penalty; a repeat reports the same. */
	CHECK_INT(partner.ops->cancel(partner.self, booked.reference, false,
				      at("2026-11-29T12:00:00Z"), &penalty, &err),
		  HBK_OK);
	CHECK_INT(penalty.minor, 12000);
	CHECK_INT(partner.ops->find(partner.self, "BK-01GGGGGGGGGG", &found, &err), HBK_OK);
	CHECK_STR(found.status, "CANCELLED");
	CHECK_INT(partner.ops->cancel(partner.self, booked.reference, false,
				      at("2026-12-02T00:00:00Z"), &penalty, &err),
		  HBK_OK);
	CHECK_INT(penalty.minor, 12000);
	CHECK_INT(partner.ops->cancel(partner.self, booked.reference, true,
				      at("2026-12-02T00:00:00Z"), &penalty, &err),
		  HBK_OK);
	CHECK_INT(penalty.minor, 12000);

	json_t *list = NULL;
	CHECK_INT(partner.ops->list(partner.self, &list, &err), HBK_OK);
	json_t *first = json_array_get(list, 0);
	CHECK_STR(json_string_value(json_object_get(first, "status")), "CANCELLED");
	CHECK_STR(json_string_value(json_object_get(json_object_get(first, "penalty"), "amount")),
		  "120.00");
	json_decref(list);

	struct hbk_partner_booking out;
	CHECK_INT(partner.ops->modify(partner.self, booked.reference, &req, false, &out, &err),
		  HBK_ECONFLICT);
	CHECK_INT(partner.ops->cancel(partner.self, "102-000000000", false, 0, &penalty, &err),
		  HBK_ENOTFOUND);
	hbk_partner_close(&partner);
	hbk_store_close(store);
}

static void test_forced_faults(void)
{
	struct hbk_store *store = open_store("forced");
	struct hbk_partner faulty, clean;
	struct hbk_error err;
	struct hbk_partner_booking booked, out;
	struct hbk_money penalty;
	CHECK_INT(
	    open_partner(store, "partner:\n  faults:\n    fail: book, cancel\n", &faulty, &err),
	    HBK_OK);
	CHECK_INT(open_partner(store, "", &clean, &err), HBK_OK);

	struct hbk_partner_request req = request("BK-01HHHHHHHHHH");
	CHECK_INT(faulty.ops->book(faulty.self, &req, &out, &err), HBK_EDECLINED);
	CHECK_STR(err.code, "partner_rejected");
	CHECK(strstr(err.message, "INVALID_DATA") != NULL);
	CHECK_INT(bookings(store), 0);

	CHECK_INT(clean.ops->book(clean.self, &req, &booked, &err), HBK_OK);
	CHECK_INT(faulty.ops->cancel(faulty.self, booked.reference, false, 0, &penalty, &err),
		  HBK_EDECLINED);
	CHECK_STR(err.code, "partner_rejected");
	/* modify is not in the list: it works through the faulty adapter. */
	struct hbk_partner_request change = req;
	change.stay.adults = 1;
	CHECK_INT(faulty.ops->modify(faulty.self, booked.reference, &change, false, &out, &err),
		  HBK_OK);
	CHECK_INT(clean.ops->find(clean.self, "BK-01HHHHHHHHHH", &out, &err), HBK_OK);
	CHECK_STR(out.status, "CONFIRMED");
	CHECK_INT(out.stay.adults, 1);
	hbk_partner_close(&faulty);
	hbk_partner_close(&clean);
	hbk_store_close(store);
}

static void test_error_rate_one(void)
{
	struct hbk_store *store = open_store("rate1");
	struct hbk_partner faulty, clean;
	struct hbk_error err;
	struct hbk_partner_booking booked, out;
	struct hbk_money penalty;
	json_t *list = NULL;
	CHECK_INT(open_partner(store, "partner:\n  faults:\n    error_rate: 1.0\n", &faulty, &err),
		  HBK_OK);
	CHECK_INT(open_partner(store, "", &clean, &err), HBK_OK);
	struct hbk_partner_request first = request("BK-01JJJJJJJJJJ");
	CHECK_INT(clean.ops->book(clean.self, &first, &booked, &err), HBK_OK);

	struct hbk_partner_request req = request("BK-01KKKKKKKKKK");
	CHECK_INT(faulty.ops->book(faulty.self, &req, &out, &err), HBK_EUNAVAILABLE);
	CHECK_STR(err.code, "partner_unavailable");
	CHECK_INT(faulty.ops->find(faulty.self, "BK-01JJJJJJJJJJ", &out, &err), HBK_EUNAVAILABLE);
	struct hbk_partner_request change = first;
	change.total = hbk_money_make(1, "EUR");
	CHECK_INT(faulty.ops->modify(faulty.self, booked.reference, &change, false, &out, &err),
		  HBK_EUNAVAILABLE);
	CHECK_INT(faulty.ops->cancel(faulty.self, booked.reference, false, 0, &penalty, &err),
		  HBK_EUNAVAILABLE);
	CHECK_INT(faulty.ops->list(faulty.self, &list, &err), HBK_EUNAVAILABLE);
	CHECK(list == NULL);

	CHECK_INT(bookings(store), 1);
	CHECK_INT(clean.ops->find(clean.self, "BK-01JJJJJJJJJJ", &out, &err), HBK_OK);
	CHECK_STR(out.status, "CONFIRMED");
	CHECK_INT(out.total.minor, 36000);
	/* A retry is safe: the failed booking left no trace to collide with. */
	CHECK_INT(clean.ops->book(clean.self, &req, &out, &err), HBK_OK);
	CHECK_INT(bookings(store), 2);
	hbk_partner_close(&faulty);
	hbk_partner_close(&clean);
	hbk_store_close(store);
}

/* Inside the caller's transaction the simulator neither begins nor commits. */
static void test_caller_transaction(void)
{
	struct hbk_store *store = open_store("callertx");
	struct hbk_partner partner;
	struct hbk_error err;
	struct hbk_partner_booking out;
	CHECK_INT(open_partner(store, "", &partner, &err), HBK_OK);
	struct hbk_partner_request req = request("BK-01MMMMMMMMMM");

	CHECK_INT(hbk_store_begin(store, true, &err), HBK_OK);
	CHECK_INT(partner.ops->book(partner.self, &req, &out, &err), HBK_OK);
	CHECK_INT(store->tx_depth, 1);
	hbk_store_rollback(store);
	CHECK_INT(bookings(store), 0);
	CHECK_INT(partner.ops->find(partner.self, "BK-01MMMMMMMMMM", &out, &err), HBK_ENOTFOUND);
	hbk_partner_close(&partner);
	hbk_store_close(store);
}

UNIT_TESTS(UNIT_T(test_open_kinds), UNIT_T(test_book_find_list),
	   UNIT_T(test_duplicate_client_reference), UNIT_T(test_invalid_requests),
	   UNIT_T(test_modify), UNIT_T(test_cancel_penalty), UNIT_T(test_forced_faults),
	   UNIT_T(test_error_rate_one), UNIT_T(test_caller_transaction));
