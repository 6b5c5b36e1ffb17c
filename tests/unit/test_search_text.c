/*
 * test_search_text.c - proves that the search answer, which hbkd writes by
 * hand for speed, says byte for byte what the slower reference writers
 * say. JSON strings are compared with a byte-at-a-time escaper (bytes
 * that are not UTF-8 written as U+FFFD) over every byte value and
 * thousands of random strings; offer ids with an snprintf encoder over
 * thousands of random stays; money with hbk_copy's currency.
 * Whole searches (every city, several stays, sorts, limits, a hotel name
 * that needs escaping) are parsed with jansson: each offer must be what
 * hbk_quote_stay() prices through SQLite for the stay its id names, and
 * the text must be what jansson writes for the parsed document.
 */
#include <stdint.h>
#include <stdlib.h>

#include "hbk/inventory.h"
#include "hbk/json.h"
#include "unit.h"

#define RANDOM_CASES 5000
#define TEXT_DAYS    40

/* A small deterministic generator, so that a failure repeats. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* ---- JSON strings ---- */

/* The reference: one byte at a time, as the writer was first written;
 * a byte that begins no UTF-8 character is written as U+FFFD, and the
 * bytes of a character are taken whole. */
static void json_string_per_byte(struct hbk_buf *buf, const char *s)
{
	hbk_buf_putc(buf, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80) {
			size_t n = hbk_utf8_char_len((const char *)p, strlen((const char *)p));
			if (n == 0) {
				hbk_buf_puts(buf, "\xef\xbf\xbd");
				continue;
			}
			for (size_t i = 0; i < n; i++)
				hbk_buf_putc(buf, (char)p[i]);
			p += n - 1;
			continue;
		}
		switch (*p) {
		case '"': hbk_buf_puts(buf, "\\\""); break;
		case '\\': hbk_buf_puts(buf, "\\\\"); break;
		case '\n': hbk_buf_puts(buf, "\\n"); break;
		case '\r': hbk_buf_puts(buf, "\\r"); break;
		case '\t': hbk_buf_puts(buf, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				hbk_buf_printf(buf, "\\u%04x", *p);
			else
				hbk_buf_putc(buf, (char)*p);
		}
	}
	hbk_buf_putc(buf, '"');
}

/* Both writers give the same text, and overflow the same small buffer alike. */
static void json_string_same(const char *s)
{
	struct hbk_buf fast, slow;
	hbk_buf_init(&fast, 0);
	hbk_buf_init(&slow, 0);
	hbk_buf_puts(&fast, "x");
	hbk_buf_puts(&slow, "x");
	hbk_buf_json_string(&fast, s);
	json_string_per_byte(&slow, s);
	CHECK_STR(fast.data, slow.data);
	CHECK_INT(fast.len, slow.len);
	size_t limit = slow.len / 2 + 1;
	hbk_buf_free(&fast);
	hbk_buf_free(&slow);

	hbk_buf_init(&fast, limit);
	hbk_buf_init(&slow, limit);
	hbk_buf_json_string(&fast, s);
	json_string_per_byte(&slow, s);
	CHECK(fast.overflow == slow.overflow);
	CHECK(fast.len <= limit && strlen(fast.data) == fast.len);
	hbk_buf_free(&fast);
	hbk_buf_free(&slow);
}

static void test_json_string_as_per_byte(void)
{
	char s[64];
	for (int c = 1; c < 256; c++) {
		s[0] = (char)c;
		s[1] = '\0';
		json_string_same(s);
		hbk_format(s, sizeof(s), "ab%ccd%c", c, c);
		json_string_same(s);
	}
	json_string_same("");
	for (int i = 0; i < RANDOM_CASES; i++) {
		int len = (int)(rng() % (sizeof(s) - 1));
		for (int k = 0; k < len; k++) {
			/* Mostly plain text, as names are; any byte but NUL now and then. */
			uint32_t r = rng();
			s[k] = r % 4 ? (char)(' ' + r / 4 % 95) : (char)(1 + r / 4 % 255);
		}
		s[len] = '\0';
		json_string_same(s);
	}
}

