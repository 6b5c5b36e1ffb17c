/*
 * faults.h - injected faults of the simulated upstreams (the sandbox
 * partner and payment provider): a rate of calls that fail as unavailable,
 * steps that always fail, and steps whose answers are lost. Read from
 * <prefix>.faults.error_rate, <prefix>.faults.fail and <prefix>.faults.lose
 * in the configuration.
 */
#ifndef HBK_FAULTS_H
#define HBK_FAULTS_H

#include "hbk/core.h"

struct hbk_config;

#define HBK_FAULT_STEPS_MAX 16

struct hbk_faults {
	long long error_ppm; /* parts per million of calls that fail */
	unsigned fail_steps; /* bit i: step i always fails */
	unsigned lose_steps; /* bit i: step i takes effect, then fails as unavailable */
};

/*
 * Reads the faults of "<prefix>.faults.*"; steps (nsteps names, borrowed)
 * are the names <prefix>.faults.fail and <prefix>.faults.lose may list.
 * cfg may be NULL (no faults). An unknown step name fails with HBK_EINVAL
 * naming the key.
 */
hbk_result hbk_faults_load(const struct hbk_config *cfg, const char *prefix,
			   const char *const *steps, int nsteps, struct hbk_faults *out,
			   struct hbk_error *err);

/* True for this call with probability error_ppm / 1e6. */
bool hbk_faults_roll(const struct hbk_faults *faults);

/* True when step is set to always fail. */
bool hbk_faults_fails(const struct hbk_faults *faults, int step);

/* True when step's answers are lost: the call takes effect, and its caller
 * is told the provider did not answer (as a timeout after the request
 * reached it). */
bool hbk_faults_loses(const struct hbk_faults *faults, int step);

#endif
