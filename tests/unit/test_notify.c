/*
 * test_notify.c - proves that guest notifications are well-formed RFC 5322
 * messages and are delivered into a Maildir safely.
 *
 * Rendering tests build booking JSON in the DESIGN.md shape, render each
 * notice at a fixed time, then parse the result the way a mail reader would:
 * headers are unfolded and looked up by name, RFC 2047 words are decoded,
 * and every line is checked for CRLF ends and the 78-octet limit. Hostile
 * values (CR/LF in the email, name and hotel) must neither add headers nor
 * leave a bare LF. The maildir test points HBK_HOME at unit_tmpdir(),
 * sends through the public API and inspects tmp/, new/ and cur/. The
 * batch tests deliver many notices in one pass and compare every file in
 * new/ with the message the store held; one of them fails to write under
 * a file size limit, a failure of that file alone.
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/notify.h"
#include "hbk/store.h"
#include "unit.h"

/* 2026-11-20T09:30:05Z, a Friday. */
#define NOW_MS	   1795167005000LL
#define FROM	   "hbk <bookings@hbk.invalid>"
#define BOOKING_ID "BK-01J9Z6Q2K3M4"

static json_t *booking_json(const char *hotel_name, const char *guest_name, const char *email)
{
	json_t *booking = json_pack(
	    "{s:s, s:s, s:i, s:{s:s, s:s, s:s}, s:s, s:s, s:i, s:s, s:s, s:i,"
	    " s:{s:i, s:i}, s:{s:s, s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s},"
	    " s:[{s:s, s:{s:s, s:s}}], s:{s:s, s:s}, s:{s:s, s:s}, s:s, s:s}",
	    "id", BOOKING_ID, "status", "CONFIRMED", "version", 3, "hotel", "id", "H-LIS-0001",
	    "name", hotel_name, "city", "LIS", "room_type", "DBL", "board", "BB", "rooms", 1,
	    "checkin", "2026-12-01", "checkout", "2026-12-04", "nights", 3, "guests", "adults", 2,
	    "children", 0, "guest", "name", guest_name, "email", email, "phone", "+351912345678",
	    "total", "amount", "360.00", "currency", "EUR", "paid", "amount", "360.00", "currency",
	    "EUR", "refunded", "amount", "0.00", "currency", "EUR", "cancellation_policy", "from",
	    "2026-11-28T00:00:00Z", "penalty", "amount", "120.00", "currency", "EUR", "partner",
	    "name", "sandbox", "reference", "PX-778812", "payment", "provider", "sandbox",
	    "reference", "pi_3Nabc", "created_at", "2026-11-20T09:30:00.000Z", "updated_at",
	    "2026-11-20T09:30:04.000Z");
	if (!booking) {
		fprintf(stderr, "test_notify: json_pack failed\n");
		exit(1);
	}
	return booking;
}

static json_t *sample_booking(void)
{
	return booking_json("Hotel Lisboa Centro", "Ana Silva", "ana@example.com");
}

/* Renders into a fresh buffer the caller frees; fails the check on error. */
static void render(enum hbk_notice notice, const json_t *booking, struct hbk_buf *msg)
{
	struct hbk_error err;

	hbk_error_clear(&err);
	hbk_buf_init(msg, 0);
	hbk_result rc = hbk_notify_render(notice, booking, FROM, NOW_MS, msg, &err);
	CHECK_INT(rc, HBK_OK);
	if (rc != HBK_OK)
		fprintf(stderr, "render: %s\n", err.message);
	if (!msg->data)
		hbk_buf_puts(msg, "");
}

/* The unfolded value of header name (first occurrence) into out; false
 * when absent. Only the header section is searched. */
static bool header_value(const char *msg, const char *name, struct hbk_buf *out)
{
	size_t name_len = strlen(name);
	const char *end = strstr(msg, "\r\n\r\n");
	const char *line = msg;

	hbk_buf_reset(out);
	while (line && end && line < end) {
		if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
			const char *p = line + name_len + 1;
			while (*p == ' ')
				p++;
			/* Copy up to the CRLF that is not followed by white space. */
			while (p < end + 2) {
				if (p[0] == '\r' && p[1] == '\n') {
					if (p[2] != ' ' && p[2] != '\t')
						break;
					p += 2;
					continue;
				}
				hbk_buf_putc(out, *p++);
			}
			if (!out->data)
				hbk_buf_puts(out, "");
			return true;
		}
		line = strstr(line, "\r\n");
		if (line)
			line += 2;
	}
	return false;
}

static const char *body_of(const char *msg)
{
	const char *sep = strstr(msg, "\r\n\r\n");
	return sep ? sep + 4 : "";
}

/* True when a line of msg starts with prefix. */
static bool has_line_starting(const char *msg, const char *prefix)
{
	size_t len = strlen(prefix);
	for (const char *line = msg; line; line = strstr(line, "\n")) {
		if (*line == '\n')
			line++;
		if (strncmp(line, prefix, len) == 0)
			return true;
	}
	return false;
}

