/*
 * config.c - hbk.yaml(5) loading with libyaml.
 *
 * The document is a tree of mappings; every scalar leaf becomes a dotted
 * key ("partner.faults.error_rate"). A sequence of scalars is joined with
 * commas. Only known keys are accepted, so a typo is an error naming the
 * file and line instead of a setting silently ignored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "hbk/config.h"

#define CONFIG_ENTRIES_MAX 128
#define CONFIG_DEPTH_MAX   8
#define CONFIG_KEY_MAX	   128
#define SECRET_FILE_MAX	   4096

struct config_entry {
	char *key;
	char *value;
	int line;
	bool secret;
};

struct hbk_config {
	char *path;
	char home[4096];
	char store_path[4096];
	int count;
	struct config_entry entries[CONFIG_ENTRIES_MAX];
};

static const struct {
	const char *key;
	bool secret;
} known_keys[] = {
    {"store.path", false},
    {"server.listen", false},
    {"server.max_body_bytes", false},
    {"server.max_connections", false},
    {"server.idle_timeout_ms", false},
    {"client.url", false},
    {"client.token", true},
    {"client.timeout_ms", false},
    {"kafka.brokers", false},
    {"kafka.topics.commands", false},
    {"kafka.topics.events", false},
    {"kafka.topics.dlq", false},
    {"kafka.partitions", false},
    {"kafka.replication", false},
    {"kafka.timeout_ms", false},
    {"kafka.group", false},
    {"kafka.session_timeout_ms", false},
    {"kafka.command_timeout_ms", false},
    {"partner.kind", false},
    {"partner.url", false},
    {"partner.api_key", true},
    {"partner.secret", true},
    {"partner.timeout_ms", false},
    {"partner.faults.error_rate", false},
    {"partner.faults.fail", false},
    {"payment.kind", false},
    {"payment.url", false},
    {"payment.secret_key", true},
    {"payment.webhook_secret", true},
    {"payment.timeout_ms", false},
    {"payment.faults.error_rate", false},
    {"payment.faults.fail", false},
    {"payment.faults.lose", false},
    {"notify.email.kind", false},
    {"notify.email.url", false},
    {"notify.email.from", false},
    {"notify.email.username", false},
    {"notify.email.password", true},
    {"notify.sms.kind", false},
    {"notify.sms.region", false},
    {"notify.sms.topic_arn", false},
    {"notify.sms.url", false},
    {"notify.sms.access_key_id", true},
    {"notify.sms.secret_access_key", true},
    {"notify.timeout_ms", false},
    {"notify.retry.attempts", false},
    {"notify.retry.backoff_ms", false},
    {"log.level", false},
    {"log.format", false},
    {"log.file", false},
};

static int known_key(const char *key)
{
	for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
		if (strcmp(known_keys[i].key, key) == 0)
			return (int)i;
	return -1;
}

static struct config_entry *find_entry(const struct hbk_config *cfg, const char *key)
{
	for (int i = 0; i < cfg->count; i++)
		if (strcmp(cfg->entries[i].key, key) == 0)
			return (struct config_entry *)&cfg->entries[i];
	return NULL;
}

void hbk_config_set(struct hbk_config *cfg, const char *key, const char *value)
{
	struct config_entry *e = find_entry(cfg, key);
	if (!e) {
		HBK_ASSERT(cfg->count < CONFIG_ENTRIES_MAX);
		e = &cfg->entries[cfg->count++];
		e->key = hbk_xstrdup(key);
		int k = known_key(key);
		e->secret = k >= 0 && known_keys[k].secret;
	} else {
		free(e->value);
	}
	e->value = hbk_xstrdup(value);
}

/* Reads env:NAME or file:/path; inline values of secret keys are refused. */
static hbk_result resolve_secret(struct hbk_config *cfg, struct config_entry *e, const char *name,
				 struct hbk_error *err)
{
	const char *v = e->value;
	if (strncmp(v, "env:", 4) == 0) {
		const char *env = getenv(v + 4);
		if (!env || !*env)
			return hbk_fail(err, HBK_EINVAL, "config",
					"%s:%d: %s: environment variable %s is not set", name,
					e->line, e->key, v + 4);
		free(e->value);
		e->value = hbk_xstrdup(env);
		return HBK_OK;
	}
	if (strncmp(v, "file:", 5) == 0) {
		FILE *f = fopen(v + 5, "r");
		if (!f)
			return hbk_fail(err, HBK_EINVAL, "config", "%s:%d: %s: cannot read %s: %s",
					name, e->line, e->key, v + 5, strerror(errno));
		char buf[SECRET_FILE_MAX];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';
		free(e->value);
		e->value = hbk_xstrdup(buf);
		return HBK_OK;
	}
	(void)cfg;
	return hbk_fail(err, HBK_EINVAL, "config",
			"%s:%d: %s must be a reference (env:NAME or file:/path), not an inline "
			"secret",
			name, e->line, e->key);
}

