/*
 * config.h - hbk.yaml(5): the configuration every tool and hbkd reads.
 *
 * The file is found at an explicit path, $HBK_CONFIG,
 * $XDG_CONFIG_HOME/hbk/hbk.yaml (else ~/.config/hbk/hbk.yaml),
 * /etc/hbk/hbk.yaml; without one the built-in embedded defaults apply.
 * Values are flattened to dotted keys ("store.path"). A value written
 * "env:NAME" or "file:/path" is a secret reference, resolved at load;
 * secrets are masked by hbk_config_dump().
 */
#ifndef HBK_CONFIG_H
#define HBK_CONFIG_H

#include <stdio.h>

#include "hbk/core.h"

struct hbk_config;

/*
 * Loads the configuration. explicit_path (borrowed, may be NULL) is the
 * --config value. A missing explicit file, a YAML syntax error or an unknown
 * key fails with HBK_EINVAL and a message naming the file and line.
 * Returns a config the caller frees with hbk_config_free().
 */
hbk_result hbk_config_load(const char *explicit_path, struct hbk_config **out,
			   struct hbk_error *err);
/* Loads from a string (for tests); name is used in messages. */
hbk_result hbk_config_load_string(const char *yaml, const char *name, struct hbk_config **out,
				  struct hbk_error *err);
void hbk_config_free(struct hbk_config *cfg);

/* The file loaded, or NULL when the built-in defaults apply. Borrowed. */
const char *hbk_config_path(const struct hbk_config *cfg);

/* A value, secret references resolved; def when unset. Borrowed. */
const char *hbk_config_get(const struct hbk_config *cfg, const char *key, const char *def);
/* An integer value in [min, max]; def when unset. */
hbk_result hbk_config_get_int(const struct hbk_config *cfg, const char *key, long long def,
			      long long min, long long max, long long *out, struct hbk_error *err);
/* A probability in [0, 1] written as a decimal ("0.3"), as parts per million. */
hbk_result hbk_config_get_ppm(const struct hbk_config *cfg, const char *key, long long *out_ppm,
			      struct hbk_error *err);
/* Sets a value (overrides the file); value is copied. */
void hbk_config_set(struct hbk_config *cfg, const char *key, const char *value);

/* $HBK_HOME, else $XDG_DATA_HOME/hbk, else ~/.local/share/hbk. Borrowed. */
const char *hbk_config_home(const struct hbk_config *cfg);
/* store.path, else $HBK_HOME/hbk.db. Borrowed. */
const char *hbk_config_store_path(const struct hbk_config *cfg);

/* The upstream a port talks to, as "<kind>" for the in-process simulator
 * ("sandbox", cfg may be NULL) or "<kind> <url>" (trailing slashes off)
 * for a remote one: of "<section>.kind" and "<section>.url". */
void hbk_config_provider(const struct hbk_config *cfg, const char *section, char *out, size_t size);

/*
 * The kafka block, checked and with its defaults: topics hbk.commands,
 * hbk.events and hbk.dlq, 12 partitions, replication 3, 5000 ms for a
 * request to the brokers. brokers is "" when kafka.brokers is unset (the
 * caller decides whether that is an error: only cluster tools need it).
 */
#define HBK_KAFKA_BROKERS_MAX 1024
#define HBK_KAFKA_TOPIC_MAX   250 /* Kafka's own limit is 249 characters */
struct hbk_kafka_config {
	char brokers[HBK_KAFKA_BROKERS_MAX];
	char topic_commands[HBK_KAFKA_TOPIC_MAX];
	char topic_events[HBK_KAFKA_TOPIC_MAX];
	char topic_dlq[HBK_KAFKA_TOPIC_MAX];
	int partitions;
	int replication;
	int timeout_ms;
	char group[HBK_KAFKA_TOPIC_MAX]; /* the deciders' consumer group */
	int session_timeout_ms;		 /* how long a dead member keeps its partitions */
	int command_timeout_ms;		 /* how long a request waits for its command */
};

/* Fills out from cfg; a bad topic name or count fails with HBK_EINVAL
 * naming the key. */
hbk_result hbk_config_kafka(const struct hbk_config *cfg, struct hbk_kafka_config *out,
			    struct hbk_error *err);

/* Writes "key: value" lines, secrets masked as "<secret>"; the kafka
 * block's defaults are written too, so the topics in use are visible. */
void hbk_config_dump(const struct hbk_config *cfg, FILE *out);

#endif
