/*
 * opt.c - parsing declared options; usage text from the same tables.
 */
#include <string.h>

#include "hbk/opt.h"

const struct hbk_option *hbk_opt_find(const struct hbk_option *const *tables, const char *name)
{
	for (; *tables; tables++)
		for (const struct hbk_option *o = *tables; o->type != HBK_OPT_END; o++)
			if (o->long_name && strcmp(o->long_name, name) == 0)
				return o;
	return NULL;
}

static const struct hbk_option *find_short(const struct hbk_option *const *tables, char c)
{
	for (; *tables; tables++)
		for (const struct hbk_option *o = *tables; o->type != HBK_OPT_END; o++)
			if (o->short_name == c)
				return o;
	return NULL;
}

static hbk_result set_value(const struct hbk_option *o, const char *shown, const char *value,
			    struct hbk_error *err)
{
	long long n;

	switch (o->type) {
	case HBK_OPT_BOOL: *(bool *)o->value = true; break;
	case HBK_OPT_COUNT: (*(int *)o->value)++; break;
	case HBK_OPT_STRING: *(const char **)o->value = value; break;
	case HBK_OPT_INT:
		if (!hbk_parse_int(value, o->min, o->max, &n))
			return hbk_fail_field(
			    err, HBK_EINVAL, "invalid_option", o->long_name,
			    "%s: expected a whole number from %lld to %lld, got '%s'", shown,
			    o->min, o->max, value);
		*(long long *)o->value = n;
		break;
	case HBK_OPT_END: HBK_ASSERT(!"unreachable");
	}
	if (o->given)
		*o->given = true;
	return HBK_OK;
}

static bool takes_value(const struct hbk_option *o)
{
	return o->type == HBK_OPT_STRING || o->type == HBK_OPT_INT;
}

hbk_result hbk_opt_parse(const struct hbk_option *const *tables, int argc, char **argv,
			 const char **positional, int *npositional, struct hbk_error *err)
{
	bool options_done = false;
	char shown[80];

	*npositional = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (options_done || arg[0] != '-' || arg[1] == '\0') {
			if (*npositional >= HBK_OPT_MAX_POSITIONAL)
				return hbk_fail(err, HBK_EINVAL, "usage", "too many arguments");
			positional[(*npositional)++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		if (arg[1] == '-') {
			char name[64];
			const char *eq = strchr(arg + 2, '=');
			size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
			if (len >= sizeof(name))
				return hbk_fail(err, HBK_EINVAL, "usage",
						"unknown option '%.*s...'", hbk_utf8_cut(arg, 40),
						arg);
			memcpy(name, arg + 2, len);
			name[len] = '\0';
			const struct hbk_option *o = hbk_opt_find(tables, name);
			if (!o)
				return hbk_fail(err, HBK_EINVAL, "usage", "unknown option '--%s'",
						name);
			hbk_format(shown, sizeof(shown), "--%s", name);
			const char *value = NULL;
			if (takes_value(o)) {
				if (eq)
					value = eq + 1;
				else if (i + 1 < argc)
					value = argv[++i];
				else
					return hbk_fail(err, HBK_EINVAL, "usage",
							"option '%s' needs a value (%s)", shown,
							o->arg_name ? o->arg_name : "VALUE");
			} else if (eq) {
				return hbk_fail(err, HBK_EINVAL, "usage",
						"option '%s' takes no value", shown);
			}
			hbk_result rc = set_value(o, shown, value, err);
			if (rc != HBK_OK)
				return rc;
			continue;
		}
		/* A cluster of short options: -qv, -o json, -ojson. */
		for (const char *p = arg + 1; *p; p++) {
			const struct hbk_option *o = find_short(tables, *p);
			if (!o)
				return hbk_fail(err, HBK_EINVAL, "usage", "unknown option '-%c'",
						*p);
			hbk_format(shown, sizeof(shown), "-%c", *p);
			const char *value = NULL;
			if (takes_value(o)) {
				if (p[1])
					value = p + 1;
				else if (i + 1 < argc)
					value = argv[++i];
				else
					return hbk_fail(err, HBK_EINVAL, "usage",
							"option '%s' needs a value (%s)", shown,
							o->arg_name ? o->arg_name : "VALUE");
			}
			hbk_result rc = set_value(o, shown, value, err);
			if (rc != HBK_OK)
				return rc;
			if (value)
				break;
		}
	}
	return HBK_OK;
}

void hbk_opt_usage(FILE *out, const struct hbk_option *table)
{
	char left[96];
	for (const struct hbk_option *o = table; o->type != HBK_OPT_END; o++) {
		const char *arg = takes_value(o) ? (o->arg_name ? o->arg_name : "VALUE") : NULL;
		if (o->short_name)
			hbk_format(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->long_name,
				   arg ? " " : "", arg ? arg : "");
		else
			hbk_format(left, sizeof(left), "    --%s%s%s", o->long_name, arg ? " " : "",
				   arg ? arg : "");
		fprintf(out, "  %-28s %s\n", left, o->help ? o->help : "");
	}
}
