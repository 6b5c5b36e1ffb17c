/*
 * commands.c - book, view, list, update, cancel, history.
 *
 * Commands validate, decide and record the saga's first events in one
 * transaction (taking the rooms in the same one), then run the saga.
 * Reads come from the booking projection.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/json.h"
#include "hbk/notify.h"
#include "internal.h"

#define LIST_LIMIT_MAX 1000

static hbk_result check_payment_method(const char *pm, struct hbk_error *err)
{
	if (hbk_looks_like_card_number(pm))
		return hbk_fail_field(err, HBK_EINVAL, "card_number_refused", "payment_method",
				      "card numbers are not accepted: give a payment method token "
				      "(pm_...)");
	if (!hbk_payment_method_valid(pm))
		return hbk_fail_field(
		    err, HBK_EINVAL, "invalid_payment_method", "payment_method",
		    "invalid payment method (expected a token like pm_card_visa)");
	return HBK_OK;
}

/* The view of a booking after its saga, with the saga's outcome. */
hbk_result hbk_saga_outcome(struct hbk_engine *engine, const char *id, hbk_result saga_rc,
			    const struct hbk_error *saga_err, json_t **out, struct hbk_error *err)
{
	struct hbk_booking b;
	struct hbk_error load_err;
	*out = NULL;
	if (saga_rc != HBK_OK && saga_err)
		*err = *saga_err;
	if (booking_load(engine->store, id, &b, &load_err) != HBK_OK)
		return saga_rc != HBK_OK ? saga_rc : (*err = load_err, load_err.result);
	*out = hbk_booking_json(&b);
	if (saga_rc != HBK_OK)
		return saga_rc;
	if (b.status == HBK_BOOKING_FAILED)
		return hbk_fail(err, failure_result(b.failure_code), b.failure_code,
				"booking %s failed: %s", id, b.failure_message);
	if (b.status == HBK_BOOKING_PENDING)
		return hbk_fail(err, HBK_EUNAVAILABLE, "pending",
				"booking %s is still pending; it will be resumed", id);
	return HBK_OK;
}

/* What a command takes in the transaction that starts its saga. */
enum saga_hold { HOLD_NONE, HOLD_STAY, HOLD_NEW_NIGHTS };

/*
 * Starts a saga in one transaction: takes the rooms the command needs,
 * appends its first events to b, registers the saga as this process's.
 * Takes the batch. Nothing is written when any part fails.
 */
static hbk_result record_start(struct hbk_engine *engine, struct hbk_booking *b,
			       struct event_batch *batch, const char *kind, enum saga_hold hold,
			       const struct hbk_stay *stay, struct hbk_error *err)
{
	struct hbk_store *store = engine->store;
	hbk_result rc = hbk_store_begin(store, true, err);
	if (rc == HBK_OK) {
		if (hold == HOLD_STAY) {
			rc = hbk_inventory_hold(store, stay->hotel_id, stay->room_type,
						stay->checkin, stay->checkout, stay->rooms, err);
		} else if (hold == HOLD_NEW_NIGHTS) {
			struct hbk_booking next = *b;
			next.new_stay = *stay;
			rc = update_hold_new_nights(store, &next, err);
		}
		if (rc == HBK_OK)
			rc = booking_append(store, b, batch, false, err);
		if (rc == HBK_OK && kind)
			rc = saga_register(store, b->id, kind, engine->partner.identity,
					   engine->payment.identity, err);
		if (rc == HBK_OK && kind && engine->join_start)
			engine->start_open = true; /* the saga commits it */
		else if (rc == HBK_OK)
			rc = hbk_store_commit(store, err);
		else
			hbk_store_rollback(store);
	}
	batch_clear(batch);
	return rc;
}

/* Runs the saga just started and reports its outcome with the booking. */
static hbk_result saga_finish(struct hbk_engine *engine, const char *id, json_t **out,
			      struct hbk_error *err)
{
	struct hbk_error saga_err = {0};
	hbk_result saga_rc = hbk_saga_run(engine, id, &saga_err);
	return hbk_saga_outcome(engine, id, saga_rc, &saga_err, out, err);
}

