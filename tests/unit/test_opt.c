/*
 * test_opt.c - proves that declared options parse as the tools promise:
 * long and short forms, --name=value, -ojson, clusters like -qv, "--" ending
 * options, positional words in order up to HBK_OPT_MAX_POSITIONAL, `given`
 * flags, and precise HBK_EINVAL messages for unknown options, missing
 * values, bad integers and values given to flags. Each test parses a
 * literal argv against one table of BOOL, STRING, INT and COUNT options
 * (split over two tables, as tools combine common and command options) and
 * checks every target variable afterwards.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/core.h"
#include "hbk/opt.h"
#include "unit.h"

struct parsed {
	bool dry_run, refundable;
	const char *output, *city;
	long long nights, adults;
	int verbose, quiet;
	bool nights_given, city_given, dry_run_given, verbose_given;
	const char *positional[HBK_OPT_MAX_POSITIONAL];
	int npositional;
	struct hbk_error err;
};

static struct parsed p;

static hbk_result parse(int argc, char **argv)
{
	const struct hbk_option common[] = {
		{.type = HBK_OPT_STRING, .long_name = "output", .short_name = 'o', .value = &p.output,
		 .arg_name = "FORMAT"},
		{.type = HBK_OPT_COUNT, .long_name = "verbose", .short_name = 'v', .value = &p.verbose,
		 .given = &p.verbose_given},
		{.type = HBK_OPT_COUNT, .long_name = "quiet", .short_name = 'q', .value = &p.quiet},
		{.type = HBK_OPT_END},
	};
	const struct hbk_option command[] = {
		{.type = HBK_OPT_BOOL, .long_name = "dry-run", .short_name = 'n', .value = &p.dry_run,
		 .given = &p.dry_run_given},
		{.type = HBK_OPT_BOOL, .long_name = "refundable", .value = &p.refundable},
		{.type = HBK_OPT_STRING, .long_name = "city", .short_name = 'c', .value = &p.city,
		 .given = &p.city_given, .arg_name = "CODE"},
		{.type = HBK_OPT_INT, .long_name = "nights", .short_name = 'N', .value = &p.nights,
		 .given = &p.nights_given, .arg_name = "N", .min = 1, .max = 30},
		{.type = HBK_OPT_INT, .long_name = "adults", .value = &p.adults, .min = -3, .max = 9},
		{.type = HBK_OPT_END},
	};
	const struct hbk_option *const tables[] = {common, command, NULL};
	memset(&p, 0, sizeof(p));
	p.output = "table";
	p.nights = 1;
	p.adults = 2;
	hbk_error_clear(&p.err);
	return hbk_opt_parse(tables, argc, argv, p.positional, &p.npositional, &p.err);
}

#define ARGV(...) (char *[]){"hbk", __VA_ARGS__, NULL}
#define ARGC(...) ((int)(sizeof((char *[]){"hbk", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(...) parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void test_long_and_short(void)
{
	CHECK_INT(PARSE("--city", "LIS", "--nights", "3", "--dry-run", "--output", "json"), HBK_OK);
	CHECK_STR(p.city, "LIS");
	CHECK_INT(p.nights, 3);
	CHECK(p.dry_run);
	CHECK(!p.refundable);
	CHECK_STR(p.output, "json");
	CHECK_INT(p.npositional, 0);

	CHECK_INT(PARSE("-c", "OPO", "-N", "5", "-n", "-o", "csv"), HBK_OK);
	CHECK_STR(p.city, "OPO");
	CHECK_INT(p.nights, 5);
	CHECK(p.dry_run);
	CHECK_STR(p.output, "csv");

	/* Defaults stay when an option is absent. */
	CHECK_INT(parse(1, (char *[]){"hbk", NULL}), HBK_OK);
	CHECK_STR(p.output, "table");
	CHECK_INT(p.nights, 1);
	CHECK_INT(p.adults, 2);
	CHECK(p.city == NULL);
	CHECK(!p.dry_run);

	/* The last occurrence wins. */
	CHECK_INT(PARSE("--city", "LIS", "--city", "MAD"), HBK_OK);
	CHECK_STR(p.city, "MAD");
}

static void test_attached_values(void)
{
	CHECK_INT(PARSE("--city=LIS", "--nights=7", "-ojson"), HBK_OK);
	CHECK_STR(p.city, "LIS");
	CHECK_INT(p.nights, 7);
	CHECK_STR(p.output, "json");

	/* An empty value after '=' is a value. */
	CHECK_INT(PARSE("--city="), HBK_OK);
	CHECK_STR(p.city, "");
	CHECK(p.city_given);

	/* Everything after the first '=' belongs to the value. */
	CHECK_INT(PARSE("--city=a=b"), HBK_OK);
	CHECK_STR(p.city, "a=b");

	/* A value may start with a dash when it is separate. */
	CHECK_INT(PARSE("--city", "-x-"), HBK_OK);
	CHECK_STR(p.city, "-x-");
	CHECK_INT(PARSE("-N2"), HBK_OK);
	CHECK_INT(p.nights, 2);
}

