/*
 * sns.c - SMS through AWS SNS Publish (notify.sms.kind: sns).
 *
 * POST <endpoint>/ with a form body, signed by libcurl's SigV4
 * (CURLOPT_AWS_SIGV4 "aws:amz:<region>:sns", credentials through
 * CURLOPT_USERPWD). On libcurl 7.88 the signature is right only when the
 * body is given with CURLOPT_POSTFIELDS and the query string is empty, so
 * the endpoint URL never carries one. The answer is XML: a PublishResponse
 * with a MessageId, or an ErrorResponse whose Code and Message are quoted
 * in the error. The credentials never reach an error or a log line.
 */
#include <string.h>

#include <curl/curl.h>

#include "channels.h"
#include "hbk/notify.h"

/* An SNS answer is a few hundred bytes; this bounds a hostile one. */
#define RESPONSE_MAX_BYTES (64u * 1024u)
#define FORM_MAX_BYTES	   (16u * 1024u)
#define XML_VALUE_MAX	   200
#define USERPWD_MAX	   512

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

static void put_encoded(struct hbk_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (unreserved(c)) {
			hbk_buf_putc(out, (char)c);
		} else {
			hbk_buf_putc(out, '%');
			hbk_buf_putc(out, hex[c >> 4]);
			hbk_buf_putc(out, hex[c & 15]);
		}
	}
}

static void put_param(struct hbk_buf *out, const char *name, const char *value)
{
	hbk_buf_printf(out, "&%s=", name);
	put_encoded(out, value);
}

void hbk_notify_sns_form(const char *topic_arn, const char *phone, const char *message,
			 const char *subject, struct hbk_buf *body)
{
	HBK_ASSERT(body != NULL && message != NULL);
	hbk_buf_puts(body, "Action=Publish&Version=2010-03-31");
	if (topic_arn && *topic_arn)
		put_param(body, "TopicArn", topic_arn);
	else
		put_param(body, "PhoneNumber", phone ? phone : "");
	put_param(body, "Message", message);
	if (subject && *subject)
		put_param(body, "Subject", subject);
}

static size_t collect(char *data, size_t size, size_t nitems, void *arg)
{
	struct hbk_buf *buf = arg;
	size_t n = size * nitems;

	/* Past the bound the rest is dropped: the head holds what we read. */
	hbk_buf_append(buf, data, n);
	return n;
}

/* The text of the first <tag>...</tag> in xml, cleaned of control
 * characters and cut at XML_VALUE_MAX; "" when absent. */
static void xml_value(const char *xml, const char *tag, char out[XML_VALUE_MAX])
{
	char open[64], close[64];
	size_t n = 0;

	out[0] = '\0';
	hbk_format(open, sizeof(open), "<%s>", tag);
	hbk_format(close, sizeof(close), "</%s>", tag);
	const char *start = strstr(xml, open);
	if (!start)
		return;
	start += strlen(open);
	const char *end = strstr(start, close);
	if (!end)
		return;
	for (const char *p = start; p < end && n + 1 < XML_VALUE_MAX; p++)
		out[n++] = (unsigned char)*p < 0x20 ? ' ' : *p;
	out[n] = '\0';
}

static hbk_result check_answer(long status, const struct hbk_buf *body, struct hbk_error *err)
{
	const char *xml = body->data ? body->data : "";
	char code[XML_VALUE_MAX], message[XML_VALUE_MAX];

	if (status >= 200 && status < 300) {
		xml_value(xml, "MessageId", code);
		if (code[0])
			return HBK_OK;
		return hbk_fail(err, HBK_EUNAVAILABLE, "sns_failed",
				"sns: answer %ld without a MessageId", status);
	}
	xml_value(xml, "Code", code);
	xml_value(xml, "Message", message);
	hbk_result rc = status == 401 || status == 403	 ? HBK_EAUTH
			: status >= 500 || status == 429 ? HBK_EUNAVAILABLE
							 : HBK_EDECLINED;
	return hbk_fail(err, rc, "sns_failed", "sns: answered %ld%s%s%s%s", status,
			code[0] ? " " : "", code, message[0] ? ": " : "", message);
}

hbk_result notify_sns_publish(const struct notify_sns *sns, const char *recipient,
			      const char *subject, const char *message, struct hbk_error *err)
{
	char detail[CURL_ERROR_SIZE] = "";
	char sigv4[128], userpwd[USERPWD_MAX];
	struct hbk_buf form, answer;
	long status = 0;
	hbk_result rc = HBK_OK;

	HBK_ASSERT(sns != NULL && sns->url != NULL && sns->region != NULL);
	HBK_ASSERT(recipient != NULL && message != NULL);
	if (!sns->key_id || !sns->secret)
		return hbk_fail(err, HBK_EAUTH, "sns_credentials",
				"sns: no AWS credentials (notify.sms.access_key_id and "
				"notify.sms.secret_access_key, or AWS_ACCESS_KEY_ID and "
				"AWS_SECRET_ACCESS_KEY)");
	if ((size_t)snprintf(userpwd, sizeof(userpwd), "%s:%s", sns->key_id, sns->secret) >=
	    sizeof(userpwd))
		return hbk_fail(err, HBK_EINVAL, "sns_credentials", "sns: credentials too long");
	hbk_format(sigv4, sizeof(sigv4), "aws:amz:%.60s:sns", sns->region);
	bool topic = strncmp(recipient, "arn:", 4) == 0;
	hbk_buf_init(&form, FORM_MAX_BYTES);
	hbk_buf_init(&answer, RESPONSE_MAX_BYTES);
	hbk_notify_sns_form(topic ? recipient : NULL, topic ? NULL : recipient, message, subject,
			    &form);
	CURL *curl = curl_easy_init();
	if (form.overflow || !curl) {
		rc = hbk_fail(err, form.overflow ? HBK_EINVAL : HBK_EINTERNAL, "sns_failed",
			      form.overflow ? "sns: message too large"
					    : "sns: cannot start libcurl");
		goto out;
	}
	struct curl_slist *headers = curl_slist_append(
	    NULL, "Content-Type: application/x-www-form-urlencoded; charset=utf-8");
	curl_easy_setopt(curl, CURLOPT_URL, sns->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form.data);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form.len);
	curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
	curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, sns->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
			 sns->timeout_ms < 2000 ? sns->timeout_ms : 2000L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
	CURLcode code = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	if (code != CURLE_OK)
		rc = hbk_fail(err, HBK_EUNAVAILABLE, "sns_failed", "sns: %s",
			      detail[0] ? detail : curl_easy_strerror(code));
	else
		rc = check_answer(status, &answer, err);
out:
	explicit_bzero(userpwd, sizeof(userpwd));
	hbk_buf_free(&answer);
	hbk_buf_free(&form);
	return rc;
}