hbk_result hbk_book_begin(struct hbk_engine *engine, const struct hbk_book_request *req,
			  char id[HBK_ID_MAX], struct hbk_error *err)
{
	struct hbk_quote quote;
	struct hbk_booking b;
	struct event_batch batch = {0};
	int64_t now = hbk_now_ms();
	hbk_result rc;

	rc = hbk_stay_check(&req->stay, hbk_date_today(), err);
	if (rc == HBK_OK)
		rc = hbk_guest_check(&req->guest, err);
	if (rc == HBK_OK)
		rc = check_payment_method(req->payment_method, err);
	if (rc == HBK_OK)
		rc = hbk_quote_stay(engine->store, &req->stay, now, &quote, err);
	if (rc != HBK_OK)
		return rc;
	if (req->expected_total.currency[0] &&
	    (req->expected_total.minor != quote.total.minor ||
	     strcmp(req->expected_total.currency, quote.total.currency) != 0)) {
		char was[HBK_MONEY_STR], now_str[HBK_MONEY_STR];
		hbk_money_format(&req->expected_total, was);
		hbk_money_format(&quote.total, now_str);
		return hbk_fail(err, HBK_ECONFLICT, "price_changed",
				"the price of this offer changed from %s to %s %s; search again",
				was, now_str, quote.total.currency);
	}

	memset(&b, 0, sizeof(b));
	b.charge_payment = -1;
	if (req->id[0])
		hbk_copy(b.id, sizeof(b.id), req->id);
	else
		hbk_id_new("BK", b.id);
	b.stay = req->stay;
	json_t *requested = stay_json(&req->stay);
	json_object_set_new(requested, "hotel",
			    json_pack("{s:s, s:s, s:s}", "id", quote.hotel.id, "name",
				      quote.hotel.name, "city", quote.hotel.city));
	json_object_set_new(requested, "room_name", json_string(quote.room_name));
	json_object_set_new(requested, "guest",
			    json_pack("{s:s, s:s, s:s}", "name", req->guest.name, "email",
				      req->guest.email, "phone", req->guest.phone));
	json_object_set_new(requested, "total", hbk_json_money(&quote.total));
	json_object_set_new(requested, "cancellation_policy", hbk_policy_json(&quote.policy));
	json_object_set_new(requested, "payment_method", json_string(req->payment_method));
	json_object_set_new(requested, "partner", json_string(engine->partner.ops->name));
	json_object_set_new(requested, "payment_provider", json_string(engine->payment.ops->name));
	batch_add(&batch, &b, "requested.v1", requested);
	batch_add(&batch, &b, "rooms_held.v1",
		  json_pack("{s:s, s:o}", "hold", "current", "stay", stay_json(&req->stay)));
	if (req->correlation_id[0])
		for (int i = 0; i < batch.count; i++)
			hbk_copy(batch.events[i].correlationid,
				 sizeof(batch.events[i].correlationid), req->correlation_id);

	rc = record_start(engine, &b, &batch, "create", HOLD_STAY, &req->stay, err);
	if (rc == HBK_OK)
		hbk_copy(id, HBK_ID_MAX, b.id);
	return rc;
}

hbk_result hbk_book(struct hbk_engine *engine, const struct hbk_book_request *req, json_t **out,
		    struct hbk_error *err)
{
	char id[HBK_ID_MAX];
	*out = NULL;
	hbk_result rc = hbk_book_begin(engine, req, id, err);
	if (rc != HBK_OK)
		return rc;
	return saga_finish(engine, id, out, err);
}

static bool id_ok(const char *id, struct hbk_error *err)
{
	if (hbk_id_valid("BK", id))
		return true;
	hbk_fail_field(err, HBK_ENOTFOUND, "not_found", "id",
		       "no booking '%.*s' (booking ids look like BK-...)", hbk_utf8_cut(id, 64), id);
	return false;
}

hbk_result hbk_booking_get(struct hbk_engine *engine, const char *id, struct hbk_booking *out,
			   struct hbk_error *err)
{
	if (!id_ok(id, err))
		return err->result;
	return booking_load(engine->store, id, out, err);
}

