/*
 * test_config.c - proves hbk.yaml(5) loading: nested mappings flatten to
 * dotted keys, lists join with commas, unknown keys and YAML errors are
 * refused with "name:line", secrets are accepted only as env:/file:
 * references and never shown by hbk_config_dump(), typed getters check
 * their bounds, and HBK_HOME decides where the store lives. Each test loads
 * YAML text (or a file written in the test's temporary directory) with a
 * controlled environment and compares the values and messages it gets;
 * the environment is restored afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "unit.h"

/* Saves and restores the environment variables a test changes. */
#define SAVED_VARS_MAX 8
static struct {
	const char *name;
	char *value; /* NULL: was unset */
} saved[SAVED_VARS_MAX];
static int nsaved;

static void env_save(const char *name)
{
	HBK_ASSERT(nsaved < SAVED_VARS_MAX);
	const char *v = getenv(name);
	saved[nsaved].name = name;
	saved[nsaved].value = v ? strdup(v) : NULL;
	nsaved++;
}

static void env_restore(void)
{
	while (nsaved > 0) {
		nsaved--;
		if (saved[nsaved].value)
			setenv(saved[nsaved].name, saved[nsaved].value, 1);
		else
			unsetenv(saved[nsaved].name);
		free(saved[nsaved].value);
	}
}

static struct hbk_config *load(const char *yaml)
{
	struct hbk_config *cfg = NULL;
	struct hbk_error err;
	hbk_error_clear(&err);
	hbk_result r = hbk_config_load_string(yaml, "test.yaml", &cfg, &err);
	if (r != HBK_OK)
		fprintf(stderr, "  config: %s\n", err.message);
	CHECK_INT(r, HBK_OK);
	return cfg;
}

