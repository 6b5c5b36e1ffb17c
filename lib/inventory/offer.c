/*
 * offer.c - offer ids: opaque, self-contained descriptions of a priced
 * stay, like a partner's rate key. "OF1." + base64url of
 * "hotel|room|board|R or N|checkin|checkout|adults|children|rooms|total|currency".
 * Booking an offer re-prices it, so a stale or edited id cannot book at a
 * price the catalog does not give.
 */
#include <string.h>

#include "hbk/inventory.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url_encode(const unsigned char *in, size_t len, char *out, size_t size)
{
	/* Four characters for each three bytes, two or three for the rest. */
	size_t whole = len / 3 * 3, o = 0;
	HBK_ASSERT(len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0) < size);
	for (size_t i = 0; i < whole; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
		out[o++] = b64[v & 63];
	}
	if (len > whole) {
		uint32_t v = (uint32_t)in[whole] << 16;
		if (len - whole == 2)
			v |= (uint32_t)in[whole + 1] << 8;
		out[o++] = b64[v >> 18];
		out[o++] = b64[v >> 12 & 63];
		if (len - whole == 2)
			out[o++] = b64[v >> 6 & 63];
	}
	out[o] = '\0';
}

static bool b64url_decode(const char *in, unsigned char *out, size_t size, size_t *len)
{
	size_t n = strlen(in), o = 0;
	uint32_t v = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		const char *p = strchr(b64, in[i]);
		if (!p || !in[i])
			return false;
		v = (v << 6) | (uint32_t)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= size)
				return false;
			out[o++] = (unsigned char)((v >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*len = o;
	return true;
}

/*
 * The raw text of an id, written by hand rather than by snprintf: a search
 * answer encodes one per offer. OFFER_RAW_MAX bounds what an id may hold
 * (hbk_offer_id_decode reads no more); OFFER_RAW_ROOM holds the widest
 * values the fields can take, so that the bound is checked, not overrun.
 */
#define OFFER_RAW_MAX  112
#define OFFER_RAW_ROOM 192

struct raw_text {
	char text[OFFER_RAW_ROOM];
	size_t len;
};

/* Appends s (at most max bytes of it) and a '|'. Byte by byte: the
 * fields are a few bytes long, shorter than a call to memcpy takes. */
static void raw_put(struct raw_text *raw, const char *s, size_t max)
{
	HBK_ASSERT(raw->len + max + 1 <= sizeof(raw->text));
	for (size_t i = 0; i < max && s[i]; i++)
		raw->text[raw->len++] = s[i];
	raw->text[raw->len++] = '|';
}

static void raw_put_int(struct raw_text *raw, int64_t value)
{
	HBK_ASSERT(raw->len + HBK_DECIMAL_STR + 1 <= sizeof(raw->text));
	raw->len += hbk_decimal_format(value, 0, raw->text + raw->len);
	raw->text[raw->len++] = '|';
}

void hbk_offer_id_encode(const struct hbk_stay *stay, const struct hbk_money *total,
			 char out[HBK_OFFER_ID_MAX])
{
	/* "hotel|room|board|R|checkin|checkout|adults|children|rooms|total|currency" */
	struct raw_text raw = {.len = 0};
	raw_put(&raw, stay->hotel_id, sizeof(stay->hotel_id));
	raw_put(&raw, stay->room_type, sizeof(stay->room_type));
	raw_put(&raw, stay->board, sizeof(stay->board));
	raw_put(&raw, stay->refundable ? "R" : "N", 1);
	raw_put_int(&raw, stay->checkin);
	raw_put_int(&raw, stay->checkout);
	raw_put_int(&raw, stay->adults);
	raw_put_int(&raw, stay->children);
	raw_put_int(&raw, stay->rooms);
	raw_put_int(&raw, total->minor);
	raw_put(&raw, total->currency, sizeof(total->currency));
	raw.len--; /* the last field has no '|' after it */
	HBK_ASSERT(raw.len < OFFER_RAW_MAX);
	memcpy(out, "OF1.", 4);
	b64url_encode((const unsigned char *)raw.text, raw.len, out + 4, HBK_OFFER_ID_MAX - 4);
}

/* Splits s at '|' into at most max fields, in place. */
static int split(char *s, char **fields, int max)
{
	int n = 0;
	fields[n++] = s;
	for (char *p = s; *p; p++) {
		if (*p != '|')
			continue;
		if (n == max)
			return max + 1;
		*p = '\0';
		fields[n++] = p + 1;
	}
	return n;
}

hbk_result hbk_offer_id_decode(const char *offer_id, struct hbk_stay *stay, struct hbk_money *total,
			       struct hbk_error *err)
{
	unsigned char raw[128];
	char *f[11];
	size_t len;
	long long v[6], minor;

	memset(stay, 0, sizeof(*stay));
	if (strncmp(offer_id, "OF1.", 4) != 0 || strlen(offer_id) >= HBK_OFFER_ID_MAX ||
	    !b64url_decode(offer_id + 4, raw, sizeof(raw), &len) || strlen((char *)raw) != len ||
	    split((char *)raw, f, 11) != 11)
		goto bad;
	if (!hbk_copy(stay->hotel_id, sizeof(stay->hotel_id), f[0]) ||
	    !hbk_copy(stay->room_type, sizeof(stay->room_type), f[1]) ||
	    !hbk_copy(stay->board, sizeof(stay->board), f[2]) ||
	    (strcmp(f[3], "R") != 0 && strcmp(f[3], "N") != 0))
		goto bad;
	stay->refundable = f[3][0] == 'R';
	for (int i = 0; i < 5; i++)
		if (!hbk_parse_int(f[4 + i], 0, 10000000, &v[i]))
			goto bad;
	if (!hbk_parse_int(f[9], 0, INT64_MAX / 2, &minor) || strlen(f[10]) != 3 ||
	    hbk_currency_exponent(f[10]) < 0)
		goto bad;
	stay->checkin = (hbk_date)v[0];
	stay->checkout = (hbk_date)v[1];
	stay->adults = (int)v[2];
	stay->children = (int)v[3];
	stay->rooms = (int)v[4];
	*total = hbk_money_make(minor, f[10]);
	return HBK_OK;
bad:
	return hbk_fail_field(err, HBK_EINVAL, "invalid_offer", "offer_id",
			      "malformed offer id (search again and book a line of the result)");
}
