/*
 * test_core.c - proves the shared kernel's small pieces keep their
 * contracts: money parses only decimals within the currency's minor unit
 * and formats signed amounts exactly; dates parse strictly and convert
 * losslessly for every day of 1970..2100; instants round-trip through RFC
 * 3339; ids have their shape, are unique and sort by time; random bytes
 * never repeat, across sizes and in a forked child; the bounded
 * buffer grows, stops at its limit and detaches; integers, emails, card
 * numbers and UTF-8 are accepted or refused as documented; outside text is
 * made valid UTF-8 (bad bytes as U+FFFD) and cut only on a character by
 * hbk_utf8_copy, hbk_utf8_cut, hbk_copy, the error context and the JSON
 * string writers, at every limit and offset; hbk_json_dumps
 * writes what jansson's json_dumps writes, byte for byte, for a document
 * of every kind of value and escape and for a thousand random ones;
 * hbk_json_money builds the object json_pack built; and
 * hbk_json_loadb gives what json_loadb gives (the same values in the same
 * order, or the same error) for those documents written every way jansson
 * writes them and for a list of malformed and borderline texts. Each check
 * feeds a known input and compares with a value worked out by hand (or by
 * an independent day-by-day calendar walk); assertion failures are
 * observed in a forked child.
 */
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hbk/core.h"
#include "hbk/json.h"
#include "unit.h"

/* ---- money ---- */

static bool parses(const char *amount, const char *currency, int64_t minor)
{
	struct hbk_money m = {0};
	struct hbk_error err;
	hbk_error_clear(&err);
	if (hbk_money_parse(amount, currency, &m, &err) != HBK_OK) {
		fprintf(stderr, "  '%s' %s refused: %s\n", amount, currency, err.message);
		return false;
	}
	if (m.minor != minor || strcmp(m.currency, currency) != 0) {
		fprintf(stderr, "  '%s' %s gave %lld %s\n", amount, currency, (long long)m.minor,
			m.currency);
		return false;
	}
	return true;
}

static bool refused(const char *amount, const char *currency, const char *code)
{
	struct hbk_money m = {.minor = 777};
	struct hbk_error err;
	hbk_error_clear(&err);
	hbk_result r = hbk_money_parse(amount, currency, &m, &err);
	return r == HBK_EINVAL && err.result == HBK_EINVAL && strcmp(err.code, code) == 0 &&
	       m.minor == 777;
}

static void test_money_parse_eur(void)
{
	CHECK(parses("360", "EUR", 36000));
	CHECK(parses("360.5", "EUR", 36050));
	CHECK(parses("360.50", "EUR", 36050));
	CHECK(parses("0.01", "EUR", 1));
	CHECK(parses("0", "EUR", 0));
	CHECK(parses("007.10", "EUR", 710));
	/* The largest whole part that fits is 15 digits. */
	CHECK(parses("922337203685477", "EUR", 92233720368547700LL));

	CHECK(refused("1.234", "EUR", "invalid_amount"));
	CHECK(refused("abc", "EUR", "invalid_amount"));
	CHECK(refused("", "EUR", "invalid_amount"));
	CHECK(refused("1.", "EUR", "invalid_amount"));
	CHECK(refused(".5", "EUR", "invalid_amount"));
	CHECK(refused("--1", "EUR", "invalid_amount"));
	CHECK(refused("-", "EUR", "invalid_amount"));
	CHECK(refused("1,50", "EUR", "invalid_amount"));
	CHECK(refused(" 1", "EUR", "invalid_amount"));
	CHECK(refused("1 ", "EUR", "invalid_amount"));
	CHECK(refused("1e3", "EUR", "invalid_amount"));
	CHECK(refused("1.2.3", "EUR", "invalid_amount"));
	CHECK(refused("1000000000000000", "EUR", "invalid_amount"));
	CHECK(refused("99999999999999999999", "EUR", "invalid_amount"));
	CHECK(refused("99999999999999999999999999999999999999", "EUR", "invalid_amount"));

	struct hbk_error err;
	struct hbk_money m;
	CHECK_INT(hbk_money_parse("1.234", "EUR", &m, &err), HBK_EINVAL);
	CHECK(strstr(err.message, "1.234") != NULL);
	CHECK(strstr(err.message, "2 decimals") != NULL);
}

static void test_money_parse_other_currencies(void)
{
	CHECK_INT(hbk_currency_exponent("EUR"), 2);
	CHECK_INT(hbk_currency_exponent("JPY"), 0);
	CHECK_INT(hbk_currency_exponent("BHD"), 3);
	CHECK_INT(hbk_currency_exponent("XXX"), -1);
	CHECK_INT(hbk_currency_exponent("eur"), -1);
	CHECK_INT(hbk_currency_exponent(""), -1);

	CHECK(parses("1500", "JPY", 1500));
	CHECK(refused("1.5", "JPY", "invalid_amount"));
	CHECK(refused("1.0", "JPY", "invalid_amount"));
	CHECK(refused("1.", "JPY", "invalid_amount"));

	CHECK(parses("1.234", "BHD", 1234));
	CHECK(parses("1.5", "BHD", 1500));
	CHECK(parses("2", "BHD", 2000));
	CHECK(refused("1.2345", "BHD", "invalid_amount"));

	struct hbk_error err;
	struct hbk_money m;
	CHECK(refused("10", "XXX", "invalid_currency"));
	CHECK(refused("10", "eur", "invalid_currency"));
	CHECK(refused("10", "", "invalid_currency"));
	CHECK_INT(hbk_money_parse("10", "XYZ", &m, &err), HBK_EINVAL);
	CHECK(strstr(err.message, "XYZ") != NULL);
}

static void test_currency_exponent(void)
{
	/* Every code the table holds is found, whatever the lookup's order. */
	static const char *const two[] = {"AED", "AUD", "BRL", "CAD", "CHF", "CNY", "CZK",
					  "DKK", "EUR", "GBP", "HKD", "HUF", "INR", "MXN",
					  "NOK", "NZD", "PLN", "SEK", "SGD", "THB", "TRY",
					  "USD", "ZAR"};
	for (size_t i = 0; i < sizeof(two) / sizeof(two[0]); i++)
		CHECK_INT(hbk_currency_exponent(two[i]), 2);
	CHECK_INT(hbk_currency_exponent("JPY"), 0);
	CHECK_INT(hbk_currency_exponent("KRW"), 0);
	CHECK_INT(hbk_currency_exponent("BHD"), 3);
	CHECK_INT(hbk_currency_exponent("KWD"), 3);
	static const char *const unknown[] = {"", "E", "EU", "EURO", "eur", "AAA", "ZZZ", "XXX"};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		CHECK_INT(hbk_currency_exponent(unknown[i]), -1);
}

static void format_is(int64_t minor, const char *currency, const char *expected)
{
	char out[HBK_MONEY_STR];
	struct hbk_money m = hbk_money_make(minor, currency);
	hbk_money_format(&m, out);
	CHECK_STR(out, expected);
}

