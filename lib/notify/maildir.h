/*
 * maildir.h - the Maildir delivery that notify.c uses; internal to
 * lib/notify.
 */
#ifndef HBK_NOTIFY_MAILDIR_H
#define HBK_NOTIFY_MAILDIR_H

#include <stddef.h>

#include "hbk/core.h"

/* Creates maildir and its tmp/, new/ and cur/ (mode 0700) when missing. */
hbk_result hbk_maildir_prepare(const char *maildir, struct hbk_error *err);
/* Writes message (len bytes, borrowed) to tmp/, fsyncs, renames into new/. */
hbk_result hbk_maildir_deliver(const char *maildir, const char *message, size_t len,
			       struct hbk_error *err);

#endif
