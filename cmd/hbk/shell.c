/*
 * shell.c - hbk shell: the same commands, interactively, with readline
 * history ($XDG_STATE_HOME/hbk/history) and tab completion of commands,
 * options, city codes and booking ids (the last two on the local store only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "hbk.h"

#define SHELL_WORDS_MAX	   64
#define SHELL_HISTORY_MAX  1000
#define COMPLETION_IDS_MAX 200

static struct hbk_cli *shell_cli;

/* Splits a line into words with shell-like quoting; false on an open quote. */
static bool split_words(char *line, char **words, int *count)
{
	char *out = line, *p = line;
	*count = 0;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (*count == SHELL_WORDS_MAX)
			return false;
		words[(*count)++] = out;
		char quote = 0;
		while (*p && (quote || (*p != ' ' && *p != '\t'))) {
			if (!quote && (*p == '"' || *p == '\'')) {
				quote = *p++;
			} else if (quote && *p == quote) {
				quote = 0;
				p++;
			} else if (*p == '\\' && p[1] && quote != '\'') {
				*out++ = p[1];
				p += 2;
			} else {
				*out++ = *p++;
			}
		}
		if (quote)
			return false;
		if (*p)
			p++;
		*out++ = '\0';
	}
	return true;
}

/* A generator over a NULL-terminated list of candidate strings. */
static char **candidates;
static int candidate_count;

static void candidates_free(void)
{
	for (int i = 0; i < candidate_count; i++)
		free(candidates[i]);
	free(candidates);
	candidates = NULL;
	candidate_count = 0;
}

static void candidates_add(const char *s)
{
	candidates = hbk_xrealloc(candidates, (size_t)(candidate_count + 1) * sizeof(*candidates));
	candidates[candidate_count++] = hbk_xstrdup(s);
}

static char *generator(const char *text, int state)
{
	static int index;
	size_t len = strlen(text);
	if (!state)
		index = 0;
	while (index < candidate_count) {
		const char *c = candidates[index++];
		if (strncmp(c, text, len) == 0)
			return strdup(c);
	}
	return NULL;
}

/* Words from the local store; none in remote mode. */
static void add_query_words(const char *sql)
{
	sqlite3_stmt *stmt;
	if (remote(shell_cli) || !shell_cli->engine ||
	    hbk_store_prepare(shell_cli->engine->store, sql, &stmt, NULL) != HBK_OK)
		return;
	while (sqlite3_step(stmt) == SQLITE_ROW)
		candidates_add(hbk_column_text(stmt, 0));
	hbk_stmt_done(stmt);
}

/* The newest booking ids: from the store, or from hbkd in remote mode. */
static void add_booking_ids(void)
{
	struct hbk_client *client;
	struct hbk_list_filter filter = {.limit = 200};
	struct hbk_error err = {0};
	json_t *list = NULL, *booking;
	size_t i;

	if (!remote(shell_cli)) {
		add_query_words("SELECT id FROM bookings ORDER BY id DESC LIMIT 200");
		return;
	}
	/* The client is open since the shell started; a failure completes nothing. */
	if (tool_client(shell_cli, &client) != 0 ||
	    hbk_client_list(client, &filter, &list, &err) != HBK_OK)
		return;
	json_array_foreach(json_object_get(list, "bookings"), i, booking)
		candidates_add(hbk_json_str(booking, "id", ""));
	json_decref(list);
}

static void add_words(const char *words)
{
	char buf[256];
	hbk_copy(buf, sizeof(buf), words);
	for (char *w = buf, *sp; w && *w; w = sp ? sp + 1 : NULL) {
		sp = strchr(w, ' ');
		if (sp)
			*sp = '\0';
		candidates_add(w);
	}
}