static hbk_result add_leaf(struct hbk_config *cfg, const char *name, char path[][CONFIG_KEY_MAX],
			   int depth, const char *value, int line, bool list_item,
			   struct hbk_error *err)
{
	char key[CONFIG_KEY_MAX * 2] = "";
	size_t len = 0;
	for (int i = 0; i < depth; i++) {
		int n = snprintf(key + len, sizeof(key) - len, "%s%s", i ? "." : "", path[i]);
		if (n < 0 || (size_t)n >= sizeof(key) - len)
			return hbk_fail(err, HBK_EINVAL, "config", "%s:%d: key too long", name,
					line);
		len += (size_t)n;
	}
	if (known_key(key) < 0)
		return hbk_fail(err, HBK_EINVAL, "config", "%s:%d: unknown key '%s'", name, line,
				key);
	struct config_entry *e = find_entry(cfg, key);
	if (e && !list_item)
		return hbk_fail(err, HBK_EINVAL, "config",
				"%s:%d: '%s' is set twice (first on line %d)", name, line, key,
				e->line);
	if (e) {
		/* A sequence item: join with a comma. */
		struct hbk_buf joined;
		hbk_buf_init(&joined, 0);
		hbk_buf_printf(&joined, "%s,%s", e->value, value);
		free(e->value);
		e->value = hbk_buf_detach(&joined);
		return HBK_OK;
	}
	if (cfg->count >= CONFIG_ENTRIES_MAX)
		return hbk_fail(err, HBK_EINVAL, "config", "%s:%d: too many keys", name, line);
	hbk_config_set(cfg, key, value);
	cfg->entries[cfg->count - 1].line = line;
	return HBK_OK;
}

static hbk_result parse_yaml(struct hbk_config *cfg, yaml_parser_t *parser, const char *name,
			     struct hbk_error *err)
{
	char path[CONFIG_DEPTH_MAX][CONFIG_KEY_MAX];
	bool expect_key[CONFIG_DEPTH_MAX + 1];
	bool in_sequence = false;
	int depth = 0; /* mappings open */
	hbk_result rc = HBK_OK;
	bool done = false;

	expect_key[0] = true;
	while (!done && rc == HBK_OK) {
		yaml_event_t ev;
		if (!yaml_parser_parse(parser, &ev)) {
			return hbk_fail(err, HBK_EINVAL, "config", "%s:%zu: %s", name,
					parser->problem_mark.line + 1,
					parser->problem ? parser->problem : "syntax error");
		}
		int line = (int)ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT: done = true; break;
		case YAML_MAPPING_START_EVENT:
			if (in_sequence) {
				rc = hbk_fail(err, HBK_EINVAL, "config",
					      "%s:%d: a list may hold only plain values", name,
					      line);
				break;
			}
			if (depth > 0 && expect_key[depth]) {
				rc = hbk_fail(err, HBK_EINVAL, "config",
					      "%s:%d: a key must be a plain word", name, line);
				break;
			}
			if (depth >= CONFIG_DEPTH_MAX) {
				rc = hbk_fail(err, HBK_EINVAL, "config", "%s:%d: nested too deep",
					      name, line);
				break;
			}
			depth++;
			expect_key[depth] = true;
			break;
		case YAML_MAPPING_END_EVENT:
			depth--;
			if (depth > 0)
				expect_key[depth] = true;
			break;
		case YAML_SEQUENCE_START_EVENT:
			if (depth == 0 || expect_key[depth] || in_sequence) {
				rc = hbk_fail(err, HBK_EINVAL, "config", "%s:%d: unexpected list",
					      name, line);
				break;
			}
			in_sequence = true;
			break;
		case YAML_SEQUENCE_END_EVENT:
			in_sequence = false;
			expect_key[depth] = true;
			break;
		case YAML_SCALAR_EVENT: {
			const char *text = (const char *)ev.data.scalar.value;
			if (depth == 0) {
				if (*text)
					rc = hbk_fail(err, HBK_EINVAL, "config",
						      "%s:%d: expected a mapping of settings", name,
						      line);
				break;
			}
			if (in_sequence) {
				rc = add_leaf(cfg, name, path, depth, text, line, true, err);
			} else if (expect_key[depth]) {
				if (strlen(text) >= CONFIG_KEY_MAX) {
					rc = hbk_fail(err, HBK_EINVAL, "config",
						      "%s:%d: key too long", name, line);
					break;
				}
				hbk_copy(path[depth - 1], CONFIG_KEY_MAX, text);
				expect_key[depth] = false;
			} else {
				rc = add_leaf(cfg, name, path, depth, text, line, false, err);
				expect_key[depth] = true;
			}
			break;
		}
		case YAML_ALIAS_EVENT:
			rc = hbk_fail(err, HBK_EINVAL, "config", "%s:%d: aliases are not supported",
				      name, line);
			break;
		default: break;
		}
		yaml_event_delete(&ev);
	}
	return rc;
}

