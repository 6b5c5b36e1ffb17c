/*
 * policy.c - cancellation policies: what cancelling costs from when.
 */
#include <string.h>

#include "hbk/inventory.h"
#include "hbk/json.h"
#include "internal.h"

struct hbk_money hbk_policy_penalty_at(const struct hbk_policy *policy, const char *currency,
				       int64_t at_ms)
{
	struct hbk_money penalty = hbk_money_make(0, currency);
	for (int i = 0; i < policy->count; i++)
		if (policy->entries[i].from_ms <= at_ms &&
		    policy->entries[i].penalty.minor > penalty.minor)
			penalty = policy->entries[i].penalty;
	return penalty;
}

void policy_time_text(int64_t ms, char out[HBK_TIME_STR])
{
	char full[HBK_TIME_STR];
	hbk_time_format(ms - ms % 1000, full);
	/* "YYYY-MM-DDTHH:MM:SS.mmmZ" -> drop ".mmm" */
	memcpy(out, full, 19);
	out[19] = 'Z';
	out[20] = '\0';
}

void hbk_policy_text(const struct hbk_policy *policy, struct hbk_buf *out)
{
	hbk_buf_putc(out, '[');
	for (int i = 0; i < policy->count; i++) {
		char from[HBK_TIME_STR], amount[HBK_MONEY_STR];
		policy_time_text(policy->entries[i].from_ms, from);
		hbk_money_format(&policy->entries[i].penalty, amount);
		hbk_buf_puts(out, i ? ",{\"from\":\"" : "{\"from\":\"");
		hbk_buf_puts(out, from);
		hbk_buf_puts(out, "\",\"penalty\":{\"amount\":\"");
		hbk_buf_puts(out, amount);
		hbk_buf_puts(out, "\",\"currency\":\"");
		hbk_buf_puts(out, policy->entries[i].penalty.currency);
		hbk_buf_puts(out, "\"}}");
	}
	hbk_buf_putc(out, ']');
}

json_t *hbk_policy_json(const struct hbk_policy *policy)
{
	json_t *array = json_array();
	for (int i = 0; i < policy->count; i++) {
		char from[HBK_TIME_STR];
		policy_time_text(policy->entries[i].from_ms, from);
		json_array_append_new(array,
				      json_pack("{s:s, s:o}", "from", from, "penalty",
						hbk_json_money(&policy->entries[i].penalty)));
	}
	return array;
}

hbk_result hbk_policy_from_json(const json_t *array, const char *currency, struct hbk_policy *out,
				struct hbk_error *err)
{
	size_t i;
	const json_t *entry;
	memset(out, 0, sizeof(*out));
	if (!json_is_array(array))
		return hbk_fail(err, HBK_EINVAL, "invalid_policy",
				"cancellation_policy must be an array");
	if (json_array_size(array) > HBK_POLICY_MAX)
		return hbk_fail(err, HBK_EINVAL, "invalid_policy",
				"cancellation_policy has too many entries");
	json_array_foreach(array, i, entry)
	{
		struct hbk_policy_entry *e = &out->entries[out->count];
		if (!hbk_time_parse(hbk_json_str(entry, "from", ""), &e->from_ms))
			return hbk_fail(err, HBK_EINVAL, "invalid_policy",
					"cancellation_policy[%zu].from is not an RFC 3339 UTC time",
					i);
		hbk_result rc = hbk_json_get_money(entry, "penalty", &e->penalty, err);
		if (rc != HBK_OK)
			return rc;
		if (strcmp(e->penalty.currency, currency) != 0)
			return hbk_fail(err, HBK_EINVAL, "invalid_policy",
					"cancellation_policy[%zu] is in %s, not %s", i,
					e->penalty.currency, currency);
		out->count++;
	}
	return HBK_OK;
}
