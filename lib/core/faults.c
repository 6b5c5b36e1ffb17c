/*
 * faults.c - the fault settings shared by the sandbox simulators.
 */
#include <ctype.h>
#include <string.h>

#include "hbk/config.h"
#include "hbk/faults.h"

#define FAULTS_PPM_ONE	      1000000
#define FAULTS_NAME_SHOWN_MAX 32

/* Reads the list of step names at "<prefix>.faults.<what>" into bits. */
static hbk_result steps_load(const struct hbk_config *cfg, const char *prefix, const char *what,
			     const char *const *steps, int nsteps, unsigned *bits,
			     struct hbk_error *err)
{
	char key[64];
	hbk_format(key, sizeof(key), "%s.faults.%s", prefix, what);
	for (const char *p = hbk_config_get(cfg, key, ""); *p;) {
		size_t len = strcspn(p, ",");
		const char *start = p, *end = p + len;
		while (start < end && isspace((unsigned char)*start))
			start++;
		while (end > start && isspace((unsigned char)end[-1]))
			end--;
		size_t name_len = (size_t)(end - start);
		bool known = name_len == 0;
		for (int i = 0; i < nsteps && !known; i++)
			if (strlen(steps[i]) == name_len &&
			    memcmp(steps[i], start, name_len) == 0) {
				*bits |= 1u << i;
				known = true;
			}
		if (!known) {
			struct hbk_buf expected;
			hbk_buf_init(&expected, 256);
			for (int i = 0; i < nsteps; i++)
				hbk_buf_printf(&expected, "%s%s", i ? ", " : "", steps[i]);
			hbk_fail_field(err, HBK_EINVAL, "invalid_config", key,
				       "%s: unknown step '%.*s' (expected %s)", key,
				       hbk_utf8_cut(start, name_len < FAULTS_NAME_SHOWN_MAX
							       ? name_len
							       : FAULTS_NAME_SHOWN_MAX),
				       start, expected.data);
			hbk_buf_free(&expected);
			return HBK_EINVAL;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return HBK_OK;
}

hbk_result hbk_faults_load(const struct hbk_config *cfg, const char *prefix,
			   const char *const *steps, int nsteps, struct hbk_faults *out,
			   struct hbk_error *err)
{
	char key[64];
	HBK_ASSERT(nsteps <= HBK_FAULT_STEPS_MAX);
	memset(out, 0, sizeof(*out));
	if (!cfg)
		return HBK_OK;
	hbk_format(key, sizeof(key), "%s.faults.error_rate", prefix);
	hbk_result rc = hbk_config_get_ppm(cfg, key, &out->error_ppm, err);
	if (rc != HBK_OK)
		return rc;

	rc = steps_load(cfg, prefix, "fail", steps, nsteps, &out->fail_steps, err);
	if (rc == HBK_OK)
		rc = steps_load(cfg, prefix, "lose", steps, nsteps, &out->lose_steps, err);
	return rc;
}

bool hbk_faults_roll(const struct hbk_faults *faults)
{
	if (faults->error_ppm <= 0)
		return false;
	if (faults->error_ppm >= FAULTS_PPM_ONE)
		return true;
	uint32_t r;
	hbk_random_bytes(&r, sizeof(r));
	return (long long)(r % (uint32_t)FAULTS_PPM_ONE) < faults->error_ppm;
}

bool hbk_faults_fails(const struct hbk_faults *faults, int step)
{
	return step >= 0 && step < HBK_FAULT_STEPS_MAX && (faults->fail_steps & (1u << step));
}

bool hbk_faults_loses(const struct hbk_faults *faults, int step)
{
	return step >= 0 && step < HBK_FAULT_STEPS_MAX && (faults->lose_steps & (1u << step));
}
