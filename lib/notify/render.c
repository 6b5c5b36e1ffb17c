/*
 * render.c - the guest's confirmation, update and cancellation messages as
 * RFC 5322 text: CRLF line ends, lines of at most 78 octets, MIME 1.0 with
 * an 8bit UTF-8 text/plain body.
 *
 * Every value taken from the booking is untrusted. In headers, control
 * characters (CR and LF above all) are removed so that no value can start a
 * header of its own; a guest email with CR or LF is refused outright, as it
 * names the recipient. Non-ASCII display names and subjects become RFC 2047
 * encoded-words. In the body, control characters become spaces so that no
 * bare LF can reach the file.
 */
#include <string.h>
#include <time.h>

#include "hbk/json.h"
#include "hbk/notify.h"

/* RFC 5322 section 2.1.1: lines SHOULD be at most 78 characters. */
#define LINE_MAX_OCTETS 78
/* Raw bytes per RFC 2047 encoded-word: 42 bytes are 56 base64 characters,
 * a 68-character word, which fits after "Subject: " and under the 75
 * character limit of an encoded-word. */
#define ENCODED_WORD_RAW_MAX 42
/* Indent of values in the summary table: "  Check-out:    ". */
#define FIELD_LABEL_WIDTH 16
/* Bound on the size of one header value or one body field after cleaning. */
#define VALUE_MAX_BYTES (16u * 1024u)

static const char *notice_name(enum hbk_notice notice)
{
	switch (notice) {
	case HBK_NOTICE_CONFIRMATION: return "confirmation";
	case HBK_NOTICE_UPDATE: return "update";
	case HBK_NOTICE_CANCELLATION: return "cancellation";
	}
	HBK_ASSERT(!"unknown notice");
	return "unknown";
}

/* ------------------------------------------------------------------------
 * Cleaning untrusted values.
 */

/* The text of a buffer, "" before anything was appended. Borrowed. */
static const char *text_of(const struct hbk_buf *buf)
{
	return buf->data && buf->len > 0 ? buf->data : "";
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Appends s to out with control characters removed (header use) and runs
 * of spaces or tabs collapsed to one space, trimmed at both ends. */
static void put_header_clean(struct hbk_buf *out, const char *s)
{
	bool pending_space = false;
	size_t start = out->len;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == ' ' || c == '\t') {
			pending_space = out->len > start;
			continue;
		}
		if (is_control(c))
			continue;
		if (pending_space)
			hbk_buf_putc(out, ' ');
		pending_space = false;
		hbk_buf_putc(out, (char)c);
	}
}

/* Appends s to out with every control character turned into a space and
 * runs of white space collapsed (body use). */
static void put_body_clean(struct hbk_buf *out, const char *s)
{
	bool pending_space = false;
	size_t start = out->len;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == ' ' || is_control(c)) {
			pending_space = out->len > start;
			continue;
		}
		if (pending_space)
			hbk_buf_putc(out, ' ');
		pending_space = false;
		hbk_buf_putc(out, (char)c);
	}
}

static bool is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* ------------------------------------------------------------------------
 * Headers.
 */

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_base64(struct hbk_buf *out, const unsigned char *data, size_t len)
{
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)data[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)data[i + 1] << 8;
		if (i + 2 < len)
			v |= data[i + 2];
		hbk_buf_putc(out, base64_alphabet[(v >> 18) & 63]);
		hbk_buf_putc(out, base64_alphabet[(v >> 12) & 63]);
		hbk_buf_putc(out, i + 1 < len ? base64_alphabet[(v >> 6) & 63] : '=');
		hbk_buf_putc(out, i + 2 < len ? base64_alphabet[v & 63] : '=');
	}
}

/*
 * Appends s as RFC 2047 "B" encoded-words separated by single spaces, so
 * that the header folder may break between them. A word never splits a
 * UTF-8 sequence (RFC 2047 section 5: each encoded-word must hold whole
 * characters).
 */