/* Checks CRLF line ends, no bare CR or LF, and lines within 78 octets. */
static void check_lines(const char *msg)
{
	int bare = 0, long_lines = 0, lines = 0;
	size_t line_len = 0;

	for (const char *p = msg; *p; p++) {
		if (*p == '\r') {
			if (p[1] != '\n')
				bare++;
			continue;
		}
		if (*p == '\n') {
			if (p == msg || p[-1] != '\r')
				bare++;
			lines++;
			line_len = 0;
			continue;
		}
		if (++line_len == 79) {
			long_lines++;
			fprintf(stderr, "long line at offset %zu\n", (size_t)(p - msg));
		}
	}
	CHECK_INT(bare, 0);
	CHECK_INT(long_lines, 0);
	CHECK(lines > 10);
	size_t len = strlen(msg);
	CHECK(len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n');
}

static int base64_value(char c)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

/* Decodes a header value the way RFC 2047 says: "=?UTF-8?B?...?=" words
 * are decoded and the white space between two of them dropped. Returns
 * false on a malformed word. */
static bool decode_words(const char *value, struct hbk_buf *out)
{
	static const char open[] = "=?UTF-8?B?";
	bool previous_encoded = false;

	hbk_buf_reset(out);
	hbk_buf_puts(out, "");
	while (*value) {
		const char *space = strchr(value, ' ');
		size_t len = space ? (size_t)(space - value) : strlen(value);
		bool encoded = len > strlen(open) + 2 && strncmp(value, open, strlen(open)) == 0 &&
			       value[len - 2] == '?' && value[len - 1] == '=';
		if (out->len > 0 && !(encoded && previous_encoded))
			hbk_buf_putc(out, ' ');
		if (encoded) {
			if (len > 75)
				return false;
			unsigned bits = 0;
			int nbits = 0;
			for (size_t i = strlen(open); i < len - 2; i++) {
				if (value[i] == '=')
					break;
				int v = base64_value(value[i]);
				if (v < 0)
					return false;
				bits = (bits << 6) | (unsigned)v;
				nbits += 6;
				if (nbits >= 8) {
					nbits -= 8;
					hbk_buf_putc(out, (char)((bits >> nbits) & 0xff));
				}
			}
		} else {
			hbk_buf_append(out, value, len);
		}
		previous_encoded = encoded;
		value += len;
		if (*value == ' ')
			value++;
	}
	return true;
}

/* Counts the encoded-words of value and checks that each holds whole
 * UTF-8 characters, as RFC 2047 section 5 requires. */
static int check_words_whole(const char *value)
{
	struct hbk_buf decoded;
	int words = 0;

	hbk_buf_init(&decoded, 0);
	while (*value) {
		const char *space = strchr(value, ' ');
		size_t len = space ? (size_t)(space - value) : strlen(value);
		if (strncmp(value, "=?UTF-8?B?", 10) == 0) {
			char word[128];
			CHECK(len < sizeof(word));
			if (len < sizeof(word)) {
				memcpy(word, value, len);
				word[len] = '\0';
				CHECK(decode_words(word, &decoded));
				CHECK(hbk_utf8_valid(decoded.data, decoded.len));
			}
			words++;
		}
		value += len;
		if (*value == ' ')
			value++;
	}
	hbk_buf_free(&decoded);
	return words;
}

static void check_header(const char *msg, const char *name, const char *expected)
{
	struct hbk_buf value;

	hbk_buf_init(&value, 0);
	CHECK(header_value(msg, name, &value));
	CHECK_STR(value.data, expected);
	hbk_buf_free(&value);
}

static void test_render_confirmation_headers(void)
{
	json_t *booking = sample_booking();
	struct hbk_buf msg;

	render(HBK_NOTICE_CONFIRMATION, booking, &msg);
	CHECK(strncmp(msg.data, "Date: Fri, 20 Nov 2026 09:30:05 +0000\r\n", 39) == 0);
	check_header(msg.data, "From", "hbk <bookings@hbk.invalid>");
	check_header(msg.data, "To", "Ana Silva <ana@example.com>");
	check_header(msg.data, "Subject",
		     "Booking confirmed: " BOOKING_ID " Hotel Lisboa Centro, 2026-12-01 to "
		     "2026-12-04");
	check_header(msg.data, "Message-ID", "<" BOOKING_ID ".confirmation.3@hbk.invalid>");
	check_header(msg.data, "MIME-Version", "1.0");
	check_header(msg.data, "Content-Type", "text/plain; charset=utf-8");
	check_header(msg.data, "Content-Transfer-Encoding", "8bit");
	check_header(msg.data, "X-Hbk-Booking", BOOKING_ID);
	check_lines(msg.data);
	hbk_buf_free(&msg);
	json_decref(booking);
}

static void test_render_confirmation_body(void)
{
	json_t *booking = sample_booking();
	struct hbk_buf msg;

	render(HBK_NOTICE_CONFIRMATION, booking, &msg);
	const char *body = body_of(msg.data);
	CHECK(strncmp(body, "Dear Ana Silva,\r\n", 17) == 0);
	CHECK(strstr(body, "confirmed") != NULL);
	CHECK(strstr(body, "  Booking:      " BOOKING_ID "\r\n") != NULL);
	CHECK(strstr(body, "  Hotel:        Hotel Lisboa Centro\r\n") != NULL);
	CHECK(strstr(body, "  City:         LIS\r\n") != NULL);
	CHECK(strstr(body, "  Room:         DBL (double room), 1 room\r\n") != NULL);
	CHECK(strstr(body, "  Board:        BB (bed and breakfast)\r\n") != NULL);
	CHECK(strstr(body, "  Check-in:     Tue 1 Dec 2026\r\n") != NULL);
	CHECK(strstr(body, "  Check-out:    Fri 4 Dec 2026\r\n") != NULL);
	CHECK(strstr(body, "  Nights:       3 nights\r\n") != NULL);
	CHECK(strstr(body, "  Guests:       2 adults\r\n") != NULL);
	CHECK(strstr(body, "  Total:        360.00 EUR\r\n") != NULL);
	CHECK(strstr(body, "  Hotel ref:    PX-778812 (sandbox)\r\n") != NULL);
	CHECK(strstr(body, "  Free cancellation until 28 Nov 2026 00:00 UTC; from then on, "
			   "cancelling\r\n  costs 120.00 EUR.\r\n") != NULL);
	/* Refunds belong to the cancellation notice only. */
	CHECK(strstr(body, "Refunded") == NULL);
	hbk_buf_free(&msg);
	json_decref(booking);
}

static void test_render_update(void)
{
	json_t *booking = sample_booking();
	struct hbk_buf msg;

	json_object_set_new(booking, "version", json_integer(4));
	json_object_set_new(booking, "checkout", json_string("2026-12-05"));
	json_object_set_new(booking, "nights", json_integer(4));
	render(HBK_NOTICE_UPDATE, booking, &msg);
	check_header(msg.data, "Subject",
		     "Booking updated: " BOOKING_ID " Hotel Lisboa Centro, 2026-12-01 to "
		     "2026-12-05");
	check_header(msg.data, "Message-ID", "<" BOOKING_ID ".update.4@hbk.invalid>");
	const char *body = body_of(msg.data);
	CHECK(strstr(body, "changed") != NULL);
	CHECK(strstr(body, "  Check-out:    Sat 5 Dec 2026\r\n") != NULL);
	CHECK(strstr(body, "  Nights:       4 nights\r\n") != NULL);
	CHECK(strstr(body, "Refunded") == NULL);
	check_lines(msg.data);
	hbk_buf_free(&msg);
	json_decref(booking);
}

static void test_render_cancellation(void)
{
	json_t *booking = sample_booking();
	struct hbk_buf msg;

	json_object_set_new(booking, "status", json_string("CANCELLED"));
	json_object_set_new(booking, "version", json_integer(5));
	json_object_set_new(booking, "refunded",
			    json_pack("{s:s, s:s}", "amount", "240.00", "currency", "EUR"));
	render(HBK_NOTICE_CANCELLATION, booking, &msg);
	check_header(msg.data, "Subject",
		     "Booking cancelled: " BOOKING_ID " Hotel Lisboa Centro, 2026-12-01 to "
		     "2026-12-04");
	check_header(msg.data, "Message-ID", "<" BOOKING_ID ".cancellation.5@hbk.invalid>");
	const char *body = body_of(msg.data);
	CHECK(strstr(body, "cancelled") != NULL);
	CHECK(strstr(body, "  Paid:         360.00 EUR\r\n") != NULL);
	CHECK(strstr(body, "  Refunded:     240.00 EUR\r\n") != NULL);
	CHECK(strstr(body, "  Hotel ref:    PX-778812 (sandbox)\r\n") != NULL);
	CHECK(strstr(body, "Cancellation policy:") != NULL);
	check_lines(msg.data);
	hbk_buf_free(&msg);
	json_decref(booking);
}

/* Long names, hotel and an unbreakable reference force folding and
 * wrapping; every line must still end in CRLF within 78 octets. */
static void test_render_crlf_and_line_length(void)
{
	static const char hotel[] =
	    "The Grand Riverside Palace Hotel and Conference Centre of the Historic "
	    "Old Town Quarter by the Tagus Estuary";
	static const char name[] = "Maria Antonia Fernanda Josefina de los Santos y Pereira "
				   "da Costa Albuquerque Mascarenhas";
	static const enum hbk_notice notices[] = {HBK_NOTICE_CONFIRMATION, HBK_NOTICE_UPDATE,
						  HBK_NOTICE_CANCELLATION};
	json_t *booking = booking_json(hotel, name, "maria@example.com");
	struct hbk_buf value;
	char reference[121];

	memset(reference, 'R', sizeof(reference) - 1);
	reference[sizeof(reference) - 1] = '\0';
	json_object_set_new(json_object_get(booking, "partner"), "reference",
			    json_string(reference));
	hbk_buf_init(&value, 0);
	for (size_t i = 0; i < sizeof(notices) / sizeof(notices[0]); i++) {
		struct hbk_buf msg;
		render(notices[i], booking, &msg);
		check_lines(msg.data);
		/* Folding loses nothing: the unfolded values are whole. */
		CHECK(header_value(msg.data, "Subject", &value));
		CHECK(value.data && strstr(value.data, hotel) != NULL);
		CHECK(header_value(msg.data, "To", &value));
		CHECK(value.data && strncmp(value.data, name, strlen(name)) == 0);
		/* The hotel name is wrapped in the body, not cut. */
		CHECK(strstr(body_of(msg.data), "  Hotel:        The Grand Riverside") != NULL);
		CHECK(strstr(body_of(msg.data), "Tagus Estuary\r\n") != NULL);
		hbk_buf_free(&msg);
	}
	hbk_buf_free(&value);
	json_decref(booking);
}

static void test_render_refuses_header_injection(void)
{
	static const char *const emails[] = {
	    "ana@example.com\r\nBcc: evil@example.com",
	    "ana@example.com\nBcc: evil@example.com",
	    "ana@example.com\r",
	    "",
	};
	struct hbk_error err;
	struct hbk_buf msg;

	for (size_t i = 0; i < sizeof(emails) / sizeof(emails[0]); i++) {
		json_t *booking = booking_json("Hotel Lisboa Centro", "Ana", emails[i]);
		hbk_buf_init(&msg, 0);
		hbk_error_clear(&err);
		CHECK_INT(
		    hbk_notify_render(HBK_NOTICE_CONFIRMATION, booking, FROM, NOW_MS, &msg, &err),
		    HBK_EINVAL);
		CHECK_STR(err.field, "guest.email");
		CHECK_INT(msg.len, 0);
		hbk_buf_free(&msg);
		json_decref(booking);
	}
}

/* CR/LF in other header values are stripped: no header of their own. */
static void test_render_strips_line_breaks_from_headers(void)
{
	json_t *booking = booking_json("Hotel Lisboa\r\nX-Evil: 1", "Ana\r\nBcc: evil@example.com",
				       "ana@example.com");
	struct hbk_buf msg;

	render(HBK_NOTICE_CONFIRMATION, booking, &msg);
	CHECK(!has_line_starting(msg.data, "Bcc:"));
	CHECK(!has_line_starting(msg.data, "X-Evil:"));
	/* The stripped name holds specials, so it is quoted. */
	check_header(msg.data, "To", "\"AnaBcc: evil@example.com\" <ana@example.com>");
	check_header(msg.data, "Subject",
		     "Booking confirmed: " BOOKING_ID " Hotel LisboaX-Evil: 1, 2026-12-01 to "
		     "2026-12-04");
	check_lines(msg.data);
	hbk_buf_free(&msg);
	json_decref(booking);
}

static void test_render_quotes_specials(void)
{
	json_t *booking = booking_json("Hotel Lisboa Centro", "Silva, Ana", "ana@example.com");
	struct hbk_buf msg;

	render(HBK_NOTICE_CONFIRMATION, booking, &msg);
	check_header(msg.data, "To", "\"Silva, Ana\" <ana@example.com>");
	hbk_buf_free(&msg);
	json_object_set_new(json_object_get(booking, "guest"), "name",
			    json_string("Ana \"Nana\" Silva"));
	render(HBK_NOTICE_CONFIRMATION, booking, &msg);
	check_header(msg.data, "To", "\"Ana \\\"Nana\\\" Silva\" <ana@example.com>");
	hbk_buf_free(&msg);
	json_decref(booking);
}

static bool headers_ascii(const char *msg)
{
	const char *end = strstr(msg, "\r\n\r\n");
	for (const char *p = msg; end && p < end; p++)
		if ((unsigned char)*p >= 0x80)
			return false;
	return end != NULL;
}

static void test_render_encodes_non_ascii(void)
{
	json_t *booking = booking_json("Hotel S\xc3\xa3o Jorge",
				       "Jos\xc3\xa9 \xc3\x91\xc3\xba\xc3\xb1"
				       "ez",
				       "jose@example.com");
	struct hbk_buf msg, value, decoded;

	hbk_buf_init(&value, 0);
	hbk_buf_init(&decoded, 0);
	render(HBK_NOTICE_CONFIRMATION, booking, &msg);
	CHECK(headers_ascii(msg.data));
	CHECK(header_value(msg.data, "To", &value));
	CHECK(value.data && strncmp(value.data, "=?UTF-8?B?", 10) == 0);
	CHECK(decode_words(value.data, &decoded));
	CHECK_STR(decoded.data, "Jos\xc3\xa9 \xc3\x91\xc3\xba\xc3\xb1"
				"ez <jose@example.com>");
	CHECK(header_value(msg.data, "Subject", &value));
	CHECK(value.data && strncmp(value.data, "=?UTF-8?B?", 10) == 0);
	CHECK(decode_words(value.data, &decoded));
	CHECK_STR(decoded.data, "Booking confirmed: " BOOKING_ID
				" Hotel S\xc3\xa3o Jorge, 2026-12-01 to 2026-12-04");
	/* The body is 8bit UTF-8, as Content-Transfer-Encoding says. */
	CHECK(strstr(body_of(msg.data), "Dear Jos\xc3\xa9 ") != NULL);
	hbk_buf_free(&msg);

	/* A long name needs several words, none splitting a character. */
	struct hbk_buf long_name;
	hbk_buf_init(&long_name, 0);
	/* "A" first, so that a cut every 42 octets would split a character. */
	hbk_buf_puts(&long_name, "A");
	for (int i = 0; i < 40; i++)
		hbk_buf_puts(&long_name, "\xc3\xa7");
	json_object_set_new(json_object_get(booking, "guest"), "name", json_string(long_name.data));
	render(HBK_NOTICE_CONFIRMATION, booking, &msg);
	check_lines(msg.data);
	CHECK(headers_ascii(msg.data));
	CHECK(header_value(msg.data, "To", &value));
	CHECK(decode_words(value.data, &decoded));
	CHECK(decoded.data && strncmp(decoded.data, long_name.data, long_name.len) == 0);
	CHECK(decoded.data && hbk_utf8_valid(decoded.data, decoded.len));
	CHECK(check_words_whole(value.data) >= 2);
	hbk_buf_free(&msg);
	hbk_buf_free(&long_name);
	hbk_buf_free(&decoded);
	hbk_buf_free(&value);
	json_decref(booking);
}

static void test_render_policy_in_words(void)
{
	json_t *booking = sample_booking();
	struct hbk_buf msg;

	/* Charged from the moment of booking: a non-refundable rate. */
	json_object_set_new(booking, "cancellation_policy",
			    json_pack("[{s:s, s:{s:s, s:s}}]", "from", "2026-11-20T09:30:00Z",
				      "penalty", "amount", "360.00", "currency", "EUR"));
	render(HBK_NOTICE_CONFIRMATION, booking, &msg);
	CHECK(strstr(body_of(msg.data),
		     "  From the time of booking, cancelling costs 360.00 EUR.\r\n") != NULL);
	CHECK(strstr(body_of(msg.data), "Free cancellation") == NULL);
	hbk_buf_free(&msg);

	json_object_set_new(booking, "cancellation_policy", json_array());
	render(HBK_NOTICE_CONFIRMATION, booking, &msg);
	CHECK(strstr(body_of(msg.data), "  Free cancellation at any time before check-in.\r\n") !=
	      NULL);
	hbk_buf_free(&msg);
	json_decref(booking);
}

static void test_render_date_header(void)
{
	json_t *booking = sample_booking();
	struct hbk_buf msg;
	struct hbk_error err;

	hbk_buf_init(&msg, 0);
	/* 2028-02-29T23:59:59Z, a Tuesday in a leap year. */
	CHECK_INT(hbk_notify_render(HBK_NOTICE_UPDATE, booking, FROM, 1835481599000LL, &msg, &err),
		  HBK_OK);
	check_header(msg.data, "Date", "Tue, 29 Feb 2028 23:59:59 +0000");
	hbk_buf_free(&msg);
	json_decref(booking);
}

/* A message that does not fit the caller's bound fails cleanly. */
static void test_render_bounded(void)
{
	json_t *booking = sample_booking();
	struct hbk_buf msg;
	struct hbk_error err;

	hbk_buf_init(&msg, 256);
	hbk_error_clear(&err);
	CHECK_INT(hbk_notify_render(HBK_NOTICE_CONFIRMATION, booking, FROM, NOW_MS, &msg, &err),
		  HBK_EINTERNAL);
	CHECK_INT(msg.len, 0);
	CHECK(!msg.overflow);
	hbk_buf_free(&msg);
	json_decref(booking);
}

static struct hbk_config *load_config(const char *yaml)
{
	struct hbk_config *cfg = NULL;
	struct hbk_error err;

	hbk_error_clear(&err);
	if (hbk_config_load_string(yaml, "test.yaml", &cfg, &err) != HBK_OK) {
		fprintf(stderr, "test_notify: config: %s\n", err.message);
		exit(1);
	}
	return cfg;
}

static void test_notifier_open_kinds(void)
{
	struct hbk_config *cfg = load_config("notify:\n  email:\n    kind: smtp\n");
	struct hbk_notifier *notifier = NULL;
	struct hbk_error err;

	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_EINVAL);
	CHECK_STR(err.field, "notify.email.url");
	CHECK(notifier == NULL);
	hbk_config_free(cfg);

	cfg = load_config("notify:\n  email:\n    kind: smtp\n    url: http://mail.example\n");
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_EINVAL);
	CHECK_STR(err.field, "notify.email.url");
	hbk_config_free(cfg);

	cfg = load_config("notify:\n  email:\n    kind: smtp\n"
			  "    url: smtp://user:pw@mail.example:587\n");
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_EINVAL);
	CHECK_STR(err.field, "notify.email.url");
	CHECK(strstr(err.message, "pw") == NULL);
	hbk_config_free(cfg);

	cfg = load_config("notify:\n  email:\n    kind: smtp\n    url: smtp://127.0.0.1:2525\n"
			  "    from: nobody\n");
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_EINVAL);
	CHECK_STR(err.field, "notify.email.from");
	hbk_config_free(cfg);

	cfg = load_config("notify:\n  email:\n    kind: smtp\n    url: smtp://127.0.0.1:2525\n");
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	CHECK(notifier != NULL);
	hbk_notifier_close(notifier);
	notifier = NULL;
	hbk_config_free(cfg);

	/* SNS needs a region and credentials; a bad region is refused. */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_REGION");
	cfg = load_config("notify:\n  sms:\n    kind: sns\n    region: eu-west-1\n");
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_EINVAL);
	CHECK_STR(err.field, "notify.sms.secret_access_key");
	CHECK(notifier == NULL);
	hbk_config_free(cfg);
	setenv("AWS_ACCESS_KEY_ID", "AKIDUNITTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "unit-secret-never-shown", 1);
	cfg = load_config("notify:\n  sms:\n    kind: sns\n    region: \"eu-west-1; x\"\n");
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_EINVAL);
	CHECK_STR(err.field, "notify.sms.region");
	CHECK(strstr(err.message, "unit-secret") == NULL);
	hbk_config_free(cfg);
	cfg = load_config("notify:\n  sms:\n    kind: sns\n    region: eu-west-1\n"
			  "    url: \"http://127.0.0.1:9/sns/?a=b\"\n");
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_EINVAL);
	CHECK_STR(err.field, "notify.sms.url");
	hbk_config_free(cfg);
	cfg = load_config("notify:\n  sms:\n    kind: sns\n    region: eu-west-1\n");
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	hbk_notifier_close(notifier);
	notifier = NULL;
	hbk_config_free(cfg);
	cfg = load_config("notify:\n  sms:\n    kind: pager\n");
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_EINVAL);
	CHECK_STR(err.field, "notify.sms.kind");
	hbk_config_free(cfg);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");

	cfg = load_config("notify:\n  email:\n    kind: pigeon\n");
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_EINVAL);
	CHECK_STR(err.field, "notify.email.kind");
	hbk_config_free(cfg);

	cfg = load_config("notify:\n  email:\n    kind: maildir\n");
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	CHECK(notifier != NULL);
	hbk_notifier_close(notifier);
	hbk_config_free(cfg);
}

