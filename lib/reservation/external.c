/*
 * external.c - payment changes made outside hbk, as the provider's webhook
 * reports them: a refund issued from the provider's dashboard, an
 * authorization voided there.
 *
 * They become events of the booking, in one transaction with the record
 * of the provider's event id, so a redelivered event changes nothing. The
 * provider's events describe the payment as it is now (every refund so
 * far), so applying one is a comparison with what the booking already
 * records: refunds hbk made itself (recorded by the saga with their ids)
 * are recognised and not counted twice.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/json.h"
#include "internal.h"

/* The booking that authorized intent_id, from its events, into id. */
static hbk_result booking_of_payment(struct hbk_store *store, const char *intent_id,
				     char id[HBK_ID_MAX], struct hbk_error *err)
{
	sqlite3_stmt *stmt = NULL;
	id[0] = '\0';
	hbk_result rc = hbk_store_prepare(
	    store,
	    "SELECT stream FROM events WHERE type = 'hbk.booking.payment_authorized.v1'"
	    " AND json_extract(data, '$.reference') = ?1 LIMIT 1",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, intent_id);
	int step = sqlite3_step(stmt);
	if (step == SQLITE_ROW)
		hbk_copy(id, HBK_ID_MAX, hbk_column_text(stmt, 0));
	else if (step != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "find the booking of a payment");
	hbk_stmt_done(stmt);
	return rc;
}

static hbk_result seen_before(struct hbk_store *store, const char *event_id, bool *seen,
			      struct hbk_error *err)
{
	sqlite3_stmt *stmt = NULL;
	*seen = false;
	hbk_result rc = hbk_store_prepare(
	    store, "SELECT 1 FROM payment_webhook_events WHERE id = ?1", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, event_id);
	int step = sqlite3_step(stmt);
	if (step == SQLITE_ROW)
		*seen = true;
	else if (step != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "look up a webhook event");
	hbk_stmt_done(stmt);
	return rc;
}

static hbk_result remember(struct hbk_store *store, const struct hbk_external_payment *ext,
			   const char *booking_id, const char *outcome, struct hbk_error *err)
{
	sqlite3_stmt *stmt = NULL;
	hbk_result rc = hbk_store_prepare(
	    store,
	    "INSERT INTO payment_webhook_events (id, type, booking_id, outcome, received_ms)"
	    " VALUES (?1, ?2, ?3, ?4, ?5)",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, ext->event_id);
	hbk_bind_text(stmt, 2, ext->event_type);
	hbk_bind_text(stmt, 3, booking_id);
	hbk_bind_text(stmt, 4, outcome);
	sqlite3_bind_int64(stmt, 5, hbk_now_ms());
	rc = hbk_store_step_done(store, stmt, "record a webhook event", err);
	hbk_stmt_done(stmt);
	return rc;
}

/* The refund ids a booking's events record. */
struct known_refunds {
	int count;
	char ids[HBK_PAYMENTS_MAX * 8][HBK_PAYMENT_REF_MAX];
};

static hbk_result collect_refund(const struct hbk_event *ev, void *ctx, struct hbk_error *err)
{
	struct known_refunds *known = ctx;
	(void)err;
	const char *id = hbk_json_str(ev->data, "refund", "");
	if (strcmp(ev->type, "hbk.booking.payment_refunded.v1") == 0 && id[0] &&
	    known->count < (int)(sizeof(known->ids) / sizeof(known->ids[0])))
		hbk_copy(known->ids[known->count++], HBK_PAYMENT_REF_MAX, id);
	return HBK_OK;
}

static bool known(const struct known_refunds *refunds, const char *id)
{
	for (int i = 0; i < refunds->count; i++)
		if (strcmp(refunds->ids[i], id) == 0)
			return true;
	return false;
}

/* Adds the events ext calls for to batch; appends them when the batch is
 * full. *changed when any event was appended or is pending. */
static hbk_result external_events(struct hbk_store *store, struct hbk_booking *b,
				  const struct hbk_booking_payment *payment,
				  const struct hbk_external_payment *ext, bool *changed,
				  struct hbk_error *err)
{
	struct event_batch batch = {0};
	hbk_result rc = HBK_OK;
	*changed = false;

