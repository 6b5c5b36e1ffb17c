/*
 * maildir.h - the Maildir delivery that notify.c uses; internal to
 * lib/notify.
 */
#ifndef HBK_NOTIFY_MAILDIR_H
#define HBK_NOTIFY_MAILDIR_H

#include <limits.h>
#include <stddef.h>

#include "hbk/core.h"

/* The most messages one batch delivers: a retry pass's claim. */
#define HBK_MAILDIR_BATCH_MAX 64
/* A unique file name and its NUL; NAME_MAX bounds it on disk. */
#define HBK_MAILDIR_NAME_BYTES (NAME_MAX + 1)

/*
 * One message of a batch. data (len octets) is borrowed and must stay
 * valid through the call. The delivery fills the rest: rc is HBK_OK once
 * the message is in new/ under name, else err says why it is not.
 */
struct hbk_maildir_message {
	const char *data;
	size_t len;
	hbk_result rc;
	struct hbk_error err;
	char name[HBK_MAILDIR_NAME_BYTES];
};

/* Creates maildir and its tmp/, new/ and cur/ (mode 0700) when missing. */
hbk_result hbk_maildir_prepare(const char *maildir, struct hbk_error *err);

/*
 * Delivers count (1..HBK_MAILDIR_BATCH_MAX) messages into maildir/new/
 * with one flush of their data and one of new/ for the whole batch. A
 * message that cannot be written fails alone; a failed flush fails every
 * message it covers. Returns how many messages are in new/. Nothing is
 * left in tmp/, and nothing partial ever appears in new/.
 */
int hbk_maildir_deliver_batch(const char *maildir, struct hbk_maildir_message *messages, int count);

/* Delivers one message (len octets, borrowed): a batch of one. */
hbk_result hbk_maildir_deliver(const char *maildir, const char *message, size_t len,
			       struct hbk_error *err);

#endif