/* Names of regular files in dir, one per line, into out; -1 when the
 * directory cannot be read. */
static int list_dir(const char *dir, struct hbk_buf *out)
{
	DIR *d = opendir(dir);
	struct dirent *entry;
	int count = 0;

	hbk_buf_reset(out);
	hbk_buf_puts(out, "");
	if (!d)
		return -1;
	while ((entry = readdir(d)) != NULL) {
		if (entry->d_name[0] == '.')
			continue;
		hbk_buf_printf(out, "%s\n", entry->d_name);
		count++;
	}
	closedir(d);
	return count;
}

static int dir_mode(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? (int)(st.st_mode & 07777) : -1;
}

/* "<seconds>.M<microseconds>P<pid>Q<counter>.<host>" */
static bool unique_name_valid(const char *name)
{
	char pid_part[32];
	const char *p = name;

	hbk_format(pid_part, sizeof(pid_part), "P%ldQ", (long)getpid());
	if (!(*p >= '0' && *p <= '9'))
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (strncmp(p, ".M", 2) != 0)
		return false;
	p += 2;
	if (!(*p >= '0' && *p <= '9'))
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (strncmp(p, pid_part, strlen(pid_part)) != 0)
		return false;
	p += strlen(pid_part);
	if (!(*p >= '0' && *p <= '9'))
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	return *p == '.' && p[1] != '\0' && !strchr(p, '/');
}