hbk_result hbk_booking_view(struct hbk_engine *engine, const char *id, json_t **out,
			    struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	if (!id_ok(id, err))
		return err->result;
	hbk_result rc =
	    hbk_store_prepare(engine->store, "SELECT doc FROM bookings WHERE id = ?", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, id);
	int step = sqlite3_step(stmt);
	if (step == SQLITE_ROW) {
		const char *doc = hbk_column_text(stmt, 0);
		*out = hbk_json_loads(doc, strlen(doc), err);
		if (!*out)
			rc = HBK_EINTERNAL;
	} else if (step == SQLITE_DONE) {
		rc = hbk_fail(err, HBK_ENOTFOUND, "not_found", "no booking %s", id);
	} else {
		rc = hbk_store_fail(engine->store, err, "view");
	}
	hbk_stmt_done(stmt);
	return rc;
}

hbk_result hbk_booking_view_text(struct hbk_engine *engine, const char *id, struct hbk_buf *doc,
				 int64_t *version, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	if (!id_ok(id, err))
		return err->result;
	hbk_result rc = hbk_store_prepare(
	    engine->store, "SELECT doc, version FROM bookings WHERE id = ?", &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, id);
	int step = sqlite3_step(stmt);
	if (step == SQLITE_ROW) {
		hbk_buf_append(doc, sqlite3_column_text(stmt, 0),
			       (size_t)sqlite3_column_bytes(stmt, 0));
		*version = sqlite3_column_int64(stmt, 1);
	} else if (step == SQLITE_DONE) {
		rc = hbk_fail(err, HBK_ENOTFOUND, "not_found", "no booking %s", id);
	} else {
		rc = hbk_store_fail(engine->store, err, "view");
	}
	hbk_stmt_done(stmt);
	return rc;
}

hbk_result hbk_booking_list(struct hbk_engine *engine, const struct hbk_list_filter *f,
			    json_t **out, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	static const char *const statuses[] = {"PENDING", "CONFIRMED", "CANCELLED", "FAILED"};
	bool status_ok = !f->status;
	for (size_t i = 0; i < 4 && !status_ok; i++)
		status_ok = strcmp(f->status, statuses[i]) == 0;
	if (!status_ok)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_status", "status",
				      "unknown status '%s' (PENDING, CONFIRMED, CANCELLED, FAILED)",
				      f->status);
	if (f->limit < 1 || f->limit > LIST_LIMIT_MAX)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_limit", "limit",
				      "limit must be from 1 to %d", LIST_LIMIT_MAX);
	if (f->cursor && !hbk_id_valid("BK", f->cursor))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_cursor", "cursor",
				      "malformed cursor");
	hbk_result rc = hbk_store_prepare(
	    engine->store,
	    "SELECT id, doc FROM bookings WHERE (?1 IS NULL OR status = ?1)"
	    " AND (?2 IS NULL OR hotel_id = ?2) AND (?3 IS NULL OR email = ?3 COLLATE NOCASE)"
	    " AND (?4 = 0 OR checkin >= ?4) AND (?5 = 0 OR checkin <= ?5)"
	    " AND (?6 IS NULL OR id < ?6) ORDER BY id DESC LIMIT ?7",
	    &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, f->status);
	hbk_bind_text(stmt, 2, f->hotel_id);
	hbk_bind_text(stmt, 3, f->email);
	sqlite3_bind_int(stmt, 4, f->checkin_from);
	sqlite3_bind_int(stmt, 5, f->checkin_to);
	hbk_bind_text(stmt, 6, f->cursor);
	sqlite3_bind_int(stmt, 7, f->limit + 1);
	json_t *bookings = json_array();
	char last[HBK_ID_MAX] = "";
	bool more = false;
	int step;
	while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
		if ((int)json_array_size(bookings) == f->limit) {
			more = true;
			break;
		}
		const char *doc = hbk_column_text(stmt, 1);
		json_t *b = hbk_json_loads(doc, strlen(doc), NULL);
		if (b)
			json_array_append_new(bookings, b);
		hbk_copy(last, sizeof(last), hbk_column_text(stmt, 0));
	}
	hbk_stmt_done(stmt);
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		json_decref(bookings);
		return hbk_store_fail(engine->store, err, "list");
	}
	*out = json_pack("{s:o, s:o}", "bookings", bookings, "next_cursor",
			 more ? json_string(last) : json_null());
	return HBK_OK;
}