static void test_clusters(void)
{
	CHECK_INT(PARSE("-qv"), HBK_OK);
	CHECK_INT(p.quiet, 1);
	CHECK_INT(p.verbose, 1);

	CHECK_INT(PARSE("-vvv", "--verbose", "-v"), HBK_OK);
	CHECK_INT(p.verbose, 5);
	CHECK(p.verbose_given);

	/* A value-taking option ends the cluster: the rest is its value. */
	CHECK_INT(PARSE("-nvojson"), HBK_OK);
	CHECK(p.dry_run);
	CHECK_INT(p.verbose, 1);
	CHECK_STR(p.output, "json");

	CHECK_INT(PARSE("-vo", "csv", "x"), HBK_OK);
	CHECK_INT(p.verbose, 1);
	CHECK_STR(p.output, "csv");
	CHECK_INT(p.npositional, 1);
	CHECK_STR(p.positional[0], "x");

	CHECK_INT(PARSE("-vx"), HBK_EINVAL);
	CHECK(strstr(p.err.message, "'-x'") != NULL);
}

static void test_double_dash_and_positional(void)
{
	CHECK_INT(PARSE("view", "BK-1", "-v", "extra", "-", "--", "--city", "-q", "--"), HBK_OK);
	CHECK_INT(p.verbose, 1);
	CHECK_INT(p.quiet, 0);
	CHECK(p.city == NULL);
	CHECK_INT(p.npositional, 7);
	CHECK_STR(p.positional[0], "view");
	CHECK_STR(p.positional[1], "BK-1");
	CHECK_STR(p.positional[2], "extra");
	CHECK_STR(p.positional[3], "-");
	CHECK_STR(p.positional[4], "--city");
	CHECK_STR(p.positional[5], "-q");
	CHECK_STR(p.positional[6], "--");
	CHECK_INT(p.err.result, HBK_OK);
}

static void test_positional_overflow(void)
{
	char *argv[HBK_OPT_MAX_POSITIONAL + 3];
	char words[HBK_OPT_MAX_POSITIONAL + 1][8];
	argv[0] = "hbk";
	for (int i = 0; i <= HBK_OPT_MAX_POSITIONAL; i++) {
		snprintf(words[i], sizeof(words[i]), "w%d", i);
		argv[i + 1] = words[i];
	}
	argv[HBK_OPT_MAX_POSITIONAL + 2] = NULL;

	/* Exactly the maximum is fine. */
	CHECK_INT(parse(HBK_OPT_MAX_POSITIONAL + 1, argv), HBK_OK);
	CHECK_INT(p.npositional, HBK_OPT_MAX_POSITIONAL);
	CHECK_STR(p.positional[HBK_OPT_MAX_POSITIONAL - 1], words[HBK_OPT_MAX_POSITIONAL - 1]);

	/* One more is refused, without writing past the array. */
	CHECK_INT(parse(HBK_OPT_MAX_POSITIONAL + 2, argv), HBK_EINVAL);
	CHECK_STR(p.err.code, "usage");
	CHECK(strstr(p.err.message, "too many arguments") != NULL);
	CHECK_INT(p.npositional, HBK_OPT_MAX_POSITIONAL);
}

static void test_unknown_option(void)
{
	CHECK_INT(PARSE("--colour", "red"), HBK_EINVAL);
	CHECK_STR(p.err.code, "usage");
	CHECK(strstr(p.err.message, "unknown option '--colour'") != NULL);

	CHECK_INT(PARSE("--colour=red"), HBK_EINVAL);
	CHECK(strstr(p.err.message, "'--colour'") != NULL);
	CHECK(strstr(p.err.message, "red") == NULL);

	CHECK_INT(PARSE("-z"), HBK_EINVAL);
	CHECK(strstr(p.err.message, "unknown option '-z'") != NULL);

	/* Prefixes are not abbreviations. */
	CHECK_INT(PARSE("--cit", "LIS"), HBK_EINVAL);

	/* A very long name is refused, and the message stays bounded. */
	char long_opt[300];
	memset(long_opt, 'x', sizeof(long_opt));
	memcpy(long_opt, "--", 2);
	long_opt[sizeof(long_opt) - 1] = '\0';
	CHECK_INT(PARSE(long_opt), HBK_EINVAL);
	CHECK(strlen(p.err.message) < 100);
}

static void test_missing_value(void)
{
	CHECK_INT(PARSE("--city"), HBK_EINVAL);
	CHECK(strstr(p.err.message, "'--city' needs a value (CODE)") != NULL);
	CHECK(!p.city_given);

	CHECK_INT(PARSE("-v", "-o"), HBK_EINVAL);
	CHECK(strstr(p.err.message, "'-o' needs a value (FORMAT)") != NULL);

	CHECK_INT(PARSE("--nights"), HBK_EINVAL);
	CHECK(strstr(p.err.message, "'--nights' needs a value (N)") != NULL);

	CHECK_INT(PARSE("--adults"), HBK_EINVAL);
	CHECK(strstr(p.err.message, "(VALUE)") != NULL);
}