static void test_maildir_send(void)
{
	char home[512], mail[600], path[700];
	struct hbk_buf listing, content;
	struct hbk_notifier *notifier = NULL;
	struct hbk_error err;

	/* A home that does not exist yet: the first send creates it. */
	hbk_format(home, sizeof(home), "%s/home", unit_tmpdir());
	hbk_format(mail, sizeof(mail), "%s/mail", home);
	setenv("HBK_HOME", home, 1);
	struct hbk_config *cfg =
	    load_config("notify:\n  email:\n    from: \"Hotel Desk <desk@hbk.invalid>\"\n");
	hbk_buf_init(&listing, 0);
	hbk_buf_init(&content, 0);
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	if (!notifier) {
		hbk_config_free(cfg);
		return;
	}
	/* Opening alone writes nothing. */
	CHECK_INT(dir_mode(mail), -1);

	json_t *booking = sample_booking();
	CHECK_INT(hbk_notify_send(notifier, HBK_NOTICE_CONFIRMATION, booking, &err), HBK_OK);
	hbk_format(path, sizeof(path), "%s/tmp", mail);
	CHECK_INT(list_dir(path, &listing), 0);
	CHECK_INT(dir_mode(path), 0700);
	hbk_format(path, sizeof(path), "%s/cur", mail);
	CHECK_INT(list_dir(path, &listing), 0);
	CHECK_INT(dir_mode(path), 0700);
	hbk_format(path, sizeof(path), "%s/new", mail);
	CHECK_INT(dir_mode(path), 0700);
	CHECK_INT(dir_mode(mail), 0700);
	CHECK_INT(list_dir(path, &listing), 1);

	/* The one file is the rendered message under a Maildir unique name. */
	char *newline = strchr(listing.data, '\n');
	if (newline)
		*newline = '\0';
	CHECK(unique_name_valid(listing.data));
	hbk_format(path, sizeof(path), "%s/new/%s", mail, listing.data);
	FILE *f = fopen(path, "rb");
	CHECK(f != NULL);
	if (f) {
		char chunk[4096];
		size_t n;
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			hbk_buf_append(&content, chunk, n);
		fclose(f);
	}
	hbk_buf_puts(&content, "");
	CHECK(strncmp(content.data, "Date: ", 6) == 0);
	check_header(content.data, "From", "Hotel Desk <desk@hbk.invalid>");
	check_header(content.data, "X-Hbk-Booking", BOOKING_ID);
	check_lines(content.data);

	/* A second notice gets a name of its own. */
	CHECK_INT(hbk_notify_send(notifier, HBK_NOTICE_UPDATE, booking, &err), HBK_OK);
	hbk_format(path, sizeof(path), "%s/new", mail);
	CHECK_INT(list_dir(path, &listing), 2);

	/* A refused message leaves nothing behind. */
	json_object_set_new(json_object_get(booking, "guest"), "email",
			    json_string("ana@example.com\r\nBcc: evil@example.com"));
	CHECK_INT(hbk_notify_send(notifier, HBK_NOTICE_UPDATE, booking, &err), HBK_EINVAL);
	CHECK_INT(list_dir(path, &listing), 2);
	hbk_format(path, sizeof(path), "%s/tmp", mail);
	CHECK_INT(list_dir(path, &listing), 0);

	json_decref(booking);
	hbk_buf_free(&content);
	hbk_buf_free(&listing);
	hbk_notifier_close(notifier);
	hbk_config_free(cfg);
	unsetenv("HBK_HOME");
}

