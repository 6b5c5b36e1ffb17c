/*
 * channels.h - the outbound channels of lib/notify (SMTP and SNS over
 * libcurl) and the notices table where failed notices wait; internal to
 * lib/notify.
 */
#ifndef HBK_NOTIFY_CHANNELS_H
#define HBK_NOTIFY_CHANNELS_H

#include <stddef.h>

#include "hbk/core.h"
#include "hbk/notify.h"
#include "hbk/store.h"

/* SMTP: notify.email.url (smtp://host:port or smtps://), the envelope
 * sender, optional credentials (secrets). All owned by the notifier. */
struct notify_smtp {
	char *url;
	char *mail_from; /* "<addr>" */
	char *username;	 /* NULL: no AUTH */
	char *password;
	long timeout_ms;
	void *curl; /* the libcurl handle kept between sends; NULL until one */
};

/* SNS: the endpoint, the SigV4 scope and credentials (secrets). */
struct notify_sns {
	char *url; /* https://sns.<region>.amazonaws.com/ or notify.sms.url */
	char *region;
	char *topic_arn; /* NULL: publish to the guest's phone */
	char *key_id;
	char *secret;
	long timeout_ms;
};

/* Sends message (len octets, CRLF lines) to rcpt, an addr-spec. */
hbk_result notify_smtp_send(struct notify_smtp *smtp, const char *rcpt, const char *message,
			    size_t len, struct hbk_error *err);

/* Closes the kept SMTP session. */
void notify_smtp_close(struct notify_smtp *smtp);

/* Publishes message to topic_arn when it starts with "arn:", else to the
 * phone number recipient. */
hbk_result notify_sns_publish(const struct notify_sns *sns, const char *recipient,
			      const char *subject, const char *message, struct hbk_error *err);

/* A notice as the notices table holds it. Strings owned by the record. */
struct notice_row {
	long long id;
	char *booking_id;
	char *kind;
	char *channel; /* "email", "sms" */
	char *recipient;
	char *subject;
	char *message;
	char *status;
	int attempts;
};

void notice_row_free(struct notice_row *row);

/* Stores a notice whose first attempt failed; *id is its row id. */
hbk_result notices_add(struct hbk_store *store, const struct notice_row *row,
		       const char *last_error, const char *status, int64_t next_attempt_ms,
		       long long *id, struct hbk_error *err);

/* The most notices one retry pass claims. */
#define NOTICES_CLAIM_MAX 64

/*
 * Claims up to max pending notices due at now_ms (rows[] filled, *count
 * set): each claimed row's next attempt is moved lease_ms on, so a
 * concurrent retrier skips it while this one sends.
 */
hbk_result notices_claim_due(struct hbk_store *store, int64_t now_ms, int64_t lease_ms, int max,
			     struct notice_row *rows, int *count, struct hbk_error *err);

/* Reads one notice (HBK_ENOTFOUND when absent). */
hbk_result notices_get(struct hbk_store *store, long long id, struct notice_row *row,
		       struct hbk_error *err);

/* Drops the notices sent more than 30 days before now_ms. */
hbk_result notices_prune_sent(struct hbk_store *store, int64_t now_ms, struct hbk_error *err);

/* Ids of the parked notices, oldest first, at most max. */
hbk_result notices_parked_ids(struct hbk_store *store, int max, long long *ids, int *count,
			      struct hbk_error *err);

/* Records an attempt: sent, or failed with error and the next status
 * ("pending" with next_attempt_ms, or "parked"). */
hbk_result notices_record(struct hbk_store *store, long long id, bool sent, const char *error,
			  const char *status, int64_t next_attempt_ms, struct hbk_error *err);

/* Deletes a notice delivered at its first attempt. */
hbk_result notices_drop(struct hbk_store *store, long long id, struct hbk_error *err);

/*
 * Claims up to max (1..NOTICES_CLAIM_MAX) due notices and tries each
 * once; *claimed counts those claimed, *sent those delivered. Fails only
 * when the store does.
 */
hbk_result notify_deliver_due(struct hbk_notifier *notifier, struct hbk_store *store, int max,
			      int *claimed, int *sent, struct hbk_error *err);

/* Wakes the delivery thread (delivery.c). */
void notify_delivery_kick(struct hbk_notify_delivery *delivery);

#endif