static void set_home(struct hbk_config *cfg)
{
	const char *home = getenv("HBK_HOME");
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *user = getenv("HOME");
	if (home && *home)
		hbk_copy(cfg->home, sizeof(cfg->home), home);
	else if (xdg && *xdg)
		snprintf(cfg->home, sizeof(cfg->home), "%s/hbk", xdg);
	else
		snprintf(cfg->home, sizeof(cfg->home), "%s/.local/share/hbk", user ? user : ".");
}

static hbk_result finish(struct hbk_config *cfg, const char *name, struct hbk_error *err)
{
	for (int i = 0; i < cfg->count; i++) {
		struct config_entry *e = &cfg->entries[i];
		if (e->secret) {
			hbk_result rc = resolve_secret(cfg, e, name, err);
			if (rc != HBK_OK)
				return rc;
		}
	}
	set_home(cfg);
	const char *store = hbk_config_get(cfg, "store.path", NULL);
	if (!store) {
		snprintf(cfg->store_path, sizeof(cfg->store_path), "%s/hbk.db", cfg->home);
	} else if (strncmp(store, "$HBK_HOME/", 10) == 0) {
		snprintf(cfg->store_path, sizeof(cfg->store_path), "%s/%s", cfg->home, store + 10);
	} else if (strncmp(store, "~/", 2) == 0) {
		const char *user = getenv("HOME");
		snprintf(cfg->store_path, sizeof(cfg->store_path), "%s/%s", user ? user : ".",
			 store + 2);
	} else {
		hbk_copy(cfg->store_path, sizeof(cfg->store_path), store);
	}
	return HBK_OK;
}

hbk_result hbk_config_load_string(const char *yaml, const char *name, struct hbk_config **out,
				  struct hbk_error *err)
{
	struct hbk_config *cfg = hbk_xcalloc(1, sizeof(*cfg));
	yaml_parser_t parser;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
	hbk_result rc = parse_yaml(cfg, &parser, name, err);
	yaml_parser_delete(&parser);
	if (rc == HBK_OK)
		rc = finish(cfg, name, err);
	if (rc != HBK_OK) {
		hbk_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return HBK_OK;
}

/* The first configuration file that exists, or NULL. */
static const char *search_path(char *buf, size_t size)
{
	const char *env = getenv("HBK_CONFIG");
	if (env && *env)
		return env;
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	if (xdg && *xdg)
		snprintf(buf, size, "%s/hbk/hbk.yaml", xdg);
	else
		snprintf(buf, size, "%s/.config/hbk/hbk.yaml", home ? home : ".");
	if (access(buf, F_OK) == 0)
		return buf;
	if (access("/etc/hbk/hbk.yaml", F_OK) == 0)
		return "/etc/hbk/hbk.yaml";
	return NULL;
}

hbk_result hbk_config_load(const char *explicit_path, struct hbk_config **out,
			   struct hbk_error *err)
{
	char buf[4096];
	const char *path = explicit_path ? explicit_path : search_path(buf, sizeof(buf));
	if (!path)
		return hbk_config_load_string("", "(built-in defaults)", out, err);

