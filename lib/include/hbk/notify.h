/*
 * notify.h - guest notifications: confirmation, update, cancellation.
 *
 * Channels: email (notify.email.kind: "maildir", the embedded default,
 * writes RFC 5322 messages to $HBK_HOME/mail/new/; "smtp" sends them over
 * SMTP with libcurl) and SMS (notify.sms.kind: "none" by default; "sns"
 * publishes through AWS SNS, signed with SigV4). When both are configured
 * both are sent.
 *
 * A notification that cannot be sent never fails a booking. With a store
 * (hbk_notifier_set_store), a failed notice is kept in the notices table
 * as due for retry, with its rendered message (never a secret); it is
 * retried with backoff by hbk_notify_retry_due() (hbkd's timer,
 * `hbk-admin notify retry`) and parked after notify.retry.attempts
 * attempts, for an operator to resend. Nothing here sleeps. A channel that
 * cannot be reached three times in a row is not tried for 30 s (its
 * notices are kept at once), so a dead server does not hold hbkd's loop
 * once per booking.
 */
#ifndef HBK_NOTIFY_H
#define HBK_NOTIFY_H

#include <pthread.h>

#include <jansson.h>

#include "hbk/core.h"

struct hbk_config;
struct hbk_store;

enum hbk_notice { HBK_NOTICE_CONFIRMATION, HBK_NOTICE_UPDATE, HBK_NOTICE_CANCELLATION };

struct hbk_notifier;

/* Defaults of notify.retry.attempts and notify.retry.backoff_ms. */
#define HBK_NOTIFY_ATTEMPTS_DEFAULT   5
#define HBK_NOTIFY_BACKOFF_MS_DEFAULT 30000
/* The longest wait between two attempts, whatever the backoff. */
#define HBK_NOTIFY_BACKOFF_MS_MAX (6 * 3600 * 1000)

hbk_result hbk_notifier_open(const struct hbk_config *cfg, struct hbk_notifier **out,
			     struct hbk_error *err);
void hbk_notifier_close(struct hbk_notifier *notifier);

/* Gives the notifier a store (borrowed; it must outlive the notifier or be
 * unset with NULL) where failed notices wait for a retry. */
void hbk_notifier_set_store(struct hbk_notifier *notifier, struct hbk_store *store);

/*
 * Sends the notice for a booking (the booking JSON of DESIGN.md, borrowed)
 * on every configured channel, once each. A channel that fails is stored
 * as due for retry (when the notifier has a store) and the call returns
 * its error, whose message says so and whose field names the channel
 * ("email" or "sms"); the caller records it and goes on. A notifier that
 * queues only stores the rendered notices (see hbk_notifier_queue_to) and
 * fails only when the store does.
 */
hbk_result hbk_notify_send(struct hbk_notifier *notifier, enum hbk_notice notice,
			   const json_t *booking, struct hbk_error *err);

/*
 * Delivery off the caller's thread, for hbkd: a thread with its own store
 * connection and notifier sends the notices queued in the notices table,
 * so that a booking's answer never waits on a mail server. A notifier
 * that queues (hbk_notifier_queue_to) makes hbk_notify_send render the
 * notice and store it as pending, due at once, inside the caller's
 * transaction when there is one; hbk_notifier_kick, after that commits,
 * wakes the thread. The thread also retries the notices whose backoff has
 * passed, every HBK_NOTIFY_PASS_EVERY_MS. A notice delivered at its first
 * attempt is dropped from the table, as if it had been sent at once; one
 * that fails is kept, retried and parked exactly as a synchronous send's.
 */
struct hbk_notify_delivery;

/* How often the delivery thread looks for due retries unprompted. */
#define HBK_NOTIFY_PASS_EVERY_MS 5000

/*
 * Opens a store connection and a notifier of its own from cfg (borrowed;
 * it must outlive the delivery) and starts the thread. write_lock (may be
 * NULL) is the lock the process's other store connections take before
 * writing. On success *out is the caller's, stopped with
 * hbk_notify_delivery_stop().
 */
hbk_result hbk_notify_delivery_start(const struct hbk_config *cfg, pthread_mutex_t *write_lock,
				     struct hbk_notify_delivery **out, struct hbk_error *err);

/* Makes one last pass over what is due, stops the thread and frees it.
 * Every notifier queueing to it must be done. Safe on NULL. */
