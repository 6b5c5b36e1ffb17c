/*
 * unit.h - the C unit test harness. Each tests/unit/test_<area>.c defines
 * TESTS as a list of functions; unit.c runs them all, counts the checks
 * and prints "N passed, N failed". A check that fails prints file:line and
 * the expression, and the test goes on to its next check.
 */
#ifndef HBK_UNIT_H
#define HBK_UNIT_H

#include <stdio.h>
#include <string.h>

extern int unit_checks_failed;
extern int unit_checks_passed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (cond) {                                                                        \
			unit_checks_passed++;                                                      \
		} else {                                                                           \
			unit_checks_failed++;                                                      \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (a_ && b_ && strcmp(a_, b_) == 0) {                                             \
			unit_checks_passed++;                                                      \
		} else {                                                                           \
			unit_checks_failed++;                                                      \
			fprintf(stderr, "%s:%d: check failed: %s == %s (\"%s\" vs \"%s\")\n",      \
				__FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)",                    \
				b_ ? b_ : "(null)");                                               \
		}                                                                                  \
	} while (0)

#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ == b_) {                                                                    \
			unit_checks_passed++;                                                      \
		} else {                                                                           \
			unit_checks_failed++;                                                      \
			fprintf(stderr, "%s:%d: check failed: %s == %s (%lld vs %lld)\n",          \
				__FILE__, __LINE__, #a, #b, a_, b_);                               \
		}                                                                                  \
	} while (0)

struct unit_test {
	const char *name;
	void (*fn)(void);
};

/* Each test file ends with:
 *   UNIT_TESTS(UNIT_T(test_a), UNIT_T(test_b), ...)
 */
extern const struct unit_test unit_tests[];
extern const int unit_test_count;
#define UNIT_T(fn) {#fn, fn}
#define UNIT_TESTS(...)                                                                            \
	const struct unit_test unit_tests[] = {__VA_ARGS__};                                       \
	const int unit_test_count = (int)(sizeof(unit_tests) / sizeof(unit_tests[0]))

/* A fresh temporary directory for the running test (removed at exit). */
const char *unit_tmpdir(void);

#endif