/* Loads yaml expecting HBK_EINVAL; returns the message in err. */
static bool load_fails(const char *yaml, struct hbk_error *err)
{
	struct hbk_config *cfg = NULL;
	hbk_error_clear(err);
	hbk_result r = hbk_config_load_string(yaml, "test.yaml", &cfg, err);
	if (r == HBK_OK)
		hbk_config_free(cfg);
	return r == HBK_EINVAL && err->result == HBK_EINVAL && cfg == NULL;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static void test_nested_keys(void)
{
	struct hbk_config *cfg = load("store:\n"
				      "  path: /var/lib/hbk/x.db\n"
				      "partner:\n"
				      "  kind: sandbox\n"
				      "  faults:\n"
				      "    error_rate: 0.3\n"
				      "    fail: book\n"
				      "kafka:\n"
				      "  topics: {commands: c1, events: e1}\n"
				      "log: {level: debug}\n");
	if (!cfg)
		return;
	CHECK_STR(hbk_config_get(cfg, "store.path", NULL), "/var/lib/hbk/x.db");
	CHECK_STR(hbk_config_get(cfg, "partner.kind", NULL), "sandbox");
	CHECK_STR(hbk_config_get(cfg, "partner.faults.error_rate", NULL), "0.3");
	CHECK_STR(hbk_config_get(cfg, "partner.faults.fail", NULL), "book");
	CHECK_STR(hbk_config_get(cfg, "kafka.topics.commands", NULL), "c1");
	CHECK_STR(hbk_config_get(cfg, "kafka.topics.events", NULL), "e1");
	CHECK_STR(hbk_config_get(cfg, "log.level", NULL), "debug");
	/* Unset keys and inner nodes give the default. */
	CHECK_STR(hbk_config_get(cfg, "kafka.topics.dlq", "hbk.dlq"), "hbk.dlq");
	CHECK(hbk_config_get(cfg, "partner.faults", NULL) == NULL);
	CHECK(hbk_config_get(cfg, "partner", NULL) == NULL);
	CHECK(hbk_config_path(cfg) == NULL);

	hbk_config_set(cfg, "log.level", "warn");
	CHECK_STR(hbk_config_get(cfg, "log.level", NULL), "warn");
	hbk_config_set(cfg, "log.format", "text");
	CHECK_STR(hbk_config_get(cfg, "log.format", NULL), "text");
	hbk_config_free(cfg);

	/* Empty documents and comments only are the defaults. */
	cfg = load("");
	if (cfg) {
		CHECK(hbk_config_get(cfg, "store.path", NULL) == NULL);
		hbk_config_free(cfg);
	}
	cfg = load("# nothing here\n");
	hbk_config_free(cfg);
}

static void test_unknown_key(void)
{
	struct hbk_error err;
	CHECK(load_fails("store:\n  path: /x.db\n  colour: red\n", &err));
	CHECK(strstr(err.message, "test.yaml:3") != NULL);
	CHECK(strstr(err.message, "store.colour") != NULL);
	CHECK_STR(err.code, "config");

	CHECK(load_fails("log:\n  level: info\nlogs:\n  level: info\n", &err));
	CHECK(strstr(err.message, "test.yaml:4") != NULL);
	CHECK(strstr(err.message, "logs.level") != NULL);

	/* A known prefix is not a key. */
	CHECK(load_fails("partner: sandbox\n", &err));
	CHECK(strstr(err.message, "test.yaml:1") != NULL);
	CHECK(strstr(err.message, "'partner'") != NULL);
}

static void test_yaml_errors(void)
{
	struct hbk_error err;
	CHECK(load_fails("store:\n  path: x\n bad: [\n", &err));
	CHECK(strstr(err.message, "test.yaml:3:") != NULL);

	CHECK(load_fails("log:\n  level: [a\n", &err));
	CHECK(strstr(err.message, "test.yaml:3:") != NULL);

	CHECK(load_fails("log:\n\tlevel: x\n", &err));
	CHECK(strstr(err.message, "test.yaml:2:") != NULL);

	CHECK(load_fails("log:\n  level: &a info\n  format: *a\n", &err));
	CHECK(strstr(err.message, "test.yaml:3:") != NULL);
	CHECK(strstr(err.message, "alias") != NULL);

	CHECK(load_fails("just a string\n", &err));
	CHECK(strstr(err.message, "test.yaml:1:") != NULL);

	CHECK(load_fails("partner:\n  faults:\n    fail:\n      - {a: b}\n", &err));
	CHECK(strstr(err.message, "test.yaml:4:") != NULL);
}

static void test_sequences(void)
{
	struct hbk_config *cfg = load("partner:\n  faults:\n    fail: [book, cancel]\n"
				      "payment:\n  faults:\n    fail:\n      - authorize\n"
				      "      - capture\n      - refund\n"
				      "kafka:\n  brokers: [one:9092]\n");
	if (!cfg)
		return;
	CHECK_STR(hbk_config_get(cfg, "partner.faults.fail", NULL), "book,cancel");
	CHECK_STR(hbk_config_get(cfg, "payment.faults.fail", NULL), "authorize,capture,refund");
	CHECK_STR(hbk_config_get(cfg, "kafka.brokers", NULL), "one:9092");
	hbk_config_free(cfg);
}

static void test_inline_secret_refused(void)
{
	struct hbk_error err;
	CHECK(load_fails("client:\n  url: http://x\n  token: abc123topsecret\n", &err));
	CHECK(strstr(err.message, "client.token") != NULL);
	CHECK(strstr(err.message, "test.yaml:3") != NULL);
	CHECK(strstr(err.message, "abc123topsecret") == NULL);

	CHECK(load_fails("payment:\n  secret_key: sk_test_123\n", &err));
	CHECK(strstr(err.message, "payment.secret_key") != NULL);
	CHECK(strstr(err.message, "sk_test_123") == NULL);

	CHECK(load_fails("partner:\n  api_key: plain\n", &err));
	CHECK(strstr(err.message, "partner.api_key") != NULL);
}

static void test_env_secret(void)
{
	env_save("HBK_TEST_SECRET_TOKEN");
	env_save("HBK_TEST_SECRET_MISSING");
	setenv("HBK_TEST_SECRET_TOKEN", "s3cr3t-value", 1);
	unsetenv("HBK_TEST_SECRET_MISSING");

	struct hbk_config *cfg = load("client:\n  token: env:HBK_TEST_SECRET_TOKEN\n");
	if (cfg) {
		CHECK_STR(hbk_config_get(cfg, "client.token", NULL), "s3cr3t-value");
		hbk_config_free(cfg);
	}

	struct hbk_error err;
	CHECK(load_fails("log:\n  level: info\npartner:\n  secret: env:HBK_TEST_SECRET_MISSING\n",
			 &err));
	CHECK(strstr(err.message, "HBK_TEST_SECRET_MISSING") != NULL);
	CHECK(strstr(err.message, "partner.secret") != NULL);
	CHECK(strstr(err.message, "test.yaml:4") != NULL);

	/* Set but empty counts as missing. */
	setenv("HBK_TEST_SECRET_MISSING", "", 1);
	CHECK(load_fails("partner:\n  secret: env:HBK_TEST_SECRET_MISSING\n", &err));
	CHECK(strstr(err.message, "HBK_TEST_SECRET_MISSING") != NULL);
	env_restore();
}

static void test_file_secret(void)
{
	char path[512], yaml[700];
	snprintf(path, sizeof(path), "%s/webhook.secret", unit_tmpdir());
	write_file(path, "whsec_from_file\n");
	snprintf(yaml, sizeof(yaml), "payment:\n  webhook_secret: file:%s\n", path);
	struct hbk_config *cfg = load(yaml);
	if (cfg) {
		CHECK_STR(hbk_config_get(cfg, "payment.webhook_secret", NULL), "whsec_from_file");
		hbk_config_free(cfg);
	}

	/* Windows line ends and several newlines are all stripped. */
	write_file(path, "whsec_crlf\r\n\n");
	cfg = load(yaml);
	if (cfg) {
		CHECK_STR(hbk_config_get(cfg, "payment.webhook_secret", NULL), "whsec_crlf");
		hbk_config_free(cfg);
	}

	struct hbk_error err;
	snprintf(yaml, sizeof(yaml), "payment:\n  webhook_secret: file:%s/missing.secret\n",
		 unit_tmpdir());
	CHECK(load_fails(yaml, &err));
	CHECK(strstr(err.message, "missing.secret") != NULL);
	CHECK(strstr(err.message, "payment.webhook_secret") != NULL);
}

static void test_get_int(void)
{
	struct hbk_config *cfg = load("server:\n  max_body_bytes: 65536\n  max_connections: abc\n"
				      "client:\n  timeout_ms: -5\n");
	if (!cfg)
		return;
	struct hbk_error err;
	long long v = -1;
	CHECK_INT(hbk_config_get_int(cfg, "server.max_body_bytes", 1, 1, 1 << 20, &v, &err),
		  HBK_OK);
	CHECK_INT(v, 65536);
	CHECK_INT(hbk_config_get_int(cfg, "server.max_body_bytes", 1, 65536, 65536, &v, &err),
		  HBK_OK);
	CHECK_INT(hbk_config_get_int(cfg, "server.max_body_bytes", 1, 1, 65535, &v, &err),
		  HBK_EINVAL);
	CHECK(strstr(err.message, "server.max_body_bytes") != NULL);
	CHECK(strstr(err.message, "65535") != NULL);
	CHECK_INT(hbk_config_get_int(cfg, "server.max_body_bytes", 1, 65537, 100000, &v, &err),
		  HBK_EINVAL);
	CHECK_INT(hbk_config_get_int(cfg, "server.max_connections", 10, 1, 100, &v, &err),
		  HBK_EINVAL);
	CHECK(strstr(err.message, "'abc'") != NULL);
	CHECK_INT(hbk_config_get_int(cfg, "client.timeout_ms", 10, 0, 100000, &v, &err),
		  HBK_EINVAL);
	CHECK_INT(hbk_config_get_int(cfg, "client.timeout_ms", 10, -10, 100000, &v, &err),
		  HBK_OK);
	CHECK_INT(v, -5);
	/* Unset: the default, even outside the bounds the caller checks values against. */
	CHECK_INT(hbk_config_get_int(cfg, "server.idle_timeout_ms", 3000, 1, 100000, &v, &err),
		  HBK_OK);
	CHECK_INT(v, 3000);
	hbk_config_free(cfg);
}

static void ppm_is(const char *text, long long expected)
{
	char yaml[128];
	snprintf(yaml, sizeof(yaml), "partner:\n  faults:\n    error_rate: \"%s\"\n", text);
	struct hbk_config *cfg = load(yaml);
	if (!cfg)
		return;
	struct hbk_error err;
	long long ppm = -1;
	hbk_result r = hbk_config_get_ppm(cfg, "partner.faults.error_rate", &ppm, &err);
	if (r != HBK_OK)
		fprintf(stderr, "  ppm '%s': %s\n", text, err.message);
	CHECK_INT(r, HBK_OK);
	CHECK_INT(ppm, expected);
	hbk_config_free(cfg);
}

static void ppm_bad(const char *text)
{
	char yaml[128];
	snprintf(yaml, sizeof(yaml), "partner:\n  faults:\n    error_rate: \"%s\"\n", text);
	struct hbk_config *cfg = load(yaml);
	if (!cfg)
		return;
	struct hbk_error err;
	long long ppm = -1;
	CHECK_INT(hbk_config_get_ppm(cfg, "partner.faults.error_rate", &ppm, &err), HBK_EINVAL);
	CHECK(strstr(err.message, "partner.faults.error_rate") != NULL);
	CHECK(strstr(err.message, text) != NULL);
	hbk_config_free(cfg);
}

static void test_get_ppm(void)
{
	ppm_is("0.3", 300000);
	ppm_is("1", 1000000);
	ppm_is("1.0", 1000000);
	ppm_is("0", 0);
	ppm_is("0.5", 500000);
	ppm_is(".25", 250000);
	ppm_is("0.000001", 1);
	ppm_is("0.123456", 123456);
	ppm_bad("1.5");
	ppm_bad("1.000001");
	ppm_bad("2");
	ppm_bad("abc");
	ppm_bad("-0.1");
	ppm_bad("0.");
	ppm_bad("0.1234567");
	ppm_bad("0.3x");
	ppm_bad("");

	struct hbk_config *cfg = load("");
	if (cfg) {
		long long ppm = -1;
		CHECK_INT(hbk_config_get_ppm(cfg, "partner.faults.error_rate", &ppm, NULL), HBK_OK);
		CHECK_INT(ppm, 0);
		hbk_config_free(cfg);
	}
}

static void test_load_file(void)
{
	char path[512], missing[512];
	struct hbk_config *cfg = NULL;
	struct hbk_error err;
	env_save("HBK_CONFIG");
	env_save("XDG_CONFIG_HOME");

	snprintf(missing, sizeof(missing), "%s/no-such-config.yaml", unit_tmpdir());
	CHECK_INT(hbk_config_load(missing, &cfg, &err), HBK_EINVAL);
	CHECK(cfg == NULL);
	CHECK(strstr(err.message, missing) != NULL);

	snprintf(path, sizeof(path), "%s/hbk.yaml", unit_tmpdir());
	write_file(path, "log:\n  level: debug\n  nope: 1\n");
	CHECK_INT(hbk_config_load(path, &cfg, &err), HBK_EINVAL);
	char where[600];
	snprintf(where, sizeof(where), "%s:3", path);
	CHECK(strstr(err.message, where) != NULL);

	write_file(path, "log:\n  level: debug\nserver:\n  max_body_bytes: huge\n");
	CHECK_INT(hbk_config_load(path, &cfg, &err), HBK_OK);
	if (cfg) {
		CHECK_STR(hbk_config_path(cfg), path);
		CHECK_STR(hbk_config_get(cfg, "log.level", NULL), "debug");
		long long v;
		CHECK_INT(hbk_config_get_int(cfg, "server.max_body_bytes", 1, 1, 100, &v, &err),
			  HBK_EINVAL);
		snprintf(where, sizeof(where), "%s:4", path);
		CHECK(strstr(err.message, where) != NULL);
		hbk_config_free(cfg);
		cfg = NULL;
	}

	/* Without --config, $HBK_CONFIG names the file. */
	setenv("HBK_CONFIG", path, 1);
	CHECK_INT(hbk_config_load(NULL, &cfg, &err), HBK_OK);
	if (cfg) {
		CHECK_STR(hbk_config_path(cfg), path);
		hbk_config_free(cfg);
		cfg = NULL;
	}
	setenv("HBK_CONFIG", missing, 1);
	CHECK_INT(hbk_config_load(NULL, &cfg, &err), HBK_EINVAL);
	CHECK(strstr(err.message, missing) != NULL);

	/* Then $XDG_CONFIG_HOME/hbk/hbk.yaml. */
	unsetenv("HBK_CONFIG");
	char xdg[512], xdg_file[600];
	snprintf(xdg, sizeof(xdg), "%s/xdg", unit_tmpdir());
	snprintf(xdg_file, sizeof(xdg_file), "%s/hbk", xdg);
	CHECK(mkdir(xdg, 0700) == 0);
	CHECK(mkdir(xdg_file, 0700) == 0);
	snprintf(xdg_file, sizeof(xdg_file), "%s/hbk/hbk.yaml", xdg);
	write_file(xdg_file, "log:\n  format: text\n");
	setenv("XDG_CONFIG_HOME", xdg, 1);
	CHECK_INT(hbk_config_load(NULL, &cfg, &err), HBK_OK);
	if (cfg) {
		CHECK_STR(hbk_config_path(cfg), xdg_file);
		CHECK_STR(hbk_config_get(cfg, "log.format", NULL), "text");
		hbk_config_free(cfg);
	}
	env_restore();
}

static void test_home_and_store_path(void)
{
	struct hbk_config *cfg;
	env_save("HBK_HOME");
	env_save("XDG_DATA_HOME");
	env_save("HOME");

	setenv("HBK_HOME", "/srv/hbk-home", 1);
	setenv("XDG_DATA_HOME", "/srv/xdg-data", 1);
	setenv("HOME", "/home/agent", 1);
	if ((cfg = load(""))) {
		CHECK_STR(hbk_config_home(cfg), "/srv/hbk-home");
		CHECK_STR(hbk_config_store_path(cfg), "/srv/hbk-home/hbk.db");
		hbk_config_free(cfg);
	}
	if ((cfg = load("store:\n  path: $HBK_HOME/x.db\n"))) {
		CHECK_STR(hbk_config_store_path(cfg), "/srv/hbk-home/x.db");
		hbk_config_free(cfg);
	}
	if ((cfg = load("store:\n  path: /var/lib/hbk/other.db\n"))) {
		CHECK_STR(hbk_config_store_path(cfg), "/var/lib/hbk/other.db");
		hbk_config_free(cfg);
	}
	if ((cfg = load("store:\n  path: ~/data/h.db\n"))) {
		CHECK_STR(hbk_config_store_path(cfg), "/home/agent/data/h.db");
		hbk_config_free(cfg);
	}

	unsetenv("HBK_HOME");
	if ((cfg = load(""))) {
		CHECK_STR(hbk_config_home(cfg), "/srv/xdg-data/hbk");
		CHECK_STR(hbk_config_store_path(cfg), "/srv/xdg-data/hbk/hbk.db");
		hbk_config_free(cfg);
	}
	setenv("HBK_HOME", "", 1); /* empty is unset */
	unsetenv("XDG_DATA_HOME");
	if ((cfg = load("store:\n  path: $HBK_HOME/y.db\n"))) {
		CHECK_STR(hbk_config_home(cfg), "/home/agent/.local/share/hbk");
		CHECK_STR(hbk_config_store_path(cfg), "/home/agent/.local/share/hbk/y.db");
		hbk_config_free(cfg);
	}
	env_restore();
}

static void test_dump_masks_secrets(void)
{
	env_save("HBK_TEST_DUMP_KEY");
	env_save("HBK_HOME");
	setenv("HBK_TEST_DUMP_KEY", "sk_live_dont_show_me", 1);
	setenv("HBK_HOME", "/srv/dump-home", 1);
	char path[512], yaml[1024];
	snprintf(path, sizeof(path), "%s/api.key", unit_tmpdir());
	write_file(path, "apikey_from_file_hidden\n");
	snprintf(yaml, sizeof(yaml),
		 "payment:\n  secret_key: env:HBK_TEST_DUMP_KEY\n  url: http://pay.example\n"
		 "partner:\n  api_key: file:%s\n"
		 "log:\n  level: debug\n",
		 path);
	struct hbk_config *cfg = load(yaml);
	if (!cfg) {
		env_restore();
		return;
	}
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	CHECK(out != NULL);
	if (out) {
		hbk_config_dump(cfg, out);
		fclose(out);
		CHECK(strstr(text, "sk_live_dont_show_me") == NULL);
		CHECK(strstr(text, "apikey_from_file_hidden") == NULL);
		CHECK(strstr(text, "payment.secret_key: <secret>\n") != NULL);
		CHECK(strstr(text, "partner.api_key: <secret>\n") != NULL);
		CHECK(strstr(text, "payment.url: http://pay.example\n") != NULL);
		CHECK(strstr(text, "log.level: debug\n") != NULL);
		CHECK(strstr(text, "home: /srv/dump-home\n") != NULL);
		CHECK(strstr(text, "store.path: /srv/dump-home/hbk.db\n") != NULL);
		free(text);
	}
	/* The values themselves are still there for the adapters. */
	CHECK_STR(hbk_config_get(cfg, "payment.secret_key", NULL), "sk_live_dont_show_me");
	CHECK_STR(hbk_config_get(cfg, "partner.api_key", NULL), "apikey_from_file_hidden");
	hbk_config_free(cfg);
	env_restore();
}

/* A key set twice in one mapping is an error naming both lines, not a list. */
static void test_duplicate_key(void)
{
	struct hbk_config *cfg = NULL;
	struct hbk_error err;
	hbk_error_clear(&err);
	CHECK_INT(hbk_config_load_string("log:\n  level: info\n  level: debug\n", "dup.yaml", &cfg,
					 &err),
		  HBK_EINVAL);
	CHECK(cfg == NULL);
	CHECK(strstr(err.message, "dup.yaml:3: 'log.level' is set twice (first on line 2)") != NULL);
	cfg = load("kafka:\n  brokers:\n    - a:9092\n    - b:9092\n");
	if (cfg)
		CHECK_STR(hbk_config_get(cfg, "kafka.brokers", ""), "a:9092,b:9092");
	hbk_config_free(cfg);
}

UNIT_TESTS(UNIT_T(test_duplicate_key), UNIT_T(test_nested_keys), UNIT_T(test_unknown_key), UNIT_T(test_yaml_errors),
	   UNIT_T(test_sequences), UNIT_T(test_inline_secret_refused), UNIT_T(test_env_secret),
	   UNIT_T(test_file_secret), UNIT_T(test_get_int), UNIT_T(test_get_ppm),
	   UNIT_T(test_load_file), UNIT_T(test_home_and_store_path),
	   UNIT_T(test_dump_masks_secrets));