void hbk_notify_delivery_stop(struct hbk_notify_delivery *delivery);

/* From now on notifier (which must have a store) queues its notices for
 * delivery (borrowed; it must outlive the notifier's sends). */
void hbk_notifier_queue_to(struct hbk_notifier *notifier, struct hbk_notify_delivery *delivery);

/* True when notifier queues rather than sends. */
bool hbk_notifier_queues(const struct hbk_notifier *notifier);

/* Wakes the delivery thread once queued notices are committed; does
 * nothing for a notifier that sends at once. */
void hbk_notifier_kick(struct hbk_notifier *notifier);

/*
 * Tries again up to max notices whose retry is due (max <= 0: a default
 * bound). *sent counts those delivered. A notice that fails again waits
 * longer, or is parked after its last attempt. Notices sent more than 30
 * days ago are dropped on the way. Fails only when the store does; a
 * failed delivery is recorded, not returned.
 */
hbk_result hbk_notify_retry_due(struct hbk_notifier *notifier, struct hbk_store *store, int max,
				int *sent, struct hbk_error *err);

/*
 * Sends one stored notice now, due or parked (hbk-admin notify resend ID).
 * HBK_ENOTFOUND when there is no such notice, HBK_ECONFLICT when it was
 * already sent; a failed delivery is recorded and returned.
 */
hbk_result hbk_notify_resend(struct hbk_notifier *notifier, struct hbk_store *store, long long id,
			     struct hbk_error *err);

/* Sends every parked notice now (resend --all); counts both outcomes. */
hbk_result hbk_notify_resend_parked(struct hbk_notifier *notifier, struct hbk_store *store,
				    int *sent, int *failed, struct hbk_error *err);

/*
 * The stored notices, newest first, as {"notices":[{"id","booking_id",
 * "kind","channel","recipient","status":"pending|parked|sent","attempts",
 * "last_error","next_attempt_at","created_at","updated_at"}]} (a new
 * reference in *out). parked_only: only the parked ones. The messages
 * themselves are left out.
 */
hbk_result hbk_notify_list(struct hbk_store *store, bool parked_only, json_t **out,
			   struct hbk_error *err);

/* Appends the gauge hbk_notify_notices{status="pending|parked|sent"} in
 * Prometheus text format (for hbkd's /metrics). */
hbk_result hbk_notify_metrics(struct hbk_store *store, struct hbk_buf *out, struct hbk_error *err);

/* Creates the notices table (the store's migrations call it). */
hbk_result hbk_notify_migrate(struct hbk_store *store, struct hbk_error *err);

/* Renders the RFC 5322 message (CRLF line ends) into buf; for adapters and tests. */
hbk_result hbk_notify_render(enum hbk_notice notice, const json_t *booking, const char *from,
			     int64_t now_ms, struct hbk_buf *buf, struct hbk_error *err);

/* Renders the SMS text (one line, at most HBK_NOTIFY_SMS_MAX_BYTES) and
 * the subject SNS gives email subscribers of a topic. */
#define HBK_NOTIFY_SMS_MAX_BYTES 320
hbk_result hbk_notify_render_sms(enum hbk_notice notice, const json_t *booking,
				 struct hbk_buf *text, struct hbk_buf *subject,
				 struct hbk_error *err);

/*
 * The form body of an SNS Publish (Action=Publish&Version=2010-03-31, then
 * TopicArn when topic_arn is set, else PhoneNumber, then Message and
 * Subject when not empty), percent-encoded as SigV4 wants: every octet but
 * A-Z a-z 0-9 - _ . ~ as %XX. Appends to body.
 */
void hbk_notify_sns_form(const char *topic_arn, const char *phone, const char *message,
			 const char *subject, struct hbk_buf *body);

/* The delay before attempt number attempts + 1 after attempts failures:
 * backoff_ms doubled per failure, capped at HBK_NOTIFY_BACKOFF_MS_MAX. */
int64_t hbk_notify_retry_delay_ms(int attempts, int64_t backoff_ms);

/* The addr-spec of a mailbox ("hbk <b@x.y>" or "b@x.y") as "<b@x.y>" for
 * SMTP's MAIL FROM; false when there is none or it has a space or control
 * character. */
bool hbk_notify_envelope_address(const char *mailbox, char *out, size_t size);

#endif
