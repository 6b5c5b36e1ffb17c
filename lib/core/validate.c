/*
 * validate.c - input checks shared by the tools and the API.
 */
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

bool hbk_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		unsigned char c = *p;
		int n;
		uint32_t cp;
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (end - p <= n)
			return false;
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}