/* A home that cannot hold a Maildir fails the send, not the process. */
static void test_maildir_send_failure(void)
{
	char home[512];
	struct hbk_notifier *notifier = NULL;
	struct hbk_error err;

	hbk_format(home, sizeof(home), "%s/not-a-directory", unit_tmpdir());
	FILE *f = fopen(home, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	setenv("HBK_HOME", home, 1);
	struct hbk_config *cfg = load_config("notify:\n  email:\n    kind: maildir\n");
	hbk_error_clear(&err);
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	if (notifier) {
		json_t *booking = sample_booking();
		hbk_error_clear(&err);
		CHECK_INT(hbk_notify_send(notifier, HBK_NOTICE_CONFIRMATION, booking, &err),
			  HBK_EUNAVAILABLE);
		CHECK(strstr(err.message, "not a directory") != NULL);
		json_decref(booking);
		hbk_notifier_close(notifier);
	}
	hbk_config_free(cfg);
	unsetenv("HBK_HOME");
}

/* The SNS form is percent-encoded as SigV4 canonicalizes it. */
static void test_sns_form(void)
{
	struct hbk_buf body;

	hbk_buf_init(&body, 0);
	hbk_notify_sns_form(NULL, "+351912345678", "Olá, a&b=c ~x", "Booking confirmed", &body);
	CHECK_STR(body.data, "Action=Publish&Version=2010-03-31&PhoneNumber=%2B351912345678"
			     "&Message=Ol%C3%A1%2C%20a%26b%3Dc%20~x&Subject=Booking%20confirmed");
	hbk_buf_reset(&body);
	hbk_notify_sns_form("arn:aws:sns:eu-west-1:123456789012:guests", "+351912345678", "m", "",
			    &body);
	CHECK_STR(body.data,
		  "Action=Publish&Version=2010-03-31"
		  "&TopicArn=arn%3Aaws%3Asns%3Aeu-west-1%3A123456789012%3Aguests&Message=m");
	hbk_buf_free(&body);
}

static void test_render_sms(void)
{
	struct hbk_buf text, subject;
	struct hbk_error err;
	json_t *booking = sample_booking();

	hbk_buf_init(&text, 0);
	hbk_buf_init(&subject, 0);
	hbk_error_clear(&err);
	CHECK_INT(hbk_notify_render_sms(HBK_NOTICE_CONFIRMATION, booking, &text, &subject, &err),
		  HBK_OK);
	CHECK_STR(text.data, "hbk: booking " BOOKING_ID " confirmed. Hotel Lisboa Centro, "
			     "2026-12-01 to 2026-12-04. Total: 360.00 EUR.");
	CHECK_STR(subject.data, "Booking confirmed: " BOOKING_ID);
	hbk_buf_reset(&text);
	hbk_buf_reset(&subject);
	CHECK_INT(hbk_notify_render_sms(HBK_NOTICE_CANCELLATION, booking, &text, &subject, &err),
		  HBK_OK);
	CHECK(strstr(text.data, " cancelled. ") != NULL);
	CHECK(strstr(text.data, "Refunded: 0.00 EUR.") != NULL);

	/* Line breaks go; a long hotel name is cut on a character boundary. */
	char name[1200];
	size_t n = 0;
	memcpy(name, "Evil\r\nBcc: x ", 13);
	n = 13;
	while (n + 2 < sizeof(name) - 1) {
		memcpy(name + n, "é", 2);
		n += 2;
	}
	name[n] = '\0';
	json_t *hostile = booking_json(name, "Ana", "ana@example.com");
	hbk_buf_reset(&text);
	hbk_buf_reset(&subject);
	CHECK_INT(hbk_notify_render_sms(HBK_NOTICE_UPDATE, hostile, &text, &subject, &err), HBK_OK);
	CHECK(strpbrk(text.data, "\r\n") == NULL);
	CHECK(text.len <= HBK_NOTIFY_SMS_MAX_BYTES);
	CHECK(text.len >= HBK_NOTIFY_SMS_MAX_BYTES - 1);
	CHECK(hbk_utf8_valid(text.data, text.len));
	json_decref(hostile);

	json_object_set_new(booking, "id", json_string("no id"));
	CHECK_INT(hbk_notify_render_sms(HBK_NOTICE_UPDATE, booking, &text, &subject, &err),
		  HBK_EINVAL);
	json_decref(booking);
	hbk_buf_free(&subject);
	hbk_buf_free(&text);
}

static void test_retry_delay(void)
{
	CHECK_INT(hbk_notify_retry_delay_ms(1, 30000), 30000);
	CHECK_INT(hbk_notify_retry_delay_ms(2, 30000), 60000);
	CHECK_INT(hbk_notify_retry_delay_ms(4, 30000), 240000);
	CHECK_INT(hbk_notify_retry_delay_ms(60, 30000), HBK_NOTIFY_BACKOFF_MS_MAX);
	CHECK_INT(hbk_notify_retry_delay_ms(3, 0), 0);
}

static void test_envelope_address(void)
{
	char out[64];

	CHECK(hbk_notify_envelope_address("hbk <bookings@hbk.invalid>", out, sizeof(out)));
	CHECK_STR(out, "<bookings@hbk.invalid>");
	CHECK(hbk_notify_envelope_address(" desk@hbk.invalid ", out, sizeof(out)));
	CHECK_STR(out, "<desk@hbk.invalid>");
	CHECK(!hbk_notify_envelope_address("nobody", out, sizeof(out)));
	CHECK(!hbk_notify_envelope_address("x <a b@c>", out, sizeof(out)));
	CHECK(!hbk_notify_envelope_address("x <a@c", out, sizeof(out)));
	CHECK(!hbk_notify_envelope_address("a@averyveryveryveryveryveryveryverylongdomainname"
					   ".example",
					   out, 32));
}

static int notices_with(struct hbk_store *store, const char *status)
{
	json_t *doc = NULL;
	int count = 0;

	if (hbk_notify_list(store, false, &doc, NULL) != HBK_OK)
		return -1;
	json_t *rows = json_object_get(doc, "notices");
	for (size_t i = 0; i < json_array_size(rows); i++)
		count +=
		    strcmp(json_string_value(json_object_get(json_array_get(rows, i), "status")),
			   status) == 0;
	json_decref(doc);
	return count;
}

/*
 * An SMTP server that refuses connections (port 1 on loopback): the send
 * fails at once, the notice is kept as pending, a retry pass with no
 * backoff parks it after its last attempt, and a resend through a working
 * channel (the maildir) delivers it and marks it sent.
 */
static void test_failed_notice_is_kept_and_resent(void)
{
	char home[512], db[600];
	struct hbk_store *store = NULL;
	struct hbk_notifier *notifier = NULL;
	struct hbk_error err;
	int sent = -1, failed = -1;

	hbk_format(home, sizeof(home), "%s/outbox", unit_tmpdir());
	hbk_format(db, sizeof(db), "%s/hbk.db", home);
	setenv("HBK_HOME", home, 1);
	hbk_error_clear(&err);
	CHECK_INT(hbk_store_open(db, HBK_STORE_CREATE, &store, &err), HBK_OK);
	struct hbk_config *cfg = load_config("notify:\n  email:\n    kind: smtp\n"
					     "    url: smtp://127.0.0.1:1\n"
					     "  retry:\n    attempts: 2\n    backoff_ms: 0\n");
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	if (!store || !notifier)
		goto out;
	hbk_notifier_set_store(notifier, store);
	json_t *booking = sample_booking();
	hbk_error_clear(&err);
	CHECK_INT(hbk_notify_send(notifier, HBK_NOTICE_CONFIRMATION, booking, &err),
		  HBK_EUNAVAILABLE);
	CHECK(strstr(err.message, "email to ana@example.com") != NULL);
	CHECK(strstr(err.message, "notice 1 will be retried") != NULL);
	json_decref(booking);
	CHECK_INT(notices_with(store, "pending"), 1);

	CHECK_INT(hbk_notify_retry_due(notifier, store, 10, &sent, &err), HBK_OK);
	CHECK_INT(sent, 0);
	CHECK_INT(notices_with(store, "pending"), 0);
	CHECK_INT(notices_with(store, "parked"), 1);
	json_t *doc = NULL;
	CHECK_INT(hbk_notify_list(store, true, &doc, &err), HBK_OK);
	json_t *row = json_array_get(json_object_get(doc, "notices"), 0);
	CHECK_INT(json_integer_value(json_object_get(row, "attempts")), 2);
	CHECK_STR(json_string_value(json_object_get(row, "channel")), "email");
	CHECK_STR(json_string_value(json_object_get(row, "recipient")), "ana@example.com");
	CHECK(strstr(json_string_value(json_object_get(row, "last_error")), "smtp:") != NULL);
	json_decref(doc);

	/* Still failing: stays parked. Then through the maildir: sent. */
	CHECK_INT(hbk_notify_resend_parked(notifier, store, &sent, &failed, &err),
		  HBK_EUNAVAILABLE);
	CHECK_INT(failed, 1);
	CHECK_INT(notices_with(store, "parked"), 1);
	hbk_notifier_close(notifier);
	hbk_config_free(cfg);
	cfg = load_config("notify:\n  email:\n    kind: maildir\n");
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	if (!notifier)
		goto out;
	CHECK_INT(hbk_notify_resend_parked(notifier, store, &sent, &failed, &err), HBK_OK);
	CHECK_INT(sent, 1);
	CHECK_INT(failed, 0);
	CHECK_INT(notices_with(store, "sent"), 1);
	CHECK_INT(hbk_notify_resend(notifier, store, 1, &err), HBK_ECONFLICT);
	struct hbk_buf metrics;
	hbk_buf_init(&metrics, 0);
	CHECK_INT(hbk_notify_metrics(store, &metrics, &err), HBK_OK);
	CHECK(metrics.data && strstr(metrics.data, "# TYPE hbk_notify_notices gauge\n"));
	CHECK(metrics.data && strstr(metrics.data, "hbk_notify_notices{status=\"parked\"} 0\n"));
	CHECK(metrics.data && strstr(metrics.data, "hbk_notify_notices{status=\"sent\"} 1\n"));
	hbk_buf_free(&metrics);
	CHECK_INT(hbk_notify_resend(notifier, store, 99, &err), HBK_ENOTFOUND);
	/* A retry pass drops what was sent more than 30 days ago, only that. */
	CHECK_INT(hbk_notify_retry_due(notifier, store, 10, &sent, &err), HBK_OK);
	CHECK_INT(notices_with(store, "sent"), 1);
	CHECK_INT(
	    hbk_store_exec(store, "UPDATE notices SET updated_ms = updated_ms - 2592000001", &err),
	    HBK_OK);
	CHECK_INT(hbk_notify_retry_due(notifier, store, 10, &sent, &err), HBK_OK);
	CHECK_INT(notices_with(store, "sent"), 0);
out:
	hbk_notifier_close(notifier);
	hbk_config_free(cfg);
	hbk_store_close(store);
	unsetenv("HBK_HOME");
}

/*
 * Both channels: the email goes to the maildir, the SMS to an SNS endpoint
 * that refuses connections. Only the SMS is kept, under the guest's phone,
 * with the rendered text; the error names the channel, never the secret.
 * A booking without a phone gets no SMS and no error.
 */
static void test_sms_failure_kept_email_sent(void)
{
	char home[512], db[600];
	struct hbk_store *store = NULL;
	struct hbk_notifier *notifier = NULL;
	struct hbk_error err;

	hbk_format(home, sizeof(home), "%s/both", unit_tmpdir());
	hbk_format(db, sizeof(db), "%s/hbk.db", home);
	setenv("HBK_HOME", home, 1);
	setenv("UNIT_AWS_KEY", "AKIDUNIT", 1);
	setenv("UNIT_AWS_SECRET", "unit-Secret-must-not-leak", 1);
	hbk_error_clear(&err);
	CHECK_INT(hbk_store_open(db, HBK_STORE_CREATE, &store, &err), HBK_OK);
	struct hbk_config *cfg = load_config("notify:\n  sms:\n    kind: sns\n"
					     "    region: eu-west-1\n"
					     "    url: http://127.0.0.1:1\n"
					     "    access_key_id: env:UNIT_AWS_KEY\n"
					     "    secret_access_key: env:UNIT_AWS_SECRET\n");
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	if (!store || !notifier)
		goto out;
	hbk_notifier_set_store(notifier, store);
	json_t *booking = sample_booking();
	hbk_error_clear(&err);
	CHECK_INT(hbk_notify_send(notifier, HBK_NOTICE_CONFIRMATION, booking, &err),
		  HBK_EUNAVAILABLE);
	const char *expect = "notify: sms to +351912345678 (notice 1 will be retried): sns: ";
	CHECK(strncmp(err.message, expect, strlen(expect)) == 0);
	CHECK(strstr(err.message, "unit-Secret") == NULL);
	CHECK_INT(notices_with(store, "pending"), 1);
	json_t *doc = NULL;
	CHECK_INT(hbk_notify_list(store, false, &doc, &err), HBK_OK);
	json_t *row = json_array_get(json_object_get(doc, "notices"), 0);
	CHECK_STR(json_string_value(json_object_get(row, "channel")), "sms");
	CHECK_STR(json_string_value(json_object_get(row, "recipient")), "+351912345678");
	json_decref(doc);
	char path[700];
	struct hbk_buf listing;
	hbk_buf_init(&listing, 0);
	hbk_format(path, sizeof(path), "%s/mail/new", home);
	CHECK_INT(list_dir(path, &listing), 1);
	hbk_buf_free(&listing);

	json_object_set_new(json_object_get(booking, "guest"), "phone", json_string(""));
	hbk_error_clear(&err);
	CHECK_INT(hbk_notify_send(notifier, HBK_NOTICE_UPDATE, booking, &err), HBK_OK);
	CHECK_INT(notices_with(store, "pending"), 1);
	json_decref(booking);
out:
	hbk_notifier_close(notifier);
	hbk_config_free(cfg);
	hbk_store_close(store);
	unsetenv("HBK_HOME");
}

/*
 * hbkd's way: a notifier that queues only stores the rendered notices,
 * inside the caller's transaction (while it is open, nothing is in the
 * maildir and both notices wait with 0 attempts); the delivery thread,
 * with its own store connection, sends them once they are committed. Its
 * last pass on stop makes the outcome certain without waiting on a clock:
 * the email is in the maildir and its row is gone, the SMS (whose SNS
 * endpoint refuses connections) is kept with one attempt and the error.
 */
static void test_queued_notices_sent_by_delivery_thread(void)
{
	char home[512], db[600], path[700];
	struct hbk_store *store = NULL;
	struct hbk_notifier *notifier = NULL;
	struct hbk_notify_delivery *delivery = NULL;
	struct hbk_error err;
	struct hbk_buf listing;

	hbk_buf_init(&listing, 0);
	hbk_format(home, sizeof(home), "%s/queued", unit_tmpdir());
	hbk_format(db, sizeof(db), "%s/hbk.db", home);
	hbk_format(path, sizeof(path), "%s/mail/new", home);
	setenv("HBK_HOME", home, 1);
	setenv("UNIT_AWS_KEY", "AKIDUNIT", 1);
	setenv("UNIT_AWS_SECRET", "unit-Secret-must-not-leak", 1);
	hbk_error_clear(&err);
	CHECK_INT(hbk_store_open(db, HBK_STORE_CREATE, &store, &err), HBK_OK);
	struct hbk_config *cfg = load_config("notify:\n  sms:\n    kind: sns\n"
					     "    region: eu-west-1\n"
					     "    url: http://127.0.0.1:1\n"
					     "    access_key_id: env:UNIT_AWS_KEY\n"
					     "    secret_access_key: env:UNIT_AWS_SECRET\n");
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	CHECK_INT(hbk_notify_delivery_start(cfg, NULL, &delivery, &err), HBK_OK);
	if (!store || !notifier || !delivery)
		goto out;
	hbk_notifier_set_store(notifier, store);
	CHECK(!hbk_notifier_queues(notifier));
	hbk_notifier_queue_to(notifier, delivery);
	CHECK(hbk_notifier_queues(notifier));

	json_t *booking = sample_booking();
	CHECK_INT(hbk_store_begin(store, true, &err), HBK_OK);
	CHECK_INT(hbk_notify_send(notifier, HBK_NOTICE_CONFIRMATION, booking, &err), HBK_OK);
	json_decref(booking);
	json_t *doc = NULL;
	CHECK_INT(hbk_notify_list(store, false, &doc, &err), HBK_OK);
	json_t *rows = json_object_get(doc, "notices");
	CHECK_INT((long long)json_array_size(rows), 2);
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i);
		CHECK_STR(json_string_value(json_object_get(row, "status")), "pending");
		CHECK_INT(json_integer_value(json_object_get(row, "attempts")), 0);
	}
	json_decref(doc);
	CHECK(list_dir(path, &listing) <= 0);
	CHECK_INT(hbk_store_commit(store, &err), HBK_OK);
	hbk_notifier_kick(notifier);

	hbk_notify_delivery_stop(delivery);
	delivery = NULL;
	hbk_notifier_queue_to(notifier, NULL);
	CHECK_INT(list_dir(path, &listing), 1);
	doc = NULL;
	CHECK_INT(hbk_notify_list(store, false, &doc, &err), HBK_OK);
	rows = json_object_get(doc, "notices");
	CHECK_INT((long long)json_array_size(rows), 1);
	json_t *row = json_array_get(rows, 0);
	CHECK_STR(json_string_value(json_object_get(row, "channel")), "sms");
	CHECK_STR(json_string_value(json_object_get(row, "status")), "pending");
	CHECK_INT(json_integer_value(json_object_get(row, "attempts")), 1);
	CHECK(strstr(json_string_value(json_object_get(row, "last_error")), "sns") != NULL);
	CHECK(strstr(json_string_value(json_object_get(row, "last_error")), "unit-Secret") ==
	      NULL);
	json_decref(doc);