static hbk_result load_for_change(struct hbk_engine *engine, const char *id, int64_t if_match,
				  const char *what, struct hbk_booking *b, struct hbk_error *err)
{
	hbk_result rc = hbk_booking_get(engine, id, b, err);
	if (rc != HBK_OK)
		return rc;
	if (if_match >= 0 && if_match != b->version)
		return hbk_fail(err, HBK_ECONFLICT, "stale_version",
				"booking %s is at version %lld, not %lld", id,
				(long long)b->version, (long long)if_match);
	return hbk_booking_check_changeable(b, what, err);
}

/* Records the guest's new contact details: no re-pricing, no saga. */
static hbk_result update_guest(struct hbk_engine *engine, struct hbk_booking *b,
			       const struct hbk_update_request *req, struct hbk_error *err)
{
	struct hbk_guest guest = b->guest;
	struct event_batch batch = {0};
	if (req->set_name)
		hbk_copy(guest.name, sizeof(guest.name), req->guest.name);
	if (req->set_email)
		hbk_copy(guest.email, sizeof(guest.email), req->guest.email);
	if (req->set_phone)
		hbk_copy(guest.phone, sizeof(guest.phone), req->guest.phone);
	hbk_result rc = hbk_guest_check(&guest, err);
	if (rc != HBK_OK)
		return rc;
	batch_add(&batch, b, "guest_updated.v1",
		  json_pack("{s:{s:s, s:s, s:s}}", "guest", "name", guest.name, "email",
			    guest.email, "phone", guest.phone));
	rc = record_start(engine, b, &batch, NULL, HOLD_NONE, NULL, err);
	if (rc == HBK_OK)
		booking_notify(engine, b, HBK_NOTICE_UPDATE);
	return rc;
}

hbk_result hbk_update_begin(struct hbk_engine *engine, const char *id,
			    const struct hbk_update_request *req, bool *saga, struct hbk_error *err)
{
	struct hbk_booking b;
	struct hbk_quote quote;
	struct event_batch batch = {0};
	bool guest_change = req->set_name || req->set_email || req->set_phone;
	bool stay_change = req->set_checkin || req->set_checkout || req->set_room_type ||
			   req->set_adults || req->set_children;
	hbk_result rc;

	*saga = false;
	if (!guest_change && !stay_change)
		return hbk_fail(err, HBK_EINVAL, "usage",
				"nothing to update: give new dates, room type, guests or contact");
	rc = load_for_change(engine, id, req->if_match, "update", &b, err);
	if (rc != HBK_OK)
		return rc;

	struct hbk_stay stay = b.stay;
	if (req->set_checkin)
		stay.checkin = req->checkin;
	if (req->set_checkout)
		stay.checkout = req->checkout;
	if (req->set_room_type)
		hbk_copy(stay.room_type, sizeof(stay.room_type), req->room_type);
	if (req->set_adults)
		stay.adults = req->adults;
	if (req->set_children)
		stay.children = req->children;
	stay_change = memcmp(&stay, &b.stay, sizeof(stay)) != 0;
	if (stay_change) {
		rc = hbk_stay_check(&stay, hbk_date_today(), err);
		if (rc == HBK_OK)
			rc = hbk_quote_stay(engine->store, &stay, hbk_now_ms(), &quote, err);
		if (rc != HBK_OK)
			return rc;
	}
	if (guest_change) {
		rc = update_guest(engine, &b, req, err);
		if (rc != HBK_OK)
			return rc;
	}
	if (!stay_change)
		return HBK_OK;

	bool moves = stay.checkin != b.stay.checkin || stay.checkout != b.stay.checkout ||
		     strcmp(stay.room_type, b.stay.room_type) != 0;
	json_t *data = stay_json(&stay);
	json_object_set_new(data, "room_name", json_string(quote.room_name));
	json_object_set_new(data, "total", hbk_json_money(&quote.total));
	json_object_set_new(data, "cancellation_policy", hbk_policy_json(&quote.policy));
	json_object_set_new(data, "stay_changes", json_boolean(moves));
	batch_add(&batch, &b, "update_requested.v1", data);
	if (moves)
		batch_add(&batch, &b, "rooms_held.v1",
			  json_pack("{s:s, s:o}", "hold", "new", "stay", stay_json(&stay)));

	rc = record_start(engine, &b, &batch, "update", moves ? HOLD_NEW_NIGHTS : HOLD_NONE, &stay,
			  err);
	*saga = rc == HBK_OK;
	return rc;
}

