/*
 * sns.c - the AWS SNS Publish area of hbk-sandbox: POST /sns/ with the
 * form body of the Query API (Action=Publish&Version=2010-03-31, TopicArn
 * or PhoneNumber, Message, optional Subject), answered in SNS's XML.
 *
 * Authentication is checked for its form, not its value (the sandbox does
 * not know the caller's secret): an Authorization header
 *   AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/sns/aws4_request,
 *   SignedHeaders=<h;h;...>, Signature=<64 lowercase hex>
 * whose signed headers include host and x-amz-date, and an X-Amz-Date
 * header (yyyymmddThhmmssZ) of the credential's day. Anything else is a 403
 * ErrorResponse (MissingAuthenticationToken, IncompleteSignature).
 *
 * When the environment gives the sandbox the secret
 * (HBK_SANDBOX_SNS_SECRET, read at each request), the signature itself is
 * checked too: the canonical request (method, path, empty query, the
 * signed headers, the body's SHA-256), the string to sign and the derived
 * key of AWS Signature Version 4; a mismatch is a 403
 * SignatureDoesNotMatch. Each record says whether it was verified.
 *
 * State (GET /__sandbox/state, key "sns"): {"messages":[...], "smtp":[...]}.
 * "messages" are the SNS publishes: {"message_id", "topic_arn" or
 * "phone_number", "message", "subject", "access_key_id", "region",
 * "authorization", "x_amz_date", "received_at"}; "smtp" are the messages
 * of the SMTP sink (smtp.c): {"id", "from", "to":[...], "subject",
 * "data", "received_at"}. The newest SANDBOX_MESSAGES_MAX of each are kept.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "hbk/upstream.h"
#include "sandbox.h"

#define SNS_PARAMS_MAX	     64
#define SNS_MESSAGE_MAX	     (256 * 1024)
#define SNS_SUBJECT_MAX	     100
#define SANDBOX_MESSAGES_MAX 1000
#define SIGNATURE_HEX_LEN    64
#define SIGNED_HEADERS_MAX   16
#define SECRET_ENV	     "HBK_SANDBOX_SNS_SECRET"
#define XMLNS		     "https://sns.amazonaws.com/doc/2010-03-31/"

/* ------------------------------------------------------------------------
 * Answers.
 */

static void put_xml_escaped(struct hbk_buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': hbk_buf_puts(out, "&amp;"); break;
		case '<': hbk_buf_puts(out, "&lt;"); break;
		case '>': hbk_buf_puts(out, "&gt;"); break;
		case '"': hbk_buf_puts(out, "&quot;"); break;
		default: hbk_buf_putc(out, *s);
		}
	}
}

