/*
 * buf.c - the bounded growable buffer, and small string helpers that keep
 * sprintf, strcpy and atoi out of the code base.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hbk/core.h"

void *hbk_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p) {
		fputs("hbk: error: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *hbk_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) {
		fputs("hbk: error: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *hbk_xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);
	if (!q) {
		fputs("hbk: error: out of memory\n", stderr);
		abort();
	}
	return q;
}

char *hbk_xstrdup(const char *s)
{
	size_t len = strlen(s);
	char *p = hbk_xmalloc(len + 1);
	memcpy(p, s, len + 1);
	return p;
}

void hbk_buf_init(struct hbk_buf *buf, size_t max_bytes)
{
	memset(buf, 0, sizeof(*buf));
	buf->max_bytes = max_bytes ? max_bytes : HBK_BUF_MAX_DEFAULT;
}

void hbk_buf_free(struct hbk_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
	buf->overflow = false;
}

void hbk_buf_reset(struct hbk_buf *buf)
{
	buf->len = 0;
	buf->overflow = false;
	if (buf->data)
		buf->data[0] = '\0';
}

bool hbk_buf_reserve(struct hbk_buf *buf, size_t len)
{
	if (buf->overflow || len > buf->max_bytes - buf->len) {
		buf->overflow = true;
		return false;
	}
	size_t need = buf->len + len + 1;
	if (need <= buf->cap)
		return true;
	size_t cap = buf->cap ? buf->cap : 64;
	while (cap < need)
		cap *= 2;
	buf->data = hbk_xrealloc(buf->data, cap);
	buf->cap = cap;
	return true;
}

bool hbk_buf_append(struct hbk_buf *buf, const void *data, size_t len)
{
	if (!hbk_buf_reserve(buf, len))
		return false;
	if (len)
		memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return true;
}

bool hbk_buf_puts(struct hbk_buf *buf, const char *s)
{
	return hbk_buf_append(buf, s, strlen(s));
}

bool hbk_buf_putc(struct hbk_buf *buf, char c)
{
	if (!hbk_buf_reserve(buf, 1))
		return false;
	buf->data[buf->len++] = c;
	buf->data[buf->len] = '\0';
	return true;
}

bool hbk_buf_vprintf(struct hbk_buf *buf, const char *fmt, va_list ap)
{
	/* Formats once into the room there is; only a text that does not fit
	 * is formatted again, after growing. */
	size_t room = buf->cap > buf->len ? buf->cap - buf->len : 0;
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(room ? buf->data + buf->len : NULL, room, fmt, copy);
	va_end(copy);
	if (n < 0 || (size_t)n >= room || buf->overflow || (size_t)n > buf->max_bytes - buf->len) {
		if (room) /* what did not fit, or may not stay */
			buf->data[buf->len] = '\0';
		if (n < 0 || !hbk_buf_reserve(buf, (size_t)n))
			return false;
		vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
	}
	buf->len += (size_t)n;
	return true;
}

bool hbk_buf_put_int(struct hbk_buf *buf, int64_t value)
{
	char text[HBK_DECIMAL_STR];
	return hbk_buf_append(buf, text, hbk_decimal_format(value, 0, text));
}

bool hbk_buf_put_thousandths(struct hbk_buf *buf, int64_t value)
{
	char text[HBK_DECIMAL_STR];
	return hbk_buf_append(buf, text, hbk_decimal_format(value, 3, text));
}

bool hbk_buf_printf(struct hbk_buf *buf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool ok = hbk_buf_vprintf(buf, fmt, ap);
	va_end(ap);
	return ok;
}

char *hbk_buf_detach(struct hbk_buf *buf)
{
	char *data = buf->data ? buf->data : hbk_xstrdup("");
	buf->data = NULL;
	buf->len = buf->cap = 0;
	return data;
}

void hbk_format(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	HBK_ASSERT(n >= 0 && (size_t)n < size);
}

bool hbk_copy(char *dst, size_t size, const char *src)
{
	HBK_ASSERT(size > 0);
	size_t len = strlen(src);
	if (len >= size) {
		/* A copy that does not fit ends before the character it would
		 * cut in two (src[cut] is the first byte left out): a cut
		 * character is invalid UTF-8, which jansson refuses. */
		size_t cut = size - 1;
		for (int back = 0; back < HBK_UTF8_CHAR_MAX - 1 && cut > 0 &&
				   ((unsigned char)src[cut] & 0xc0) == 0x80;
		     back++)
			cut--;
		if (((unsigned char)src[cut] & 0xc0) != 0xc0)
			cut = size - 1; /* not a character begun before: no cut */
		memcpy(dst, src, cut);
		dst[cut] = '\0';
		return false;
	}
	memcpy(dst, src, len + 1);
	return true;
}

bool hbk_parse_int(const char *s, long long min, long long max, long long *out)
{
	if (!s || !*s)
		return false;
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (!*p)
		return false;
	for (const char *q = p; *q; q++)
		if (*q < '0' || *q > '9')
			return false;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}
