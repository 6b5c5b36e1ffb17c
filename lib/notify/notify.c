/*
 * notify.c - the notifier: picks the email channel (notify.email.kind:
 * "maildir" by default, or "smtp") and the SMS channel (notify.sms.kind:
 * "none" by default, or "sns") from the configuration, sends rendered
 * messages, and keeps the ones that failed in the notices table for a
 * later attempt.
 *
 * The maildir adapter delivers to $HBK_HOME/mail. Its directories are
 * created on the first send rather than at open, so that tools which never
 * notify never touch the disk.
 *
 * Nothing here sleeps: a failed send is stored as due for retry at once,
 * and hbk_notify_retry_due() (hbkd's delivery thread, hbk-admin notify
 * retry) tries it again once its backoff has passed. A send itself is
 * synchronous (one libcurl exchange, bounded by notify.timeout_ms and a
 * connect timeout of at most 2 s), which is why hbkd's notifiers only
 * queue (delivery.c) and leave the sending to a thread of its own. The credentials the channels use
 * (SMTP password, AWS keys) live only in this struct and are wiped on
 * close; they never reach a message, a row or an error.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "hbk/config.h"
#include "hbk/json.h"
#include "hbk/notify.h"

#include "channels.h"
#include "maildir.h"

#define NOTIFY_FROM_DEFAULT "hbk <bookings@hbk.invalid>"
/* A booking summary is a few kilobytes; this bounds a hostile one. */
#define MESSAGE_MAX_BYTES      (1024u * 1024u)
#define MAILDIR_PATH_MAX_BYTES 4096u
#define URL_MAX_BYTES	       2048u
#define ENVELOPE_MAX_BYTES     512u
#define TIMEOUT_MS_DEFAULT     10000
#define ATTEMPTS_MAX	       20
/* Notices one resend --all goes through, and one retry pass by default. */
#define RESEND_ALL_MAX	    1000
#define RETRY_BATCH_DEFAULT 16

/* A channel that could not be reached this many times in a row is not
 * tried for BREAKER_OPEN_MS: its notices are kept at once, so a server
 * that is down costs hbkd's loop one connect timeout per pass, not one
 * per booking. The next attempt after that is the probe. */
#define BREAKER_FAILURES 3
#define BREAKER_OPEN_MS	 30000

enum email_kind { EMAIL_MAILDIR, EMAIL_SMTP };

struct channel_breaker {
	int failures; /* unavailable in a row */
	int64_t open_until_ms;
};
enum sms_kind { SMS_NONE, SMS_SNS };

struct hbk_notifier {
	enum email_kind email;
	enum sms_kind sms;
	char *from;    /* owned */
	char *maildir; /* owned; the Maildir root, for EMAIL_MAILDIR */
	bool maildir_ready;
	struct notify_smtp smtp; /* EMAIL_SMTP */
	struct notify_sns sns;	 /* SMS_SNS */
	struct hbk_store *store; /* borrowed; NULL: failures are not kept */
	struct hbk_notify_delivery *delivery; /* borrowed; non-NULL: queue, not send */
	struct channel_breaker email_breaker, sms_breaker;
	int attempts_max;
	int64_t backoff_ms;
	long timeout_ms;
};

static const char *const notice_names[] = {
    [HBK_NOTICE_CONFIRMATION] = "confirmation",
    [HBK_NOTICE_UPDATE] = "update",
    [HBK_NOTICE_CANCELLATION] = "cancellation",
};

/* ------------------------------------------------------------------------
 * Pure helpers.
 */

int64_t hbk_notify_retry_delay_ms(int attempts, int64_t backoff_ms)
{
	int64_t delay_ms = backoff_ms > 0 ? backoff_ms : 0;

	for (int i = 1; i < attempts && delay_ms < HBK_NOTIFY_BACKOFF_MS_MAX; i++)
		delay_ms *= 2;
	return delay_ms < HBK_NOTIFY_BACKOFF_MS_MAX ? delay_ms : HBK_NOTIFY_BACKOFF_MS_MAX;
}