static void test_money_format(void)
{
	format_is(36000, "EUR", "360.00");
	format_is(36050, "EUR", "360.50");
	format_is(1, "EUR", "0.01");
	format_is(0, "EUR", "0.00");
	format_is(-150, "EUR", "-1.50");
	format_is(-5, "EUR", "-0.05");
	format_is(-36000, "EUR", "-360.00");
	format_is(1500, "JPY", "1500");
	format_is(-1500, "JPY", "-1500");
	format_is(1234, "BHD", "1.234");
	format_is(5, "BHD", "0.005");
	format_is(-1005, "BHD", "-1.005");
	format_is(INT64_MAX, "EUR", "92233720368547758.07");
	format_is(INT64_MIN, "EUR", "-92233720368547758.08");

	/* Format then parse is the identity. */
	static const int64_t samples[] = {0, 1, 9, 10, 99, 100, 12345, 36000, 99999999};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		char out[HBK_MONEY_STR];
		struct hbk_money m = hbk_money_make(samples[i], "EUR"), back;
		hbk_money_format(&m, out);
		CHECK_INT(hbk_money_parse(out, "EUR", &back, NULL), HBK_OK);
		CHECK_INT(back.minor, samples[i]);
	}
}

/* Runs fn in a child and reports whether it died of SIGABRT. */
static bool aborts(void (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		/* Keep the expected assertion message out of the test's output. */
		if (!freopen("/dev/null", "w", stderr))
			_exit(2);
		fn();
		_exit(0);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void add_mixed_currencies(void)
{
	struct hbk_money a = hbk_money_make(100, "EUR"), b = hbk_money_make(100, "USD");
	hbk_money_add(&a, &b);
}

static void add_overflowing(void)
{
	struct hbk_money a = hbk_money_make(INT64_MAX, "EUR"), b = hbk_money_make(1, "EUR");
	hbk_money_add(&a, &b);
}

static void add_fine(void)
{
	struct hbk_money a = hbk_money_make(100, "EUR"), b = hbk_money_make(-100, "EUR");
	hbk_money_add(&a, &b);
}

static void test_money_add(void)
{
	struct hbk_money a = hbk_money_make(36000, "EUR");
	struct hbk_money b = hbk_money_make(12050, "EUR");
	hbk_money_add(&a, &b);
	CHECK_INT(a.minor, 48050);
	CHECK_STR(a.currency, "EUR");
	CHECK_INT(b.minor, 12050);
	struct hbk_money c = hbk_money_make(-50050, "EUR");
	hbk_money_add(&a, &c);
	CHECK_INT(a.minor, -2000);

	CHECK(aborts(add_mixed_currencies));
	CHECK(aborts(add_overflowing));
	CHECK(!aborts(add_fine));
}

/* ---- dates ---- */

static bool date_is(const char *s, int y, int m, int d)
{
	hbk_date date = -1;
	return hbk_date_parse(s, &date) && date == hbk_date_from_ymd(y, m, d);
}

static bool date_refused(const char *s)
{
	hbk_date date = 12345;
	return !hbk_date_parse(s, &date) && date == 12345;
}

static void test_date_parse_strict(void)
{
	CHECK(date_is("2026-02-28", 2026, 2, 28));
	CHECK(date_is("2024-02-29", 2024, 2, 29));
	CHECK(date_is("2000-02-29", 2000, 2, 29));
	CHECK(date_is("1970-01-01", 1970, 1, 1));
	CHECK(date_is("2026-12-31", 2026, 12, 31));
	hbk_date epoch = -1;
	CHECK(hbk_date_parse("1970-01-01", &epoch));
	CHECK_INT(epoch, 0);

	CHECK(date_refused("2026-02-30"));
	CHECK(date_refused("2026-02-29"));
	CHECK(date_refused("2023-02-29"));
	CHECK(date_refused("2100-02-29"));
	CHECK(date_refused("2026-04-31"));
	CHECK(date_refused("2026-13-01"));
	CHECK(date_refused("2026-00-10"));
	CHECK(date_refused("2026-01-00"));
	CHECK(date_refused("2026-01-32"));
	CHECK(date_refused("12/01/2026"));
	CHECK(date_refused("2026-1-01"));
	CHECK(date_refused("2026-01-1"));
	CHECK(date_refused("2026-01-01x"));
	CHECK(date_refused("2026-01-01 "));
	CHECK(date_refused(" 2026-01-01"));
	CHECK(date_refused("2026/01/01"));
	CHECK(date_refused("2026-0a-01"));
	CHECK(date_refused("+026-01-01"));
	CHECK(date_refused("2026-+1-01"));
	CHECK(date_refused("1969-12-31"));
	CHECK(date_refused(""));
	CHECK(date_refused(NULL));
}

static int month_days(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* Walks every day of 1970..2100 with an independent calendar counter. */
static void test_date_round_trip(void)
{
	int y = 1970, m = 1, d = 1, bad_ymd = 0, bad_from = 0, bad_text = 0;
	hbk_date last = hbk_date_from_ymd(2100, 12, 31);
	hbk_date date;
	CHECK_INT(hbk_date_from_ymd(1970, 1, 1), 0);
	CHECK_INT(hbk_date_from_ymd(2026, 1, 1), 1767225600 / 86400);
	for (date = 0; date <= last; date++) {
		int yy, mm, dd;
		hbk_date_to_ymd(date, &yy, &mm, &dd);
		if (yy != y || mm != m || dd != d)
			bad_ymd++;
		if (hbk_date_from_ymd(y, m, d) != date)
			bad_from++;
		char text[HBK_DATE_STR], expected[HBK_DATE_STR];
		hbk_date back = -1;
		hbk_date_format(date, text);
		snprintf(expected, sizeof(expected), "%04d-%02d-%02d", y, m, d);
		if (strcmp(text, expected) != 0 || !hbk_date_parse(text, &back) || back != date)
			bad_text++;
		if (++d > month_days(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	CHECK_INT(bad_ymd, 0);
	CHECK_INT(bad_from, 0);
	CHECK_INT(bad_text, 0);
	CHECK_INT(y, 2101);
	CHECK_INT(m, 1);
	CHECK_INT(d, 1);
}

static void test_date_weekday(void)
{
	CHECK_INT(hbk_date_weekday(hbk_date_from_ymd(1970, 1, 1)), 3); /* Thursday */
	CHECK_INT(hbk_date_weekday(hbk_date_from_ymd(2000, 1, 1)), 5); /* Saturday */
	CHECK_INT(hbk_date_weekday(hbk_date_from_ymd(2024, 2, 29)), 3);
	CHECK_INT(hbk_date_weekday(hbk_date_from_ymd(2026, 1, 1)), 3);
	CHECK_INT(hbk_date_weekday(hbk_date_from_ymd(2026, 12, 1)), 1); /* Tuesday */
	CHECK_INT(hbk_date_weekday(hbk_date_from_ymd(2026, 12, 6)), 6); /* Sunday */
	CHECK_INT(hbk_date_weekday(hbk_date_from_ymd(2026, 12, 7)), 0); /* Monday */
	CHECK_INT(hbk_date_weekday(hbk_date_from_ymd(1969, 12, 29)), 0);
	CHECK_INT(hbk_date_weekday(-1), 2);
}

static void test_time_format_parse(void)
{
	char out[HBK_TIME_STR];
	int64_t ms = -1;

	hbk_time_format(0, out);
	CHECK_STR(out, "1970-01-01T00:00:00.000Z");
	hbk_time_format(1767225600123LL, out);
	CHECK_STR(out, "2026-01-01T00:00:00.123Z");
	int64_t sample = hbk_date_ms(hbk_date_from_ymd(2026, 12, 1)) + 13 * 3600000LL +
			 45 * 60000LL + 7 * 1000 + 9;
	hbk_time_format(sample, out);
	CHECK_STR(out, "2026-12-01T13:45:07.009Z");
	CHECK(hbk_time_parse(out, &ms));
	CHECK_INT(ms, sample);
	hbk_time_format(-1, out);
	CHECK_STR(out, "1969-12-31T23:59:59.999Z");

	CHECK(hbk_time_parse("2026-12-01T13:45:07Z", &ms));
	CHECK_INT(ms, sample - 9);
	CHECK_INT(hbk_date_ms(hbk_date_from_ymd(2026, 1, 1)), 1767225600000LL);

	/* Round trip over a spread of instants. */
	int bad = 0;
	for (int64_t t = 0; t < 4102444800000LL; t += 86400000LL * 37 + 3600001LL * 5 + 7) {
		int64_t back = -1;
		hbk_time_format(t, out);
		if (!hbk_time_parse(out, &back) || back != t)
			bad++;
	}
	CHECK_INT(bad, 0);

	ms = 42;
	CHECK(!hbk_time_parse("2026-12-01T24:00:00Z", &ms));
	CHECK(!hbk_time_parse("2026-12-01T12:60:00Z", &ms));
	CHECK(!hbk_time_parse("2026-12-01 12:00:00Z", &ms));
	CHECK(!hbk_time_parse("2026-12-01T12:00:00", &ms));
	CHECK(!hbk_time_parse("2026-12-01T12:00:00.12Z", &ms));
	CHECK(!hbk_time_parse("2026-12-01T12:00:00.1234Z", &ms));
	CHECK(!hbk_time_parse("2026-12-01T12:00:00+01:00", &ms));
	CHECK(!hbk_time_parse("2026-12-01T12-00-00Z", &ms));
	CHECK(!hbk_time_parse("2026-02-30T12:00:00Z", &ms));
	CHECK(!hbk_time_parse("", &ms));
	CHECK(!hbk_time_parse(NULL, &ms));
	CHECK_INT(ms, 42);
}

static void test_today_override(void)
{
	const char *saved = getenv("HBK_TODAY");
	char *copy = saved ? strdup(saved) : NULL;

	setenv("HBK_TODAY", "2030-06-15", 1);
	CHECK_INT(hbk_date_today(), hbk_date_from_ymd(2030, 6, 15));
	setenv("HBK_TODAY", "2024-02-29", 1);
	CHECK_INT(hbk_date_today(), hbk_date_from_ymd(2024, 2, 29));

	/* A malformed override is ignored: the real date applies. */
	setenv("HBK_TODAY", "2030-02-30", 1);
	hbk_date real = (hbk_date)(time(NULL) / 86400);
	hbk_date got = hbk_date_today();
	CHECK(got == real || got == real + 1);
	unsetenv("HBK_TODAY");
	got = hbk_date_today();
	CHECK(got == real || got == real + 1);
	CHECK(got > hbk_date_from_ymd(2024, 1, 1));

	if (copy)
		setenv("HBK_TODAY", copy, 1);
	free(copy);
}

/* ---- ids ---- */

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void test_id_shape(void)
{
	char id[HBK_ID_MAX];
	hbk_id_new("BK", id);
	CHECK(strncmp(id, "BK-", 3) == 0);
	CHECK_INT(strlen(id), 3 + 18);
	CHECK_INT(strspn(id + 3, crockford), 18);
	CHECK(hbk_id_valid("BK", id));
	CHECK(!hbk_id_valid("EV", id));

	/* The time part encodes now in milliseconds, most significant first. */
	int64_t before = hbk_now_ms();
	hbk_id_new("EV", id);
	int64_t after = hbk_now_ms();
	uint64_t t = 0;
	for (int i = 3; i < 13; i++)
		t = t * 32 + (uint64_t)(strchr(crockford, id[i]) - crockford);
	CHECK((int64_t)t >= before && (int64_t)t <= after);
}

static int compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_id_unique(void)
{
	enum { IDS = 10000 };
	char(*ids)[HBK_ID_MAX] = calloc(IDS, HBK_ID_MAX);
	for (int i = 0; i < IDS; i++)
		hbk_id_new("BK", ids[i]);
	qsort(ids, IDS, HBK_ID_MAX, compare_ids);
	int duplicates = 0, invalid = 0;
	for (int i = 0; i < IDS; i++) {
		if (i > 0 && strcmp(ids[i - 1], ids[i]) == 0)
			duplicates++;
		if (!hbk_id_valid("BK", ids[i]))
			invalid++;
	}
	CHECK_INT(duplicates, 0);
	CHECK_INT(invalid, 0);
	free(ids);
}

static void test_id_unique_across_fork(void)
{
	/* A child forked with ids to spare makes other ids than its parent. */
	char parent[HBK_ID_MAX], child[HBK_ID_MAX] = "";
	int fds[2];
	hbk_id_new("BK", parent);
	CHECK(pipe(fds) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		hbk_id_new("BK", child);
		ssize_t n = write(fds[1], child, strlen(child) + 1);
		_exit(n > 0 ? 0 : 1);
	}
	close(fds[1]);
	hbk_id_new("BK", parent);
	CHECK(read(fds[0], child, sizeof(child)) > 0);
	close(fds[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(hbk_id_valid("BK", child));
	/* The random part (after the ten time characters) differs. */
	CHECK(strcmp(parent + 13, child + 13) != 0);
}

/* Random bytes of every size that goes through the batch and beyond it
 * never repeat; a forked child draws other bytes than its parent. */
static void test_random_bytes(void)
{
	enum { DRAWS = 2000 };
	uint64_t *seen = calloc(DRAWS, sizeof(*seen));
	for (int i = 0; i < DRAWS; i++) {
		unsigned char skip[70];
		hbk_random_bytes(skip, 1 + (size_t)i % sizeof(skip));
		hbk_random_bytes(&seen[i], sizeof(seen[i]));
	}
	int repeats = 0;
	for (int i = 0; i < DRAWS; i++)
		for (int k = 0; k < i; k++)
			repeats += seen[i] == seen[k];
	CHECK_INT(repeats, 0);
	free(seen);

	int fds[2];
	CHECK(pipe(fds) == 0);
	hbk_random_bytes(&(uint64_t){0}, sizeof(uint64_t)); /* the batch is in use */
	pid_t pid = fork();
	if (pid == 0) {
		uint64_t child;
		hbk_random_bytes(&child, sizeof(child));
		_exit(write(fds[1], &child, sizeof(child)) == sizeof(child) ? 0 : 1);
	}
	uint64_t parent = 0, child = 0;
	hbk_random_bytes(&parent, sizeof(parent));
	int status = 0;
	CHECK(read(fds[0], &child, sizeof(child)) == sizeof(child));
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(parent != child);
	close(fds[0]);
	close(fds[1]);
}

static void test_id_sortable(void)
{
	char a[HBK_ID_MAX], b[HBK_ID_MAX];
	for (int round = 0; round < 5; round++) {
		hbk_id_new("BK", a);
		int64_t start = hbk_now_ms();
		while (hbk_now_ms() < start + 2) {
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
		}
		hbk_id_new("BK", b);
		CHECK(strcmp(a, b) < 0);
		CHECK(memcmp(a, b, 13) < 0);
	}
}

static void test_id_valid(void)
{
	CHECK(hbk_id_valid("BK", "BK-01J9Z6Q2K3M4"));
	CHECK(hbk_id_valid("BK", "BK-0"));
	CHECK(hbk_id_valid("H", "H-XYZ09"));
	CHECK(!hbk_id_valid("BK", "BK-01j9z6q2k3m4"));
	CHECK(!hbk_id_valid("BK", "bk-01J9Z6Q2K3M4"));
	CHECK(!hbk_id_valid("BK", "EV-01J9Z6Q2K3M4"));
	CHECK(!hbk_id_valid("BK", "BKX-01J9Z6Q2K3M4"));
	CHECK(!hbk_id_valid("BK", "B-01J9Z6Q2K3M4"));
	CHECK(!hbk_id_valid("BK", "BK01J9Z6Q2K3M4"));
	CHECK(!hbk_id_valid("BK", "BK-"));
	CHECK(!hbk_id_valid("BK", "BK"));
	CHECK(!hbk_id_valid("BK", ""));
	CHECK(!hbk_id_valid("BK", NULL));
	/* I, L, O and U are not Crockford digits. */
	CHECK(!hbk_id_valid("BK", "BK-01I"));
	CHECK(!hbk_id_valid("BK", "BK-01L"));
	CHECK(!hbk_id_valid("BK", "BK-01O"));
	CHECK(!hbk_id_valid("BK", "BK-01U"));
	CHECK(!hbk_id_valid("BK", "BK-01-2"));
	CHECK(!hbk_id_valid("BK", "BK-01 2"));
	/* The whole id must fit HBK_ID_MAX. */
	char longest[HBK_ID_MAX], too_long[HBK_ID_MAX + 1];
	memset(longest, '7', sizeof(longest));
	memcpy(longest, "BK-", 3);
	longest[HBK_ID_MAX - 1] = '\0';
	memset(too_long, '7', sizeof(too_long));
	memcpy(too_long, "BK-", 3);
	too_long[HBK_ID_MAX] = '\0';
	CHECK(hbk_id_valid("BK", longest));
	CHECK(!hbk_id_valid("BK", too_long));
}

/* ---- buffer ---- */

static void test_buf_growth(void)
{
	struct hbk_buf buf;
	hbk_buf_init(&buf, 0);
	CHECK_INT(buf.max_bytes, HBK_BUF_MAX_DEFAULT);
	CHECK(buf.data == NULL);
	CHECK_INT(buf.len, 0);
	for (int i = 0; i < 5000; i++)
		CHECK(hbk_buf_putc(&buf, (char)('a' + i % 26)));
	CHECK_INT(buf.len, 5000);
	CHECK(buf.cap > 5000);
	CHECK_INT(strlen(buf.data), 5000);
	CHECK(buf.data[0] == 'a' && buf.data[25] == 'z' && buf.data[4999] == 'a' + 4999 % 26);
	CHECK(hbk_buf_append(&buf, "xyz", 0));
	CHECK_INT(buf.len, 5000);
	CHECK(hbk_buf_append(&buf, "x\0y", 3));
	CHECK_INT(buf.len, 5003);
	CHECK(buf.data[5001] == '\0' && buf.data[5002] == 'y' && buf.data[5003] == '\0');
	CHECK(!buf.overflow);

	hbk_buf_reset(&buf);
	CHECK_INT(buf.len, 0);
	CHECK_STR(buf.data, "");
	CHECK(hbk_buf_puts(&buf, "again"));
	CHECK_STR(buf.data, "again");
	hbk_buf_free(&buf);
	CHECK(buf.data == NULL);
	CHECK_INT(buf.len, 0);
}

static void test_buf_limit(void)
{
	struct hbk_buf buf;
	hbk_buf_init(&buf, 10);
	CHECK(hbk_buf_puts(&buf, "hello"));
	CHECK(!hbk_buf_puts(&buf, "world!"));
	CHECK(buf.overflow);
	CHECK_STR(buf.data, "hello");
	CHECK_INT(buf.len, 5);
	/* The flag sticks: even what would fit is refused until a reset. */
	CHECK(!hbk_buf_putc(&buf, '!'));
	CHECK_STR(buf.data, "hello");
	hbk_buf_reset(&buf);
	CHECK(!buf.overflow);
	CHECK(hbk_buf_puts(&buf, "0123456789"));
	CHECK_INT(buf.len, 10);
	CHECK(!hbk_buf_putc(&buf, 'x'));
	CHECK(buf.overflow);
	CHECK_STR(buf.data, "0123456789");

	hbk_buf_reset(&buf);
	CHECK(hbk_buf_printf(&buf, "%d", 12345));
	CHECK(!hbk_buf_printf(&buf, "%s", "678901"));
	CHECK(buf.overflow);
	CHECK_STR(buf.data, "12345");
	hbk_buf_free(&buf);
}

static void test_buf_reserve(void)
{
	struct hbk_buf buf;
	hbk_buf_init(&buf, 100);
	CHECK(hbk_buf_puts(&buf, "ab"));
	CHECK(hbk_buf_reserve(&buf, 90));
	CHECK(buf.cap >= 93);
	const char *data = buf.data;
	for (int i = 0; i < 90; i++)
		CHECK(hbk_buf_putc(&buf, 'x'));
	/* What was reserved was written without growing again. */
	CHECK(buf.data == data);
	CHECK_INT(buf.len, 92);
	CHECK_INT(strlen(buf.data), 92);
	CHECK(!buf.overflow);
	/* Past max_bytes: refused like an append, and the flag set. */
	CHECK(!hbk_buf_reserve(&buf, 9));
	CHECK(buf.overflow);
	CHECK_INT(buf.len, 92);
	hbk_buf_free(&buf);
}

static void test_buf_put_thousandths(void)
{
	/* As printf's "%.3f" of value / 1000.0, on every width and sign. */
	uint64_t state = 88172645463325252ULL;
	for (int i = 0; i < 20000; i++) {
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		int64_t value = (int64_t)(state % (1ULL << (i % 51)));
		if (i % 3 == 0)
			value = -value;
		char expected[48];
		snprintf(expected, sizeof(expected), "%.3f", (double)value / 1000.0);
		struct hbk_buf buf;
		hbk_buf_init(&buf, 0);
		CHECK(hbk_buf_put_thousandths(&buf, value));
		CHECK_STR(buf.data, expected);
		hbk_buf_free(&buf);
	}
}

static void test_buf_put_int(void)
{
	/* As printf's "%lld", at the ends of the range and on every width. */
	int64_t values[] = {0, 1, -1, 9, 10, -10, 999999, INT64_MAX, INT64_MIN, INT64_MIN + 1};
	char expected[32];
	struct hbk_buf buf;
	hbk_buf_init(&buf, 0);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		hbk_buf_reset(&buf);
		CHECK(hbk_buf_put_int(&buf, values[i]));
		snprintf(expected, sizeof(expected), "%lld", (long long)values[i]);
		CHECK_STR(buf.data, expected);
	}
	for (int64_t v = 1; v <= INT64_MAX / 10; v *= 10) {
		hbk_buf_reset(&buf);
		CHECK(hbk_buf_put_int(&buf, v * 7));
		snprintf(expected, sizeof(expected), "%lld", (long long)(v * 7));
		CHECK_STR(buf.data, expected);
	}
	hbk_buf_free(&buf);
}

static void test_buf_printf_detach(void)
{
	struct hbk_buf buf;
	hbk_buf_init(&buf, 0);
	CHECK(hbk_buf_printf(&buf, "%s-%d-%05.1f", "x", 42, 2.5));
	CHECK(hbk_buf_printf(&buf, "|%s", ""));
	CHECK(hbk_buf_printf(&buf, "|%0200d", 7));
	CHECK_INT(buf.len, strlen("x-42-002.5|") + 201);
	CHECK(strncmp(buf.data, "x-42-002.5|", 11) == 0);
	CHECK(buf.data[buf.len - 1] == '7' && buf.data[buf.len - 2] == '0');

	char *s = hbk_buf_detach(&buf);
	CHECK(s != NULL && strncmp(s, "x-42", 4) == 0);
	CHECK(buf.data == NULL);
	CHECK_INT(buf.len, 0);
	CHECK_INT(buf.cap, 0);
	free(s);

	/* Detaching an empty buffer still gives a string to free. */
	s = hbk_buf_detach(&buf);
	CHECK_STR(s, "");
	free(s);
	/* The buffer is usable after a detach. */
	CHECK(hbk_buf_puts(&buf, "next"));
	CHECK_STR(buf.data, "next");
	hbk_buf_free(&buf);
}

/* ---- validation helpers ---- */

static bool int_is(const char *s, long long min, long long max, long long expected)
{
	long long v = -999;
	return hbk_parse_int(s, min, max, &v) && v == expected;
}

static bool int_refused(const char *s, long long min, long long max)
{
	long long v = -999;
	return !hbk_parse_int(s, min, max, &v) && v == -999;
}

static void test_parse_int(void)
{
	CHECK(int_is("42", 0, 100, 42));
	CHECK(int_is("0", 0, 100, 0));
	CHECK(int_is("100", 0, 100, 100));
	CHECK(int_is("-5", -10, 10, -5));
	CHECK(int_is("+7", 0, 10, 7));
	CHECK(int_is("007", 0, 10, 7));
	CHECK(int_is("9223372036854775807", LLONG_MIN, LLONG_MAX, LLONG_MAX));
	CHECK(int_is("-9223372036854775808", LLONG_MIN, LLONG_MAX, LLONG_MIN));

	CHECK(int_refused("101", 0, 100));
	CHECK(int_refused("-1", 0, 100));
	CHECK(int_refused("-11", -10, 10));
	CHECK(int_refused("9223372036854775808", LLONG_MIN, LLONG_MAX));
	CHECK(int_refused("-9223372036854775809", LLONG_MIN, LLONG_MAX));
	CHECK(int_refused("", 0, 100));
	CHECK(int_refused(NULL, 0, 100));
	CHECK(int_refused("-", 0, 100));
	CHECK(int_refused("+", 0, 100));
	CHECK(int_refused("--1", -10, 10));
	CHECK(int_refused("+-1", -10, 10));
	CHECK(int_refused("abc", 0, 100));
	CHECK(int_refused("12x", 0, 100));
	CHECK(int_refused("x12", 0, 100));
	CHECK(int_refused(" 12", 0, 100));
	CHECK(int_refused("12 ", 0, 100));
	CHECK(int_refused("1.0", 0, 100));
	CHECK(int_refused("0x10", 0, 100));
	CHECK(int_refused("1e2", 0, 1000));
}

static void test_email_valid(void)
{
	CHECK(hbk_email_valid("ana@example.com"));
	CHECK(hbk_email_valid("a.b+tag@sub.example.co"));
	CHECK(hbk_email_valid("x@y.z"));

	CHECK(!hbk_email_valid(NULL));
	CHECK(!hbk_email_valid(""));
	CHECK(!hbk_email_valid("ana"));
	CHECK(!hbk_email_valid("ana.example.com"));
	CHECK(!hbk_email_valid("@example.com"));
	CHECK(!hbk_email_valid("ana@"));
	CHECK(!hbk_email_valid("ana@example"));
	CHECK(!hbk_email_valid("ana@example."));
	CHECK(!hbk_email_valid("ana@example.com."));
	CHECK(!hbk_email_valid("ana@.example.com"));
	CHECK(!hbk_email_valid("ana@-example.com"));
	CHECK(!hbk_email_valid("ana@ex..com"));
	CHECK(!hbk_email_valid("ana@@example.com"));
	CHECK(!hbk_email_valid("ana@b@example.com"));
	CHECK(!hbk_email_valid("ana silva@example.com"));
	CHECK(!hbk_email_valid("ana@example.com\n"));
	CHECK(!hbk_email_valid("ana\t@example.com"));
	CHECK(!hbk_email_valid("<ana@example.com>"));
	CHECK(!hbk_email_valid("ana,b@example.com"));
	CHECK(!hbk_email_valid("\"ana\"@example.com"));

	char local[80];
	memset(local, 'a', sizeof(local));
	memcpy(local + 64, "@example.com", 13);
	CHECK(hbk_email_valid(local)); /* 64-character local part */
	memset(local, 'a', sizeof(local));
	memcpy(local + 65, "@example.com", 13);
	CHECK(!hbk_email_valid(local));
}

static void test_card_number(void)
{
	CHECK(hbk_looks_like_card_number("4242 4242 4242 4242"));
	CHECK(hbk_looks_like_card_number("4242-4242-4242-4242"));
	CHECK(hbk_looks_like_card_number("4242424242424242"));
	CHECK(hbk_looks_like_card_number("123456789012"));
	CHECK(hbk_looks_like_card_number("1234567890123456789"));

	CHECK(!hbk_looks_like_card_number("pm_card_visa"));
	CHECK(!hbk_looks_like_card_number("+351912345678"));
	CHECK(!hbk_looks_like_card_number("12345"));
	CHECK(!hbk_looks_like_card_number("12345678901"));
	CHECK(!hbk_looks_like_card_number("12345678901234567890"));
	CHECK(!hbk_looks_like_card_number("4242 4242 4242 424x"));
	CHECK(!hbk_looks_like_card_number("4242.4242.4242.4242"));
	CHECK(!hbk_looks_like_card_number(""));
	CHECK(!hbk_looks_like_card_number(NULL));
}

static bool utf8(const char *s)
{
	return hbk_utf8_valid(s, strlen(s));
}

static void test_utf8(void)
{
	CHECK(utf8(""));
	CHECK(utf8("plain ascii"));
	CHECK(utf8("Jo\xc3\xa3o"));                     /* João */
	CHECK(utf8("\xe2\x82\xac 10"));                 /* € */
	CHECK(utf8("\xf0\x9f\x98\x80"));                /* U+1F600 */
	CHECK(utf8("\xc2\x80"));                        /* U+0080, smallest 2-byte */
	CHECK(utf8("\xe0\xa0\x80"));                    /* U+0800, smallest 3-byte */
	CHECK(utf8("\xf0\x90\x80\x80"));                /* U+10000, smallest 4-byte */
	CHECK(utf8("\xed\x9f\xbf"));                    /* U+D7FF, before the surrogates */
	CHECK(utf8("\xee\x80\x80"));                    /* U+E000, after them */
	CHECK(utf8("\xf4\x8f\xbf\xbf"));                /* U+10FFFF */
	CHECK(hbk_utf8_valid("a\0b", 3));               /* NUL is a character */

	/* Overlong encodings. */
	CHECK(!utf8("\xc0\x80"));
	CHECK(!utf8("\xc1\xbf"));
	CHECK(!utf8("\xe0\x80\x80"));
	CHECK(!utf8("\xe0\x9f\xbf"));
	CHECK(!utf8("\xf0\x80\x80\x80"));
	CHECK(!utf8("\xf0\x8f\xbf\xbf"));
	/* Surrogates. */
	CHECK(!utf8("\xed\xa0\x80"));
	CHECK(!utf8("\xed\xbf\xbf"));
	/* Beyond U+10FFFF and bytes that never lead. */
	CHECK(!utf8("\xf4\x90\x80\x80"));
	CHECK(!utf8("\xf5\x80\x80\x80"));
	CHECK(!utf8("\xf8\x88\x80\x80\x80"));
	CHECK(!utf8("\xff"));
	CHECK(!utf8("\x80"));
	CHECK(!utf8("a\xbf"));
	/* Truncated sequences, at the end and in the middle. */
	CHECK(!utf8("\xc3"));
	CHECK(!utf8("\xe2\x82"));
	CHECK(!utf8("\xf0\x9f\x98"));
	CHECK(!utf8("\xc3(x"));
	CHECK(!utf8("\xe2\x82x"));
	CHECK(!hbk_utf8_valid("Jo\xc3\xa3o", 3));       /* cut inside ã */
	CHECK(!hbk_utf8_valid("\xf0\x9f\x98\x80", 3));
}

/* hbk_utf8_copy of s (all of it) into size bytes: the text, and whether it fit. */
static const char *utf8_copied(const char *s, size_t size, bool *whole)
{
	static char out[64];
	CHECK(size <= sizeof(out));
	memset(out, 'X', sizeof(out));
	*whole = hbk_utf8_copy(out, size, s, strlen(s));
	CHECK(strlen(out) < size);
	CHECK(hbk_utf8_valid(out, strlen(out)));
	return out;
}

static void test_utf8_copy(void)
{
	bool whole;
	/* Valid text is copied as it is. */
	CHECK_STR(utf8_copied("", 8, &whole), "");
	CHECK(whole);
	CHECK_STR(utf8_copied("Jo\xc3\xa3o \xe2\x82\xac", 16, &whole), "Jo\xc3\xa3o \xe2\x82\xac");
	CHECK(whole);
	/* Each byte that begins no character becomes U+FFFD. */
	CHECK_STR(utf8_copied("\xff", 8, &whole), "\xef\xbf\xbd");
	CHECK(whole);
	CHECK_STR(utf8_copied("a\xc0\xaf" "b", 16, &whole), "a\xef\xbf\xbd\xef\xbf\xbd" "b"); /* overlong '/' */
	CHECK_STR(utf8_copied("\xed\xa0\x80", 16, &whole), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(utf8_copied("\xe2\x82", 16, &whole), "\xef\xbf\xbd\xef\xbf\xbd"); /* cut short */
	CHECK_STR(utf8_copied("\xe2\x82x", 16, &whole), "\xef\xbf\xbd\xef\xbf\xbdx");
	CHECK_STR(utf8_copied("\xf4\x90\x80\x80", 16, &whole),
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* past U+10FFFF */
	CHECK(whole);
	/* A copy that does not fit stops before the character that would
	 * not fit whole, at every size. */
	CHECK_STR(utf8_copied("ab\xc3\xa9", 4, &whole), "ab");
	CHECK(!whole);
	CHECK_STR(utf8_copied("ab\xc3\xa9", 5, &whole), "ab\xc3\xa9");
	CHECK(whole);
	CHECK_STR(utf8_copied("\xe2\x82\xac\xe2\x82\xac", 6, &whole), "\xe2\x82\xac");
	CHECK(!whole);
	CHECK_STR(utf8_copied("\xf0\x9f\x98\x80", 4, &whole), "");
	CHECK(!whole);
	CHECK_STR(utf8_copied("a\xff", 4, &whole), "a"); /* U+FFFD does not fit */
	CHECK(!whole);
	CHECK_STR(utf8_copied("abc", 1, &whole), "");
	CHECK(!whole);
	/* Only len bytes are read: a cut at len is a cut character. */
	char out[16];
	CHECK(hbk_utf8_copy(out, sizeof(out), "a\xc3\xa9", 2));
	CHECK_STR(out, "a\xef\xbf\xbd");
	CHECK(hbk_utf8_copy(out, sizeof(out), "a\0b", 3)); /* NUL ends the copy's text */
	CHECK_INT(out[0], 'a');
	CHECK_INT(hbk_utf8_char_len("\xc3\xa9", 2), 2);
	CHECK_INT(hbk_utf8_char_len("\xc3\xa9", 1), 0);
	CHECK_INT(hbk_utf8_char_len("\xe2\x82\xac", 3), 3);
	CHECK_INT(hbk_utf8_char_len("\xf0\x9f\x98\x80", 4), 4);
	CHECK_INT(hbk_utf8_char_len("\x80", 1), 0);
	CHECK_INT(hbk_utf8_char_len("", 0), 0);
}

static void test_utf8_cut(void)
{
	/* The length for "%.*s": at most max bytes, never inside a character. */
	CHECK_INT(hbk_utf8_cut("abc", 2), 2);
	CHECK_INT(hbk_utf8_cut("abc", 64), 3);
	CHECK_INT(hbk_utf8_cut("", 64), 0);
	CHECK_INT(hbk_utf8_cut("a\xc3\xa9", 2), 1);
	CHECK_INT(hbk_utf8_cut("a\xc3\xa9", 3), 3);
	CHECK_INT(hbk_utf8_cut("\xe2\x82\xac\xe2\x82\xac", 5), 3);
	CHECK_INT(hbk_utf8_cut("\xf0\x9f\x98\x80", 3), 0);
	CHECK_INT(hbk_utf8_cut("abc", 0), 0);
	/* Bytes that begin no character count one each (the message they go
	 * into is made valid when it is set). */
	CHECK_INT(hbk_utf8_cut("\xff\xfe", 1), 1);
	CHECK_INT(hbk_utf8_cut("\xe2\x82", 1), 1);
	/* Every limit on a run of 2-, 3- and 4-byte characters after 0..3
	 * ASCII bytes: what is shown is valid UTF-8. */
	const char *chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
	for (size_t c = 0; c < 3; c++)
		for (size_t lead = 0; lead < 4; lead++) {
			char s[128] = "";
			memset(s, 'a', lead);
			s[lead] = '\0';
			while (strlen(s) + strlen(chars[c]) < sizeof(s))
				memcpy(s + strlen(s), chars[c], strlen(chars[c]) + 1);
			for (size_t max = 0; max < 80; max++) {
				int n = hbk_utf8_cut(s, max);
				CHECK(n >= 0 && (size_t)n <= max && (size_t)n + 4 > max);
				CHECK(hbk_utf8_valid(s, (size_t)n));
			}
		}
}

/* hbk_copy cuts on a character of valid text, and only there. */
static void test_copy_boundary(void)
{
	char out[4];
	CHECK(!hbk_copy(out, sizeof(out), "ab\xc3\xa9"));
	CHECK_STR(out, "ab");
	CHECK(!hbk_copy(out, sizeof(out), "a\xe2\x82\xac"));
	CHECK_STR(out, "a");
	CHECK(!hbk_copy(out, sizeof(out), "\xf0\x9f\x98\x80"));
	CHECK_STR(out, "");
	CHECK(!hbk_copy(out, sizeof(out), "abc\xc3\xa9"));
	CHECK_STR(out, "abc");
	CHECK(hbk_copy(out, sizeof(out), "\xc3\xa9"));
	CHECK_STR(out, "\xc3\xa9");
	/* Stray continuation bytes begin no character: cut where they fall. */
	CHECK(!hbk_copy(out, sizeof(out), "\x80\x80\x80\x80\x80"));
	CHECK_INT(strlen(out), 3);
	CHECK(!hbk_copy(out, sizeof(out), "ab\x80\x80"));
	CHECK_INT(strlen(out), 3);
}

/* Outside text into JSON: always valid, bad bytes as U+FFFD. */
static void test_json_outside_text(void)
{
	struct hbk_buf buf;
	hbk_buf_init(&buf, 0);
	hbk_buf_json_string(&buf, "a\xff" "b\xc0\xaf\xc3\xa9\x7f\"");
	CHECK_STR(buf.data, "\"a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9\\u007f\\\"\"");
	hbk_buf_reset(&buf);
	hbk_buf_json_string(&buf, "\xe2\x82"); /* a character cut at the end */
	CHECK_STR(buf.data, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	hbk_buf_free(&buf);

	json_t *text = hbk_json_text("no such resource: /\xc0\xaf\xff");
	CHECK(text != NULL);
	CHECK_STR(json_string_value(text), "no such resource: /\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(text);
	text = hbk_json_text("Jo\xc3\xa3o");
	CHECK_STR(json_string_value(text), "Jo\xc3\xa3o");
	json_decref(text);

	/* An error message set from outside text is valid, cut on a character. */
	struct hbk_error err = {0};
	char field[200];
	memset(field, 'a', sizeof(field));
	memcpy(field + 199 - 2, "\xc3\xa9", 3); /* 197 ASCII bytes, then é */
	hbk_fail_field(&err, HBK_EINVAL, "unknown_field", field, "unknown field '%s' \xff", field);
	CHECK(hbk_utf8_valid(err.field, strlen(err.field)));
	CHECK(hbk_utf8_valid(err.message, strlen(err.message)));
	CHECK(strstr(err.message, "\xef\xbf\xbd") != NULL);
	hbk_fail(&err, HBK_EINVAL, "x", "%s", "");
	char long_text[HBK_ERROR_MESSAGE_MAX + 8];
	memset(long_text, 'a', sizeof(long_text));
	for (size_t lead = 0; lead < 3; lead++) {
		for (size_t i = lead; i + 2 < sizeof(long_text); i += 2)
			memcpy(long_text + i, "\xc3\xa9", 2);
		long_text[sizeof(long_text) - 1] = '\0';
		hbk_fail(&err, HBK_EINVAL, "x", "%s", long_text);
		CHECK(hbk_utf8_valid(err.message, strlen(err.message)));
		CHECK(strlen(err.message) >= HBK_ERROR_MESSAGE_MAX - 4);
		hbk_error_prefix(&err, "%s", "\xe2\x82\xac");
		CHECK(hbk_utf8_valid(err.message, strlen(err.message)));
		long_text[lead] = 'a';
	}
}

/* ---- JSON text ---- */

/* hbk_json_dumps against jansson's own dump, which it replaces. */
static bool dumps_as_jansson(const json_t *doc)
{
	char *ours = hbk_json_dumps(doc);
	char *theirs = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	bool same = theirs != NULL && strcmp(ours, theirs) == 0;
	if (!same)
		fprintf(stderr, "ours:   %s\njansson: %s\n", ours, theirs ? theirs : "(null)");
	free(ours);
	free(theirs);
	return same;
}

static void test_json_dump_kinds(void)
{
	char controls[40];
	for (int i = 0; i < 31; i++)
		controls[i] = (char)(i + 1);
	memcpy(controls + 31, "\"\\/\x7f", 5);
	json_t *doc = json_pack(
	    "{s:s, s:s, s:s, s:s#, s:{}, s:[], s:[i, I, I, I], s:[f, f, f, f, f, "
	    "f, f], s:b, s:b, s:n, s:{s:s}}",
	    "controls", controls, "utf8", "Jo\xc3\xa3o \xe2\x82\xac \xf0\x9f\x98\x80", "empty", "",
	    "nul", "a\0b", 3, "object", "array", "integers", 0, (json_int_t)-42,
	    (json_int_t)INT64_MAX, (json_int_t)INT64_MIN, "reals", 0.1, 217.8, 100.0, -0.0, 1e300,
	    1.5e-7, 123456789.125, "yes", 1, "no", 0, "nothing", "key \"quoted\"\n", "value", "v");
	CHECK(doc != NULL);
	/* Keys in an order no hash would keep. */
	for (int i = 40; i > 0; i--) {
		char key[16];
		hbk_format(key, sizeof(key), "k%02d", (i * 7) % 41);
		json_object_set_new(doc, key, json_integer(i));
	}
	CHECK(dumps_as_jansson(doc));
	json_t *text = json_string("just a string");
	CHECK(dumps_as_jansson(text));
	json_decref(text);
	json_decref(doc);
	/* The same text through a buffer, after what it holds already. */
	struct hbk_buf buf;
	hbk_buf_init(&buf, 0);
	hbk_buf_puts(&buf, "x=");
	doc = json_pack("{s:[i, s]}", "a", 1, "b\t");
	hbk_json_dump(doc, &buf);
	CHECK_STR(buf.data, "x={\"a\":[1,\"b\\t\"]}");
	json_decref(doc);
	hbk_buf_free(&buf);
}

/* A random value of up to depth levels, from a fixed seed. */
static json_t *random_json(unsigned *seed, int depth)
{
	int kind = (int)(rand_r(seed) % (depth > 0 ? 9 : 6));
	char text[24];
	int n = (int)(rand_r(seed) % sizeof(text));
	for (int i = 0; i < n; i++) /* ASCII with controls, quotes and slashes */
		text[i] = (char)(1 + rand_r(seed) % 127);
	text[n] = '\0';
	switch (kind) {
	case 0: return json_string(text);
	case 1: return json_integer((json_int_t)rand_r(seed) - RAND_MAX / 2);
	case 2: return json_real((double)rand_r(seed) / (1 + rand_r(seed) % 1000));
	case 3: return json_boolean(rand_r(seed) % 2);
	case 4: return json_null();
	case 5: return json_stringn(text, (size_t)n);
	case 6:
	case 7: {
		json_t *object = json_object();
		for (int i = (int)(rand_r(seed) % 6); i > 0; i--) {
			char key[24];
			hbk_format(key, sizeof(key), "%s%d", n ? text + n / 2 : "", i);
			json_object_set_new(object, key, random_json(seed, depth - 1));
		}
		return object;
	}
	default: {
		json_t *array = json_array();
		for (int i = (int)(rand_r(seed) % 6); i > 0; i--)
			json_array_append_new(array, random_json(seed, depth - 1));
		return array;
	}
	}
}

static void test_json_dump_random(void)
{
	unsigned seed = 20261205;
	int same = 0;
	for (int i = 0; i < 1000; i++) {
		json_t *doc = random_json(&seed, 4);
		same += dumps_as_jansson(doc);
		json_decref(doc);
	}
	CHECK_INT(same, 1000);
}

/* hbk_json_money builds what json_pack built: the same text, NULL alike. */
static void test_json_money_object(void)
{
	static const struct hbk_money amounts[] = {{.minor = 12345, .currency = "EUR"},
						   {.minor = 100, .currency = "JPY"},
						   {.minor = -1500, .currency = "BHD"},
						   {.minor = 0, .currency = "USD"}};
	for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
		char amount[HBK_MONEY_STR];
		hbk_money_format(&amounts[i], amount);
		json_t *ours = hbk_json_money(&amounts[i]);
		json_t *packed =
		    json_pack("{s:s, s:s}", "amount", amount, "currency", amounts[i].currency);
		char *a = hbk_json_dumps(ours), *b = hbk_json_dumps(packed);
		CHECK_STR(a, b);
		free(a);
		free(b);
		json_decref(ours);
		json_decref(packed);
	}
	struct hbk_money bad = {.minor = 1, .currency = "\xff"};
	CHECK(hbk_json_money(&bad) == NULL);
}

/* hbk_json_loadb against json_loadb: the same document, or the same error. */
static bool loads_as_jansson(const char *text, size_t len, size_t flags)
{
	json_error_t ours_err, theirs_err;
	memset(&ours_err, 0, sizeof(ours_err));
	memset(&theirs_err, 0, sizeof(theirs_err));
	json_t *ours = hbk_json_loadb(text, len, flags, &ours_err);
	json_t *theirs = json_loadb(text, len, flags, &theirs_err);
	bool same;
	if (ours == NULL || theirs == NULL) {
		same = ours == theirs && strcmp(ours_err.text, theirs_err.text) == 0 &&
		       ours_err.line == theirs_err.line && ours_err.column == theirs_err.column &&
		       ours_err.position == theirs_err.position;
	} else {
		char *a = hbk_json_dumps(ours), *b = hbk_json_dumps(theirs);
		same = strcmp(a, b) == 0 && json_equal(ours, theirs);
		free(a);
		free(b);
	}
	if (!same)
		fprintf(stderr, "parsed differently: %.*s\n", (int)len, text);
	json_decref(ours);
	json_decref(theirs);
	return same;
}

static void test_json_load_random(void)
{
	static const size_t styles[] = {JSON_COMPACT, JSON_INDENT(2), JSON_ENSURE_ASCII,
					JSON_INDENT(1) | JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH};
	unsigned seed = 20261206;
	int same = 0, parsed = 0;
	for (int i = 0; i < 1000; i++) {
		json_t *doc =
		    json_pack("[o, s]", random_json(&seed, 4), "\xe2\x82\xac\xf0\x9f\x98\x80");
		char *text = json_dumps(doc, styles[i % 4]);
		json_t *back = hbk_json_loadb(text, strlen(text), JSON_REJECT_DUPLICATES, NULL);
		parsed += back != NULL && json_equal(back, doc);
		same += loads_as_jansson(text, strlen(text), i % 2 ? JSON_REJECT_DUPLICATES : 0);
		json_decref(back);
		free(text);
		json_decref(doc);
	}
	CHECK_INT(parsed, 1000);
	CHECK_INT(same, 1000);
}

static void test_json_load_edges(void)
{
	static const char *const texts[] = {
	    "{}",
	    "[]",
	    " \t\r\n[ ] \n",
	    "[0, -0, -0.0, 1e2, 1E-2, 2.5e+3, 123456789.125]",
	    "[9223372036854775807, -9223372036854775808]",
	    "[9223372036854775808]",
	    "[-9223372036854775809]",
	    "[1e400]",
	    "[-1e400]",
	    "[1e-400]",
	    "[01]",
	    "[-]",
	    "[1.]",
	    "[.5]",
	    "[1e]",
	    "[+1]",
	    "[1x]",
	    "[truex]",
	    "[tru]",
	    "[nul]",
	    "[true,false,null]",
	    "{\"a\":1,\"a\":2}",
	    "{\"a\":1,}",
	    "[1,]",
	    "{\"a\" 1}",
	    "{1:2}",
	    "{\"a\":1}x",
	    "{\"a\":1} {}",
	    "",
	    "   ",
	    "\"str\"",
	    "1",
	    "null",
	    "[\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"]",
	    "[\"\\ud83d\"]",
	    "[\"\\ude00\"]",
	    "[\"\\ud83dx\"]",
	    "[\"\\u0000\"]",
	    "{\"\\u0000\":1}",
	    "[\"\\q\"]",
	    "[\"\\u12\"]",
	    "[\"\\u12g4\"]",
	    "[\"a\tb\"]",
	    "[\"a\x01b\"]",
	    "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
	    "[\"caf\xc3\xa9\"]",
	    "[\"\xc3\"]",
	    "[\"\xc0\xaf\"]",
	    "[\"\xed\xa0\x80\"]",
	    "[\"\xf4\x90\x80\x80\"]",
	    "[\"\xff\"]",
	    "{\"k\\u00e9y\":{\"n\\ne\":[{\"x\":\"y\\u20ac\"}]}}",
	    "[\"unterminated",
	    "{\"a\":",
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	    "\xef\xbb\xbf[]",
	    "{\"\":\"\"}"};
	int same = 0, n = (int)(sizeof(texts) / sizeof(texts[0]));
	for (int i = 0; i < n; i++)
		same += loads_as_jansson(texts[i], strlen(texts[i]), JSON_REJECT_DUPLICATES) &&
			loads_as_jansson(texts[i], strlen(texts[i]), 0);
	CHECK_INT(same, n);
	/* A NUL inside the length, and nesting beyond what is parsed here. */
	CHECK(loads_as_jansson("[1]\0", 4, 0));
	char deep[1200];
	for (int i = 0; i < 600; i++) {
		deep[i] = '[';
		deep[1199 - i] = ']';
	}
	CHECK(loads_as_jansson(deep, sizeof(deep), 0));
}

UNIT_TESTS(UNIT_T(test_money_parse_eur), UNIT_T(test_money_parse_other_currencies),
	   UNIT_T(test_currency_exponent),
	   UNIT_T(test_money_format), UNIT_T(test_money_add), UNIT_T(test_date_parse_strict),
	   UNIT_T(test_date_round_trip), UNIT_T(test_date_weekday), UNIT_T(test_time_format_parse),
	   UNIT_T(test_today_override), UNIT_T(test_id_shape), UNIT_T(test_id_unique),
	   UNIT_T(test_id_unique_across_fork), UNIT_T(test_id_sortable), UNIT_T(test_random_bytes),
	   UNIT_T(test_id_valid), UNIT_T(test_buf_growth), UNIT_T(test_buf_limit),
	   UNIT_T(test_buf_reserve), UNIT_T(test_buf_put_thousandths), UNIT_T(test_buf_put_int),
	   UNIT_T(test_buf_printf_detach),
	   UNIT_T(test_parse_int), UNIT_T(test_email_valid), UNIT_T(test_card_number),
	   UNIT_T(test_utf8), UNIT_T(test_utf8_copy), UNIT_T(test_utf8_cut),
	   UNIT_T(test_copy_boundary), UNIT_T(test_json_outside_text), UNIT_T(test_json_dump_kinds), UNIT_T(test_json_dump_random),
	   UNIT_T(test_json_money_object), UNIT_T(test_json_load_random),
	   UNIT_T(test_json_load_edges));
