/*
 * core.h - the shared kernel of libhbk: result codes, the error context,
 * a bounded growable buffer, calendar dates, money and ids.
 *
 * The library never prints and never exits. Every fallible function returns
 * an hbk_result and, on failure, fills the caller's struct hbk_error with a
 * machine-readable code and a one-line, lowercase message. Tools map the
 * result to an exit code with hbk_exit_code().
 */
#ifndef HBK_CORE_H
#define HBK_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HBK_VERSION "0.1.0"

/* Results double as the documented exit codes (DESIGN.md section 5). */
typedef enum hbk_result {
	HBK_OK = 0,
	HBK_EINTERNAL = 1,    /* unexpected failure */
	HBK_EINVAL = 2,	      /* usage or invalid input */
	HBK_ENOTFOUND = 3,    /* no such booking, hotel, ... */
	HBK_ECONFLICT = 4,    /* no availability, stale version, wrong state */
	HBK_EDECLINED = 5,    /* payment declined, partner refused */
	HBK_EUNAVAILABLE = 6, /* service or upstream unreachable or timed out */
	HBK_EAUTH = 7,	      /* authentication */
} hbk_result;

#define HBK_ERROR_CODE_MAX    48
#define HBK_ERROR_MESSAGE_MAX 512
#define HBK_ERROR_FIELD_MAX   48

/*
 * An error context: code is a stable slug ("no_availability",
 * "payment_declined"), message a sentence fragment for people, field the
 * input field at fault when there is one.
 */
struct hbk_error {
	hbk_result result;
	char code[HBK_ERROR_CODE_MAX];
	char field[HBK_ERROR_FIELD_MAX];
	char message[HBK_ERROR_MESSAGE_MAX];
};

/* Clears err. Safe on NULL. */
void hbk_error_clear(struct hbk_error *err);

/*
 * Fills err (when not NULL) and returns result, so callers can write
 * `return hbk_fail(err, HBK_EINVAL, "invalid_date", "bad date '%s'", s);`.
 */