/* A UUID v4 (SNS message and request ids have that shape). */
static void new_uuid(char out[37])
{
	unsigned char b[16];

	hbk_random_bytes(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	hbk_format(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		   b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		   b[13], b[14], b[15]);
}

/* The sandbox's generic codes in SNS's words. */
static const char *aws_code(const char *code)
{
	if (strcmp(code, "rate_limit") == 0)
		return "Throttling";
	if (strcmp(code, "server_error") == 0)
		return "InternalError";
	return code;
}

static void sns_error(struct http_response *resp, int status, const char *code, const char *message)
{
	char request_id[37];

	new_uuid(request_id);
	resp->status = status;
	resp->content_type = "text/xml";
	hbk_buf_reset(&resp->body);
	hbk_buf_printf(&resp->body,
		       "<ErrorResponse xmlns=\"" XMLNS "\"><Error><Type>%s</Type><Code>",
		       status >= 500 ? "Receiver" : "Sender");
	put_xml_escaped(&resp->body, aws_code(code));
	hbk_buf_puts(&resp->body, "</Code><Message>");
	put_xml_escaped(&resp->body, message);
	hbk_buf_printf(&resp->body, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>",
		       request_id);
}

static void publish_answer(struct http_response *resp, const char *message_id)
{
	char request_id[37];

	new_uuid(request_id);
	resp->status = 200;
	resp->content_type = "text/xml";
	hbk_buf_reset(&resp->body);
	hbk_buf_printf(&resp->body,
		       "<PublishResponse xmlns=\"" XMLNS "\"><PublishResult><MessageId>%s"
		       "</MessageId></PublishResult><ResponseMetadata><RequestId>%s</RequestId>"
		       "</ResponseMetadata></PublishResponse>",
		       message_id, request_id);
}

/* ------------------------------------------------------------------------
 * SigV4 form.
 */

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* The credential scope, split. */
struct credential {
	char key[129];
	char date[9];
	char region[33];
};

/* "<key>/<date>/<region>/sns/aws4_request" of length len. */
static bool parse_credential(const char *s, size_t len, struct credential *c)
{
	char scope[256];
	char *parts[5];
	int n = 0;

	if (len == 0 || len >= sizeof(scope))
		return false;
	memcpy(scope, s, len);
	scope[len] = '\0';
	for (char *p = scope; n < 5; n++) {
		parts[n] = p;
		char *slash = strchr(p, '/');
		if (!slash) {
			n++;
			break;
		}
		*slash = '\0';
		p = slash + 1;
	}
	if (n != 5 || strchr(parts[4], '/'))
		return false;
	for (const char *p = parts[0]; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z')))
			return false;
	if (!*parts[0] || strlen(parts[1]) != 8 || !all_digits(parts[1], 8) || !*parts[2] ||
	    strcmp(parts[3], "sns") != 0 || strcmp(parts[4], "aws4_request") != 0)
		return false;
	return hbk_copy(c->key, sizeof(c->key), parts[0]) &&
	       hbk_copy(c->date, sizeof(c->date), parts[1]) &&
	       hbk_copy(c->region, sizeof(c->region), parts[2]);
}

/* Whether the ';'-separated list holds name. */
static bool list_has(const char *list, size_t len, const char *name)
{
	size_t name_len = strlen(name);

	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && list[j] != ';')
			j++;
		if (j - i == name_len && strncmp(list + i, name, name_len) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

/* Checks the Authorization header; fills why (for the 403) on failure. */
static bool check_authorization(const char *auth, const char *amz_date, struct credential *c,
				const char **code, const char **why)
{
	static const char algorithm[] = "AWS4-HMAC-SHA256 Credential=";

	*code = "IncompleteSignature";
	if (!auth) {
		*code = "MissingAuthenticationToken";
		*why = "Request is missing Authentication Token";
		return false;
	}
	*why = "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
	       "in the AWS4-HMAC-SHA256 form";
	if (strncmp(auth, algorithm, sizeof(algorithm) - 1) != 0)
		return false;
	const char *p = auth + sizeof(algorithm) - 1;
	const char *comma = strchr(p, ',');
	if (!comma || !parse_credential(p, (size_t)(comma - p), c))
		return false;
	p = comma + 1;
	while (*p == ' ')
		p++;
	if (strncmp(p, "SignedHeaders=", 14) != 0)
		return false;
	p += 14;
	comma = strchr(p, ',');
	if (!comma || comma == p)
		return false;
	for (const char *h = p; h < comma; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= '0' && *h <= '9') || *h == '-' ||
		      *h == ';'))
			return false;
	if (!list_has(p, (size_t)(comma - p), "host") ||
	    !list_has(p, (size_t)(comma - p), "x-amz-date")) {
		*why = "SignedHeaders must include host and x-amz-date";
		return false;
	}
	p = comma + 1;
	while (*p == ' ')
		p++;
	if (strncmp(p, "Signature=", 10) != 0)
		return false;
	p += 10;
	if (strlen(p) != SIGNATURE_HEX_LEN)
		return false;
	for (const char *h = p; *h; h++)
		if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
			return false;
	if (!amz_date) {
		*why = "Authorization header requires existence of either a 'X-Amz-Date' or a "
		       "'Date' header";
		return false;
	}
	if (strlen(amz_date) != 16 || !all_digits(amz_date, 8) || amz_date[8] != 'T' ||
	    !all_digits(amz_date + 9, 6) || amz_date[15] != 'Z' ||
	    strncmp(amz_date, c->date, 8) != 0) {
		*why = "X-Amz-Date must be yyyymmddThhmmssZ of the credential's date";
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------------
 * SigV4 signature, when the secret is known.
 */

static void hmac(const unsigned char *key, size_t key_len, const char *msg,
		 unsigned char out[SHA256_DIGEST_LENGTH])
{
	unsigned int out_len = SHA256_DIGEST_LENGTH;
	HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out,
	     &out_len);
}

/* Appends "name:value\n" with the value trimmed and inner runs of spaces
 * collapsed, as SigV4 canonicalizes a header; false when it is absent. */
static bool put_canonical_header(struct hbk_buf *out, const struct http_request *req,
				 const char *name)
{
	const char *value = http_header(req, name);
	bool space = false;

	if (!value)
		return false;
	hbk_buf_printf(out, "%s:", name);
	while (*value == ' ' || *value == '\t')
		value++;
	for (; *value; value++) {
		if (*value == ' ' || *value == '\t') {
			space = true;
			continue;
		}
		if (space)
			hbk_buf_putc(out, ' ');
		space = false;
		hbk_buf_putc(out, *value);
	}
	hbk_buf_putc(out, '\n');
	return true;
}

/* Whether the signature in auth is the one secret gives for req. */
static bool signature_matches(const struct http_request *req, const char *auth,
			      const struct credential *c, const char *amz_date, const char *secret)
{
	struct hbk_buf canonical, to_sign;
	char body_hex[65], canonical_hex[65], signed_headers[512], key[256];
	unsigned char k[SHA256_DIGEST_LENGTH];
	bool ok = true;

	const char *sh = strstr(auth, "SignedHeaders=") + 14;
	const char *sh_end = strchr(sh, ',');
	const char *signature = strstr(auth, "Signature=") + 10;
	if ((size_t)(sh_end - sh) >= sizeof(signed_headers))
		return false;
	memcpy(signed_headers, sh, (size_t)(sh_end - sh));
	signed_headers[sh_end - sh] = '\0';

	hbk_buf_init(&canonical, 64 * 1024);
	hbk_buf_init(&to_sign, 4096);
	const char *query = strchr(req->target, '?');
	size_t path_len = query ? (size_t)(query - req->target) : strlen(req->target);
	hbk_buf_printf(&canonical, "%s\n%.*s\n%s\n", req->method, (int)path_len, req->target,
		       query ? query + 1 : "");
	int count = 0;
	for (const char *name = signed_headers; ok && *name;) {
		char one[128];
		size_t len = strcspn(name, ";");
		ok = ++count <= SIGNED_HEADERS_MAX && len > 0 && len < sizeof(one);
		if (ok) {
			memcpy(one, name, len);
			one[len] = '\0';
			ok = put_canonical_header(&canonical, req, one);
		}
		name += len + (name[len] == ';');
	}
	hbk_sha256_hex(req->body ? req->body : "", req->body_len, body_hex);
	hbk_buf_printf(&canonical, "\n%s\n%s", signed_headers, body_hex);
	hbk_sha256_hex(canonical.data, canonical.len, canonical_hex);
	hbk_buf_printf(&to_sign, "AWS4-HMAC-SHA256\n%s\n%s/%s/sns/aws4_request\n%s", amz_date,
		       c->date, c->region, canonical_hex);

	hbk_format(key, sizeof(key), "AWS4%.200s", secret);
	hmac((const unsigned char *)key, strlen(key), c->date, k);
	hmac(k, sizeof(k), c->region, k);
	hmac(k, sizeof(k), "sns", k);
	hmac(k, sizeof(k), "aws4_request", k);
	hmac(k, sizeof(k), to_sign.data, k);
	char expected[65];
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		hbk_format(expected + 2 * i, 3, "%02x", k[i]);
	ok = ok && !canonical.overflow && CRYPTO_memcmp(expected, signature, 64) == 0;
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(k, sizeof(k));
	hbk_buf_free(&to_sign);
	hbk_buf_free(&canonical);
	return ok;
}

/* ------------------------------------------------------------------------
 * The form.
 */

struct form {
	int n;
	char *names[SNS_PARAMS_MAX];
	char *values[SNS_PARAMS_MAX];
};

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes len bytes of s (%XX and '+') into a new string; NULL when a
 * %-escape is broken or decodes to NUL. */
static char *form_decode(const char *s, size_t len)
{
	char *out = hbk_xmalloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[n++] = ' ';
		} else if (s[i] == '%') {
			int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
			int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	return out;
}

static void form_free(struct form *f)
{
	for (int i = 0; i < f->n; i++) {
		free(f->names[i]);
		free(f->values[i]);
	}
	f->n = 0;
}

static bool form_parse(const char *body, size_t len, struct form *f)
{
	size_t i = 0;

	f->n = 0;
	while (i < len) {
		size_t end = i;
		while (end < len && body[end] != '&')
			end++;
		if (end > i) {
			if (f->n >= SNS_PARAMS_MAX)
				return false;
			const char *eq = memchr(body + i, '=', end - i);
			size_t name_len = eq ? (size_t)(eq - (body + i)) : end - i;
			char *name = form_decode(body + i, name_len);
			char *value = eq ? form_decode(eq + 1, (size_t)(body + end - eq - 1))
					 : hbk_xstrdup("");
			if (!name || !value) {
				free(name);
				free(value);
				return false;
			}
			f->names[f->n] = name;
			f->values[f->n] = value;
			f->n++;
		}
		i = end + 1;
	}
	return true;
}

static const char *form_get(const struct form *f, const char *name)
{
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->names[i], name) == 0)
			return f->values[i];
	return NULL;
}