out:
	hbk_notify_delivery_stop(delivery);
	hbk_notifier_close(notifier);
	hbk_config_free(cfg);
	hbk_store_close(store);
	hbk_buf_free(&listing);
	unsetenv("HBK_HOME");
}

/*
 * The breaker: after three sends in a row that cannot reach the server,
 * the next notice is kept without a try (so hbkd's loop does not wait on
 * a dead server per booking) and a retry pass leaves it alone; an
 * operator's resend of one notice still tries.
 */
static void test_unreachable_channel_breaker(void)
{
	char home[512], db[600];
	struct hbk_store *store = NULL;
	struct hbk_notifier *notifier = NULL;
	struct hbk_error err;
	int sent = -1;

	hbk_format(home, sizeof(home), "%s/breaker", unit_tmpdir());
	hbk_format(db, sizeof(db), "%s/hbk.db", home);
	setenv("HBK_HOME", home, 1);
	hbk_error_clear(&err);
	CHECK_INT(hbk_store_open(db, HBK_STORE_CREATE, &store, &err), HBK_OK);
	struct hbk_config *cfg = load_config("notify:\n  email:\n    kind: smtp\n"
					     "    url: smtp://127.0.0.1:1\n");
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	if (!store || !notifier)
		goto out;
	hbk_notifier_set_store(notifier, store);
	json_t *booking = sample_booking();
	for (int i = 1; i <= 4; i++) {
		hbk_error_clear(&err);
		CHECK_INT(hbk_notify_send(notifier, HBK_NOTICE_UPDATE, booking, &err),
			  HBK_EUNAVAILABLE);
		CHECK((strstr(err.message, "smtp:") != NULL) == (i <= 3));
		CHECK((strstr(err.message, "not tried") != NULL) == (i == 4));
	}
	json_decref(booking);
	CHECK_INT(notices_with(store, "pending"), 4);
	CHECK_INT(hbk_store_exec(store, "UPDATE notices SET next_attempt_ms = 0", &err), HBK_OK);
	CHECK_INT(hbk_notify_retry_due(notifier, store, 10, &sent, &err), HBK_OK);
	CHECK_INT(sent, 0);
	json_t *doc = NULL;
	CHECK_INT(hbk_notify_list(store, false, &doc, &err), HBK_OK);
	size_t i;
	json_t *row;
	json_array_foreach(json_object_get(doc, "notices"), i, row)
	    CHECK_INT(json_integer_value(json_object_get(row, "attempts")), 1);
	json_decref(doc);
	hbk_error_clear(&err);
	CHECK_INT(hbk_notify_resend(notifier, store, 4, &err), HBK_EUNAVAILABLE);
	CHECK(strstr(err.message, "smtp:") != NULL);
out:
	hbk_notifier_close(notifier);
	hbk_config_free(cfg);
	hbk_store_close(store);
	unsetenv("HBK_HOME");
}