hbk_result hbk_update(struct hbk_engine *engine, const char *id,
		      const struct hbk_update_request *req, json_t **out, struct hbk_error *err)
{
	bool saga;
	*out = NULL;
	hbk_result rc = hbk_update_begin(engine, id, req, &saga, err);
	if (rc != HBK_OK)
		return rc;
	if (!saga)
		return hbk_saga_outcome(engine, id, HBK_OK, NULL, out, err);
	return saga_finish(engine, id, out, err);
}

/* Checks a cancellation and what it costs now. */
static hbk_result cancel_terms(struct hbk_engine *engine, const char *id, const char *reason,
			       int64_t if_match, struct hbk_booking *b, struct hbk_money *penalty,
			       struct hbk_money *refund, struct hbk_error *err)
{
	if (reason && strlen(reason) >= HBK_REASON_MAX)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_reason", "reason",
				      "reason is longer than %d bytes", HBK_REASON_MAX - 1);
	if (reason && !hbk_utf8_valid(reason, strlen(reason)))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_reason", "reason",
				      "reason is not valid UTF-8");
	hbk_result rc = load_for_change(engine, id, if_match, "cancel", b, err);
	if (rc != HBK_OK)
		return rc;
	struct hbk_money paid = hbk_booking_paid(b);
	paid.minor -= hbk_booking_refunded(b).minor;
	*penalty = hbk_policy_penalty_at(&b->policy, b->total.currency, hbk_now_ms());
	/* Never keep more than was paid. */
	if (penalty->minor > paid.minor)
		penalty->minor = paid.minor;
	*refund = hbk_money_make(paid.minor - penalty->minor, b->total.currency);
	return HBK_OK;
}

hbk_result hbk_cancel_begin(struct hbk_engine *engine, const char *id, const char *reason,
			    int64_t if_match, struct hbk_error *err)
{
	struct hbk_booking b;
	struct hbk_money penalty, refund;
	struct event_batch batch = {0};
	hbk_result rc = cancel_terms(engine, id, reason, if_match, &b, &penalty, &refund, err);
	if (rc != HBK_OK)
		return rc;
	batch_add(&batch, &b, "cancel_requested.v1",
		  json_pack("{s:s, s:o, s:o}", "reason", reason ? reason : "", "penalty",
			    hbk_json_money(&penalty), "refund", hbk_json_money(&refund)));
	return record_start(engine, &b, &batch, "cancel", HOLD_NONE, NULL, err);
}

hbk_result hbk_cancel(struct hbk_engine *engine, const char *id, const char *reason, bool dry_run,
		      int64_t if_match, json_t **out, struct hbk_error *err)
{
	*out = NULL;
	if (dry_run) {
		struct hbk_booking b;
		struct hbk_money penalty, refund;
		hbk_result rc =
		    cancel_terms(engine, id, reason, if_match, &b, &penalty, &refund, err);
		if (rc != HBK_OK)
			return rc;
		*out = json_pack("{s:o, s:o, s:o, s:b}", "booking", hbk_booking_json(&b), "penalty",
				 hbk_json_money(&penalty), "refund", hbk_json_money(&refund),
				 "dry_run", 1);
		return HBK_OK;
	}
	hbk_result rc = hbk_cancel_begin(engine, id, reason, if_match, err);
	if (rc != HBK_OK)
		return rc;
	return saga_finish(engine, id, out, err);
}

static hbk_result collect(const struct hbk_event *ev, void *ctx, struct hbk_error *err)
{
	json_array_append_new(ctx, hbk_event_json(ev));
	return HBK_OK;
}

hbk_result hbk_history(struct hbk_engine *engine, const char *id, json_t **out,
		       struct hbk_error *err)
{
	if (!id_ok(id, err))
		return err->result;
	json_t *events = json_array();
	hbk_result rc = hbk_events_read(engine->store, id, collect, events, err);
	if (rc == HBK_OK && json_array_size(events) == 0)
		rc = hbk_fail(err, HBK_ENOTFOUND, "not_found", "no booking %s", id);
	if (rc != HBK_OK) {
		json_decref(events);
		return rc;
	}
	*out = json_pack("{s:s, s:o}", "id", id, "events", events);
	return HBK_OK;
}
