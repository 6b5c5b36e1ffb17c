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

/* Requests up to this size are served from the thread's batch. */
#define RANDOM_BATCH_BYTES    256
#define RANDOM_FROM_BATCH_MAX (RANDOM_BATCH_BYTES / 4)

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/*
 * Random bytes come from getrandom() in batches kept per thread: a system
 * call per id (every event of a booking has one) was a measurable share of
 * hbkd's time. Bytes handed out are wiped from the batch, and a forked
 * child starts without one, so no two processes hand out the same bytes.
 */
static __thread unsigned char batch[RANDOM_BATCH_BYTES];
static __thread size_t batch_left; /* the unused bytes are the last ones */
static pthread_once_t fork_watch = PTHREAD_ONCE_INIT;

static void batch_forget(void)
{
	explicit_bzero(batch, sizeof(batch));
	batch_left = 0;
}

static void batch_forget_on_fork(void)
{
	HBK_ASSERT(pthread_atfork(NULL, NULL, batch_forget) == 0);
}

static void kernel_random(void *out, size_t len)
{
	unsigned char *p = out;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		HBK_ASSERT(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

void hbk_random_bytes(void *out, size_t len)
{
	pthread_once(&fork_watch, batch_forget_on_fork);
	if (len > RANDOM_FROM_BATCH_MAX) {
		kernel_random(out, len);
		return;
	}
	if (batch_left < len) {
		kernel_random(batch, sizeof(batch));
		batch_left = sizeof(batch);
	}
	unsigned char *from = batch + sizeof(batch) - batch_left;
	memcpy(out, from, len);
	explicit_bzero(from, len);
	batch_left -= len;
	HBK_ASSERT(batch_left <= sizeof(batch));
}

void hbk_id_new(const char *prefix, char out[HBK_ID_MAX])
{
	/* PREFIX "-" ten time characters, eight random ones, written in
	 * place: every request and event takes an id. */
	size_t prefix_len = strlen(prefix);
	HBK_ASSERT(prefix_len + 1 + 18 < HBK_ID_MAX);
	memcpy(out, prefix, prefix_len);
	out[prefix_len] = '-';
	char *body = out + prefix_len + 1;
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
