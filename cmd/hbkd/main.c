/*
 * main.c - hbkd(8), the booking service: options, configuration, then the
 * server of lib/api until SIGTERM.
 */
#include <stdio.h>
#include <string.h>

#include "hbk/config.h"
#include "hbk/opt.h"
#include "hbk/server.h"

static const char usage[] = "usage: hbkd [--config FILE] [--listen HOST:PORT] [--log FILE] "
			    "[--workers N] [--ready-file FILE]\n";

/* Writes the bound address to the ready file: supervisors and tests wait
 * for it, and learn the port when it was 0. */
static void write_ready_file(void *ctx, const char *address)
{
	const char *path = ctx;
	char tmp[4200];
	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s\n", address) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
		fprintf(stderr, "hbkd: error: cannot write %s\n", path);
}

int main(int argc, char **argv)
{
	const char *config_path = NULL, *listen = NULL, *log_path = NULL, *ready_file = NULL;
	const char *positional[HBK_OPT_MAX_POSITIONAL];
	long long workers = 0;
	bool help = false, version = false;
	int npositional;
	struct hbk_error err = {0};
	struct hbk_config *cfg = NULL;

	const struct hbk_option options[] = {
	    {HBK_OPT_STRING, "config", 0, &config_path, NULL, "FILE",
	     "configuration file (HBK_CONFIG)", 0, 0, HBK_COMPLETE_FILE, NULL},
	    {HBK_OPT_STRING, "listen", 'l', &listen, NULL, "HOST:PORT",
	     "address to serve on (HBK_LISTEN; default server.listen, 127.0.0.1:8080)", 0, 0,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_STRING, "log", 0, &log_path, NULL, "FILE",
	     "append JSON log lines to FILE (default log.file, else stderr)", 0, 0,
	     HBK_COMPLETE_FILE, NULL},
	    {HBK_OPT_INT, "workers", 'w', &workers, NULL, "N",
	     "worker threads (default: one per core)", 1, HBK_SERVER_WORKERS_MAX, HBK_COMPLETE_NONE,
	     NULL},
	    {HBK_OPT_STRING, "ready-file", 0, &ready_file, NULL, "FILE",
	     "once listening, write the bound HOST:PORT to FILE", 0, 0, HBK_COMPLETE_FILE, NULL},
	    {HBK_OPT_BOOL, "help", 'h', &help, NULL, NULL, "show help and exit", 0, 0,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_BOOL, "version", 0, &version, NULL, NULL, "show the version and exit", 0, 0,
	     HBK_COMPLETE_NONE, NULL},
	    {HBK_OPT_END},
	};
	const struct hbk_option *tables[] = {options, NULL};

	if (hbk_opt_parse(tables, argc, argv, positional, &npositional, &err) != HBK_OK ||
	    npositional > 0) {
		fprintf(stderr, "hbkd: error: %s\n%s",
			npositional > 0 ? "unexpected argument" : err.message, usage);
		return 2;
	}
	if (help) {
		fputs(usage, stdout);
		hbk_opt_usage(stdout, options);
		puts("\nSee hbkd(8).");
		return 0;
	}
	if (version) {
		printf("hbkd %s\n", HBK_VERSION);
		return 0;
	}
	if (hbk_config_load(config_path, &cfg, &err) != HBK_OK) {
		fprintf(stderr, "hbkd: error: %s\n", err.message);
		return hbk_exit_code(err.result);
	}
	struct hbk_server_options opts = {listen, log_path, (int)workers, write_ready_file,
					  (void *)ready_file};
	hbk_result rc = hbk_server_run(cfg, &opts, &err);
	hbk_config_free(cfg);
	if (rc != HBK_OK) {
		fprintf(stderr, "hbkd: error: %s\n", err.message);
		return hbk_exit_code(rc);
	}
	return 0;
}