	FILE *f = fopen(path, "rb");
	if (!f)
		return hbk_fail(err, HBK_EINVAL, "config", "cannot read config file %s: %s", path,
				strerror(errno));
	struct hbk_config *cfg = hbk_xcalloc(1, sizeof(*cfg));
	cfg->path = hbk_xstrdup(path);
	yaml_parser_t parser;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	hbk_result rc = parse_yaml(cfg, &parser, path, err);
	yaml_parser_delete(&parser);
	fclose(f);
	if (rc == HBK_OK)
		rc = finish(cfg, path, err);
	if (rc != HBK_OK) {
		hbk_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return HBK_OK;
}

void hbk_config_free(struct hbk_config *cfg)
{
	if (!cfg)
		return;
	for (int i = 0; i < cfg->count; i++) {
		if (cfg->entries[i].secret && cfg->entries[i].value)
			explicit_bzero(cfg->entries[i].value, strlen(cfg->entries[i].value));
		free(cfg->entries[i].key);
		free(cfg->entries[i].value);
	}
	free(cfg->path);
	free(cfg);
}

const char *hbk_config_path(const struct hbk_config *cfg)
{
	return cfg->path;
}

const char *hbk_config_get(const struct hbk_config *cfg, const char *key, const char *def)
{
	const struct config_entry *e = find_entry(cfg, key);
	return e ? e->value : def;
}

static const char *where(const struct hbk_config *cfg, const struct config_entry *e, char *buf,
			 size_t size)
{
	if (cfg->path && e->line > 0)
		snprintf(buf, size, "%s:%d: ", cfg->path, e->line);
	else
		buf[0] = '\0';
	return buf;
}

hbk_result hbk_config_get_int(const struct hbk_config *cfg, const char *key, long long def,
			      long long min, long long max, long long *out, struct hbk_error *err)
{
	const struct config_entry *e = find_entry(cfg, key);
	char at[4200];
	if (!e) {
		*out = def;
		return HBK_OK;
	}
	if (!hbk_parse_int(e->value, min, max, out))
		return hbk_fail(err, HBK_EINVAL, "config",
				"%s%s: expected a whole number from %lld to %lld, got '%s'",
				where(cfg, e, at, sizeof(at)), key, min, max, e->value);
	return HBK_OK;
}

hbk_result hbk_config_get_ppm(const struct hbk_config *cfg, const char *key, long long *out_ppm,
			      struct hbk_error *err)
{
	const struct config_entry *e = find_entry(cfg, key);
	char at[4200];
	*out_ppm = 0;
	if (!e)
		return HBK_OK;
	const char *p = e->value;
	long long whole = 0, frac = 0, scale = 1000000;
	if (*p == '0' || *p == '1') {
		whole = *p - '0';
		p++;
	} else if (*p != '.') {
		goto bad;
	}
	if (*p == '.') {
		p++;
		if (!*p)
			goto bad;
		for (int i = 0; *p; p++, i++) {
			if (*p < '0' || *p > '9' || i >= 6)
				goto bad;
			scale /= 10;
			frac += (*p - '0') * scale;
		}
	}
	if (*p || whole * 1000000 + frac > 1000000)
		goto bad;
	*out_ppm = whole * 1000000 + frac;
	return HBK_OK;
bad:
	return hbk_fail(err, HBK_EINVAL, "config",
			"%s%s: expected a probability from 0 to 1 (e.g. 0.3), got '%s'",
			where(cfg, e, at, sizeof(at)), key, e->value);
}

const char *hbk_config_home(const struct hbk_config *cfg)
{
	return cfg->home;
}

const char *hbk_config_store_path(const struct hbk_config *cfg)
{
	return cfg->store_path;
}

/* Kafka accepts ASCII letters, digits, '.', '_' and '-', up to 249 of them;
 * "." and ".." are refused because they name directories on the broker. */
static bool kafka_topic_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len >= HBK_KAFKA_TOPIC_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

static hbk_result kafka_topic(const struct hbk_config *cfg, const char *key, const char *def,
			      char out[HBK_KAFKA_TOPIC_MAX], struct hbk_error *err)
{
	const char *name = hbk_config_get(cfg, key, def);
	if (!kafka_topic_valid(name))
		return hbk_fail_field(err, HBK_EINVAL, "config", key,
				      "%s: invalid topic name '%.*s' (letters, digits, '.', '_' "
				      "and '-', at most 249)",
				      key, hbk_utf8_cut(name, 64), name);
	hbk_copy(out, HBK_KAFKA_TOPIC_MAX, name);
	return HBK_OK;
}

hbk_result hbk_config_kafka(const struct hbk_config *cfg, struct hbk_kafka_config *out,
			    struct hbk_error *err)
{
	hbk_result rc;
	long long partitions, replication, timeout_ms, session_ms, command_ms;