static void put_encoded_words(struct hbk_buf *out, const char *s)
{
	size_t len = strlen(s);
	size_t pos = 0;

	while (pos < len) {
		size_t n = len - pos;
		if (n > ENCODED_WORD_RAW_MAX) {
			n = ENCODED_WORD_RAW_MAX;
			/* Back up to the start of a character. */
			while (n > 0 && ((unsigned char)s[pos + n] & 0xC0) == 0x80)
				n--;
			if (n == 0) /* not UTF-8 at all; cut anywhere */
				n = ENCODED_WORD_RAW_MAX;
		}
		if (pos > 0)
			hbk_buf_putc(out, ' ');
		hbk_buf_puts(out, "=?UTF-8?B?");
		put_base64(out, (const unsigned char *)s + pos, n);
		hbk_buf_puts(out, "?=");
		pos += n;
	}
}

/* RFC 5322 "specials": a display name holding one must be quoted. */
static bool needs_quoting(const char *s)
{
	return strpbrk(s, "()<>[]:;@\\,.\"") != NULL;
}

/* Appends a display name (already cleaned) as an atom phrase, a quoted
 * string, or encoded-words, whichever it needs. */
static void put_display_name(struct hbk_buf *out, const char *name)
{
	if (!is_ascii(name)) {
		put_encoded_words(out, name);
	} else if (needs_quoting(name)) {
		hbk_buf_putc(out, '"');
		for (; *name; name++) {
			if (*name == '"' || *name == '\\')
				hbk_buf_putc(out, '\\');
			hbk_buf_putc(out, *name);
		}
		hbk_buf_putc(out, '"');
	} else {
		hbk_buf_puts(out, name);
	}
}

/* Appends "name <address>", or "<address>" alone without a name. Both are
 * borrowed and cleaned here. */
static void put_mailbox(struct hbk_buf *out, const char *name, const char *address)
{
	struct hbk_buf clean;

	hbk_buf_init(&clean, VALUE_MAX_BYTES);
	put_header_clean(&clean, name ? name : "");
	if (clean.len > 0) {
		put_display_name(out, text_of(&clean));
		hbk_buf_putc(out, ' ');
	}
	hbk_buf_reset(&clean);
	put_header_clean(&clean, address);
	hbk_buf_putc(out, '<');
	hbk_buf_puts(out, text_of(&clean));
	hbk_buf_putc(out, '>');
	hbk_buf_free(&clean);
}

/*
 * Appends "Name: value" CRLF, folding the value at its spaces so that each
 * line stays within LINE_MAX_OCTETS where the words allow it. value must be
 * clean (no control characters), with single spaces between words.
 */
static void put_header(struct hbk_buf *out, const char *name, const char *value)
{
	size_t line_len = strlen(name) + 1;
	bool line_has_word = false;

	hbk_buf_puts(out, name);
	hbk_buf_putc(out, ':');
	while (*value) {
		const char *end = strchr(value, ' ');
		size_t word_len = end ? (size_t)(end - value) : strlen(value);

		if (line_has_word && line_len + 1 + word_len > LINE_MAX_OCTETS) {
			hbk_buf_puts(out, "\r\n");
			line_len = 0;
		}
		hbk_buf_putc(out, ' ');
		hbk_buf_append(out, value, word_len);
		line_len += 1 + word_len;
		line_has_word = true;
		value += word_len;
		if (*value == ' ')
			value++;
	}
	hbk_buf_puts(out, "\r\n");
}

/* The From value: "display <address>" has its display name encoded as a
 * guest name would be; anything else is used as it is, cleaned. */
static void put_from_value(struct hbk_buf *out, const char *from)
{
	const char *open = strrchr(from, '<');
	const char *close = open ? strchr(open, '>') : NULL;
	struct hbk_buf part;

	if (!open || !close) {
		put_header_clean(out, from);
		return;
	}
	hbk_buf_init(&part, VALUE_MAX_BYTES);
	hbk_buf_append(&part, from, (size_t)(open - from));
	struct hbk_buf address;
	hbk_buf_init(&address, VALUE_MAX_BYTES);
	hbk_buf_append(&address, open + 1, (size_t)(close - open - 1));
	/* A name already quoted by the operator is kept as written. */
	if (strchr(text_of(&part), '"')) {
		put_header_clean(out, text_of(&part));
		hbk_buf_puts(out, " <");
		put_header_clean(out, text_of(&address));
		hbk_buf_putc(out, '>');
	} else {
		put_mailbox(out, text_of(&part), text_of(&address));
	}
	hbk_buf_free(&address);
	hbk_buf_free(&part);
}

