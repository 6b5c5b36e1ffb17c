/*
 * unit.c - runs the tests of one test file: each in order, then prints a
 * closing line "<file>: N passed, N failed" where N counts tests, and
 * exits non-zero when any check failed.
 */
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

int unit_checks_failed;
int unit_checks_passed;

static char tmpdir[256];

const char *unit_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmpdir, sizeof(tmpdir), "%s/hbk-unit-XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(1);
		}
	}
	return tmpdir;
}

static void remove_tmpdir(void)
{
	if (tmpdir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "unit: could not remove %s\n", tmpdir);
	}
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	const char *only = argc > 1 ? argv[1] : NULL;

	setenv("TZ", "UTC", 1);
	atexit(remove_tmpdir);
	for (int i = 0; i < unit_test_count; i++) {
		if (only && strcmp(only, unit_tests[i].name) != 0)
			continue;
		int before = unit_checks_failed;
		unit_tests[i].fn();
		if (unit_checks_failed == before) {
			passed++;
			printf("ok %s\n", unit_tests[i].name);
		} else {
			failed++;
			printf("not ok %s\n", unit_tests[i].name);
		}
	}
	printf("%s: %d passed, %d failed\n", argv[0], passed, failed);
	return failed ? 1 : 0;
}