bool hbk_notify_envelope_address(const char *mailbox, char *out, size_t size)
{
	const char *start = mailbox, *end;

	HBK_ASSERT(out != NULL && size > 0);
	out[0] = '\0';
	if (!mailbox)
		return false;
	const char *open = strrchr(mailbox, '<');
	if (open) {
		start = open + 1;
		end = strchr(start, '>');
		if (!end)
			return false;
	} else {
		while (*start == ' ')
			start++;
		end = start + strlen(start);
		while (end > start && end[-1] == ' ')
			end--;
	}
	size_t len = (size_t)(end - start);
	if (len == 0 || len + 3 > size)
		return false;
	bool at = false;
	for (const char *p = start; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',')
			return false;
		at = at || c == '@';
	}
	if (!at)
		return false;
	out[0] = '<';
	memcpy(out + 1, start, len);
	out[len + 1] = '>';
	out[len + 2] = '\0';
	return true;
}

/* ------------------------------------------------------------------------
 * Opening.
 */

static hbk_result open_maildir(const struct hbk_config *cfg, struct hbk_notifier *notifier,
			       struct hbk_error *err)
{
	const char *home = hbk_config_home(cfg);
	struct hbk_buf path;

	if (!home || !*home)
		return hbk_fail(err, HBK_EINVAL, "config_invalid",
				"no home directory for the maildir (set HBK_HOME)");
	hbk_buf_init(&path, MAILDIR_PATH_MAX_BYTES);
	if (!hbk_buf_printf(&path, "%s/mail", home)) {
		hbk_buf_free(&path);
		return hbk_fail(err, HBK_EINVAL, "config_invalid",
				"home directory path is too long");
	}
	notifier->email = EMAIL_MAILDIR;
	notifier->maildir = hbk_buf_detach(&path);
	hbk_buf_free(&path);
	return HBK_OK;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A URL we accept from the configuration: one of the schemes, a host, no
 * white space or control character, at most URL_MAX_BYTES. */
static bool url_ok(const char *url, const char *scheme_a, const char *scheme_b)
{
	const char *rest = has_prefix(url, scheme_a)   ? url + strlen(scheme_a)
			   : has_prefix(url, scheme_b) ? url + strlen(scheme_b)
						       : NULL;
	if (!rest || !*rest || *rest == '/' || strlen(url) > URL_MAX_BYTES)
		return false;
	/* Credentials in the URL would show in `hbk-admin config show`: they
	 * belong in the secret settings. */
	size_t authority = strcspn(rest, "/?#");
	if (memchr(rest, '@', authority))
		return false;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

static hbk_result open_smtp(const struct hbk_config *cfg, struct hbk_notifier *notifier,
			    struct hbk_error *err)
{
	char envelope[ENVELOPE_MAX_BYTES];
	const char *url = hbk_config_get(cfg, "notify.email.url", "");
	const char *username = hbk_config_get(cfg, "notify.email.username", NULL);
	const char *password = hbk_config_get(cfg, "notify.email.password", NULL);

	if (!url_ok(url, "smtp://", "smtps://"))
		return hbk_fail_field(err, HBK_EINVAL, "config_invalid", "notify.email.url",
				      "notify.email.url must be smtp://HOST[:PORT] or "
				      "smtps://HOST[:PORT] (credentials in notify.email.username "
				      "and password) with notify.email.kind smtp");
	if (!hbk_notify_envelope_address(notifier->from, envelope, sizeof(envelope)))
		return hbk_fail_field(err, HBK_EINVAL, "config_invalid", "notify.email.from",
				      "notify.email.from has no usable address");
	notifier->email = EMAIL_SMTP;
	notifier->smtp.url = hbk_xstrdup(url);
	notifier->smtp.mail_from = hbk_xstrdup(envelope);
	notifier->smtp.username = username && *username ? hbk_xstrdup(username) : NULL;
	notifier->smtp.password = password ? hbk_xstrdup(password) : NULL;
	notifier->smtp.timeout_ms = notifier->timeout_ms;
	return HBK_OK;
}

static bool region_ok(const char *region)
{
	if (!*region || strlen(region) > 32)
		return false;
	for (const char *p = region; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

/* A secret from the configuration, else from the environment AWS tools
 * read. Owned copy, or NULL. */
static char *credential(const struct hbk_config *cfg, const char *key, const char *env_name)
{
	const char *value = hbk_config_get(cfg, key, NULL);

	if (!value || !*value)
		value = getenv(env_name);
	return value && *value ? hbk_xstrdup(value) : NULL;
}

static hbk_result open_sns(const struct hbk_config *cfg, struct hbk_notifier *notifier,
			   struct hbk_error *err)
{
	const char *env_region = getenv("AWS_REGION");
	const char *region = hbk_config_get(cfg, "notify.sms.region", env_region ? env_region : "");
	const char *url = hbk_config_get(cfg, "notify.sms.url", NULL);
	const char *topic_arn = hbk_config_get(cfg, "notify.sms.topic_arn", NULL);
	struct hbk_buf endpoint;

	if (!region_ok(region))
		return hbk_fail_field(err, HBK_EINVAL, "config_invalid", "notify.sms.region",
				      "notify.sms.region must be an AWS region (eu-west-1) with "
				      "notify.sms.kind sns");
	if (url && (!url_ok(url, "http://", "https://") || strchr(url, '?') || strchr(url, '#')))
		return hbk_fail_field(err, HBK_EINVAL, "config_invalid", "notify.sms.url",
				      "notify.sms.url must be an http:// or https:// URL without "
				      "a query");
	if (topic_arn && *topic_arn &&
	    (!has_prefix(topic_arn, "arn:") || strpbrk(topic_arn, " \r\n")))
		return hbk_fail_field(err, HBK_EINVAL, "config_invalid", "notify.sms.topic_arn",
				      "notify.sms.topic_arn must be an ARN (arn:aws:sns:...)");
	hbk_buf_init(&endpoint, URL_MAX_BYTES + 2);
	if (url) {
		hbk_buf_puts(&endpoint, url);
		/* A bare host gets the root path: SigV4 signs the path. */
		if (!strchr(strstr(url, "://") + 3, '/'))
			hbk_buf_putc(&endpoint, '/');
	} else {
		hbk_buf_printf(&endpoint, "https://sns.%s.amazonaws.com/", region);
	}
	notifier->sms = SMS_SNS;
	notifier->sns.url = hbk_buf_detach(&endpoint);
	hbk_buf_free(&endpoint);
	notifier->sns.region = hbk_xstrdup(region);
	notifier->sns.topic_arn = topic_arn && *topic_arn ? hbk_xstrdup(topic_arn) : NULL;
	notifier->sns.key_id = credential(cfg, "notify.sms.access_key_id", "AWS_ACCESS_KEY_ID");
	notifier->sns.secret =
	    credential(cfg, "notify.sms.secret_access_key", "AWS_SECRET_ACCESS_KEY");
	notifier->sns.timeout_ms = notifier->timeout_ms;
	if (!notifier->sns.key_id || !notifier->sns.secret)
		return hbk_fail_field(err, HBK_EINVAL, "config_invalid",
				      "notify.sms.secret_access_key",
				      "notify.sms.kind sns needs notify.sms.access_key_id and "
				      "notify.sms.secret_access_key (or AWS_ACCESS_KEY_ID and "
				      "AWS_SECRET_ACCESS_KEY)");
	return HBK_OK;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* libcurl's global set-up is not thread-safe: done once, before any
 * handle, for the SMTP and SNS channels. */
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static hbk_result open_retry(const struct hbk_config *cfg, struct hbk_notifier *notifier,
			     struct hbk_error *err)
{
	long long attempts, backoff_ms, timeout_ms;
	hbk_result rc =
	    hbk_config_get_int(cfg, "notify.retry.attempts", HBK_NOTIFY_ATTEMPTS_DEFAULT, 1,
			       ATTEMPTS_MAX, &attempts, err);
	if (rc == HBK_OK)
		rc = hbk_config_get_int(cfg, "notify.retry.backoff_ms",
					HBK_NOTIFY_BACKOFF_MS_DEFAULT, 0, HBK_NOTIFY_BACKOFF_MS_MAX,
					&backoff_ms, err);
	if (rc == HBK_OK)
		rc = hbk_config_get_int(cfg, "notify.timeout_ms", TIMEOUT_MS_DEFAULT, 100, 120000,
					&timeout_ms, err);
	if (rc != HBK_OK)
		return rc;
	notifier->attempts_max = (int)attempts;
	notifier->backoff_ms = backoff_ms;
	notifier->timeout_ms = (long)timeout_ms;
	return HBK_OK;
}

/*
 * Opens the notifier the configuration asks for. cfg is borrowed and need
 * not outlive the notifier. On success *out is the caller's, closed with
 * hbk_notifier_close().
 */
hbk_result hbk_notifier_open(const struct hbk_config *cfg, struct hbk_notifier **out,
			     struct hbk_error *err)
{
	HBK_ASSERT(cfg != NULL && out != NULL);
	*out = NULL;

	const char *kind = hbk_config_get(cfg, "notify.email.kind", "maildir");
	const char *sms = hbk_config_get(cfg, "notify.sms.kind", "none");
	const char *from = hbk_config_get(cfg, "notify.email.from", NOTIFY_FROM_DEFAULT);
	if (!from || !*from)
		from = NOTIFY_FROM_DEFAULT;
	if (strcmp(kind, "maildir") != 0 && strcmp(kind, "smtp") != 0)
		return hbk_fail_field(err, HBK_EINVAL, "config_invalid", "notify.email.kind",
				      "unknown notify kind '%s' (maildir or smtp)", kind);
	if (strcmp(sms, "none") != 0 && strcmp(sms, "sns") != 0)
		return hbk_fail_field(err, HBK_EINVAL, "config_invalid", "notify.sms.kind",
				      "unknown sms kind '%s' (none or sns)", sms);

	struct hbk_notifier *notifier = hbk_xcalloc(1, sizeof(*notifier));
	notifier->from = hbk_xstrdup(from);
	hbk_result rc = open_retry(cfg, notifier, err);
	if (rc == HBK_OK)
		rc = strcmp(kind, "smtp") == 0 ? open_smtp(cfg, notifier, err)
					       : open_maildir(cfg, notifier, err);
	if (rc == HBK_OK && strcmp(sms, "sns") == 0)
		rc = open_sns(cfg, notifier, err);
	if (rc != HBK_OK) {
		hbk_notifier_close(notifier);
		return rc;
	}
	if (notifier->email == EMAIL_SMTP || notifier->sms == SMS_SNS)
		pthread_once(&curl_once, curl_init_once);
	*out = notifier;
	return HBK_OK;
}

static void free_secret(char *secret)
{
	if (secret)
		explicit_bzero(secret, strlen(secret));
	free(secret);
}

/* Frees the notifier, wiping its credentials. Safe on NULL. */
void hbk_notifier_close(struct hbk_notifier *notifier)
{
	if (!notifier)
		return;
	free(notifier->from);
	free(notifier->maildir);
	notify_smtp_close(&notifier->smtp);
	free(notifier->smtp.url);
	free(notifier->smtp.mail_from);
	free(notifier->smtp.username);
	free_secret(notifier->smtp.password);
	free(notifier->sns.url);
	free(notifier->sns.region);
	free(notifier->sns.topic_arn);
	free_secret(notifier->sns.key_id);
	free_secret(notifier->sns.secret);
	free(notifier);
}

void hbk_notifier_set_store(struct hbk_notifier *notifier, struct hbk_store *store)
{
	HBK_ASSERT(notifier != NULL);
	notifier->store = store;
}

void hbk_notifier_queue_to(struct hbk_notifier *notifier, struct hbk_notify_delivery *delivery)
{
	HBK_ASSERT(notifier != NULL);
	HBK_ASSERT(delivery == NULL || notifier->store != NULL);
	notifier->delivery = delivery;
}

bool hbk_notifier_queues(const struct hbk_notifier *notifier)
{
	return notifier != NULL && notifier->delivery != NULL;
}

void hbk_notifier_kick(struct hbk_notifier *notifier)
{
	if (hbk_notifier_queues(notifier))
		notify_delivery_kick(notifier->delivery);
}

/* ------------------------------------------------------------------------
 * Delivery.
 */

/* Creates the Maildir on the first delivery to it. */
static hbk_result prepare_maildir(struct hbk_notifier *notifier, struct hbk_error *err)
{
	HBK_ASSERT(notifier->email == EMAIL_MAILDIR);
	if (notifier->maildir_ready)
		return HBK_OK;
	hbk_result rc = hbk_maildir_prepare(notifier->maildir, err);
	notifier->maildir_ready = rc == HBK_OK;
	return rc;
}

static hbk_result deliver_email(struct hbk_notifier *notifier, const char *recipient,
				const char *message, size_t len, struct hbk_error *err)
{
	if (notifier->email == EMAIL_SMTP)
		return notify_smtp_send(&notifier->smtp, recipient, message, len, err);
	hbk_result rc = prepare_maildir(notifier, err);
	if (rc != HBK_OK)
		return rc;
	return hbk_maildir_deliver(notifier->maildir, message, len, err);
}

/* Sends a rendered notice on its channel, as configured now. */
static hbk_result deliver(struct hbk_notifier *notifier, const struct notice_row *row,
			  struct hbk_error *err)
{
	if (strcmp(row->channel, "email") == 0)
		return deliver_email(notifier, row->recipient, row->message, strlen(row->message),
				     err);
	if (strcmp(row->channel, "sms") == 0) {
		if (notifier->sms != SMS_SNS)
			return hbk_fail(err, HBK_EINVAL, "sms_unconfigured",
					"sms is not configured (notify.sms.kind)");
		return notify_sns_publish(&notifier->sns, row->recipient, row->subject,
					  row->message, err);
	}
	return hbk_fail(err, HBK_EINTERNAL, "invalid_notice", "unknown channel '%s'", row->channel);
}

/* The breaker of the channel row goes out on. */
static struct channel_breaker *breaker_of(struct hbk_notifier *notifier,
					  const struct notice_row *row)
{
	return strcmp(row->channel, "sms") == 0 ? &notifier->sms_breaker : &notifier->email_breaker;
}

/* Whether breaker b lets an attempt on channel through at now_ms; when
 * not, err says so. */
static bool breaker_allows(const struct channel_breaker *b, const char *channel, int64_t now_ms,
			   struct hbk_error *err)
{
	if (b->open_until_ms <= now_ms)
		return true;
	hbk_fail(err, HBK_EUNAVAILABLE, "notify_circuit_open",
		 "%s failed %d times in a row; not tried for %d s", channel, b->failures,
		 BREAKER_OPEN_MS / 1000);
	return false;
}

/* Counts the outcome rc of an attempt made at now_ms into breaker b. */
static void breaker_note(struct channel_breaker *b, hbk_result rc, int64_t now_ms)
{
	if (rc == HBK_OK) {
		b->failures = 0;
		b->open_until_ms = 0;
	} else if (rc == HBK_EUNAVAILABLE && ++b->failures >= BREAKER_FAILURES) {
		b->open_until_ms = now_ms + BREAKER_OPEN_MS;
	}
}

/*
 * deliver() behind the channel's breaker: while it is open nothing is
 * tried (*tried false) and the notice fails as unavailable at once.
 */
static hbk_result deliver_guarded(struct hbk_notifier *notifier, const struct notice_row *row,
				  bool *tried, struct hbk_error *err)
{
	struct channel_breaker *b = breaker_of(notifier, row);
	int64_t now_ms = hbk_now_ms();

	*tried = breaker_allows(b, row->channel, now_ms, err);
	if (!*tried)
		return HBK_EUNAVAILABLE;
	hbk_result rc = deliver(notifier, row, err);
	breaker_note(b, rc, now_ms);
	return rc;
}

/* After a failed attempt number attempts: the status the notice takes and
 * when it is due again. */
static const char *after_failure(const struct hbk_notifier *notifier, int attempts,
				 int64_t *next_attempt_ms)
{
	if (attempts >= notifier->attempts_max) {
		*next_attempt_ms = 0;
		return "parked";
	}
	*next_attempt_ms = hbk_now_ms() + hbk_notify_retry_delay_ms(attempts, notifier->backoff_ms);
	return "pending";
}

/* Keeps a notice whose first attempt failed (cause, filled) and says so
 * in cause's message. A store failure is added to the message too. */
static void keep_failed(struct hbk_notifier *notifier, struct notice_row *row,
			struct hbk_error *cause)
{
	struct hbk_error store_err = {0};
	int64_t next_attempt_ms;
	long long id = 0;

	if (!notifier->store) {
		hbk_error_prefix(cause, "%s to %s", row->channel, row->recipient);
		return;
	}
	row->attempts = 1;
	const char *status = after_failure(notifier, 1, &next_attempt_ms);
	if (notices_add(notifier->store, row, cause->message, status, next_attempt_ms, &id,
			&store_err) != HBK_OK) {
		hbk_error_prefix(cause, "%s to %s (not kept for retry: %s)", row->channel,
				 row->recipient, store_err.message);
		return;
	}
	hbk_error_prefix(cause, "%s to %s (notice %lld %s)", row->channel, row->recipient, id,
			 strcmp(status, "parked") == 0 ? "parked" : "will be retried");
}

/* Stores row as pending and due now, for the delivery thread. */
static hbk_result queue(struct hbk_notifier *notifier, struct notice_row *row,
			struct hbk_error *err)
{
	row->attempts = 0;
	hbk_result rc =
	    notices_add(notifier->store, row, "", "pending", hbk_now_ms(), NULL, err);
	if (rc != HBK_OK)
		hbk_error_prefix(err, "%s to %s not queued", row->channel, row->recipient);
	return rc;
}

/* Delivers (or queues) row; on failure keeps it and merges the error
 * into *first. */
static void send_channel(struct hbk_notifier *notifier, struct notice_row *row,
			 hbk_result *first_rc, struct hbk_error *err)
{
	struct hbk_error cause = {0};
	bool tried;
	hbk_result rc = notifier->delivery ? queue(notifier, row, &cause)
					   : deliver_guarded(notifier, row, &tried, &cause);

	if (rc == HBK_OK)
		return;
	if (!notifier->delivery)
		keep_failed(notifier, row, &cause);
	if (*first_rc == HBK_OK) {
		*first_rc = rc;
		if (err)
			*err = cause;
	} else if (err) {
		/* Joined in twice the room, then cut on a character. */
		char joined[2 * HBK_ERROR_MESSAGE_MAX];
		snprintf(joined, sizeof(joined), "%s; %s", err->message, cause.message);
		hbk_utf8_copy(err->message, sizeof(err->message), joined, strlen(joined));
	}
}

/* A member of the booking's guest ("email", "phone"), else "". Borrowed. */
static const char *guest_field(const json_t *booking, const char *field)
{
	const json_t *guest = json_object_get(booking, "guest");
	return json_is_object(guest) ? hbk_json_str(guest, field, "") : "";
}

/*
 * Renders the notice for booking (borrowed) and delivers it on every
 * channel. Failing here must not fail the booking: callers record the
 * error and go on.
 */
hbk_result hbk_notify_send(struct hbk_notifier *notifier, enum hbk_notice notice,
			   const json_t *booking, struct hbk_error *err)
{
	struct hbk_buf message, sms, subject;
	hbk_result rc, first_rc = HBK_OK;

	HBK_ASSERT(notifier != NULL);
	hbk_buf_init(&message, MESSAGE_MAX_BYTES);
	hbk_buf_init(&sms, HBK_NOTIFY_SMS_MAX_BYTES + 1);
	hbk_buf_init(&subject, HBK_NOTIFY_SMS_MAX_BYTES + 1);
	rc = hbk_notify_render(notice, booking, notifier->from, hbk_now_ms(), &message, err);
	if (rc != HBK_OK)
		goto out;
	struct notice_row row = {
	    .booking_id = (char *)hbk_json_str(booking, "id", ""),
	    .kind = (char *)notice_names[notice],
	    .channel = "email",
	    .recipient = (char *)guest_field(booking, "email"),
	    .subject = "",
	    .message = message.data,
	};
	send_channel(notifier, &row, &first_rc, err);
	bool email_failed = first_rc != HBK_OK;

	const char *to =
	    notifier->sns.topic_arn ? notifier->sns.topic_arn : guest_field(booking, "phone");
	if (notifier->sms == SMS_SNS && *to) {
		struct hbk_error render_err = {0};
		if (hbk_notify_render_sms(notice, booking, &sms, &subject, &render_err) != HBK_OK) {
			if (first_rc == HBK_OK) {
				first_rc = render_err.result;
				if (err)
					*err = render_err;
			}
		} else {
			row.channel = "sms";
			row.recipient = (char *)to;
			row.subject = subject.data ? subject.data : "";
			row.message = sms.data ? sms.data : "";
			send_channel(notifier, &row, &first_rc, err);
		}
	}
	rc = first_rc;
	/* The field names the channel that failed first. */
	if (rc != HBK_OK && err)
		hbk_copy(err->field, sizeof(err->field), email_failed ? "email" : "sms");
out:
	hbk_buf_free(&subject);
	hbk_buf_free(&sms);
	hbk_buf_free(&message);
	if (rc != HBK_OK && err)
		hbk_error_prefix(err, "notify");
	return rc;
}

/* ------------------------------------------------------------------------
 * Later attempts.
 */

/*
 * Records the outcome rc of an attempt at a stored notice (cause filled
 * when it failed). keep_parked: a failure leaves it parked (an operator's
 * resend). A retry the breaker did not let through (tried false) is not
 * recorded; a queued notice's first attempt always is, as a synchronous
 * send's would be. A queued notice delivered at its first attempt is
 * dropped: the table keeps only the notices that failed once, as when
 * they are sent at once.
 */
static hbk_result record_outcome(struct hbk_notifier *notifier, struct hbk_store *store,
				 const struct notice_row *row, hbk_result rc, bool tried,
				 bool keep_parked, const struct hbk_error *cause,
				 struct hbk_error *err)
{
	int64_t next_attempt_ms = 0;

	if (rc == HBK_OK && row->attempts == 0)
		return notices_drop(store, row->id, err);
	if (!tried && row->attempts > 0)
		return HBK_OK;
	const char *status = rc == HBK_OK  ? "sent"
			     : keep_parked ? "parked"
					   : after_failure(notifier, row->attempts + 1, &next_attempt_ms);
	return notices_record(store, row->id, rc == HBK_OK, cause->message, status,
			      next_attempt_ms, err);
}

/* One more attempt at a stored notice, recorded; see record_outcome.
 * guarded: behind the channel's breaker. */
static hbk_result attempt(struct hbk_notifier *notifier, struct hbk_store *store,
			  const struct notice_row *row, bool keep_parked, bool guarded,
			  struct hbk_error *err)
{
	struct hbk_error cause = {0};
	bool tried = true;

	hbk_result rc = guarded ? deliver_guarded(notifier, row, &tried, &cause)
				: deliver(notifier, row, &cause);
	hbk_result store_rc =
	    record_outcome(notifier, store, row, rc, tried, keep_parked, &cause, err);
	if (store_rc != HBK_OK)
		return store_rc;
	if (rc != HBK_OK && err) {
		*err = cause;
		hbk_error_prefix(err, "notice %lld: %s to %s", row->id, row->channel,
				 row->recipient);
	}
	return rc;
}

/* Sends one stored notice; see hbk_notify_resend. */
static hbk_result resend(struct hbk_notifier *notifier, struct hbk_store *store, long long id,
			 bool guarded, struct hbk_error *err)
{
	struct notice_row row;

	HBK_ASSERT(notifier != NULL && store != NULL);
	hbk_result rc = notices_get(store, id, &row, err);
	if (rc != HBK_OK)
		return rc;
	if (strcmp(row.status, "sent") == 0)
		rc =
		    hbk_fail(err, HBK_ECONFLICT, "notice_sent", "notice %lld was already sent", id);
	else
		rc =
		    attempt(notifier, store, &row, strcmp(row.status, "parked") == 0, guarded, err);
	notice_row_free(&row);
	return rc;
}

/* An attempt at a claimed notice: rc, and cause when it failed; tried
 * false when the channel's breaker held it back. */
struct outcome {
	hbk_result rc;
	bool tried;
	struct hbk_error cause;
};

_Static_assert(NOTICES_CLAIM_MAX <= HBK_MAILDIR_BATCH_MAX, "a claim fits one maildir batch");

static bool goes_to_maildir(const struct hbk_notifier *notifier, const struct notice_row *row)
{
	return notifier->email == EMAIL_MAILDIR && strcmp(row->channel, "email") == 0;
}

/*
 * Delivers the rows (count, borrowed) bound for the maildir as one batch
 * and fills their outcomes; the others' are left alone. The email breaker
 * is asked once for the batch and told each outcome in order: unlike one
 * send after another, a batch is not cut short when it opens half way.
 */
static void deliver_maildir_batch(struct hbk_notifier *notifier, const struct notice_row *rows,
				  int count, struct outcome *outcomes)
{
	int row_of[NOTICES_CLAIM_MAX];
	int batched = 0;
	int64_t now_ms = hbk_now_ms();

	HBK_ASSERT(count >= 1 && count <= NOTICES_CLAIM_MAX);
	if (notifier->email != EMAIL_MAILDIR)
		return;
	struct hbk_maildir_message *messages = hbk_xcalloc((size_t)count, sizeof(*messages));
	for (int i = 0; i < count; i++) {
		if (!goes_to_maildir(notifier, &rows[i]))
			continue;
		outcomes[i].tried =
		    breaker_allows(&notifier->email_breaker, "email", now_ms, &outcomes[i].cause);
		if (!outcomes[i].tried) {
			outcomes[i].rc = HBK_EUNAVAILABLE;
			continue;
		}
		messages[batched].data = rows[i].message;
		messages[batched].len = strlen(rows[i].message);
		row_of[batched++] = i;
	}
	struct hbk_error prepare_err = {0};
	bool ready = batched > 0 && prepare_maildir(notifier, &prepare_err) == HBK_OK;
	if (ready)
		hbk_maildir_deliver_batch(notifier->maildir, messages, batched);
	for (int k = 0; k < batched; k++) {
		struct outcome *outcome = &outcomes[row_of[k]];
		outcome->rc = ready ? messages[k].rc : prepare_err.result;
		outcome->cause = ready ? messages[k].err : prepare_err;
		breaker_note(&notifier->email_breaker, outcome->rc, now_ms);
	}
	free(messages);
}

hbk_result notify_deliver_due(struct hbk_notifier *notifier, struct hbk_store *store, int max,
			      int *claimed, int *sent, struct hbk_error *err)
{
	struct notice_row rows[NOTICES_CLAIM_MAX];
	int count = 0;

	HBK_ASSERT(notifier != NULL && store != NULL && sent != NULL && claimed != NULL);
	HBK_ASSERT(max > 0 && max <= NOTICES_CLAIM_MAX);
	*sent = 0;
	int64_t lease_ms = 2 * (int64_t)notifier->timeout_ms + 1000;
	hbk_result rc = notices_claim_due(store, hbk_now_ms(), lease_ms, max, rows, &count, err);
	*claimed = count;
	if (rc != HBK_OK || count == 0)
		return rc;
	/* Every send first, holding no lock; then one transaction records the
	 * batch, rather than one per notice. Should it fail, the claimed
	 * notices go out again once their lease is over. The maildir's share
	 * goes as one batch, durable as a whole before anything is recorded. */
	struct outcome *outcomes = hbk_xcalloc((size_t)count, sizeof(*outcomes));
	deliver_maildir_batch(notifier, rows, count, outcomes);
	for (int i = 0; i < count; i++) {
		if (goes_to_maildir(notifier, &rows[i]))
			continue;
		outcomes[i].tried = true;
		outcomes[i].rc =
		    deliver_guarded(notifier, &rows[i], &outcomes[i].tried, &outcomes[i].cause);
	}
	bool owned = false;
	rc = hbk_store_join(store, &owned, err);
	for (int i = 0; i < count && rc == HBK_OK; i++)
		rc = record_outcome(notifier, store, &rows[i], outcomes[i].rc, outcomes[i].tried,
				    false, &outcomes[i].cause, err);
	if (owned) {
		hbk_result left = hbk_store_leave(store, true, rc == HBK_OK, err);
		rc = rc == HBK_OK ? left : rc;
	}
	for (int i = 0; i < count; i++) {
		if (rc == HBK_OK && outcomes[i].rc == HBK_OK)
			(*sent)++;
		notice_row_free(&rows[i]);
	}
	free(outcomes);
	return rc;
}

hbk_result hbk_notify_retry_due(struct hbk_notifier *notifier, struct hbk_store *store, int max,
				int *sent, struct hbk_error *err)
{
	int claimed = 0;

	HBK_ASSERT(notifier != NULL && store != NULL && sent != NULL);
	*sent = 0;
	if (max <= 0)
		max = RETRY_BATCH_DEFAULT;
	if (max > NOTICES_CLAIM_MAX)
		max = NOTICES_CLAIM_MAX;
	hbk_result rc = notices_prune_sent(store, hbk_now_ms(), err);
	if (rc == HBK_OK)
		rc = notify_deliver_due(notifier, store, max, &claimed, sent, err);
	return rc;
}

hbk_result hbk_notify_resend(struct hbk_notifier *notifier, struct hbk_store *store, long long id,
			     struct hbk_error *err)
{
	/* An operator asked for this one: it is tried whatever the breaker. */
	return resend(notifier, store, id, false, err);
}

hbk_result hbk_notify_resend_parked(struct hbk_notifier *notifier, struct hbk_store *store,
				    int *sent, int *failed, struct hbk_error *err)
{
	long long *ids = hbk_xcalloc(RESEND_ALL_MAX, sizeof(*ids));
	int count = 0;

	HBK_ASSERT(sent != NULL && failed != NULL);
	*sent = *failed = 0;
	hbk_result rc = notices_parked_ids(store, RESEND_ALL_MAX, ids, &count, err);
	for (int i = 0; rc == HBK_OK && i < count; i++) {
		struct hbk_error one = {0};
		hbk_result one_rc = resend(notifier, store, ids[i], true, &one);
		if (one_rc == HBK_OK) {
			(*sent)++;
			continue;
		}
		(*failed)++;
		/* The first failure is the one reported. */
		if (*failed == 1 && err)
			*err = one;
	}
	free(ids);
	if (rc == HBK_OK && *failed > 0)
		return err ? err->result : HBK_EUNAVAILABLE;
	return rc;
}