/* ---- offer ids ---- */

/* The reference: snprintf's text, then base64url without padding. */
static void offer_id_reference(const struct hbk_stay *stay, const struct hbk_money *total,
			       char *out, size_t size)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char raw[256];
	int len = snprintf(raw, sizeof(raw), "%s|%s|%s|%c|%d|%d|%d|%d|%d|%lld|%s", stay->hotel_id,
			   stay->room_type, stay->board, stay->refundable ? 'R' : 'N',
			   stay->checkin, stay->checkout, stay->adults, stay->children, stay->rooms,
			   (long long)total->minor, total->currency);
	size_t o = 0;
	o += (size_t)snprintf(out, size, "OF1.");
	for (int i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)raw[i] << 16;
		int chars = 2;
		if (i + 1 < len) {
			v |= (uint32_t)(unsigned char)raw[i + 1] << 8;
			chars = 3;
		}
		if (i + 2 < len) {
			v |= (unsigned char)raw[i + 2];
			chars = 4;
		}
		for (int c = 0; c < chars && o + 1 < size; c++)
			out[o++] = b64[(v >> (18 - 6 * c)) & 63];
	}
	out[o] = '\0';
}

static void random_code(char *out, size_t size)
{
	static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";
	size_t len = rng() % size;
	for (size_t i = 0; i < len; i++)
		out[i] = chars[rng() % (sizeof(chars) - 1)];
	out[len] = '\0';
}

/* A value of each width: small counts, dates, large and negative amounts. */
static int64_t random_value(void)
{
	switch (rng() % 4) {
	case 0: return rng() % 40;
	case 1: return 15000 + rng() % 10000;
	case 2: return (int64_t)rng() * (int64_t)(rng() % 1000);
	default: return -(int64_t)(rng() % 100000);
	}
}

static void test_offer_id_as_snprintf(void)
{
	static const char *const currencies[] = {"EUR", "JPY", "BHD", "USD", ""};
	for (int i = 0; i < RANDOM_CASES; i++) {
		struct hbk_stay stay = {.refundable = rng() % 2};
		random_code(stay.hotel_id, sizeof(stay.hotel_id));
		random_code(stay.room_type, sizeof(stay.room_type));
		random_code(stay.board, sizeof(stay.board));
		stay.checkin = (hbk_date)random_value();
		stay.checkout = (hbk_date)random_value();
		stay.adults = (int)random_value();
		stay.children = (int)random_value();
		stay.rooms = (int)random_value();
		struct hbk_money total = hbk_money_make(
		    random_value(),
		    currencies[rng() % (sizeof(currencies) / sizeof(currencies[0]))]);
		char fast[HBK_OFFER_ID_MAX], slow[HBK_OFFER_ID_MAX];
		hbk_offer_id_encode(&stay, &total, fast);
		offer_id_reference(&stay, &total, slow, sizeof(slow));
		CHECK_STR(fast, slow);

		/* What the search writes decodes back to the stay. */
		struct hbk_stay back;
		struct hbk_money back_total;
		struct hbk_error err = {0};
		const int counts[] = {stay.checkin, stay.checkout, stay.adults, stay.children,
				      stay.rooms};
		bool readable = stay.hotel_id[0] && stay.room_type[0] && stay.board[0] &&
				total.minor >= 0 && hbk_currency_exponent(total.currency) >= 0;
		for (int k = 0; k < 5; k++)
			readable = readable && counts[k] >= 0 && counts[k] <= 10000000;
		if (readable) {
			CHECK_INT(hbk_offer_id_decode(fast, &back, &back_total, &err), HBK_OK);
			CHECK_STR(back.hotel_id, stay.hotel_id);
			CHECK_INT(back.checkout, stay.checkout);
			CHECK_INT(back_total.minor, total.minor);
		}
	}
}