/* Notices in the batch tests: fewer than a claim, so they go as one. */
#define TEST_BATCH_NOTICES 40

/* The whole of the file at path into out (reset first); false when it
 * cannot be read. */
static bool read_whole_file(const char *path, struct hbk_buf *out)
{
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");

	hbk_buf_reset(out);
	if (!f)
		return false;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		hbk_buf_append(out, chunk, n);
	fclose(f);
	hbk_buf_puts(out, "");
	return true;
}

/* Octets in the stored message of notice id; -1 when absent. */
static long long stored_length(struct hbk_store *store, long long id)
{
	sqlite3_stmt *stmt = NULL;
	long long len = -1;

	if (sqlite3_prepare_v2(store->db,
			       "SELECT length(CAST(message AS BLOB)) FROM notices WHERE id = ?", -1,
			       &stmt, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		len = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return len;
}

/*
 * Checks that mail/tmp is empty and that mail/new holds one whole message
 * for each booking "BK-BATCH<i>" (i below count) with lengths[i] >= 0,
 * as long as lengths[i] octets, and nothing else.
 */
static void check_batch_landed(const char *mail, int count, const long long *lengths)
{
	char path[1024];
	int seen[TEST_BATCH_NOTICES] = {0}, expected = 0;
	struct hbk_buf listing, content, value;

	HBK_ASSERT(count <= TEST_BATCH_NOTICES);
	hbk_buf_init(&listing, 0);
	hbk_buf_init(&content, 0);
	hbk_buf_init(&value, 0);
	for (int i = 0; i < count; i++)
		expected += lengths[i] >= 0;
	hbk_format(path, sizeof(path), "%s/tmp", mail);
	CHECK_INT(list_dir(path, &listing), 0);
	hbk_format(path, sizeof(path), "%s/new", mail);
	CHECK_INT(list_dir(path, &listing), expected);
	for (char *name = listing.data, *end; (end = strchr(name, '\n')) != NULL; name = end + 1) {
		*end = '\0';
		CHECK(unique_name_valid(name));
		hbk_format(path, sizeof(path), "%s/new/%s", mail, name);
		CHECK(read_whole_file(path, &content));
		CHECK(header_value(content.data, "X-Hbk-Booking", &value));
		long long i = -1;
		if (value.data && strncmp(value.data, "BK-BATCH", 8) == 0 &&
		    !hbk_parse_int(value.data + 8, 0, count - 1, &i))
			i = -1;
		CHECK(i >= 0);
		if (i < 0)
			continue;
		seen[i]++;
		CHECK_INT(content.len, lengths[i]);
	}
	for (int i = 0; i < count; i++)
		CHECK_INT(seen[i], lengths[i] >= 0 ? 1 : 0);
	hbk_buf_free(&value);
	hbk_buf_free(&content);
	hbk_buf_free(&listing);
}

/*
 * hbkd's batch: TEST_BATCH_NOTICES notices queued in one transaction
 * are claimed by the delivery thread at once and go to the maildir as
 * one batch. Each lands in new/ whole (as long as the message the store
 * held), nothing stays in tmp/, and every row is gone as delivered.
 */
static void test_maildir_batch_lands_whole(void)
{
	char home[512], db[600], mail[600], id[32];
	long long lengths[TEST_BATCH_NOTICES];
	struct hbk_store *store = NULL;
	struct hbk_notifier *notifier = NULL;
	struct hbk_notify_delivery *delivery = NULL;
	struct hbk_error err;

	hbk_format(home, sizeof(home), "%s/batch", unit_tmpdir());
	hbk_format(db, sizeof(db), "%s/hbk.db", home);
	hbk_format(mail, sizeof(mail), "%s/mail", home);
	setenv("HBK_HOME", home, 1);
	hbk_error_clear(&err);
	CHECK_INT(hbk_store_open(db, HBK_STORE_CREATE, &store, &err), HBK_OK);
	struct hbk_config *cfg = load_config("notify:\n  email:\n    kind: maildir\n");
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	CHECK_INT(hbk_notify_delivery_start(cfg, NULL, &delivery, &err), HBK_OK);
	if (!store || !notifier || !delivery)
		goto out;
	hbk_notifier_set_store(notifier, store);
	hbk_notifier_queue_to(notifier, delivery);

	json_t *booking = sample_booking();
	CHECK_INT(hbk_store_begin(store, true, &err), HBK_OK);
	for (int i = 0; i < TEST_BATCH_NOTICES; i++) {
		hbk_format(id, sizeof(id), "BK-BATCH%d", i);
		json_object_set_new(booking, "id", json_string(id));
		CHECK_INT(hbk_notify_send(notifier, HBK_NOTICE_CONFIRMATION, booking, &err),
			  HBK_OK);
		lengths[i] = stored_length(store, i + 1);
		CHECK(lengths[i] > 0);
	}
	json_decref(booking);
	CHECK_INT(hbk_store_commit(store, &err), HBK_OK);
	hbk_notifier_kick(notifier);
	hbk_notify_delivery_stop(delivery);
	delivery = NULL;
	hbk_notifier_queue_to(notifier, NULL);

	check_batch_landed(mail, TEST_BATCH_NOTICES, lengths);
	json_t *doc = NULL;
	CHECK_INT(hbk_notify_list(store, false, &doc, &err), HBK_OK);
	CHECK_INT((long long)json_array_size(json_object_get(doc, "notices")), 0);
	json_decref(doc);
out:
	hbk_notify_delivery_stop(delivery);
	hbk_notifier_close(notifier);
	hbk_config_free(cfg);
	hbk_store_close(store);
	unsetenv("HBK_HOME");
}

/* A batch of BATCH_FAILURE_NOTICES, of which notice TOO_LARGE_ID is
 * grown by TOO_LARGE_PADDING octets, past FILE_SIZE_LIMIT. */
#define BATCH_FAILURE_NOTICES 5
#define TOO_LARGE_ID	      3
#define FILE_SIZE_LIMIT	      (256 * 1024)
#define TOO_LARGE_PADDING     (300 * 1024)

/* A retry pass with RLIMIT_FSIZE at FILE_SIZE_LIMIT and SIGXFSZ ignored,
 * so that a larger file fails to write with EFBIG as on a full quota;
 * both are put back after. */
static void retry_pass_under_file_size_limit(struct hbk_notifier *notifier, struct hbk_store *store,
					     int *sent)
{
	struct rlimit saved, limited;
	struct hbk_error err;

	hbk_error_clear(&err);
	CHECK_INT(getrlimit(RLIMIT_FSIZE, &saved), 0);
	limited = saved;
	limited.rlim_cur = FILE_SIZE_LIMIT;
	void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN);
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &limited), 0);
	hbk_result rc = hbk_notify_retry_due(notifier, store, 64, sent, &err);
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, saved_handler);
	CHECK_INT(rc, HBK_OK);
}

