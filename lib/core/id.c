/*
 * id.c - time-sortable ids and randomness.
 *
 * An id is PREFIX-TTTTTTTTTTRRRRRRRR in Crockford base32: ten characters of
 * milliseconds since the epoch, then eight random ones (40 bits), so ids
 * made in the same millisecond by different processes still differ.
 */
#include <pthread.h>
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

/*
 * The random bytes of ids, drawn from the OS a pool at a time: hbkd makes
 * an id for every request, and a getrandom call cost more than the rest
 * of it. One pool per thread; a forked child empties its copy, which
 * would repeat the parent's.
 */
#define ID_RANDOM_POOL 256

static __thread unsigned char id_pool[ID_RANDOM_POOL];
static __thread size_t id_pool_left;
static pthread_once_t id_pool_once = PTHREAD_ONCE_INIT;

static void id_pool_forget(void)
{
	id_pool_left = 0;
}

static void id_pool_watch_forks(void)
{
	HBK_ASSERT(pthread_atfork(NULL, NULL, id_pool_forget) == 0);
}

static void id_random_bytes(unsigned char *out, size_t len)
{
	HBK_ASSERT(len <= ID_RANDOM_POOL);
	pthread_once(&id_pool_once, id_pool_watch_forks);
	if (id_pool_left < len) {
		hbk_random_bytes(id_pool, sizeof(id_pool));
		id_pool_left = sizeof(id_pool);
	}
	unsigned char *taken = id_pool + sizeof(id_pool) - id_pool_left;
	memcpy(out, taken, len);
	memset(taken, 0, len);
	id_pool_left -= len;
}

void hbk_id_new(const char *prefix, char out[HBK_ID_MAX])
{
	/* PREFIX "-" ten time characters, eight random ones. */
	size_t prefix_len = strlen(prefix);
	HBK_ASSERT(prefix_len + 1 + 18 < HBK_ID_MAX);
	memcpy(out, prefix, prefix_len);
	char *body = out + prefix_len + 1;
	body[-1] = '-';
	uint64_t ms = (uint64_t)hbk_now_ms();
	for (int i = 9; i >= 0; i--) {
		body[i] = crockford[ms & 31];
		ms >>= 5;
	}
	unsigned char random[8];
	id_random_bytes(random, sizeof(random));
	for (int i = 0; i < 8; i++)
		body[10 + i] = crockford[random[i] & 31];
	body[18] = '\0';
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
