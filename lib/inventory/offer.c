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
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		int chars = i + 2 < len ? 4 : i + 1 < len ? 3 : 2;
		for (int c = 0; c < chars; c++) {
			HBK_ASSERT(o + 1 < size);
			out[o++] = b64[(v >> (18 - 6 * c)) & 63];
		}
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

void hbk_offer_id_encode(const struct hbk_stay *stay, const struct hbk_money *total,
			 char out[HBK_OFFER_ID_MAX])
{
	char raw[112];
	hbk_format(raw, sizeof(raw), "%s|%s|%s|%c|%d|%d|%d|%d|%d|%lld|%s", stay->hotel_id,
		   stay->room_type, stay->board, stay->refundable ? 'R' : 'N', stay->checkin,
		   stay->checkout, stay->adults, stay->children, stay->rooms,
		   (long long)total->minor, total->currency);
	memcpy(out, "OF1.", 4);
	b64url_encode((const unsigned char *)raw, strlen(raw), out + 4, HBK_OFFER_ID_MAX - 4);
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