static void test_money_make_as_copy(void)
{
	const char *currencies[] = {"EUR", "JPY", "", "E", "EU", "EURO", "LONGER THAN FOUR"};
	for (size_t i = 0; i < sizeof(currencies) / sizeof(currencies[0]); i++) {
		struct hbk_money money = hbk_money_make(-42, currencies[i]);
		char expected[4];
		hbk_copy(expected, sizeof(expected), currencies[i]);
		CHECK_STR(money.currency, expected);
		CHECK_INT(money.minor, -42);
		CHECK(memchr(money.currency, '\0', sizeof(money.currency)) != NULL);
	}
}

/* ---- whole searches ---- */

static hbk_date seed_from(void)
{
	return hbk_date_from_ymd(2026, 3, 2);
}

static const int64_t now_ms = 1767225600123; /* 2026-01-01T00:00:00.123Z */

static struct hbk_store *open_seeded(const char *name)
{
	struct hbk_store *store = NULL;
	struct hbk_error err = {0};
	char path[512];
	hbk_format(path, sizeof(path), "%s/%s.db", unit_tmpdir(), name);
	if (hbk_store_open(path, HBK_STORE_CREATE | HBK_STORE_NO_RECOVER, &store, &err) != HBK_OK ||
	    hbk_inventory_seed_demo(store, seed_from(), TEXT_DAYS, NULL, NULL, &err) != HBK_OK) {
		fprintf(stderr, "%s: %s\n", path, err.message);
		exit(1);
	}
	return store;
}

static const char *str_at(const json_t *obj, const char *path1, const char *path2)
{
	const json_t *v = json_object_get(obj, path1);
	if (path2)
		v = json_object_get(v, path2);
	return json_is_string(v) ? json_string_value(v) : "(missing)";
}

static long long int_at(const json_t *obj, const char *path1, const char *path2)
{
	const json_t *v = json_object_get(obj, path1);
	if (path2)
		v = json_object_get(v, path2);
	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* One offer says what hbk_quote_stay() makes of the stay its id names. */
static void offer_as_quoted(struct hbk_store *store, const struct hbk_search_query *q,
			    const json_t *offer, int n)
{
	struct hbk_stay stay;
	struct hbk_money total;
	struct hbk_quote quote;
	struct hbk_error err = {0};

	CHECK_INT(int_at(offer, "n", NULL), n);
	CHECK_INT(hbk_offer_id_decode(str_at(offer, "offer_id", NULL), &stay, &total, &err),
		  HBK_OK);
	CHECK_STR(stay.hotel_id, str_at(offer, "hotel", "id"));
	CHECK_STR(stay.room_type, str_at(offer, "room_type", NULL));
	CHECK_STR(stay.board, str_at(offer, "board", NULL));
	CHECK(stay.refundable == json_is_true(json_object_get(offer, "refundable")));
	CHECK(stay.checkin == q->checkin && stay.checkout == q->checkout);
	CHECK(stay.adults == q->adults && stay.children == q->children && stay.rooms == q->rooms);
	CHECK_INT(hbk_quote_stay(store, &stay, now_ms, &quote, &err), HBK_OK);
	CHECK_INT(quote.total.minor, total.minor);
	CHECK_STR(quote.hotel.name, str_at(offer, "hotel", "name"));
	CHECK_STR(quote.hotel.city, str_at(offer, "hotel", "city"));
	CHECK_INT(quote.hotel.stars, int_at(offer, "hotel", "stars"));
	CHECK_STR(quote.room_name, str_at(offer, "room_name", NULL));
	CHECK_STR(quote.board_name, str_at(offer, "board_name", NULL));
	CHECK_INT(quote.available, int_at(offer, "available", NULL));
	CHECK_INT(int_at(offer, "nights", NULL), q->checkout - q->checkin);

	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR];
	hbk_date_format(q->checkin, checkin);
	hbk_date_format(q->checkout, checkout);
	CHECK_STR(str_at(offer, "checkin", NULL), checkin);
	CHECK_STR(str_at(offer, "checkout", NULL), checkout);
	CHECK_INT(int_at(offer, "guests", "adults"), q->adults);
	CHECK_INT(int_at(offer, "guests", "children"), q->children);
	CHECK_INT(int_at(offer, "rooms", NULL), q->rooms);

	json_t *money = hbk_json_money(&quote.total);
	json_t *policy = hbk_policy_json(&quote.policy);
	CHECK(json_equal(money, json_object_get(offer, "total")));
	CHECK(json_equal(policy, json_object_get(offer, "cancellation_policy")));
	json_decref(money);
	json_decref(policy);
}

