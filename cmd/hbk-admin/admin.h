/*
 * admin.h - the subcommands of hbk-admin(8). Each lives in its own file,
 * cmd/hbk-admin/<name>.c, with its option table and the reset function
 * that clears the option values before a parse; main.c holds the command
 * table that points at them.
 */
#ifndef HBK_ADMIN_H
#define HBK_ADMIN_H

#include "hbk/cli.h"
#include "hbk/kafka.h"

int cmd_config(struct hbk_cli *cli, int argc, const char **argv);
int cmd_hotel(struct hbk_cli *cli, int argc, const char **argv);
int cmd_init(struct hbk_cli *cli, int argc, const char **argv);
int cmd_inventory(struct hbk_cli *cli, int argc, const char **argv);
int cmd_kafka(struct hbk_cli *cli, int argc, const char **argv);
int cmd_notify(struct hbk_cli *cli, int argc, const char **argv);
int cmd_recover(struct hbk_cli *cli, int argc, const char **argv);
int cmd_token(struct hbk_cli *cli, int argc, const char **argv);
int cmd_topics(struct hbk_cli *cli, int argc, const char **argv);

extern const struct hbk_option hotel_options[];
extern const struct hbk_option init_options[];
extern const struct hbk_option inventory_options[];
extern const struct hbk_option kafka_options[];
extern const struct hbk_option notify_options[];
extern const struct hbk_option topics_options[];

void hotel_reset(void);
void init_reset(void);
void inventory_reset(void);
void kafka_reset(void);
void notify_reset(void);
void topics_reset(void);

/*
 * Opens the Kafka cluster for a command: the brokers from option (the
 * command's --brokers, may be NULL), else HBK_KAFKA_BROKERS, else
 * kafka.brokers. Returns 0 with *out to close with hbk_kafka_admin_close(), or
 * the exit code after reporting: 2 when no brokers are given, 6 when none
 * answers.
 */
int admin_kafka_open(struct hbk_cli *cli, const struct hbk_command *self, const char *option,
		     struct hbk_kafka_admin **out);

/* The command table, for usage errors raised inside a command. */
const struct hbk_command *admin_command(const char *name);

#endif