static const char *const weekday_short[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const month_short[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* RFC 5322 section 3.3: "Fri, 20 Nov 2026 09:30:05 +0000". */
static void put_date_value(struct hbk_buf *out, int64_t now_ms)
{
	time_t seconds = (time_t)(now_ms > 0 ? now_ms / 1000 : 0);
	struct tm tm;

	/* gmtime_r fails only for years beyond int; the epoch is the fallback. */
	if (!gmtime_r(&seconds, &tm)) {
		seconds = 0;
		gmtime_r(&seconds, &tm);
	}
	hbk_buf_printf(out, "%s, %02d %s %04d %02d:%02d:%02d +0000", weekday_short[tm.tm_wday],
		       tm.tm_mday, month_short[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		       tm.tm_sec);
}

/* ------------------------------------------------------------------------
 * Reading the booking. Getters borrow from the booking JSON.
 */

struct booking_view {
	const char *id;
	long long version;
	const char *hotel_name;
	const char *hotel_city;
	const char *room_type;
	const char *board;
	long long rooms;
	const char *checkin;
	const char *checkout;
	long long nights;
	long long adults;
	long long children;
	const char *guest_name;
	const char *guest_email;
	const json_t *total;
	const json_t *paid;
	const json_t *refunded;
	const json_t *policy;
	const char *partner_name;
	const char *partner_reference;
	const char *created_at;
};

static const json_t *member(const json_t *obj, const char *key)
{
	return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

static void read_booking(const json_t *booking, struct booking_view *view)
{
	const json_t *hotel = member(booking, "hotel");
	const json_t *guests = member(booking, "guests");
	const json_t *guest = member(booking, "guest");
	const json_t *partner = member(booking, "partner");

	memset(view, 0, sizeof(*view));
	view->id = hbk_json_str(booking, "id", "");
	view->version = hbk_json_int(booking, "version", 1);
	view->hotel_name = json_is_object(hotel) ? hbk_json_str(hotel, "name", "") : "";
	view->hotel_city = json_is_object(hotel) ? hbk_json_str(hotel, "city", "") : "";
	view->room_type = hbk_json_str(booking, "room_type", "");
	view->board = hbk_json_str(booking, "board", "");
	view->rooms = hbk_json_int(booking, "rooms", 1);
	view->checkin = hbk_json_str(booking, "checkin", "");
	view->checkout = hbk_json_str(booking, "checkout", "");
	view->nights = hbk_json_int(booking, "nights", 0);
	view->adults = json_is_object(guests) ? hbk_json_int(guests, "adults", 0) : 0;
	view->children = json_is_object(guests) ? hbk_json_int(guests, "children", 0) : 0;
	view->guest_name = json_is_object(guest) ? hbk_json_str(guest, "name", "") : "";
	view->guest_email = json_is_object(guest) ? hbk_json_str(guest, "email", "") : "";
	view->total = member(booking, "total");
	view->paid = member(booking, "paid");
	view->refunded = member(booking, "refunded");
	view->policy = member(booking, "cancellation_policy");
	view->partner_name = json_is_object(partner) ? hbk_json_str(partner, "name", "") : "";
	view->partner_reference =
	    json_is_object(partner) ? hbk_json_str(partner, "reference", "") : "";
	view->created_at = hbk_json_str(booking, "created_at", "");
}

/* RFC 5322 atext plus ".": what a Message-ID's left part may hold. */
static bool id_valid_for_message_id(const char *id)
{
	static const char specials_allowed[] = "!#$%&'*+-/=?^_`{|}~.";

	if (!*id)
		return false;
	for (; *id; id++) {
		unsigned char c = (unsigned char)*id;
		bool alnum =
		    (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
		if (!alnum && !strchr(specials_allowed, (char)c))
			return false;
	}
	return true;
}

/*
 * The guest address names the recipient, so rather than repair it we refuse
 * one that could add a header (CR, LF) or a recipient ("<", ">", ",").
 */
static hbk_result check_guest_email(const char *email, struct hbk_error *err)
{
	if (!*email)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_email", "guest.email",
				      "the booking has no guest email");
	if (strpbrk(email, "\r\n"))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_email", "guest.email",
				      "guest email contains a line break");
	for (const char *p = email; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (is_control(c) || c == ' ' || c == '<' || c == '>' || c == ',')
			return hbk_fail_field(err, HBK_EINVAL, "invalid_email", "guest.email",
					      "guest email contains a character not allowed "
					      "in an address");
	}
	const char *at = strchr(email, '@');
	if (!at || at == email || !at[1])
		return hbk_fail_field(err, HBK_EINVAL, "invalid_email", "guest.email",
				      "guest email is not an address");
	return HBK_OK;
}

/* ------------------------------------------------------------------------
 * Body: words wrapped at LINE_MAX_OCTETS.
 */

/* The octets of the longest prefix of s (at most max) that ends on a UTF-8
 * character boundary; at least one character. */
static size_t utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n > 0 ? n : max;
}

/*
 * Appends text (cleaned here) after a first line that already holds
 * first_len octets, wrapping at spaces; continuation lines start with
 * indent spaces. A word longer than a whole line is cut. Ends with CRLF.
 */
static void put_wrapped(struct hbk_buf *out, size_t first_len, size_t indent, const char *text)
{
	struct hbk_buf clean;
	size_t line_len = first_len;
	bool line_has_word = false;

	HBK_ASSERT(indent < LINE_MAX_OCTETS / 2);
	hbk_buf_init(&clean, VALUE_MAX_BYTES);
	put_body_clean(&clean, text);
	const char *p = text_of(&clean);
	while (*p) {
		const char *end = strchr(p, ' ');
		size_t word_len = end ? (size_t)(end - p) : strlen(p);

		if (line_has_word && line_len + 1 + word_len > LINE_MAX_OCTETS) {
			hbk_buf_puts(out, "\r\n");
			hbk_buf_printf(out, "%*s", (int)indent, "");
			line_len = indent;
			line_has_word = false;
		}
		if (line_has_word) {
			hbk_buf_putc(out, ' ');
			line_len++;
		}
		/* Cut a word that cannot fit on a line of its own. */
		while (line_len + word_len > LINE_MAX_OCTETS) {
			size_t n = utf8_prefix(p, word_len, LINE_MAX_OCTETS - line_len);
			hbk_buf_append(out, p, n);
			hbk_buf_puts(out, "\r\n");
			hbk_buf_printf(out, "%*s", (int)indent, "");
			line_len = indent;
			p += n;
			word_len -= n;
		}
		hbk_buf_append(out, p, word_len);
		line_len += word_len;
		line_has_word = true;
		p += word_len;
		if (*p == ' ')
			p++;
	}
	hbk_buf_puts(out, "\r\n");
	hbk_buf_free(&clean);
}

static void put_paragraph(struct hbk_buf *out, const char *text)
{
	put_wrapped(out, 0, 0, text);
}

/* "  Label:        value", skipped when value is empty. */
static void put_field(struct hbk_buf *out, const char *label, const char *value)
{
	if (!value || !*value)
		return;
	size_t start = out->len;
	hbk_buf_printf(out, "  %s:", label);
	size_t label_len = out->len - start;
	HBK_ASSERT(label_len < FIELD_LABEL_WIDTH);
	hbk_buf_printf(out, "%*s", (int)(FIELD_LABEL_WIDTH - label_len), "");
	put_wrapped(out, FIELD_LABEL_WIDTH, FIELD_LABEL_WIDTH, value);
}

static const char *room_type_words(const char *code)
{
	static const char *const names[][2] = {
	    {"SGL", "single room"}, {"DBL", "double room"},    {"TWN", "twin room"},
	    {"TRP", "triple room"}, {"QUA", "quadruple room"}, {"FAM", "family room"},
	    {"STE", "suite"},	    {"JSU", "junior suite"},   {"APT", "apartment"},
	    {"STU", "studio"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(code, names[i][0]) == 0)
			return names[i][1];
	return NULL;
}

static const char *board_words(const char *code)
{
	static const char *const names[][2] = {
	    {"RO", "room only"},  {"SC", "self catering"}, {"BB", "bed and breakfast"},
	    {"HB", "half board"}, {"FB", "full board"},	   {"AI", "all inclusive"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(code, names[i][0]) == 0)
			return names[i][1];
	return NULL;
}

/* "DBL (double room)" or the code alone when it is not a known one. */
static void put_coded_field(struct hbk_buf *out, const char *label, const char *code,
			    const char *words, const char *suffix)
{
	struct hbk_buf value;

	if (!*code)
		return;
	hbk_buf_init(&value, VALUE_MAX_BYTES);
	hbk_buf_puts(&value, code);
	if (words)
		hbk_buf_printf(&value, " (%s)", words);
	if (suffix)
		hbk_buf_puts(&value, suffix);
	put_field(out, label, text_of(&value));
	hbk_buf_free(&value);
}

static const char *const weekday_from_monday[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};

/* "Tue 1 Dec 2026" for a valid YYYY-MM-DD, else the text as it is. */
static void put_day(struct hbk_buf *out, const char *iso)
{
	hbk_date date;
	int year, month, day;

	if (!hbk_date_parse(iso, &date)) {
		hbk_buf_puts(out, iso);
		return;
	}
	hbk_date_to_ymd(date, &year, &month, &day);
	HBK_ASSERT(month >= 1 && month <= 12);
	hbk_buf_printf(out, "%s %d %s %d", weekday_from_monday[hbk_date_weekday(date)], day,
		       month_short[month - 1], year);
}

static void put_day_field(struct hbk_buf *out, const char *label, const char *iso)
{
	struct hbk_buf value;

	if (!*iso)
		return;
	hbk_buf_init(&value, VALUE_MAX_BYTES);
	put_day(&value, iso);
	put_field(out, label, text_of(&value));
	hbk_buf_free(&value);
}

/* "360.00 EUR" from a money object; false when it is not one. */
static bool put_money(struct hbk_buf *out, const json_t *money)
{
	const char *amount = json_is_object(money) ? hbk_json_str(money, "amount", "") : "";
	const char *currency = json_is_object(money) ? hbk_json_str(money, "currency", "") : "";

	if (!*amount)
		return false;
	hbk_buf_puts(out, amount);
	if (*currency) {
		hbk_buf_putc(out, ' ');
		hbk_buf_puts(out, currency);
	}
	return true;
}

static void put_money_field(struct hbk_buf *out, const char *label, const json_t *money)
{
	struct hbk_buf value;

	hbk_buf_init(&value, VALUE_MAX_BYTES);
	if (put_money(&value, money))
		put_field(out, label, text_of(&value));
	hbk_buf_free(&value);
}

static void put_count(struct hbk_buf *out, long long n, const char *one, const char *many)
{
	hbk_buf_printf(out, "%lld %s", n, n == 1 ? one : many);
}

/* "28 Nov 2026 00:00 UTC" for an RFC 3339 time, else the text as it is. */
static void put_moment(struct hbk_buf *out, const char *rfc3339)
{
	int64_t ms;
	struct tm tm;

	if (!hbk_time_parse(rfc3339, &ms) || ms < 0) {
		hbk_buf_puts(out, rfc3339);
		return;
	}
	time_t seconds = (time_t)(ms / 1000);
	if (!gmtime_r(&seconds, &tm)) {
		hbk_buf_puts(out, rfc3339);
		return;
	}
	hbk_buf_printf(out, "%d %s %04d %02d:%02d UTC", tm.tm_mday, month_short[tm.tm_mon],
		       tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
}

/* True when the first charge applies from the moment of booking. */
static bool charged_from_booking(const char *first_from, const char *created_at)
{
	int64_t from_ms, created_ms;

	return hbk_time_parse(first_from, &from_ms) && hbk_time_parse(created_at, &created_ms) &&
	       from_ms <= created_ms;
}

/* The cancellation policy in words, one sentence per tier. */
static void put_policy(struct hbk_buf *out, const struct booking_view *view)
{
	struct hbk_buf sentence;
	size_t tiers = json_is_array(view->policy) ? json_array_size(view->policy) : 0;

	if (!json_is_array(view->policy))
		return;
	hbk_buf_puts(out, "\r\nCancellation policy:\r\n");
	hbk_buf_init(&sentence, VALUE_MAX_BYTES);
	if (tiers == 0) {
		hbk_buf_puts(out, "  ");
		put_wrapped(out, 2, 2, "Free cancellation at any time before check-in.");
	}
	for (size_t i = 0; i < tiers; i++) {
		const json_t *tier = json_array_get(view->policy, i);
		const char *from = json_is_object(tier) ? hbk_json_str(tier, "from", "") : "";

		hbk_buf_reset(&sentence);
		if (i == 0 && charged_from_booking(from, view->created_at)) {
			hbk_buf_puts(&sentence, "From the time of booking, cancelling costs ");
		} else {
			hbk_buf_puts(&sentence, i == 0 ? "Free cancellation until " : "From ");
			put_moment(&sentence, from);
			hbk_buf_puts(&sentence, i == 0 ? "; from then on, cancelling costs "
						       : ", cancelling costs ");
		}
		if (!put_money(&sentence, member(tier, "penalty")))
			hbk_buf_puts(&sentence, "a charge");
		hbk_buf_putc(&sentence, '.');
		hbk_buf_puts(out, "  ");
		put_wrapped(out, 2, 2, text_of(&sentence));
	}
	hbk_buf_free(&sentence);
}

static void put_opening(struct hbk_buf *out, enum hbk_notice notice,
			const struct booking_view *view)
{
	struct hbk_buf line;

	hbk_buf_init(&line, VALUE_MAX_BYTES);
	hbk_buf_puts(&line, "Dear ");
	hbk_buf_puts(&line, *view->guest_name ? view->guest_name : "guest");
	hbk_buf_putc(&line, ',');
	put_paragraph(out, text_of(&line));
	hbk_buf_puts(out, "\r\n");
	switch (notice) {
	case HBK_NOTICE_CONFIRMATION:
		put_paragraph(out, "Thank you for your booking. It is confirmed, and the details "
				   "are below.");
		break;
	case HBK_NOTICE_UPDATE:
		put_paragraph(out, "Your booking has been changed as you asked. Here are the "
				   "details as they stand now.");
		break;
	case HBK_NOTICE_CANCELLATION:
		put_paragraph(out, "Your booking has been cancelled. Here is what it was, and "
				   "what we refund.");
		break;
	}
	hbk_buf_puts(out, "\r\n");
	hbk_buf_free(&line);
}

static void put_summary(struct hbk_buf *out, enum hbk_notice notice,
			const struct booking_view *view)
{
	struct hbk_buf value;

	hbk_buf_init(&value, VALUE_MAX_BYTES);
	put_field(out, "Booking", view->id);
	put_field(out, "Hotel", view->hotel_name);
	put_field(out, "City", view->hotel_city);
	hbk_buf_printf(&value, ", ");
	put_count(&value, view->rooms, "room", "rooms");
	put_coded_field(out, "Room", view->room_type, room_type_words(view->room_type),
			text_of(&value));
	put_coded_field(out, "Board", view->board, board_words(view->board), NULL);
	put_day_field(out, "Check-in", view->checkin);
	put_day_field(out, "Check-out", view->checkout);
	if (view->nights > 0) {
		hbk_buf_reset(&value);
		put_count(&value, view->nights, "night", "nights");
		put_field(out, "Nights", text_of(&value));
	}
	hbk_buf_reset(&value);
	put_count(&value, view->adults, "adult", "adults");
	if (view->children > 0) {
		hbk_buf_puts(&value, ", ");
		put_count(&value, view->children, "child", "children");
	}
	put_field(out, "Guests", text_of(&value));
	put_money_field(out, "Total", view->total);
	if (notice == HBK_NOTICE_CANCELLATION) {
		put_money_field(out, "Paid", view->paid);
		hbk_buf_reset(&value);
		if (!put_money(&value, view->refunded))
			hbk_buf_puts(&value, "nothing");
		put_field(out, "Refunded", text_of(&value));
	}
	if (*view->partner_reference) {
		hbk_buf_reset(&value);
		hbk_buf_puts(&value, view->partner_reference);
		if (*view->partner_name)
			hbk_buf_printf(&value, " (%s)", view->partner_name);
		put_field(out, "Hotel ref", text_of(&value));
	}
	hbk_buf_free(&value);
}

static void put_closing(struct hbk_buf *out, enum hbk_notice notice)
{
	hbk_buf_puts(out, "\r\n");
	if (notice == HBK_NOTICE_CANCELLATION)
		put_paragraph(out, "Any refund goes back to the payment method you used and may "
				   "take a few working days to appear on your statement.");
	else
		put_paragraph(out, "Please keep this message. Quote the booking id above if you "
				   "need to contact us about your stay.");
	hbk_buf_puts(out, "\r\n");
	put_paragraph(out, "Kind regards,");
	put_paragraph(out, "hbk bookings");
}

/* ------------------------------------------------------------------------
 * The message.
 */

static void put_subject_value(struct hbk_buf *out, enum hbk_notice notice,
			      const struct booking_view *view)
{
	static const char *const prefix[] = {
	    [HBK_NOTICE_CONFIRMATION] = "Booking confirmed",
	    [HBK_NOTICE_UPDATE] = "Booking updated",
	    [HBK_NOTICE_CANCELLATION] = "Booking cancelled",
	};
	struct hbk_buf raw, clean;

	hbk_buf_init(&raw, VALUE_MAX_BYTES);
	hbk_buf_printf(&raw, "%s: %s", prefix[notice], view->id);
	if (*view->hotel_name)
		hbk_buf_printf(&raw, " %s", view->hotel_name);
	if (*view->checkin && *view->checkout)
		hbk_buf_printf(&raw, ", %s to %s", view->checkin, view->checkout);
	hbk_buf_init(&clean, VALUE_MAX_BYTES);
	put_header_clean(&clean, text_of(&raw));
	if (is_ascii(text_of(&clean)))
		hbk_buf_puts(out, text_of(&clean));
	else
		put_encoded_words(out, text_of(&clean));
	hbk_buf_free(&clean);
	hbk_buf_free(&raw);
}

static void put_headers(struct hbk_buf *out, enum hbk_notice notice,
			const struct booking_view *view, const char *from, int64_t now_ms)
{
	struct hbk_buf value;

	hbk_buf_init(&value, VALUE_MAX_BYTES);
	put_date_value(&value, now_ms);
	put_header(out, "Date", text_of(&value));

	hbk_buf_reset(&value);
	put_from_value(&value, from);
	put_header(out, "From", text_of(&value));

	hbk_buf_reset(&value);
	put_mailbox(&value, view->guest_name, view->guest_email);
	put_header(out, "To", text_of(&value));

	hbk_buf_reset(&value);
	put_subject_value(&value, notice, view);
	put_header(out, "Subject", text_of(&value));

	hbk_buf_reset(&value);
	hbk_buf_printf(&value, "<%s.%s.%lld@hbk.invalid>", view->id, notice_name(notice),
		       view->version);
	put_header(out, "Message-ID", text_of(&value));

	put_header(out, "MIME-Version", "1.0");
	put_header(out, "Content-Type", "text/plain; charset=utf-8");
	put_header(out, "Content-Transfer-Encoding", "8bit");
	put_header(out, "X-Hbk-Booking", view->id);
	hbk_buf_free(&value);
}

/*
 * Appends the message to buf (which the caller owns and has initialised).
 * booking and from are borrowed. On failure buf is left as it was.
 */
hbk_result hbk_notify_render(enum hbk_notice notice, const json_t *booking, const char *from,
			     int64_t now_ms, struct hbk_buf *buf, struct hbk_error *err)
{
	struct booking_view view;
	hbk_result rc;

	HBK_ASSERT(buf != NULL);
	HBK_ASSERT(from != NULL);
	if (notice != HBK_NOTICE_CONFIRMATION && notice != HBK_NOTICE_UPDATE &&
	    notice != HBK_NOTICE_CANCELLATION)
		return hbk_fail(err, HBK_EINTERNAL, "invalid_notice", "unknown notice kind %d",
				(int)notice);
	if (!json_is_object(booking))
		return hbk_fail(err, HBK_EINVAL, "invalid_booking", "booking is not an object");
	read_booking(booking, &view);
	if (!id_valid_for_message_id(view.id))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_booking", "id",
				      "booking id is missing or malformed");
	rc = check_guest_email(view.guest_email, err);
	if (rc != HBK_OK)
		return rc;

	size_t start = buf->len;
	bool overflow_before = buf->overflow;
	put_headers(buf, notice, &view, from, now_ms);
	hbk_buf_puts(buf, "\r\n");
	put_opening(buf, notice, &view);
	put_summary(buf, notice, &view);
	put_policy(buf, &view);
	put_closing(buf, notice);
	if (buf->overflow && !overflow_before) {
		buf->len = start;
		if (buf->data)
			buf->data[start] = '\0';
		buf->overflow = false;
		return hbk_fail(err, HBK_EINTERNAL, "message_too_large",
				"notification for %s does not fit in the buffer", view.id);
	}
	return HBK_OK;
}

/* ------------------------------------------------------------------------
 * The SMS text: one line, control characters removed, cut on a UTF-8
 * boundary at HBK_NOTIFY_SMS_MAX_BYTES.
 */

/* Appends s (already clean) to out, cut to fit in max octets overall. */
static void put_cut(struct hbk_buf *out, const char *s, size_t max)
{
	size_t room = out->len < max ? max - out->len : 0;
	size_t len = strlen(s);

	if (len > room) {
		len = room;
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	hbk_buf_append(out, s, len);
}

/*
 * Appends the SMS text to text and the subject (for a topic's email
 * subscribers) to subject; both buffers are the caller's. booking is
 * borrowed. The guest email is not needed, so it is not checked.
 */
hbk_result hbk_notify_render_sms(enum hbk_notice notice, const json_t *booking,
				 struct hbk_buf *text, struct hbk_buf *subject,
				 struct hbk_error *err)
{
	static const char *const verb[] = {
	    [HBK_NOTICE_CONFIRMATION] = "confirmed",
	    [HBK_NOTICE_UPDATE] = "updated",
	    [HBK_NOTICE_CANCELLATION] = "cancelled",
	};
	struct booking_view view;
	struct hbk_buf raw, clean;

	HBK_ASSERT(text != NULL && subject != NULL);
	if (notice != HBK_NOTICE_CONFIRMATION && notice != HBK_NOTICE_UPDATE &&
	    notice != HBK_NOTICE_CANCELLATION)
		return hbk_fail(err, HBK_EINTERNAL, "invalid_notice", "unknown notice kind %d",
				(int)notice);
	if (!json_is_object(booking))
		return hbk_fail(err, HBK_EINVAL, "invalid_booking", "booking is not an object");
	read_booking(booking, &view);
	if (!id_valid_for_message_id(view.id))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_booking", "id",
				      "booking id is missing or malformed");
	hbk_buf_init(&raw, VALUE_MAX_BYTES);
	hbk_buf_printf(&raw, "hbk: booking %s %s.", view.id, verb[notice]);
	if (*view.hotel_name)
		hbk_buf_printf(&raw, " %s", view.hotel_name);
	if (*view.checkin && *view.checkout)
		hbk_buf_printf(&raw, "%s%s to %s", *view.hotel_name ? ", " : " ", view.checkin,
			       view.checkout);
	if (*view.hotel_name || (*view.checkin && *view.checkout))
		hbk_buf_putc(&raw, '.');
	if (notice == HBK_NOTICE_CANCELLATION) {
		hbk_buf_puts(&raw, " Refunded: ");
		if (!put_money(&raw, view.refunded))
			hbk_buf_puts(&raw, "nothing");
		hbk_buf_putc(&raw, '.');
	} else {
		hbk_buf_puts(&raw, " Total: ");
		if (!put_money(&raw, view.total))
			hbk_buf_puts(&raw, "see your email");
		hbk_buf_putc(&raw, '.');
	}
	hbk_buf_init(&clean, VALUE_MAX_BYTES);
	put_header_clean(&clean, text_of(&raw));
	put_cut(text, text_of(&clean), text->len + HBK_NOTIFY_SMS_MAX_BYTES);

	hbk_buf_reset(&raw);
	hbk_buf_reset(&clean);
	hbk_buf_printf(&raw, "Booking %s: %s", verb[notice], view.id);
	put_header_clean(&clean, text_of(&raw));
	/* SNS subjects are at most 100 ASCII characters. */
	put_cut(subject, text_of(&clean), subject->len + 100);
	hbk_buf_free(&clean);
	hbk_buf_free(&raw);
	return HBK_OK;
}