/* A search's text is jansson's for the same document, and every offer is as quoted. */
static int search_as_quoted(struct hbk_store *store, const struct hbk_search_query *q)
{
	struct hbk_buf text;
	struct hbk_error err = {0};
	hbk_buf_init(&text, 0);
	CHECK_INT(hbk_search_text(store, q, now_ms, &text, &err), HBK_OK);
	json_t *doc = hbk_json_loads(text.data ? text.data : "", text.len, &err);
	CHECK(doc != NULL);
	if (!doc) {
		hbk_buf_free(&text);
		return 0;
	}
	char *again = hbk_json_dumps(doc);
	CHECK_STR(text.data, again);
	free(again);

	const json_t *offers = json_object_get(doc, "offers"), *offer;
	size_t i;
	json_array_foreach(offers, i, offer)
	{
		offer_as_quoted(store, q, offer, (int)i + 1);
	}
	int count = (int)json_array_size(offers);
	CHECK(count <= q->limit);
	json_decref(doc);
	hbk_buf_free(&text);
	return count;
}

static void test_search_text_as_quoted(void)
{
	static const char *const cities[] = {"LIS", "OPO", "MAD", "BCN", "PAR", "ROM", "MIL",
					     "BER", "AMS", "LON", "NYC", "TYO", "DXB", "PRG"};
	struct hbk_store *plain = open_seeded("text-plain");
	struct hbk_store *model = open_seeded("text-model");
	struct hbk_error err = {0};
	model->keep_search_model = true;
	/* A name each writer must escape, and bytes jansson keeps as they are. */
	const char *rename = "UPDATE hotels SET name = 'The \"Quoted\" \\ Inn' || char(9) ||"
			     " char(1) || ' caf' || char(233) WHERE id = 'H-LIS-0002'";
	CHECK_INT(hbk_store_exec(plain, rename, &err), HBK_OK);
	CHECK_INT(hbk_store_exec(model, rename, &err), HBK_OK);

	int offers = 0;
	for (size_t c = 0; c < sizeof(cities) / sizeof(cities[0]); c++) {
		struct hbk_search_query q = {
		    .checkin = seed_from() + 3 + (int)c, .adults = 2, .rooms = 1, .limit = 20};
		hbk_copy(q.city, sizeof(q.city), cities[c]);
		q.checkout = q.checkin + 1 + (int)c % 4;
		offers += search_as_quoted(model, &q);
		q.sort = (enum hbk_sort)(c % 3);
		q.limit = 500;
		q.adults = 3;
		q.children = 1;
		q.rooms = 2;
		offers += search_as_quoted(model, &q);
		q.refundable_only = true;
		q.limit = 5;
		offers += search_as_quoted(plain, &q);
	}
	struct hbk_search_query q = {.checkin = seed_from() + 5,
				     .checkout = seed_from() + 8,
				     .adults = 1,
				     .rooms = 1,
				     .limit = 500};
	hbk_copy(q.hotel_id, sizeof(q.hotel_id), "H-LIS-0002");
	CHECK(search_as_quoted(model, &q) > 0);
	CHECK(search_as_quoted(plain, &q) > 0);
	CHECK(offers > 14 * 20);
	hbk_store_close(model);
	hbk_store_close(plain);
}

UNIT_TESTS(UNIT_T(test_json_string_as_per_byte), UNIT_T(test_offer_id_as_snprintf),
	   UNIT_T(test_money_make_as_copy), UNIT_T(test_search_text_as_quoted));