hbk_result hbk_fail(struct hbk_error *err, hbk_result result, const char *code, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

/* As hbk_fail(), naming the input field at fault. */
hbk_result hbk_fail_field(struct hbk_error *err, hbk_result result, const char *code,
			  const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * An asynchronous call's completion: the caller embeds it, sets done, and
 * reads rc and err in done. The callee calls done exactly once, possibly
 * before it returns (a synchronous adapter, or a process without an event
 * loop). retry_after_ms, when positive, is the upstream's own hint of how
 * long to wait before trying again (Retry-After).
 */
struct hbk_call {
	void (*done)(struct hbk_call *call);
	hbk_result rc;
	int retry_after_ms;
	/* Set by a remote adapter when an unavailable call never reached the
	 * upstream (connection refused, open circuit, rate limited): it cannot
	 * have taken effect. The caller clears it before each call. */
	bool unsent;
	struct hbk_error err;
};

/* Fills the call's outcome and calls done. */
void hbk_call_finish(struct hbk_call *call, hbk_result rc, const struct hbk_error *err);

/* Prefixes err->message with "<prefix>: ". */
void hbk_error_prefix(struct hbk_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The exit code for a result (identity, clamped to 1 for unknown values). */
int hbk_exit_code(hbk_result result);

/* A short name for a result: "invalid input", "not found", ... */
const char *hbk_result_name(hbk_result result);

/* Always-on assertion for programmer errors; never for bad input. */
#define HBK_ASSERT(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			hbk_assert_fail(#cond, __FILE__, __LINE__);                                \
	} while (0)
_Noreturn void hbk_assert_fail(const char *expr, const char *file, int line);

/* ------------------------------------------------------------------------
 * Bounded growable buffer. Always NUL-terminated. Appends past max_bytes
 * fail and set the overflow flag; the content stays valid up to the limit.
 */
struct hbk_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max_bytes;
	bool overflow;
};

#define HBK_BUF_MAX_DEFAULT (64u * 1024u * 1024u)

void hbk_buf_init(struct hbk_buf *buf, size_t max_bytes);
void hbk_buf_free(struct hbk_buf *buf);
void hbk_buf_reset(struct hbk_buf *buf);
/* Makes room for len more bytes (and the NUL) at once, so that appends
 * of a text whose size is known do not grow the buffer step by step;
 * false, setting overflow, when they would pass max_bytes. */
bool hbk_buf_reserve(struct hbk_buf *buf, size_t len);
bool hbk_buf_append(struct hbk_buf *buf, const void *data, size_t len);
bool hbk_buf_puts(struct hbk_buf *buf, const char *s);
bool hbk_buf_putc(struct hbk_buf *buf, char c);
/* A decimal integer, without printf: for the hottest answers. */
bool hbk_buf_put_int(struct hbk_buf *buf, int64_t value);
/* value / 1000 with three decimals ("12.345", "-0.005"): what printf's
 * "%.3f" writes of value / 1000.0 while |value| < 2^50 (as a double,
 * value / 1000.0 is then near enough to round back to it). */
bool hbk_buf_put_thousandths(struct hbk_buf *buf, int64_t value);
bool hbk_buf_printf(struct hbk_buf *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool hbk_buf_vprintf(struct hbk_buf *buf, const char *fmt, va_list ap);
/* Returns the data (caller frees) and leaves buf empty. */
char *hbk_buf_detach(struct hbk_buf *buf);

/* snprintf that asserts the output fit: for fixed formats into sized arrays. */
void hbk_format(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies src into dst of size bytes; returns false when it was truncated.
 * A truncated copy ends on a UTF-8 character boundary (it never cuts a
 * character of valid text in two); it does not repair invalid text, which
 * hbk_utf8_copy does. */
bool hbk_copy(char *dst, size_t size, const char *src);

/* Parses a base-10 integer in [min, max]; the whole string must be digits. */
bool hbk_parse_int(const char *s, long long min, long long max, long long *out);

/* Allocation that aborts on out-of-memory: the tools cannot do better. */
void *hbk_xmalloc(size_t size);
void *hbk_xcalloc(size_t n, size_t size);
void *hbk_xrealloc(void *p, size_t size);
char *hbk_xstrdup(const char *s);

/* ------------------------------------------------------------------------
 * Calendar dates as days since 1970-01-01 (proleptic Gregorian), so that
 * nights are a subtraction.
 */
typedef int32_t hbk_date;

#define HBK_DATE_STR 11 /* "YYYY-MM-DD" + NUL */

/* Parses strictly YYYY-MM-DD with a real day of month. */
bool hbk_date_parse(const char *s, hbk_date *out);
void hbk_date_format(hbk_date date, char out[HBK_DATE_STR]);
hbk_date hbk_date_from_ymd(int year, int month, int day);
void hbk_date_to_ymd(hbk_date date, int *year, int *month, int *day);
/* 0 = Monday ... 6 = Sunday. */
int hbk_date_weekday(hbk_date date);
/* Today in UTC; HBK_TODAY=YYYY-MM-DD overrides it (for reproducible demos). */
hbk_date hbk_date_today(void);

/* Wall clock in milliseconds since the epoch (UTC). */
int64_t hbk_now_ms(void);
/* Formats ms since the epoch as RFC 3339 UTC with milliseconds. */
#define HBK_TIME_STR 32
void hbk_time_format(int64_t ms, char out[HBK_TIME_STR]);
/* Parses what hbk_time_format writes (and "...Z" without milliseconds). */
bool hbk_time_parse(const char *s, int64_t *ms);
/* Midnight UTC of a date, in ms. */
int64_t hbk_date_ms(hbk_date date);

/* ------------------------------------------------------------------------
 * Money: an integer count of minor units and an ISO 4217 code. Never a float.
 */
struct hbk_money {
	int64_t minor;
	char currency[4];
};

/* Decimal places of a currency (2 for EUR, 0 for JPY, 3 for BHD ...);
 * -1 when the code is not a known ISO 4217 currency. */
int hbk_currency_exponent(const char *currency);

/* Parses "360", "360.5", "360.50", "-5" (at most the currency's decimals;
 * callers that need a positive amount check the sign). */
hbk_result hbk_money_parse(const char *amount, const char *currency, struct hbk_money *out,
			   struct hbk_error *err);
#define HBK_DECIMAL_STR 24
/* Writes value / 10^places (0..18) with that many decimals ("-0.005" for
 * -5 and 3, "42" for 42 and 0), without printf and without a NUL; returns
 * the length. The digits of the hottest answers. */
size_t hbk_decimal_format(int64_t value, int places, char out[HBK_DECIMAL_STR]);
#define HBK_MONEY_STR 32
/* Formats the amount alone ("360.00"). */
void hbk_money_format(const struct hbk_money *money, char out[HBK_MONEY_STR]);
struct hbk_money hbk_money_make(int64_t minor, const char *currency);
/* Adds b to a; asserts the currencies match and that it does not overflow. */
void hbk_money_add(struct hbk_money *a, const struct hbk_money *b);

/* ------------------------------------------------------------------------
 * Ids: prefix + 18 Crockford base32 characters, sortable by time:
 * "BK-01M88Y48A1XRR7EB4C": ms-time in the first 10, 40 random bits after.
 */
#define HBK_ID_MAX 40
/* A partner's or payment provider's kind and URL (hbk_config_provider). */
#define HBK_PROVIDER_IDENTITY_MAX 256
void hbk_id_new(const char *prefix, char out[HBK_ID_MAX]);
/* Checks the shape "<PREFIX>-[0-9A-Z]+" for a given prefix. */
bool hbk_id_valid(const char *prefix, const char *id);
/* Random bytes from the OS (batched per thread; never the same bytes twice,
 * in a forked child either). */
void hbk_random_bytes(void *out, size_t len);

/* ------------------------------------------------------------------------
 * Validation helpers shared by the tools and the API.
 */
bool hbk_email_valid(const char *email);
/* True when s looks like a payment card number: 12 to 19 digits, spaces or
 * dashes allowed between them. Such input is refused and never echoed. */
bool hbk_looks_like_card_number(const char *s);
bool hbk_utf8_valid(const char *s, size_t len);
#define HBK_UTF8_CHAR_MAX 4 /* bytes of the longest UTF-8 character */
/* The bytes (1 to 4) of the UTF-8 character that begins s (len bytes), or
 * 0 when they are not one. */
size_t hbk_utf8_char_len(const char *s, size_t len);
/*
 * Copies len bytes of src into dst (size bytes, always NUL-terminated) as
 * valid UTF-8: each byte that does not begin a character (a stray or
 * missing continuation byte, an overlong encoding, a UTF-16 surrogate, a
 * code point past U+10FFFF) becomes U+FFFD, and a copy that does not fit
 * ends before the character that would not fit whole. False when it did
 * not fit. Every text from outside that goes into an answer, an error
 * message or a log line passes here or through hbk_utf8_cut first:
 * jansson refuses invalid UTF-8 and a cut character is invalid.
 */
bool hbk_utf8_copy(char *dst, size_t size, const char *src, size_t len);
/* How many bytes of s, at most max_bytes, to show without cutting a
 * character in two: the length for "%.*s" where "%.64s" would cut. */
int hbk_utf8_cut(const char *s, size_t max_bytes);

#endif