static char **complete(const char *text, int start, int end)
{
	char line[1024], *words[SHELL_WORDS_MAX];
	int count = 0;
	candidates_free();
	rl_attempted_completion_over = 1;

	hbk_copy(line, sizeof(line), rl_line_buffer);
	line[start < (int)sizeof(line) ? start : (int)sizeof(line) - 1] = '\0';
	split_words(line, words, &count);
	if (count == 0) {
		for (const struct hbk_command *c = hbk_commands; c->name; c++)
			candidates_add(c->name);
		candidates_add("help");
		candidates_add("exit");
		return rl_completion_matches(text, generator);
	}
	const struct hbk_command *cmd = hbk_cli_find(hbk_commands, words[0]);
	if (!cmd)
		return NULL;
	const struct hbk_option *tables[] = {shell_cli->globals, cmd->options, NULL};
	if (text[0] == '-') {
		for (int t = 0; tables[t]; t++)
			for (const struct hbk_option *o = tables[t]; o->type != HBK_OPT_END; o++) {
				char name[80];
				hbk_format(name, sizeof(name), "--%s", o->long_name);
				candidates_add(name);
			}
		return rl_completion_matches(text, generator);
	}
	const char *prev = words[count - 1];
	if (prev[0] == '-' && prev[1] == '-') {
		const struct hbk_option *o = hbk_opt_find(tables, prev + 2);
		if (o && o->complete == HBK_COMPLETE_CITY)
			add_query_words("SELECT code FROM cities ORDER BY code");
		else if (o && o->complete == HBK_COMPLETE_WORDS && o->words)
			add_words(o->words);
		else if (o && o->complete == HBK_COMPLETE_FILE) {
			rl_attempted_completion_over = 0;
			return NULL;
		}
		return rl_completion_matches(text, generator);
	}
	/* The ID argument of view, update, cancel and history. */
	if (cmd->min_args == 1 && cmd->fn != cmd_book)
		add_booking_ids();
	return rl_completion_matches(text, generator);
}

static void history_path(char *out, size_t size)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char dir[4096];
	if (xdg && *xdg)
		snprintf(dir, sizeof(dir), "%s/hbk", xdg);
	else
		snprintf(dir, sizeof(dir), "%s/.local/state/hbk", home ? home : ".");
	for (char *p = dir + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0700);
			*p = '/';
		}
	}
	mkdir(dir, 0700);
	snprintf(out, size, "%s/history", dir);
}

int cmd_shell(struct hbk_cli *cli, int argc, const char **argv)
{
	char history[4200], *words[SHELL_WORDS_MAX + 1];
	int code = 0, count;
	struct hbk_client *client;

	/* Fails early on a store that cannot open or a bad hbkd URL. */
	if ((code = tool_backend(cli, &client)) != 0)
		return code;
	shell_cli = cli;
	cli->interactive = true;
	history_path(history, sizeof(history));
	using_history();
	stifle_history(SHELL_HISTORY_MAX);
	read_history(history);
	rl_readline_name = "hbk";
	rl_attempted_completion_function = complete;
	if (!cli->quiet && isatty(0))
		printf("hbk %s shell: commands as on the command line, without 'hbk'. "
		       "'help' lists them, 'exit' or ^D ends.\n",
		       HBK_VERSION);

	char *line;
	while ((line = readline(isatty(0) ? "hbk> " : "")) != NULL) {
		if (*line)
			add_history(line);
		if (!split_words(line, words, &count)) {
			fprintf(stderr, "hbk: error: unbalanced quotes or too many words\n");
			code = 2;
		} else if (count == 0) {
			/* empty line */
		} else if (strcmp(words[0], "exit") == 0 || strcmp(words[0], "quit") == 0) {
			free(line);
			break;
		} else if (strcmp(words[0], "help") == 0) {
			hbk_cli_help(cli, hbk_commands, stdout, "COMMAND [ARGS]");
		} else if (strcmp(words[0], "shell") == 0) {
			fprintf(stderr, "hbk: error: already in the shell\n");
		} else {
			words[count] = NULL;
			code = hbk_cli_run(cli, hbk_commands, count, words);
			fflush(stdout);
		}
		free(line);
	}
	write_history(history);
	history_truncate_file(history, SHELL_HISTORY_MAX);
	candidates_free();
	return code;
}
