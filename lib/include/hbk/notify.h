/*
 * notify.h - guest notifications: confirmation, update, cancellation.
 * Adapter "maildir" writes RFC 5322 messages to $HBK_HOME/mail/new/.
 * A notification that cannot be sent never fails a booking.
 */
#ifndef HBK_NOTIFY_H
#define HBK_NOTIFY_H

#include <jansson.h>

#include "hbk/core.h"

struct hbk_config;

enum hbk_notice { HBK_NOTICE_CONFIRMATION, HBK_NOTICE_UPDATE, HBK_NOTICE_CANCELLATION };

struct hbk_notifier;

hbk_result hbk_notifier_open(const struct hbk_config *cfg, struct hbk_notifier **out,
			     struct hbk_error *err);
void hbk_notifier_close(struct hbk_notifier *notifier);

/* Sends the notice for a booking (the booking JSON of DESIGN.md, borrowed). */
hbk_result hbk_notify_send(struct hbk_notifier *notifier, enum hbk_notice notice,
			   const json_t *booking, struct hbk_error *err);

/* Renders the RFC 5322 message (CRLF line ends) into buf; for adapters and tests. */
hbk_result hbk_notify_render(enum hbk_notice notice, const json_t *booking, const char *from,
			     int64_t now_ms, struct hbk_buf *buf, struct hbk_error *err);

#endif
