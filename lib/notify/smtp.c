/*
 * smtp.c - email over SMTP with libcurl (notify.email.kind: smtp).
 *
 * The rendered RFC 5322 message (CRLF line ends) is uploaded through a
 * read callback; libcurl dot-stuffs it and ends DATA. smtp:// speaks plain
 * SMTP (STARTTLS when the server offers it), smtps:// TLS from the start.
 * Neither the URL (which could hold credentials) nor the credentials reach
 * an error message: only libcurl's description of what failed does.
 */
#include <string.h>

#include <curl/curl.h>

#include "channels.h"

/* The upload: a cursor over the borrowed message. */
struct upload {
	const char *data;
	size_t len;
	size_t sent;
};

static size_t read_message(char *out, size_t size, size_t nitems, void *arg)
{
	struct upload *up = arg;
	size_t room = size * nitems;
	size_t left = up->len - up->sent;
	size_t n = left < room ? left : room;

	memcpy(out, up->data + up->sent, n);
	up->sent += n;
	return n;
}

/* Maps a libcurl failure to a result: refused, timed out and unreachable
 * are HBK_EUNAVAILABLE (worth a retry), a refusal by the server is
 * HBK_EDECLINED. */
static hbk_result smtp_failure(CURLcode code, long response, const char *detail,
			       struct hbk_error *err)
{
	const char *what = detail[0] ? detail : curl_easy_strerror(code);

	if (code == CURLE_LOGIN_DENIED)
		return hbk_fail(err, HBK_EAUTH, "smtp_auth", "smtp: %s", what);
	if (response >= 500)
		return hbk_fail(err, HBK_EDECLINED, "smtp_refused", "smtp: server answered %ld: %s",
				response, what);
	if (response >= 400)
		return hbk_fail(err, HBK_EUNAVAILABLE, "smtp_failed",
				"smtp: server answered %ld: %s", response, what);
	return hbk_fail(err, HBK_EUNAVAILABLE, "smtp_failed", "smtp: %s", what);
}

void notify_smtp_close(struct notify_smtp *smtp)
{
	if (smtp->curl)
		curl_easy_cleanup(smtp->curl);
	smtp->curl = NULL;
}

hbk_result notify_smtp_send(struct notify_smtp *smtp, const char *rcpt, const char *message,
			    size_t len, struct hbk_error *err)
{
	char detail[CURL_ERROR_SIZE] = "";
	char rcpt_angle[512];
	struct upload up = {message, len, 0};
	struct curl_slist *rcpts = NULL;
	long response = 0;

	HBK_ASSERT(smtp != NULL && smtp->url != NULL && smtp->mail_from != NULL);
	HBK_ASSERT(rcpt != NULL && message != NULL);
	if (!*rcpt || strpbrk(rcpt, "\r\n<> ") ||
	    (size_t)snprintf(rcpt_angle, sizeof(rcpt_angle), "<%s>", rcpt) >= sizeof(rcpt_angle))
		return hbk_fail(err, HBK_EINVAL, "invalid_email", "smtp: bad recipient address");
	/* One handle for the notifier's life: its SMTP session stays open
	 * between mails, so a busy sender pays one connect and EHLO, not one
	 * per mail. */
	if (!smtp->curl)
		smtp->curl = curl_easy_init();
	CURL *curl = smtp->curl;
	if (!curl)
		return hbk_fail(err, HBK_EINTERNAL, "smtp_failed", "smtp: cannot start libcurl");
	curl_easy_reset(curl);
	rcpts = curl_slist_append(NULL, rcpt_angle);
	if (!rcpts)
		return hbk_fail(err, HBK_EINTERNAL, "smtp_failed", "smtp: out of memory");
	curl_easy_setopt(curl, CURLOPT_URL, smtp->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, smtp->mail_from);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
	curl_easy_setopt(curl, CURLOPT_READDATA, &up);
	curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, smtp->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
			 smtp->timeout_ms < 2000 ? smtp->timeout_ms : 2000L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
	if (smtp->username) {
		curl_easy_setopt(curl, CURLOPT_USERNAME, smtp->username);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, smtp->password ? smtp->password : "");
	}
	CURLcode code = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response);
	curl_slist_free_all(rcpts);
	/* The error buffer is ours and goes out of scope: libcurl must not
	 * keep it. */
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
	if (code != CURLE_OK)
		return smtp_failure(code, response, detail, err);
	return HBK_OK;
}
