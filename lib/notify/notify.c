/*
 * notify.c - the notifier: picks the email adapter from the configuration
 * (notify.email.kind, "maildir" by default) and sends rendered messages.
 *
 * The maildir adapter delivers to $HBK_HOME/mail. Its directories are
 * created on the first send rather than at open, so that tools which never
 * notify never touch the disk.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/config.h"
#include "hbk/notify.h"

#include "maildir.h"

#define NOTIFY_FROM_DEFAULT "hbk <bookings@hbk.invalid>"
/* A booking summary is a few kilobytes; this bounds a hostile one. */
#define MESSAGE_MAX_BYTES      (1024u * 1024u)
#define MAILDIR_PATH_MAX_BYTES 4096u

enum notifier_kind { NOTIFIER_MAILDIR };

struct hbk_notifier {
	enum notifier_kind kind;
	char *from;    /* owned */
	char *maildir; /* owned; the Maildir root, for NOTIFIER_MAILDIR */
	bool maildir_ready;
};

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
	notifier->kind = NOTIFIER_MAILDIR;
	notifier->maildir = hbk_buf_detach(&path);
	hbk_buf_free(&path);
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
	const char *from = hbk_config_get(cfg, "notify.email.from", NOTIFY_FROM_DEFAULT);
	if (!from || !*from)
		from = NOTIFY_FROM_DEFAULT;
	if (strcmp(kind, "smtp") == 0)
		return hbk_fail_field(err, HBK_EINVAL, "config_invalid", "notify.email.kind",
				      "notify kind smtp is not available in this build");
	if (strcmp(kind, "maildir") != 0)
		return hbk_fail_field(err, HBK_EINVAL, "config_invalid", "notify.email.kind",
				      "unknown notify kind '%s' (maildir or smtp)", kind);

	struct hbk_notifier *notifier = hbk_xcalloc(1, sizeof(*notifier));
	hbk_result rc = open_maildir(cfg, notifier, err);
	if (rc != HBK_OK) {
		hbk_notifier_close(notifier);
		return rc;
	}
	notifier->from = hbk_xstrdup(from);
	*out = notifier;
	return HBK_OK;
}

/* Frees the notifier. Safe on NULL. */
void hbk_notifier_close(struct hbk_notifier *notifier)
{
	if (!notifier)
		return;
	free(notifier->from);
	free(notifier->maildir);
	free(notifier);
}

/*
 * Renders the notice for booking (borrowed) and delivers it. Failing here
 * must not fail the booking: callers log the error and go on.
 */
hbk_result hbk_notify_send(struct hbk_notifier *notifier, enum hbk_notice notice,
			   const json_t *booking, struct hbk_error *err)
{
	struct hbk_buf message;
	hbk_result rc;

	HBK_ASSERT(notifier != NULL);
	HBK_ASSERT(notifier->kind == NOTIFIER_MAILDIR);
	hbk_buf_init(&message, MESSAGE_MAX_BYTES);
	rc = hbk_notify_render(notice, booking, notifier->from, hbk_now_ms(), &message, err);
	if (rc == HBK_OK && !notifier->maildir_ready) {
		rc = hbk_maildir_prepare(notifier->maildir, err);
		notifier->maildir_ready = rc == HBK_OK;
	}
	if (rc == HBK_OK)
		rc = hbk_maildir_deliver(notifier->maildir, message.data, message.len, err);
	hbk_buf_free(&message);
	if (rc != HBK_OK && err)
		hbk_error_prefix(err, "notify");
	return rc;
}