	HBK_ASSERT(cfg != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	const char *brokers = hbk_config_get(cfg, "kafka.brokers", "");
	if (!hbk_copy(out->brokers, sizeof(out->brokers), brokers))
		return hbk_fail_field(err, HBK_EINVAL, "config", "kafka.brokers",
				      "kafka.brokers: longer than %d characters",
				      HBK_KAFKA_BROKERS_MAX - 1);
	if ((rc = kafka_topic(cfg, "kafka.topics.commands", "hbk.commands", out->topic_commands,
			      err)) != HBK_OK ||
	    (rc = kafka_topic(cfg, "kafka.topics.events", "hbk.events", out->topic_events, err)) !=
		HBK_OK ||
	    (rc = kafka_topic(cfg, "kafka.topics.dlq", "hbk.dlq", out->topic_dlq, err)) != HBK_OK)
		return rc;
	if ((rc = hbk_config_get_int(cfg, "kafka.partitions", 12, 1, 10000, &partitions, err)) !=
		HBK_OK ||
	    (rc = hbk_config_get_int(cfg, "kafka.replication", 3, 1, 32, &replication, err)) !=
		HBK_OK ||
	    (rc = hbk_config_get_int(cfg, "kafka.timeout_ms", 5000, 100, 600000, &timeout_ms,
				     err)) != HBK_OK ||
	    (rc = hbk_config_get_int(cfg, "kafka.session_timeout_ms", 10000, 1000, 300000,
				     &session_ms, err)) != HBK_OK ||
	    (rc = hbk_config_get_int(cfg, "kafka.command_timeout_ms", 30000, 100, 600000,
				     &command_ms, err)) != HBK_OK)
		return rc;
	const char *group = hbk_config_get(cfg, "kafka.group", "hbkd");
	if (!kafka_topic_valid(group) || !hbk_copy(out->group, sizeof(out->group), group))
		return hbk_fail_field(err, HBK_EINVAL, "config", "kafka.group",
				      "kafka.group: '%s' is not a valid group name (letters, "
				      "digits, '.', '_' and '-')",
				      group);
	out->session_timeout_ms = (int)session_ms;
	out->command_timeout_ms = (int)command_ms;
	out->partitions = (int)partitions;
	out->replication = (int)replication;
	out->timeout_ms = (int)timeout_ms;
	return HBK_OK;
}

/* The kafka keys config show writes even when unset, with their defaults. */
static const struct {
	const char *key;
	const char *def;
} kafka_defaults[] = {
    {"kafka.topics.commands", "hbk.commands"},
    {"kafka.topics.events", "hbk.events"},
    {"kafka.topics.dlq", "hbk.dlq"},
    {"kafka.partitions", "12"},
    {"kafka.replication", "3"},
    {"kafka.timeout_ms", "5000"},
    {"kafka.group", "hbkd"},
    {"kafka.session_timeout_ms", "10000"},
    {"kafka.command_timeout_ms", "30000"},
};

void hbk_config_dump(const struct hbk_config *cfg, FILE *out)
{
	fprintf(out, "# %s\n", cfg->path ? cfg->path : "built-in defaults");
	fprintf(out, "home: %s\nstore.path: %s\n", cfg->home, cfg->store_path);
	for (int i = 0; i < cfg->count; i++) {
		const struct config_entry *e = &cfg->entries[i];
		if (strcmp(e->key, "store.path") == 0)
			continue;
		fprintf(out, "%s: %s\n", e->key, e->secret ? "<secret>" : e->value);
	}
	for (size_t i = 0; i < sizeof(kafka_defaults) / sizeof(kafka_defaults[0]); i++)
		if (!find_entry(cfg, kafka_defaults[i].key))
			fprintf(out, "%s: %s\n", kafka_defaults[i].key, kafka_defaults[i].def);
}

void hbk_config_provider(const struct hbk_config *cfg, const char *section, char *out, size_t size)
{
	char key[64];
	HBK_ASSERT(section != NULL && out != NULL && size > 0);
	hbk_format(key, sizeof(key), "%s.kind", section);
	const char *kind = cfg ? hbk_config_get(cfg, key, "sandbox") : "sandbox";
	if (kind == NULL || kind[0] == '\0')
		kind = "sandbox";
	hbk_format(key, sizeof(key), "%s.url", section);
	const char *url = cfg ? hbk_config_get(cfg, key, "") : "";
	size_t len = url ? strlen(url) : 0;
	while (len > 0 && url[len - 1] == '/')
		len--;
	if (strcmp(kind, "sandbox") == 0 || len == 0)
		hbk_format(out, size, "%s", kind);
	else
		hbk_format(out, size, "%s %.*s", kind, (int)len, url);
}
