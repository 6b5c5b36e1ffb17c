/*
 * partner.c - the partner port: picks the adapter named by partner.kind.
 *
 * "sandbox" (the default) is the Hotelbeds-shaped simulator of sandbox.c,
 * linked in; "hotelbeds" is the APItude client of hotelbeds.c.
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
	hbk_result rc;
	if (strcmp(kind, "sandbox") == 0)
		rc = hbk_partner_sandbox_open(cfg, store, out, err);
	else if (strcmp(kind, "hotelbeds") == 0)
		rc = hbk_partner_hotelbeds_open(cfg, store, out, err);
	else
		return hbk_fail_field(
		    err, HBK_EINVAL, "invalid_config", "partner.kind",
		    "unknown partner kind '%.*s' (expected sandbox or hotelbeds)",
		    hbk_utf8_cut(kind, 64), kind);
	if (rc == HBK_OK)
		hbk_config_provider(cfg, "partner", out->identity, sizeof(out->identity));
	return rc;
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

void hbk_partner_book(struct hbk_partner *partner, const struct hbk_partner_request *req,
		      struct hbk_partner_booking *out, struct hbk_call *call)
{
	if (partner->ops->book_async) {
		partner->ops->book_async(partner->self, req, out, call);
		return;
	}
	call->retry_after_ms = 0;
	hbk_result rc = partner->ops->book(partner->self, req, out, &call->err);
	hbk_call_finish(call, rc, NULL);
}

void hbk_partner_modify(struct hbk_partner *partner, const char *reference,
			const struct hbk_partner_request *req, bool simulate,
			struct hbk_partner_booking *out, struct hbk_call *call)
{
	if (partner->ops->modify_async) {
		partner->ops->modify_async(partner->self, reference, req, simulate, out, call);
		return;
	}
	call->retry_after_ms = 0;
	hbk_result rc =
	    partner->ops->modify(partner->self, reference, req, simulate, out, &call->err);
	hbk_call_finish(call, rc, NULL);
}

void hbk_partner_cancel(struct hbk_partner *partner, const char *reference, bool simulate,
			int64_t now_ms, struct hbk_money *penalty, struct hbk_call *call)
{
	if (partner->ops->cancel_async) {
		partner->ops->cancel_async(partner->self, reference, simulate, now_ms, penalty,
					   call);
		return;
	}
	call->retry_after_ms = 0;
	hbk_result rc =
	    partner->ops->cancel(partner->self, reference, simulate, now_ms, penalty, &call->err);
	hbk_call_finish(call, rc, NULL);
}

void hbk_partner_find(struct hbk_partner *partner, const char *client_reference,
		      struct hbk_partner_booking *out, struct hbk_call *call)
{
	if (partner->ops->find_async) {
		partner->ops->find_async(partner->self, client_reference, out, call);
		return;
	}
	call->retry_after_ms = 0;
	hbk_result rc = partner->ops->find(partner->self, client_reference, out, &call->err);
	hbk_call_finish(call, rc, NULL);
}

void hbk_partner_attach(struct hbk_partner *partner, struct event_base *base)
{
	if (partner->ops && partner->ops->attach)
		partner->ops->attach(partner->self, base);
}
