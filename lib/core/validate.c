/*
 * validate.c - input checks shared by the tools and the API.
 */
#include <limits.h>
#include <string.h>

#include "hbk/core.h"

bool hbk_email_valid(const char *email)
{
	size_t len = email ? strlen(email) : 0;
	if (len < 3 || len > 254)
		return false;
	const char *at = strchr(email, '@');
	if (!at || at == email || strchr(at + 1, '@') || at - email > 64)
		return false;
	const char *domain = at + 1;
	const char *dot = strrchr(domain, '.');
	if (!dot || dot == domain || dot[1] == '\0' || strstr(domain, ".."))
		return false;
	for (const char *p = email; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c == 0x7f || strchr("()<>,;:\\\"[]", c))
			return false;
	}
	return domain[0] != '.' && domain[0] != '-';
}

bool hbk_looks_like_card_number(const char *s)
{
	int ndigits = 0;
	if (!s)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			ndigits++;
		else if (*p != ' ' && *p != '-')
			return false;
	}
	return ndigits >= 12 && ndigits <= 19;
}

/*
 * The length of the UTF-8 character at p (1 to 4 bytes, none past end),
 * or 0 when the bytes there are not one: a stray continuation byte, a
 * sequence cut short, an overlong encoding, a UTF-16 surrogate or a code
 * point past U+10FFFF.
 */
static size_t utf8_char_len(const unsigned char *p, const unsigned char *end)
{
	HBK_ASSERT(p < end);
	unsigned char c = *p;
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t hbk_utf8_char_len(const char *s, size_t len)
{
	return len ? utf8_char_len((const unsigned char *)s, (const unsigned char *)s + len) : 0;
}

bool hbk_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		size_t n = utf8_char_len(p, end);
		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

bool hbk_utf8_copy(char *dst, size_t size, const char *src, size_t len)
{
	static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
	const unsigned char *p = (const unsigned char *)src, *end = p + len;
	size_t o = 0;
	HBK_ASSERT(dst != NULL && size > 0 && (src != NULL || len == 0));
	while (p < end) {
		size_t n = utf8_char_len(p, end);
		const char *bytes = n ? (const char *)p : replacement;
		size_t out_len = n ? n : sizeof(replacement) - 1;
		if (o + out_len >= size)
			break;
		memcpy(dst + o, bytes, out_len);
		o += out_len;
		p += n ? n : 1;
	}
	dst[o] = '\0';
	return p == end;
}

int hbk_utf8_cut(const char *s, size_t max_bytes)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	size_t taken = 0;
	while (p + taken < end) {
		size_t n = utf8_char_len(p + taken, end);
		if (n == 0)
			n = 1; /* a byte the copy will replace */
		if (taken + n > max_bytes)
			break;
		taken += n;
	}
	HBK_ASSERT(taken <= max_bytes && taken <= INT_MAX);
	return (int)taken;
}
