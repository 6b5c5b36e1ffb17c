/*
 * hbk.h - what the files of the hbk tool share.
 */
#ifndef HBK_TOOL_H
#define HBK_TOOL_H

#include "hbk/cli.h"
#include "hbk/client.h"
#include "hbk/json.h"
#include "hbk/reservation.h"

extern const struct hbk_command hbk_commands[];

int cmd_book(struct hbk_cli *cli, int argc, const char **argv);
int cmd_cancel(struct hbk_cli *cli, int argc, const char **argv);
int cmd_history(struct hbk_cli *cli, int argc, const char **argv);
int cmd_list(struct hbk_cli *cli, int argc, const char **argv);
int cmd_search(struct hbk_cli *cli, int argc, const char **argv);
int cmd_shell(struct hbk_cli *cli, int argc, const char **argv);
int cmd_update(struct hbk_cli *cli, int argc, const char **argv);
int cmd_view(struct hbk_cli *cli, int argc, const char **argv);

extern const struct hbk_option book_options[], cancel_options[], list_options[], search_options[],
    update_options[], no_options[];
void book_reset(void);
void cancel_reset(void);
void list_reset(void);
void search_reset(void);
void update_reset(void);

/*
 * Remote mode (remote.c). remote() is true when --api, HBK_API_URL or
 * client.url names hbkd. tool_client() opens the client once (token from
 * --token, HBK_TOKEN or client.token) and lends it in *out. tool_backend()
 * opens what the command runs against: the client in remote mode (*out
 * set), else the engine (cli->engine, *out NULL). Both return 0, or the
 * exit code after printing the error. tool_client_close() is for exit.
 */
bool remote(const struct hbk_cli *cli);
int tool_client(struct hbk_cli *cli, struct hbk_client **out);
int tool_backend(struct hbk_cli *cli, struct hbk_client **out);
void tool_client_close(void);

/* Prints a booking (record, or its JSON document). */
void show_booking(const struct hbk_cli *cli, const json_t *booking);
/* Prints the booking when there is one, then reports err; returns the exit code. */
int finish_booking_command(const struct hbk_cli *cli, hbk_result rc, json_t *booking,
			   const struct hbk_error *err);

/* The last search's offers, kept for `hbk book N`. */
void last_search_save(const struct hbk_cli *cli, const json_t *offers);
hbk_result last_search_offer(int n, char *offer_id, size_t size, struct hbk_error *err);

#endif