/*
 * One message of a batch that cannot be written fails alone. Notices
 * kept after a failed first attempt (an SMTP server that refuses
 * connections) are retried through the maildir in one pass, while a file
 * size limit makes the write of the one grown past it fail with EFBIG, a
 * real failure of one file. The store is in memory, so that only the
 * maildir meets the limit. The others land whole; the large one leaves
 * nothing in new/ or tmp/ and stays pending with the error; the next
 * pass, without the limit, delivers it whole.
 */
static void test_maildir_batch_failure_fails_alone(void)
{
	char home[512], mail[600], sql[256], id[32];
	long long lengths[BATCH_FAILURE_NOTICES];
	struct hbk_store *store = NULL;
	struct hbk_notifier *notifier = NULL;
	struct hbk_error err;
	int sent = -1;

	hbk_format(home, sizeof(home), "%s/batch-failure", unit_tmpdir());
	hbk_format(mail, sizeof(mail), "%s/mail", home);
	setenv("HBK_HOME", home, 1);
	hbk_error_clear(&err);
	CHECK_INT(hbk_store_open(":memory:", HBK_STORE_CREATE, &store, &err), HBK_OK);
	struct hbk_config *cfg = load_config("notify:\n  email:\n    kind: smtp\n"
					     "    url: smtp://127.0.0.1:1\n"
					     "  retry:\n    attempts: 5\n    backoff_ms: 0\n");
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	if (!store || !notifier)
		goto out;
	hbk_notifier_set_store(notifier, store);
	json_t *booking = sample_booking();
	for (int i = 0; i < BATCH_FAILURE_NOTICES; i++) {
		hbk_format(id, sizeof(id), "BK-BATCH%d", i);
		json_object_set_new(booking, "id", json_string(id));
		CHECK_INT(hbk_notify_send(notifier, HBK_NOTICE_CONFIRMATION, booking, &err),
			  HBK_EUNAVAILABLE);
	}
	json_decref(booking);
	hbk_format(sql, sizeof(sql),
		   "UPDATE notices SET message = message || hex(zeroblob(%d)) WHERE id = %d",
		   TOO_LARGE_PADDING / 2, TOO_LARGE_ID);
	CHECK_INT(hbk_store_exec(store, sql, &err), HBK_OK);
	for (int i = 0; i < BATCH_FAILURE_NOTICES; i++)
		lengths[i] = stored_length(store, i + 1);
	CHECK(lengths[TOO_LARGE_ID - 1] > FILE_SIZE_LIMIT);
	hbk_notifier_close(notifier);
	hbk_config_free(cfg);
	cfg = load_config("notify:\n  retry:\n    attempts: 5\n    backoff_ms: 0\n");
	CHECK_INT(hbk_notifier_open(cfg, &notifier, &err), HBK_OK);
	if (!notifier)
		goto out;

	retry_pass_under_file_size_limit(notifier, store, &sent);
	CHECK_INT(sent, BATCH_FAILURE_NOTICES - 1);
	long long large_length = lengths[TOO_LARGE_ID - 1];
	lengths[TOO_LARGE_ID - 1] = -1;
	check_batch_landed(mail, BATCH_FAILURE_NOTICES, lengths);
	lengths[TOO_LARGE_ID - 1] = large_length;
	CHECK_INT(notices_with(store, "sent"), BATCH_FAILURE_NOTICES - 1);
	json_t *doc = NULL;
	CHECK_INT(hbk_notify_list(store, false, &doc, &err), HBK_OK);
	size_t index;
	json_t *row;
	json_array_foreach(json_object_get(doc, "notices"), index, row)
	{
		if (json_integer_value(json_object_get(row, "id")) != TOO_LARGE_ID)
			continue;
		CHECK_STR(json_string_value(json_object_get(row, "status")), "pending");
		CHECK_INT(json_integer_value(json_object_get(row, "attempts")), 2);
		CHECK(strstr(json_string_value(json_object_get(row, "last_error")),
			     "File too large") != NULL);
	}
	json_decref(doc);

	sent = -1;
	CHECK_INT(hbk_notify_retry_due(notifier, store, 64, &sent, &err), HBK_OK);
	CHECK_INT(sent, 1);
	CHECK_INT(notices_with(store, "sent"), BATCH_FAILURE_NOTICES);
	check_batch_landed(mail, BATCH_FAILURE_NOTICES, lengths);
out:
	hbk_notifier_close(notifier);
	hbk_config_free(cfg);
	hbk_store_close(store);
	unsetenv("HBK_HOME");
}

UNIT_TESTS(UNIT_T(test_render_confirmation_headers), UNIT_T(test_render_confirmation_body),
	   UNIT_T(test_render_update), UNIT_T(test_render_cancellation),
	   UNIT_T(test_render_crlf_and_line_length), UNIT_T(test_render_refuses_header_injection),
	   UNIT_T(test_render_strips_line_breaks_from_headers), UNIT_T(test_render_quotes_specials),
	   UNIT_T(test_render_encodes_non_ascii), UNIT_T(test_render_policy_in_words),
	   UNIT_T(test_render_date_header), UNIT_T(test_render_bounded),
	   UNIT_T(test_notifier_open_kinds), UNIT_T(test_maildir_send),
	   UNIT_T(test_maildir_send_failure), UNIT_T(test_sns_form), UNIT_T(test_render_sms),
	   UNIT_T(test_retry_delay), UNIT_T(test_envelope_address),
	   UNIT_T(test_failed_notice_is_kept_and_resent), UNIT_T(test_sms_failure_kept_email_sent),
	   UNIT_T(test_queued_notices_sent_by_delivery_thread),
	   UNIT_T(test_unreachable_channel_breaker), UNIT_T(test_maildir_batch_lands_whole),
	   UNIT_T(test_maildir_batch_failure_fails_alone));