/* E.164: '+' and 8 to 15 digits. */
static bool phone_ok(const char *phone)
{
	size_t len = strlen(phone);
	return phone[0] == '+' && len >= 9 && len <= 16 && all_digits(phone + 1, len - 1);
}

/* ------------------------------------------------------------------------
 * The area.
 */

static const char *sns_endpoint(const struct http_request *req)
{
	if (strcmp(req->path, "/sns/") != 0 && strcmp(req->path, "/sns") != 0)
		return NULL;
	return strcmp(req->method, "POST") == 0 ? "sns.publish" : NULL;
}

/* Appends record to list, dropping the oldest past the bound. */
static void keep(json_t **list, json_t *record)
{
	if (!*list)
		*list = json_array();
	json_array_append_new(*list, record);
	while (json_array_size(*list) > SANDBOX_MESSAGES_MAX)
		json_array_remove(*list, 0);
}

static void publish(struct sandbox *sb, struct http_exchange *ex, const struct credential *c,
		    const char *auth, const char *amz_date, bool verified)
{
	struct form f;
	char message_id[37], received_at[HBK_TIME_STR];

	if (!form_parse(ex->req.body ? ex->req.body : "", ex->req.body_len, &f)) {
		form_free(&f);
		sns_error(&ex->resp, 400, "MalformedQueryString", "the form body cannot be parsed");
		return;
	}
	const char *action = form_get(&f, "Action");
	const char *version = form_get(&f, "Version");
	const char *topic = form_get(&f, "TopicArn");
	const char *target = form_get(&f, "TargetArn");
	const char *phone = form_get(&f, "PhoneNumber");
	const char *message = form_get(&f, "Message");
	const char *subject = form_get(&f, "Subject");
	if (!topic)
		topic = target;
	if (!action || strcmp(action, "Publish") != 0)
		sns_error(&ex->resp, 400, "InvalidAction",
			  "the action is not valid for this endpoint (Publish only)");
	else if (version && strcmp(version, "2010-03-31") != 0)
		sns_error(&ex->resp, 400, "InvalidParameterValue", "Version must be 2010-03-31");
	else if (!topic == !phone)
		sns_error(&ex->resp, 400, "InvalidParameter",
			  "Invalid parameter: exactly one of TopicArn, TargetArn or PhoneNumber");
	else if (topic && strncmp(topic, "arn:aws:sns:", 12) != 0)
		sns_error(&ex->resp, 400, "InvalidParameter", "Invalid parameter: TopicArn");
	else if (phone && !phone_ok(phone))
		sns_error(&ex->resp, 400, "InvalidParameter",
			  "Invalid parameter: PhoneNumber Reason: not an E.164 number");
	else if (!message || !*message)
		sns_error(&ex->resp, 400, "InvalidParameter",
			  "Invalid parameter: Message Reason: Empty message");
	else if (strlen(message) > SNS_MESSAGE_MAX)
		sns_error(&ex->resp, 400, "InvalidParameter",
			  "Invalid parameter: Message too long");
	else if (subject && (strlen(subject) > SNS_SUBJECT_MAX || strpbrk(subject, "\r\n")))
		sns_error(&ex->resp, 400, "InvalidParameter", "Invalid parameter: Subject");
	else {
		new_uuid(message_id);
		hbk_time_format(hbk_now_ms(), received_at);
		json_t *record = json_pack(
		    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "message_id", message_id, "message",
		    message, "subject", subject ? subject : "", "access_key_id", c->key, "region",
		    c->region, "authorization", auth, "x_amz_date", amz_date);
		json_object_set_new(record, topic ? "topic_arn" : "phone_number",
				    json_string(topic ? topic : phone));
		json_object_set_new(record, "signature_verified", json_boolean(verified));
		json_object_set_new(record, "received_at", json_string(received_at));
		keep(&sb->sns_messages, record);
		publish_answer(&ex->resp, message_id);
	}
	form_free(&f);
}

