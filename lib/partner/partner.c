/*
 * partner.c - the partner port: picks the adapter named by partner.kind.
 *
 * Only "sandbox" exists in this build: the Hotelbeds-shaped simulator of
 * sandbox.c, linked in. The hotelbeds adapter (libcurl against APItude)
 * comes later.
 */
#include <string.h>

#include "hbk/config.h"
#include "hbk/core.h"
#include "hbk/partner.h"
#include "hbk/store.h"

/*
 * Builds the adapter named by partner.kind (default "sandbox"). cfg is
 * borrowed and may be NULL (built-in defaults); store is borrowed and must
 * outlive the partner. On success out owns the adapter until
 * hbk_partner_close(); on failure out is left empty.
 */
hbk_result hbk_partner_open(const struct hbk_config *cfg, struct hbk_store *store,
			    struct hbk_partner *out, struct hbk_error *err)
{
	HBK_ASSERT(store != NULL);
	HBK_ASSERT(out != NULL);
	memset(out, 0, sizeof(*out));

	const char *kind = cfg ? hbk_config_get(cfg, "partner.kind", "sandbox") : "sandbox";
	if (kind == NULL || kind[0] == '\0')
		kind = "sandbox";
	if (strcmp(kind, "sandbox") == 0)
		return hbk_partner_sandbox_open(cfg, store, out, err);
	if (strcmp(kind, "hotelbeds") == 0)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_config", "partner.kind",
				      "partner kind hotelbeds is not available in this build");
	return hbk_fail_field(err, HBK_EINVAL, "invalid_config", "partner.kind",
			      "unknown partner kind '%.64s' (expected sandbox or hotelbeds)", kind);
}

/* Destroys the adapter and empties partner. Safe on NULL and on an empty
 * partner, and safe to call twice. */
void hbk_partner_close(struct hbk_partner *partner)
{
	if (partner == NULL)
		return;
	if (partner->ops != NULL && partner->ops->destroy != NULL)
		partner->ops->destroy(partner->self);
	partner->ops = NULL;
	partner->self = NULL;
}