static void test_int_values(void)
{
	CHECK_INT(PARSE("--nights", "30"), HBK_OK);
	CHECK_INT(p.nights, 30);
	CHECK(p.nights_given);

	CHECK_INT(PARSE("--nights", "31"), HBK_EINVAL);
	CHECK_STR(p.err.code, "invalid_option");
	CHECK_STR(p.err.field, "nights");
	CHECK(strstr(p.err.message, "--nights") != NULL);
	CHECK(strstr(p.err.message, "from 1 to 30") != NULL);
	CHECK(strstr(p.err.message, "'31'") != NULL);
	CHECK_INT(p.nights, 1);
	CHECK(!p.nights_given);

	CHECK_INT(PARSE("--nights", "0"), HBK_EINVAL);
	CHECK_INT(PARSE("--nights=three"), HBK_EINVAL);
	CHECK(strstr(p.err.message, "'three'") != NULL);
	CHECK_INT(PARSE("-N", "2x"), HBK_EINVAL);
	CHECK(strstr(p.err.message, "-N") != NULL);
	CHECK_INT(PARSE("--nights", "-2"), HBK_EINVAL);
	CHECK(strstr(p.err.message, "'-2'") != NULL);
	CHECK_INT(PARSE("--nights", ""), HBK_EINVAL);
	CHECK_INT(PARSE("--nights", "99999999999999999999"), HBK_EINVAL);

	/* Negative numbers parse where the range allows them. */
	CHECK_INT(PARSE("--adults", "-3"), HBK_OK);
	CHECK_INT(p.adults, -3);
	CHECK_INT(PARSE("--adults=-4"), HBK_EINVAL);
	CHECK_INT(PARSE("--adults", "+9"), HBK_OK);
	CHECK_INT(p.adults, 9);
}

static void test_bool_with_value(void)
{
	CHECK_INT(PARSE("--dry-run=yes"), HBK_EINVAL);
	CHECK(strstr(p.err.message, "'--dry-run' takes no value") != NULL);
	CHECK(!p.dry_run);
	CHECK(!p.dry_run_given);

	CHECK_INT(PARSE("--verbose=2"), HBK_EINVAL);
	CHECK_INT(p.verbose, 0);

	/* A separate word after a flag is positional, not its value. */
	CHECK_INT(PARSE("--refundable", "yes"), HBK_OK);
	CHECK(p.refundable);
	CHECK_INT(p.npositional, 1);
	CHECK_STR(p.positional[0], "yes");
}

static void test_given_flags(void)
{
	CHECK_INT(PARSE("--nights", "1", "-n"), HBK_OK);
	/* Given even when the value equals the default. */
	CHECK(p.nights_given);
	CHECK_INT(p.nights, 1);
	CHECK(p.dry_run_given);
	CHECK(!p.city_given);
	CHECK(!p.verbose_given);

	CHECK_INT(PARSE("-c", "LIS"), HBK_OK);
	CHECK(p.city_given);
	CHECK(!p.nights_given);
	CHECK(!p.dry_run_given);
}

static void test_find_and_usage(void)
{
	const struct hbk_option table[] = {
		{.type = HBK_OPT_INT, .long_name = "limit", .short_name = 'l', .value = &p.nights,
		 .arg_name = "N", .help = "at most N results", .min = 1, .max = 500},
		{.type = HBK_OPT_BOOL, .long_name = "refundable", .value = &p.refundable,
		 .help = "refundable offers only"},
		{.type = HBK_OPT_END},
	};
	const struct hbk_option *const tables[] = {table, NULL};
	CHECK(hbk_opt_find(tables, "limit") == &table[0]);
	CHECK(hbk_opt_find(tables, "refundable") == &table[1]);
	CHECK(hbk_opt_find(tables, "lim") == NULL);

	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	CHECK(out != NULL);
	if (!out)
		return;
	hbk_opt_usage(out, table);
	fclose(out);
	CHECK(strstr(text, "-l, --limit N") != NULL);
	CHECK(strstr(text, "at most N results") != NULL);
	CHECK(strstr(text, "    --refundable") != NULL);
	free(text);
}

UNIT_TESTS(UNIT_T(test_long_and_short), UNIT_T(test_attached_values), UNIT_T(test_clusters),
	   UNIT_T(test_double_dash_and_positional), UNIT_T(test_positional_overflow),
	   UNIT_T(test_unknown_option), UNIT_T(test_missing_value), UNIT_T(test_int_values),
	   UNIT_T(test_bool_with_value), UNIT_T(test_given_flags), UNIT_T(test_find_and_usage));