static void sns_handle(struct sandbox *sb, struct http_exchange *ex, const char *endpoint)
{
	struct credential c;
	const char *code = "", *why = "";

	if (!endpoint) {
		bool root = strcmp(ex->req.path, "/sns/") == 0 || strcmp(ex->req.path, "/sns") == 0;
		if (root)
			http_response_header(&ex->resp, "Allow", "POST");
		sns_error(&ex->resp, root ? 405 : 404, root ? "MethodNotAllowed" : "NotFound",
			  root ? "the SNS Query API takes POST" : "no such route");
		return;
	}
	const char *auth = http_header(&ex->req, "Authorization");
	const char *amz_date = http_header(&ex->req, "X-Amz-Date");
	if (!check_authorization(auth, amz_date, &c, &code, &why)) {
		sns_error(&ex->resp, 403, code, why);
		return;
	}
	const char *secret = getenv(SECRET_ENV);
	bool verify = secret && *secret;
	if (verify && !signature_matches(&ex->req, auth, &c, amz_date, secret)) {
		sns_error(&ex->resp, 403, "SignatureDoesNotMatch",
			  "The request signature we calculated does not match the signature you "
			  "provided");
		return;
	}
	publish(sb, ex, &c, auth, amz_date, verify);
}

static json_t *sns_state(struct sandbox *sb)
{
	json_t *empty = json_array();
	json_t *state =
	    json_pack("{s:O, s:O}", "messages", sb->sns_messages ? sb->sns_messages : empty, "smtp",
		      sb->smtp_messages ? sb->smtp_messages : empty);
	json_decref(empty);
	return state;
}

const struct sandbox_area sandbox_sns_area = {
    "sns", "/sns/", sns_endpoint, sns_handle, sns_error, sns_state,
};
