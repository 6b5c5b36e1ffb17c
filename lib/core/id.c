/*
 * id.c - time-sortable ids and randomness.
 *
 * An id is PREFIX-TTTTTTTTTTRRRRRRRR in Crockford base32: ten characters of
 * milliseconds since the epoch, then eight random ones (40 bits), so ids
 * made in the same millisecond by different processes still differ.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "hbk/core.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void hbk_random_bytes(void *out, size_t len)
{
	unsigned char *p = out;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		HBK_ASSERT(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

void hbk_id_new(const char *prefix, char out[HBK_ID_MAX])
{
	char body[19];
	uint64_t ms = (uint64_t)hbk_now_ms();
	for (int i = 9; i >= 0; i--) {
		body[i] = crockford[ms & 31];
		ms >>= 5;
	}
	unsigned char random[8];
	hbk_random_bytes(random, sizeof(random));
	for (int i = 0; i < 8; i++)
		body[10 + i] = crockford[random[i] & 31];
	body[18] = '\0';
	hbk_format(out, HBK_ID_MAX, "%s-%s", prefix, body);
}

bool hbk_id_valid(const char *prefix, const char *id)
{
	size_t plen = strlen(prefix);
	if (!id || strncmp(id, prefix, plen) != 0 || id[plen] != '-')
		return false;
	const char *body = id + plen + 1;
	size_t len = strlen(body);
	if (len < 1 || len > HBK_ID_MAX - plen - 2)
		return false;
	for (const char *p = body; *p; p++)
		if (!strchr(crockford, *p))
			return false;
	return true;
}