	if (ext->kind == HBK_EXTERNAL_CANCEL) {
		if (payment->captured > 0 || payment->voided)
			return HBK_OK;
		batch_add(&batch, b, "payment_voided.v1",
			  json_pack("{s:s, s:b, s:s}", "reference", payment->reference, "external",
				    1, "provider_event", ext->event_id));
		*changed = true;
		rc = booking_append(store, b, &batch, false, err);
		batch_clear(&batch);
		return rc;
	}

	struct known_refunds *refunds = hbk_xcalloc(1, sizeof(*refunds));
	rc = hbk_events_read(store, b->id, collect_refund, refunds, err);
	int64_t left = payment->captured - payment->refunded;
	for (int i = 0; rc == HBK_OK && i < ext->nrefunds; i++) {
		int64_t amount = ext->refunds[i].amount_minor;
		if (known(refunds, ext->refunds[i].id) || amount <= 0)
			continue;
		/* Never more back than was taken: the fold would disagree with
		 * the provider; what is left is settled by reconciliation. */
		if (amount > left)
			amount = left;
		if (amount <= 0)
			break;
		left -= amount;
		struct hbk_money money = hbk_money_make(amount, b->total.currency);
		batch_add(&batch, b, "payment_refunded.v1",
			  json_pack("{s:s, s:s, s:o, s:b, s:s}", "reference", payment->reference,
				    "refund", ext->refunds[i].id, "amount", hbk_json_money(&money),
				    "external", 1, "provider_event", ext->event_id));
		*changed = true;
		if (batch.count == BOOKING_EVENTS_PER_COMMIT_MAX) {
			rc = booking_append(store, b, &batch, false, err);
			batch_clear(&batch);
		}
	}
	if (rc == HBK_OK && batch.count > 0)
		rc = booking_append(store, b, &batch, false, err);
	batch_clear(&batch);
	free(refunds);
	return rc;
}

hbk_result hbk_payment_external(struct hbk_engine *engine, const struct hbk_external_payment *ext,
				const char **outcome, char booking_id[HBK_ID_MAX],
				struct hbk_error *err)
{
	HBK_ASSERT(engine != NULL && ext != NULL && outcome != NULL);
	HBK_ASSERT(ext->nrefunds >= 0 && ext->nrefunds <= HBK_EXTERNAL_REFUNDS_MAX);
	struct hbk_store *store = engine->store;
	struct hbk_booking *b = hbk_xcalloc(1, sizeof(*b));
	bool seen = false, changed = false;
	*outcome = "ignored";
	booking_id[0] = '\0';

	if (ext->event_id[0] == '\0' || ext->intent_id[0] == '\0') {
		free(b);
		return hbk_fail(err, HBK_EINVAL, "invalid_event",
				"the event names no event id or payment");
	}
	hbk_result rc = hbk_store_begin(store, true, err);
	if (rc != HBK_OK) {
		free(b);
		return rc;
	}
	rc = seen_before(store, ext->event_id, &seen, err);
	if (rc == HBK_OK && seen)
		*outcome = "duplicate";

	/* The booking the metadata names, else the one that authorized it. */
	char id[HBK_ID_MAX] = "";
	if (rc == HBK_OK && !seen) {
		if (hbk_id_valid("BK", ext->booking_id))
			hbk_copy(id, sizeof(id), ext->booking_id);
		else
			rc = booking_of_payment(store, ext->intent_id, id, err);
	}
	const struct hbk_booking_payment *payment = NULL;
	if (rc == HBK_OK && !seen && id[0]) {
		struct hbk_error load_err;
		if (booking_load(store, id, b, &load_err) == HBK_OK) {
			for (int i = 0; i < b->npayments && !payment; i++)
				if (strcmp(b->payments[i].reference, ext->intent_id) == 0)
					payment = &b->payments[i];
		}
	}
	if (rc == HBK_OK && payment) {
		hbk_copy(booking_id, HBK_ID_MAX, b->id);
		if (b->saga != HBK_SAGA_NONE)
			rc = hbk_fail(err, HBK_ECONFLICT, "booking_busy",
				      "booking %s is changing; deliver the event again later",
				      b->id);
		else
			rc = external_events(store, b, payment, ext, &changed, err);
		*outcome = changed ? "applied" : "unchanged";
	}
	if (rc == HBK_OK && !seen)
		rc = remember(store, ext, booking_id, *outcome, err);
	if (rc == HBK_OK && !seen)
		rc = hbk_store_commit(store, err);
	else
		hbk_store_rollback(store);
	free(b);
	return rc;
}
