/*
 * saga.c - runs a booking's saga step by step from its recorded state.
 *
 * Each iteration folds the booking's events, asks hbk_booking_next_step()
 * what to do, does it (an external call, or a local change), and records
 * the outcome as events in one transaction. Because every external call
 * carries an idempotency key derived from the booking and the step, a
 * process that dies between a call and its record can be resumed by
 * anyone: the repeated call returns the first call's result.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hbk/json.h"
#include "hbk/notify.h"
#include "internal.h"

#define SAGA_STEPS_MAX		  64 /* more means a bug in next_step */
#define STEP_ATTEMPTS_MAX	  3  /* forward steps: then compensate */
#define COMPENSATION_ATTEMPTS_MAX 6  /* compensations try harder */
#define RETRY_BACKOFF_MS_BASE	  20
#define RETRY_BACKOFF_MS_MAX	  500
#define DETACHED_RETRY_MS_BASE	  1000 /* 1 s, 2 s, 4 s ... 32 s */

void batch_add(struct event_batch *batch, const struct hbk_booking *b, const char *name,
	       json_t *data)
{
	HBK_ASSERT(batch->count < BOOKING_EVENTS_PER_COMMIT_MAX);
	struct hbk_event *ev = &batch->events[batch->count++];
	memset(ev, 0, sizeof(*ev));
	hbk_format(ev->type, sizeof(ev->type), "hbk.booking.%s", name);
	hbk_copy(ev->subject, sizeof(ev->subject), b->id);
	hbk_copy(ev->partitionkey, sizeof(ev->partitionkey), b->stay.hotel_id);
	hbk_copy(ev->correlationid, sizeof(ev->correlationid), b->id);
	ev->data = data;
	HBK_ASSERT(ev->data != NULL);
}

void batch_clear(struct event_batch *batch)
{
	for (int i = 0; i < batch->count; i++)
		hbk_event_clear(&batch->events[i]);
	batch->count = 0;
}

json_t *stay_json(const struct hbk_stay *stay)
{
	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR];
	hbk_date_format(stay->checkin, checkin);
	hbk_date_format(stay->checkout, checkout);
	return json_pack("{s:s, s:s, s:b, s:i, s:s, s:s, s:{s:i, s:i}}", "room_type",
			 stay->room_type, "board", stay->board, "refundable", stay->refundable,
			 "rooms", stay->rooms, "checkin", checkin, "checkout", checkout, "guests",
			 "adults", stay->adults, "children", stay->children);
}

hbk_result failure_result(const char *code)
{
	if (strcmp(code, "payment_declined") == 0 || strcmp(code, "insufficient_funds") == 0 ||
	    strcmp(code, "partner_rejected") == 0)
		return HBK_EDECLINED;
	if (strstr(code, "unavailable"))
		return HBK_EUNAVAILABLE;
	if (strcmp(code, "partner_auth") == 0 || strcmp(code, "payment_auth") == 0)
		return HBK_EAUTH;
	if (strcmp(code, "no_availability") == 0 || strcmp(code, "price_changed") == 0)
		return HBK_ECONFLICT;
	return HBK_EDECLINED;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Backoff with full jitter: a random wait up to base * 2^attempt. */
static int backoff_ms(int attempt)
{
	unsigned int r;
	int cap = RETRY_BACKOFF_MS_BASE << (attempt < 5 ? attempt : 5);
	if (cap > RETRY_BACKOFF_MS_MAX)
		cap = RETRY_BACKOFF_MS_MAX;
	hbk_random_bytes(&r, sizeof(r));
	return 1 + (int)(r % (unsigned int)cap);
}

/* The test hook of DESIGN's crash-safety promise: die like kill -9.
 * ":recorded" means durably recorded, so the saga's work is committed first. */
static void maybe_die(struct hbk_engine *engine, enum hbk_saga_step step, bool recorded)
{
	char name[64];
	if (!engine->kill_at)
		return;
	hbk_format(name, sizeof(name), "%s%s", hbk_saga_step_name(step),
		   recorded ? ":recorded" : "");
	if (strcmp(engine->kill_at, name) != 0)
		return;
	if (recorded && engine->store->tx_depth > 0) {
		if (engine->projection_due)
			booking_project(engine->store, engine->projection_deferred, NULL);
		hbk_store_commit(engine->store, NULL);
	}
	raise(SIGKILL);
}

/*
 * Records a batch of events (and the local change that goes with it)
 * atomically: in its own transaction, or, inside the saga's group
 * transaction, in a savepoint of it.
 */
static hbk_result
commit_batch(struct hbk_engine *engine, struct hbk_booking *b, struct event_batch *batch,
	     hbk_result (*local)(struct hbk_engine *, struct hbk_booking *, struct hbk_error *),
	     bool finish, struct hbk_error *err)
{
	struct hbk_store *store = engine->store;
	bool owned;
	struct hbk_booking before = *b;
	hbk_result rc = hbk_store_join(store, &owned, err);
	if (rc == HBK_OK && !owned)
		rc = hbk_store_run(store, "SAVEPOINT batch", err);
	if (rc != HBK_OK) {
		batch_clear(batch);
		return rc;
	}
	/* Inside the saga's group, the group's commit writes the projection. */
	bool defer = !owned && engine->projection_deferred == b;
	if (local)
		rc = local(engine, b, err);
	if (rc == HBK_OK)
		rc = booking_append(store, b, batch, defer, err);
	if (rc == HBK_OK && defer)
		engine->projection_due = true;
	if (rc == HBK_OK && finish)
		rc = saga_unregister(store, b->id, err);
	if (owned) {
		rc = hbk_store_leave(store, true, rc == HBK_OK, err) == HBK_OK ? rc : HBK_EINTERNAL;
	} else if (rc == HBK_OK) {
		rc = hbk_store_run(store, "RELEASE batch", err);
	} else {
		sqlite3_exec(store->db, "ROLLBACK TO batch; RELEASE batch", NULL, NULL, NULL);
	}
	if (rc != HBK_OK)
		*b = before; /* the events were not recorded: neither are they applied */
	batch_clear(batch);
	return rc;
}

/* ---- local changes made in the same transaction as their events ---- */

/* Nights of [a0, a1) not in [b0, b1), as up to two ranges. */
static int range_minus(hbk_date a0, hbk_date a1, hbk_date b0, hbk_date b1, hbk_date out[2][2])
{
	int n = 0;
	if (b1 <= a0 || b0 >= a1) {
		out[0][0] = a0;
		out[0][1] = a1;
		return 1;
	}
	if (a0 < b0) {
		out[n][0] = a0;
		out[n++][1] = b0;
	}
	if (b1 < a1) {
		out[n][0] = b1;
		out[n++][1] = a1;
	}
	return n;
}

/*
 * The nights an update moves: from `from` minus what `keep` already covers
 * in the same room type. hold=true takes them, else gives them back.
 */
hbk_result stay_move_nights(struct hbk_store *store, const struct hbk_stay *from,
			    const struct hbk_stay *keep, bool hold, struct hbk_error *err)
{
	hbk_date ranges[2][2];
	int n;
	if (strcmp(from->room_type, keep->room_type) == 0)
		n = range_minus(from->checkin, from->checkout, keep->checkin, keep->checkout,
				ranges);
	else
		n = range_minus(from->checkin, from->checkout, 0, 0, ranges);
	for (int i = 0; i < n; i++) {
		hbk_result rc =
		    hold ? hbk_inventory_hold(store, from->hotel_id, from->room_type, ranges[i][0],
					      ranges[i][1], from->rooms, err)
			 : hbk_inventory_release(store, from->hotel_id, from->room_type,
						 ranges[i][0], ranges[i][1], from->rooms, err);
		if (rc != HBK_OK)
			return rc;
	}
	return HBK_OK;
}

static hbk_result release_current(struct hbk_engine *engine, struct hbk_booking *b,
				  struct hbk_error *err)
{
	return hbk_inventory_release(engine->store, b->stay.hotel_id, b->stay.room_type,
				     b->stay.checkin, b->stay.checkout, b->stay.rooms, err);
}

static hbk_result release_old_nights(struct hbk_engine *engine, struct hbk_booking *b,
				     struct hbk_error *err)
{
	if (!b->stay_changes)
		return HBK_OK;
	return stay_move_nights(engine->store, &b->stay, &b->new_stay, false, err);
}

static hbk_result release_new_nights(struct hbk_engine *engine, struct hbk_booking *b,
				     struct hbk_error *err)
{
	if (!b->stay_changes || !b->new_rooms_held)
		return HBK_OK;
	return stay_move_nights(engine->store, &b->new_stay, &b->stay, false, err);
}

hbk_result update_hold_new_nights(struct hbk_store *store, const struct hbk_booking *b,
				  struct hbk_error *err)
{
	return stay_move_nights(store, &b->new_stay, &b->stay, true, err);
}

/* ---- external steps ---- */

static void partner_request(const struct hbk_booking *b, const struct hbk_stay *stay,
			    const struct hbk_money *total, const struct hbk_policy *policy,
			    struct hbk_partner_request *req)
{
	memset(req, 0, sizeof(*req));
	hbk_copy(req->client_reference, sizeof(req->client_reference), b->id);
	req->stay = *stay;
	hbk_copy(req->holder_name, sizeof(req->holder_name), b->guest.name);
	req->total = *total;
	req->policy = *policy;
}

/* The payment a refund comes from: the latest with something left. */
static int refund_source(const struct hbk_booking *b)
{
	for (int i = b->npayments - 1; i >= 0; i--)
		if (b->payments[i].captured > b->payments[i].refunded)
			return i;
	return -1;
}

static int64_t refund_due(const struct hbk_booking *b)
{
	int64_t net = hbk_booking_paid(b).minor - hbk_booking_refunded(b).minor;
	switch (b->saga) {
	case HBK_SAGA_CREATE: return net;
	case HBK_SAGA_CANCEL: return net - b->penalty.minor;
	case HBK_SAGA_UPDATE: return net - b->new_total.minor;
	case HBK_SAGA_NONE: break;
	}
	return 0;
}

/* Is reference one of the booking's payments? */
static bool known_payment(const struct hbk_booking *b, const char *reference)
{
	for (int i = 0; i < b->npayments; i++)
		if (strcmp(b->payments[i].reference, reference) == 0)
			return true;
	return false;
}

static int first_open_authorization(const struct hbk_booking *b)
{
	for (int i = 0; i < b->npayments; i++)
		if (b->payments[i].captured == 0 && !b->payments[i].voided)
			return i;
	return -1;
}

/* What an external step sends and gets back: kept in the run, since the
 * call may complete after the function that made it has returned. */
struct step_io {
	struct hbk_call call;
	struct hbk_payment_intent pi;
	struct hbk_partner_booking pb;
	struct hbk_partner_request req;
	struct hbk_refund refund;
	struct hbk_money amount;
	char key[HBK_IDEMPOTENCY_KEY_MAX];
	int payment; /* the payment the step acts on */
	bool lookup; /* the partner step is looking up an earlier booking, or
		      * the void an unanswered authorization */
	bool captured_instead; /* the void found the payment captured */
	bool looked_up;	       /* the void began by finding the authorization */
	char found[HBK_PAYMENT_REF_MAX]; /* what it found held, "" none */
	struct hbk_money found_amount;
};

/*
 * Starts one external step; io->call.done runs with its outcome (at once
 * with the in-process adapters, later on hbkd's loop with remote ones).
 */
static void external_step(struct hbk_engine *engine, const struct hbk_booking *b,
			  enum hbk_saga_step step, struct step_io *io)
{
	struct hbk_payment *pay = &engine->payment;
	struct hbk_partner *partner = &engine->partner;
	int i;

	io->lookup = false;
	io->captured_instead = false;
	io->looked_up = false;
	io->found[0] = '\0';
	memset(&io->pi, 0, sizeof(io->pi));
	switch (step) {
	case HBK_STEP_AUTHORIZE:
	case HBK_STEP_UPDATE_CHARGE:
		if (step == HBK_STEP_AUTHORIZE) {
			hbk_format(io->key, sizeof(io->key), "%s:authorize", b->id);
			io->amount = b->total;
		} else {
			hbk_format(io->key, sizeof(io->key), "%s:charge:%lld", b->id,
				   (long long)b->sequence);
			io->amount = hbk_money_make(b->new_total.minor -
							hbk_booking_paid(b).minor +
							hbk_booking_refunded(b).minor,
						    b->total.currency);
		}
		hbk_payment_authorize(pay, io->key, &io->amount, b->payment_method, b->id, &io->pi,
				      &io->call);
		return;
	case HBK_STEP_CAPTURE:
	case HBK_STEP_UPDATE_CAPTURE:
		i = step == HBK_STEP_CAPTURE ? 0 : b->charge_payment;
		HBK_ASSERT(i >= 0 && i < b->npayments);
		io->payment = i;
		hbk_format(io->key, sizeof(io->key), "%s:capture:%s", b->id,
			   b->payments[i].reference);
		hbk_payment_capture(pay, io->key, b->payments[i].reference,
				    b->payments[i].authorized, &io->pi, &io->call);
		return;
	case HBK_STEP_PAYMENT_VOID:
		if (b->payment_uncertain) {
			/* An authorization whose answers were lost: find what its
			 * key made before voiding (this call comes back through
			 * step_called with lookup set). */
			io->lookup = true;
			io->looked_up = true;
			hbk_payment_find(pay, b->payment_key, b->id, b->payment_since_ms, &io->pi,
					 &io->call);
			return;
		}
		i = first_open_authorization(b);
		HBK_ASSERT(i >= 0);
		io->payment = i;
		hbk_format(io->key, sizeof(io->key), "%s:void:%s", b->id, b->payments[i].reference);
		hbk_payment_void(pay, io->key, b->payments[i].reference, &io->pi, &io->call);
		return;
	case HBK_STEP_PAYMENT_REFUND: {
		i = refund_source(b);
		HBK_ASSERT(i >= 0);
		io->payment = i;
		int64_t due = refund_due(b);
		int64_t left = b->payments[i].captured - b->payments[i].refunded;
		HBK_ASSERT(due > 0);
		io->amount = hbk_money_make(due < left ? due : left, b->total.currency);
		hbk_format(io->key, sizeof(io->key), "%s:refund:%lld", b->id,
			   (long long)b->sequence);
		hbk_payment_refund(pay, io->key, b->payments[i].reference, io->amount.minor,
				   &io->refund, &io->call);
		return;
	}
	case HBK_STEP_PARTNER_BOOK:
		partner_request(b, &b->stay, &b->total, &b->policy, &io->req);
		hbk_partner_book(partner, &io->req, &io->pb, &io->call);
		return;
	case HBK_STEP_PARTNER_CANCEL:
		if (!b->partner_booked) {
			/* An uncertain booking: find out whether the partner has it. */
			io->lookup = true;
			hbk_partner_find(partner, b->id, &io->pb, &io->call);
			return;
		}
		hbk_partner_cancel(partner, b->partner_reference, false, hbk_now_ms(), &io->amount,
				   &io->call);
		return;
	case HBK_STEP_PARTNER_MODIFY:
		partner_request(b, &b->new_stay, &b->new_total, &b->new_policy, &io->req);
		hbk_partner_modify(partner, b->partner_reference, &io->req, false, &io->pb,
				   &io->call);
		return;
	default: break;
	}
	HBK_ASSERT(!"not an external step");
}

/* Turns a successful external step's answer into its event. */
static void external_record(struct hbk_engine *engine, const struct hbk_booking *b,
			    enum hbk_saga_step step, struct step_io *io, struct event_batch *batch)
{
	struct hbk_money amount;
	int i = io->payment;

	switch (step) {
	case HBK_STEP_AUTHORIZE:
	case HBK_STEP_UPDATE_CHARGE:
		batch_add(batch, b, "payment_authorized.v1",
			  json_pack("{s:s, s:o, s:s}", "reference", io->pi.id, "amount",
				    hbk_json_money(&io->amount), "status", io->pi.status));
		return;
	case HBK_STEP_CAPTURE:
	case HBK_STEP_UPDATE_CAPTURE:
		amount = hbk_money_make(b->payments[i].authorized, b->total.currency);
		batch_add(
		    batch, b, "payment_captured.v1",
		    json_pack("{s:s, s:o}", "reference", io->pi.id, "amount", hbk_json_money(&amount)));
		return;
	case HBK_STEP_PAYMENT_VOID:
		if (io->looked_up && io->found[0]) {
			/* Found held: the authorization is the booking's, voided. */
			batch_add(batch, b, "payment_authorized.v1",
				  json_pack("{s:s, s:o, s:s}", "reference", io->found, "amount",
					    hbk_json_money(&io->found_amount), "status",
					    "requires_capture"));
			batch_add(batch, b, "payment_voided.v1",
				  json_pack("{s:s, s:b}", "reference", io->found, "found", true));
			return;
		}
		if (io->looked_up) {
			/* The provider holds nothing under that key. */
			batch_add(batch, b, "payment_voided.v1",
				  json_pack("{s:s, s:b}", "reference", "", "found", false));
			return;
		}
		if (io->captured_instead) {
			/* A capture whose answers were lost had happened: record it,
			 * and the compensation refunds it next. */
			amount = hbk_money_make(io->pi.amount_captured, b->total.currency);
			batch_add(batch, b, "payment_captured.v1",
				  json_pack("{s:s, s:o}", "reference", b->payments[i].reference,
					    "amount", hbk_json_money(&amount)));
			return;
		}
		batch_add(batch, b, "payment_voided.v1",
			  json_pack("{s:s}", "reference", b->payments[i].reference));
		return;
	case HBK_STEP_PAYMENT_REFUND:
		batch_add(batch, b, "payment_refunded.v1",
			  json_pack("{s:s, s:s, s:o}", "reference", b->payments[i].reference,
				    "refund", io->refund.id, "amount", hbk_json_money(&io->amount)));
		return;
	case HBK_STEP_PARTNER_BOOK:
		batch_add(batch, b, "partner_booked.v1",
			  json_pack("{s:s, s:s}", "name", engine->partner.ops->name, "reference",
				    io->pb.reference));
		return;
	case HBK_STEP_PARTNER_CANCEL:
		if (!b->partner_booked && !io->pb.reference[0]) {
			/* The partner never had it: nothing to cancel. */
			amount = hbk_money_make(0, b->total.currency);
			batch_add(batch, b, "partner_cancelled.v1",
				  json_pack("{s:s, s:o, s:b}", "reference", "", "penalty",
					    hbk_json_money(&amount), "found", false));
			return;
		}
		batch_add(batch, b, "partner_cancelled.v1",
			  json_pack("{s:s, s:o}", "reference",
				    b->partner_booked ? b->partner_reference : io->pb.reference,
				    "penalty", hbk_json_money(&io->amount)));
		return;
	case HBK_STEP_PARTNER_MODIFY:
		batch_add(batch, b, "partner_modified.v1",
			  json_pack("{s:s}", "reference", b->partner_reference));
		return;
	default: break;
	}
	HBK_ASSERT(!"not an external step");
}

static bool is_compensation(const struct hbk_booking *b, enum hbk_saga_step step)
{
	if (b->compensating)
		return true;
	/* Once the partner has cancelled or modified, the rest must finish. */
	if (b->saga == HBK_SAGA_CANCEL)
		return step != HBK_STEP_PARTNER_CANCEL;
	if (b->saga == HBK_SAGA_UPDATE)
		return b->partner_modified;
	return false;
}

void booking_notify(struct hbk_engine *engine, struct hbk_booking *b, enum hbk_notice notice)
{
	struct hbk_error nerr = {0};
	struct event_batch batch = {0};
	static const char *const kinds[] = {"confirmation", "update", "cancellation"};
	/*
	 * hbkd's notifier only queues the notice for its delivery thread: the
	 * notice and its event then share one transaction (the caller's when
	 * it has one open), and the thread is woken once that commits. A
	 * sending notifier must not hold the store while it talks to a mail
	 * server, so it sends outside any transaction of ours.
	 */
	bool queues = hbk_notifier_queues(engine->notifier);
	bool own_tx = queues && engine->store->tx_depth == 0 &&
		      hbk_store_begin(engine->store, true, &nerr) == HBK_OK;

	struct hbk_booking before = *b;
	json_t *view = hbk_booking_json(b);
	hbk_result rc = engine->notifier ? hbk_notify_send(engine->notifier, notice, view, &nerr)
					 : hbk_fail(&nerr, HBK_EUNAVAILABLE, "notify_unavailable",
						    "no notifier configured");
	json_decref(view);
	if (rc == HBK_OK)
		batch_add(&batch, b, queues ? "notification_queued.v1" : "notification_sent.v1",
			  json_pack("{s:s, s:s, s:s}", "kind", kinds[notice], "channel", "email",
				    "to", b->guest.email));
	else
		batch_add(&batch, b, "notification_failed.v1",
			  json_pack("{s:s, s:s, s:s, s:s}", "kind", kinds[notice], "channel",
				    strcmp(nerr.field, "sms") == 0 ? "sms" : "email", "to",
				    strcmp(nerr.field, "sms") == 0 ? b->guest.phone : b->guest.email,
				    "error", nerr.message));
	/* A notice that cannot be recorded never fails the booking. */
	commit_batch(engine, b, &batch, NULL, false, &nerr);
	if (own_tx && hbk_store_commit(engine->store, &nerr) != HBK_OK) {
		*b = before; /* the event was rolled back with the notice */
		return;
	}
	if (queues && engine->store->tx_depth == 0)
		hbk_notifier_kick(engine->notifier);
}

/* Records that a forward step failed for good: compensation starts. key
 * is the Idempotency-Key of an authorization that went unanswered after it
 * may have reached the provider, else NULL. */
static hbk_result start_compensation(struct hbk_engine *engine, struct hbk_booking *b,
				     enum hbk_saga_step step, const struct hbk_error *cause,
				     const char *key, struct hbk_error *err)
{
	struct event_batch batch = {0};
	/*
	 * A partner create that went unanswered may have taken effect: the
	 * compensation looks it up. The in-process simulator fails before any
	 * change, so only a remote partner leaves that doubt.
	 */
	bool uncertain = step == HBK_STEP_PARTNER_BOOK && cause->result == HBK_EUNAVAILABLE &&
			 engine->partner.ops->remote;
	json_t *data = json_pack("{s:s, s:s, s:s, s:b}", "code",
				 cause->code[0] ? cause->code : "failed", "message", cause->message,
				 "step", hbk_saga_step_name(step), "partner_uncertain", uncertain);
	/*
	 * An authorization that went unanswered may have been made (the
	 * request reached the provider, the answer was lost): the compensation
	 * finds what its key made and voids it.
	 */
	if (key != NULL && (step == HBK_STEP_AUTHORIZE || step == HBK_STEP_UPDATE_CHARGE) &&
	    cause->result == HBK_EUNAVAILABLE)
		json_object_set_new(data, "payment_key", json_string(key));
	batch_add(&batch, b, "compensation_started.v1", data);
	return commit_batch(engine, b, &batch, NULL, false, err);
}

/*
 * Does a local step: the store only, in one transaction. *ended is set
 * when the saga is over; an abandoned update or cancel ends with its
 * failure in err and that result.
 */
static hbk_result local_step(struct hbk_engine *engine, struct hbk_booking *b,
			     enum hbk_saga_step step, bool *ended, int *notice,
			     struct hbk_error *err)
{
	struct event_batch batch = {0};
	hbk_result rc = HBK_OK;

	*ended = false;
	*notice = -1;
	switch (step) {
	case HBK_STEP_DONE:
		/* Nothing in flight; drop a stale registration if any. */
		*ended = true;
		bool owned;
		if (hbk_store_join(engine->store, &owned, err) == HBK_OK) {
			hbk_result unregistered = saga_unregister(engine->store, b->id, err);
			hbk_store_leave(engine->store, owned, unregistered == HBK_OK, err);
		}
		return HBK_OK;
	case HBK_STEP_CONFIRM:
		batch_add(&batch, b, "confirmed.v1", json_object());
		rc = commit_batch(engine, b, &batch, NULL, true, err);
		if (rc == HBK_OK)
			*notice = HBK_NOTICE_CONFIRMATION;
		return rc;
	case HBK_STEP_FAIL:
		batch_add(&batch, b, "failed.v1",
			  json_pack("{s:s, s:s}", "code", b->failure_code, "message",
				    b->failure_message));
		return commit_batch(engine, b, &batch, NULL, true, err);
	case HBK_STEP_RELEASE:
		batch_add(&batch, b, "rooms_released.v1",
			  json_pack("{s:s, s:o}", "hold", "current", "stay", stay_json(&b->stay)));
		return commit_batch(engine, b, &batch, release_current, false, err);
	case HBK_STEP_UPDATE_COMMIT:
		if (b->stay_changes)
			batch_add(&batch, b, "rooms_released.v1",
				  json_pack("{s:s, s:o}", "hold", "current", "stay",
					    stay_json(&b->stay)));
		batch_add(&batch, b, "updated.v1",
			  json_pack("{s:o, s:s, s:o, s:o}", "stay", stay_json(&b->new_stay),
				    "room_name", b->new_room_name, "total",
				    hbk_json_money(&b->new_total), "cancellation_policy",
				    hbk_policy_json(&b->new_policy)));
		rc = commit_batch(engine, b, &batch, release_old_nights, true, err);
		if (rc == HBK_OK)
			*notice = HBK_NOTICE_UPDATE;
		return rc;
	case HBK_STEP_UPDATE_ABANDON:
		if (b->stay_changes && b->new_rooms_held)
			batch_add(&batch, b, "rooms_released.v1",
				  json_pack("{s:s, s:o}", "hold", "new", "stay",
					    stay_json(&b->new_stay)));
		batch_add(&batch, b, "update_abandoned.v1",
			  json_pack("{s:s, s:s}", "code", b->failure_code, "message",
				    b->failure_message));
		rc = commit_batch(engine, b, &batch, release_new_nights, true, err);
		if (rc != HBK_OK)
			return rc;
		*ended = true;
		return hbk_fail(err, failure_result(b->failure_code), b->failure_code,
				"update of %s failed: %s", b->id, b->failure_message);
	case HBK_STEP_CANCEL_COMMIT:
		batch_add(&batch, b, "cancelled.v1",
			  json_pack("{s:s, s:o}", "reason", b->cancel_reason, "penalty",
				    hbk_json_money(&b->penalty)));
		rc = commit_batch(engine, b, &batch, NULL, true, err);
		if (rc == HBK_OK)
			*notice = HBK_NOTICE_CANCELLATION;
		return rc;
	case HBK_STEP_CANCEL_ABANDON:
		batch_add(&batch, b, "cancel_abandoned.v1",
			  json_pack("{s:s, s:s}", "code", b->failure_code, "message",
				    b->failure_message));
		rc = commit_batch(engine, b, &batch, NULL, true, err);
		if (rc != HBK_OK)
			return rc;
		*ended = true;
		return hbk_fail(err, failure_result(b->failure_code), b->failure_code,
				"cancellation of %s failed: %s", b->id, b->failure_message);
	default: break;
	}
	HBK_ASSERT(!"not a local step");
	return HBK_EINTERNAL;
}

static bool is_local(enum hbk_saga_step step)
{
	switch (step) {
	case HBK_STEP_DONE:
	case HBK_STEP_CONFIRM:
	case HBK_STEP_FAIL:
	case HBK_STEP_RELEASE:
	case HBK_STEP_UPDATE_COMMIT:
	case HBK_STEP_UPDATE_ABANDON:
	case HBK_STEP_CANCEL_COMMIT:
	case HBK_STEP_CANCEL_ABANDON: return true;
	default: return false;
	}
}

/* One saga in flight: the continuation the steps call back into. */
struct saga_run {
	struct hbk_engine *engine;
	const struct hbk_saga_env *env;
	char id[HBK_ID_MAX];
	hbk_saga_done done;
	void *arg;
	int steps;
	int attempt;
	enum hbk_saga_step step;
	/* The aggregate, loaded once: this run owns the saga, and every event it
	 * records is applied to it as it is appended. */
	bool loaded;
	/* Group commit: the steps between two waits share one transaction. */
	bool in_tx;
	/* What the booking's projection row held when the group began. */
	struct booking_keys projected;
	/* The guest's notice, sent once the outcome is committed (-1: none),
	 * so that writing mail never holds the store. */
	int notice;
	int64_t step_started_us;
	int detached; /* times the caller was answered before the end */
	/* An attempt of this step went unanswered after it may have reached
	 * the upstream: its effect may exist. */
	bool maybe_done;
	struct step_io io;
	struct hbk_booking booking;
	struct hbk_error err;
};

/* Commits the steps recorded since the last wait. */
static hbk_result run_commit(struct saga_run *run)
{
	struct hbk_engine *engine = run->engine;
	if (!run->in_tx)
		return HBK_OK;
	run->in_tx = false;
	bool due = engine->projection_due;
	engine->projection_deferred = NULL;
	engine->projection_due = false;
	if (engine->store->tx_depth == 0)
		return HBK_OK; /* a test hook committed it */
	hbk_result rc =
	    due ? booking_project_over(engine->store, &run->projected, &run->booking, &run->err)
		: HBK_OK;
	if (rc != HBK_OK) {
		hbk_store_rollback(engine->store);
		return rc;
	}
	return hbk_store_commit(engine->store, &run->err);
}

static void run_end(struct saga_run *run, hbk_result rc)
{
	struct hbk_error saved = run->err;
	/* A notice that is only queued joins the outcome's transaction: it is
	 * recorded exactly when the outcome is, with one commit for both. */
	bool queued = run->notice >= 0 && run->in_tx && run->engine->store->tx_depth > 0 &&
		      hbk_notifier_queues(run->engine->notifier);
	if (queued)
		booking_notify(run->engine, &run->booking, (enum hbk_notice)run->notice);
	hbk_result commit_rc = run_commit(run);
	if (commit_rc != HBK_OK)
		rc = commit_rc;
	else
		run->err = saved;
	if (commit_rc == HBK_OK && run->notice >= 0 && !queued)
		booking_notify(run->engine, &run->booking, (enum hbk_notice)run->notice);
	if (commit_rc == HBK_OK && queued)
		hbk_notifier_kick(run->engine->notifier);
	run->done(run->arg, rc, &run->err);
	free(run);
}

static void advance(struct saga_run *run);
static void attempt(void *arg);

/* The group's steps leave the projection row to its commit. */
static void group_defer_projection(struct saga_run *run)
{
	/* The aggregate is loaded before the first group begins. */
	HBK_ASSERT(run->loaded && run->in_tx);
	booking_keys_of(&run->booking, &run->projected);
	run->engine->projection_deferred = &run->booking;
	run->engine->projection_due = false;
}

/* Group commit: opens the transaction the next steps' records share. */
static hbk_result run_begin(struct saga_run *run)
{
	if (run->in_tx || !run->engine->group_commit)
		return HBK_OK;
	hbk_result rc = hbk_store_begin(run->engine->store, true, &run->err);
	if (rc != HBK_OK)
		return rc;
	run->in_tx = true;
	group_defer_projection(run);
	return HBK_OK;
}

/* Does the step call out of the process? */
static bool step_remote(const struct hbk_engine *engine, enum hbk_saga_step step)
{
	switch (step) {
	case HBK_STEP_PARTNER_BOOK:
	case HBK_STEP_PARTNER_CANCEL:
	case HBK_STEP_PARTNER_MODIFY: return engine->partner.ops->remote;
	default: return engine->payment.ops->remote;
	}
}
static const struct hbk_saga_env sync_env;

static void background_done(void *arg, hbk_result rc, const struct hbk_error *err)
{
	(void)arg;
	(void)rc;
	(void)err;
}

/*
 * A compensation the upstream keeps refusing, on an event loop: answer the
 * caller now (the booking is still PENDING) and keep trying in the
 * background, waiting longer each time, until the upstream answers. The
 * saga stays registered to this process, so should it die, the next one
 * to open the store takes over.
 */
static void run_detach(struct saga_run *run, hbk_result rc)
{
	if (run_commit(run) != HBK_OK)
		rc = HBK_EINTERNAL;
	if (run->done != background_done) {
		run->done(run->arg, rc, &run->err);
		run->done = background_done;
		run->arg = NULL;
	}
	int shift = run->detached < 5 ? run->detached : 5;
	int delay = DETACHED_RETRY_MS_BASE << shift;
	run->detached++;
	run->attempt = 0;
	hbk_error_clear(&run->err);
	run->env->defer(run->env->ctx, delay, attempt, run);
}

/* What follows an external step's outcome: record it, then go on. */
static void external_done(struct saga_run *run, hbk_result rc, struct event_batch *batch,
			  const struct hbk_error *step_err)
{
	struct hbk_engine *engine = run->engine;
	struct hbk_booking *b = &run->booking;
	enum hbk_saga_step step = run->step;
	bool compensation = is_compensation(b, step);

	maybe_die(engine, step, false);
	/* A remote step's record opens the group the local steps after it join. */
	if (run_begin(run) != HBK_OK) {
		batch_clear(batch);
		run_end(run, HBK_EINTERNAL);
		return;
	}
	if (rc == HBK_OK) {
		rc = commit_batch(engine, b, batch, NULL, false, &run->err);
	} else if (!compensation) {
		batch_clear(batch);
		rc = start_compensation(engine, b, step, step_err,
					run->maybe_done ? run->io.key : NULL, &run->err);
	} else if (rc != HBK_EUNAVAILABLE) {
		/*
		 * Refused for good (the partner will not cancel, the provider will
		 * not void): record it for reconciliation and finish the rest, so
		 * the booking does not stay PENDING on a decision no retry will
		 * change.
		 */
		batch_clear(batch);
		batch_add(batch, b, "compensation_step_failed.v1",
			  json_pack("{s:s, s:s, s:s}", "step", hbk_saga_step_name(step), "code",
				    step_err->code, "message", step_err->message));
		rc = commit_batch(engine, b, batch, NULL, false, &run->err);
	} else {
		/*
		 * Still unreachable after the retries: leave the saga registered
		 * so the next process to open the store (or hbk-admin recover)
		 * takes it up again once the upstream answers.
		 */
		batch_clear(batch);
		run->err = *step_err;
		hbk_error_prefix(&run->err, "%s: %s", run->id, hbk_saga_step_name(step));
		if (run->env != &sync_env) {
			run_detach(run, rc);
			return;
		}
		run_end(run, rc);
		return;
	}
	if (rc != HBK_OK) {
		run_end(run, rc);
		return;
	}
	maybe_die(engine, step, true);
	advance(run);
}

static void step_called(struct hbk_call *call);

static void attempt(void *arg)
{
	struct saga_run *run = arg;
	run->io.call.done = step_called;
	run->io.call.unsent = false;
	run->step_started_us = hbk_now_ms() * 1000;
	external_step(run->engine, &run->booking, run->step, &run->io);
}

/* An external step's call came back: record it, retry it, or give up. */
static void step_called(struct hbk_call *call)
{
	struct saga_run *run = (struct saga_run *)((char *)call - offsetof(struct saga_run, io.call));
	struct step_io *io = &run->io;
	struct hbk_engine *engine = run->engine;
	hbk_result rc = call->rc;

	if (run->step == HBK_STEP_PARTNER_CANCEL && io->lookup) {
		io->lookup = false;
		if (rc == HBK_ENOTFOUND) {
			memset(&io->pb, 0, sizeof(io->pb));
			rc = call->rc = HBK_OK;
		} else if (rc == HBK_OK && strcmp(io->pb.status, "CANCELLED") != 0) {
			/* It was booked after all: cancel it (this call comes back
			 * here with lookup off). */
			hbk_partner_cancel(&engine->partner, io->pb.reference, false, hbk_now_ms(),
					   &io->amount, &io->call);
			return;
		} else if (rc == HBK_OK) {
			io->amount = hbk_money_make(0, run->booking.total.currency);
		}
	}
	if (run->step == HBK_STEP_PARTNER_BOOK && !io->lookup && rc == HBK_ECONFLICT &&
	    strcmp(call->err.code, "duplicate_client_reference") == 0) {
		/* Booked by an earlier attempt whose answer was lost. */
		io->lookup = true;
		rc = engine->partner.ops->find(engine->partner.self, run->id, &io->pb, &call->err);
	}
	if (run->step == HBK_STEP_PAYMENT_VOID && io->lookup) {
		io->lookup = false;
		if (rc == HBK_OK && strcmp(io->pi.status, "requires_capture") == 0 &&
		    !known_payment(&run->booking, io->pi.id)) {
			/* Held at the provider: void it (this call comes back here
			 * with lookup off). */
			hbk_copy(io->found, sizeof(io->found), io->pi.id);
			io->found_amount =
			    hbk_money_make(io->pi.amount.minor, run->booking.total.currency);
			hbk_format(io->key, sizeof(io->key), "%s:void:%s", run->id, io->found);
			hbk_payment_void(&engine->payment, io->key, io->found, &io->pi, &io->call);
			return;
		}
		/* None, or nothing held (declined, already voided): nothing to void. */
		if (rc == HBK_OK || rc == HBK_ENOTFOUND)
			rc = call->rc = HBK_OK;
	}
	if (run->step == HBK_STEP_PAYMENT_VOID && !io->looked_up && rc != HBK_OK &&
	    rc != HBK_EUNAVAILABLE && strcmp(io->pi.status, "succeeded") == 0 &&
	    io->pi.amount_captured > 0 &&
	    strcmp(io->pi.id, run->booking.payments[io->payment].reference) == 0) {
		io->captured_instead = true;
		rc = HBK_OK;
	}
	if (rc == HBK_EUNAVAILABLE && !call->unsent)
		run->maybe_done = true;
	if (engine->on_step)
		engine->on_step(engine->on_step_ctx, run->step,
				hbk_now_ms() * 1000 - run->step_started_us, rc);

	bool compensation = is_compensation(&run->booking, run->step);
	int attempts = compensation ? COMPENSATION_ATTEMPTS_MAX : STEP_ATTEMPTS_MAX;
	/* An open circuit answers for the upstream: a forward step fails at
	 * once instead of waiting on it; compensations keep trying. */
	bool circuit_open = strcmp(call->err.code, "circuit_open") == 0;
	if (rc == HBK_EUNAVAILABLE && !circuit_open && ++run->attempt < attempts) {
		/* Never hold the store while waiting. */
		if (run_commit(run) != HBK_OK) {
			run_end(run, HBK_EINTERNAL);
			return;
		}
		int delay = backoff_ms(run->attempt - 1);
		if (call->retry_after_ms > delay)
			delay = call->retry_after_ms;
		run->env->defer(run->env->ctx, delay, attempt, run);
		return;
	}
	struct event_batch batch = {0};
	struct hbk_error step_err = call->err;
	step_err.result = rc;
	/* The booking records which upstream failed, whatever the transport
	 * said (a timeout, a refused connection, an open circuit). */
	bool partner_step = run->step == HBK_STEP_PARTNER_BOOK ||
			    run->step == HBK_STEP_PARTNER_CANCEL ||
			    run->step == HBK_STEP_PARTNER_MODIFY;
	if (rc == HBK_EUNAVAILABLE)
		hbk_copy(step_err.code, sizeof(step_err.code),
			 partner_step ? "partner_unavailable" : "payment_unavailable");
	else if (rc == HBK_EAUTH)
		hbk_copy(step_err.code, sizeof(step_err.code),
			 partner_step ? "partner_auth" : "payment_auth");
	if (rc == HBK_OK)
		external_record(engine, &run->booking, run->step, io, &batch);
	external_done(run, rc, &batch, &step_err);
}

static void advance(struct saga_run *run)
{
	for (;;) {
		if (++run->steps > SAGA_STEPS_MAX) {
			hbk_fail(&run->err, HBK_EINTERNAL, "saga_loop",
				 "saga of %s did not finish in %d steps", run->id, SAGA_STEPS_MAX);
			run_end(run, HBK_EINTERNAL);
			return;
		}
		if (!run->loaded) {
			hbk_result rc =
			    booking_load(run->engine->store, run->id, &run->booking, &run->err);
			if (rc != HBK_OK) {
				run_end(run, rc);
				return;
			}
			run->loaded = true;
			if (run->in_tx)
				group_defer_projection(run); /* the command's, joined */
		}
		run->step = hbk_booking_next_step(&run->booking);
		bool remote = !is_local(run->step) && step_remote(run->engine, run->step);
		if (remote) {
			/* Never hold the store while an upstream answers. */
			if (run_commit(run) != HBK_OK) {
				run_end(run, HBK_EINTERNAL);
				return;
			}
		} else if (run_begin(run) != HBK_OK) {
			run_end(run, HBK_EINTERNAL);
			return;
		}
		if (!is_local(run->step)) {
			run->attempt = 0;
			run->maybe_done = false;
			attempt(run);
			return;
		}
		bool ended;
		int notice;
		hbk_result rc =
		    local_step(run->engine, &run->booking, run->step, &ended, &notice, &run->err);
		if (notice >= 0)
			run->notice = notice;
		if (rc != HBK_OK || ended) {
			run_end(run, rc);
			return;
		}
		maybe_die(run->engine, run->step, true);
	}
}

static void start(struct hbk_engine *engine, const struct hbk_saga_env *env, const char *id,
		  hbk_saga_done done, void *arg)
{
	struct saga_run *run = hbk_xcalloc(1, sizeof(*run));
	run->engine = engine;
	run->env = env;
	hbk_copy(run->id, sizeof(run->id), id);
	run->done = done;
	run->arg = arg;
	run->notice = -1;
	if (engine->start_open) {
		/* The command's transaction is the first group's. */
		HBK_ASSERT(engine->store->tx_depth > 0);
		engine->start_open = false;
		run->in_tx = true;
	}
	advance(run);
}

static void sync_defer(void *ctx, int delay_ms, void (*fn)(void *arg), void *arg)
{
	(void)ctx;
	sleep_ms(delay_ms);
	fn(arg);
}

static const struct hbk_saga_env sync_env = {sync_defer, NULL};

void hbk_saga_start(struct hbk_engine *engine, const char *id, hbk_saga_done done, void *arg)
{
	start(engine, engine->saga_env ? engine->saga_env : &sync_env, id, done, arg);
}

struct sync_outcome {
	bool ended;
	hbk_result rc;
	struct hbk_error err;
};

static void sync_done(void *arg, hbk_result rc, const struct hbk_error *err)
{
	struct sync_outcome *outcome = arg;
	outcome->ended = true;
	outcome->rc = rc;
	if (rc != HBK_OK)
		outcome->err = *err;
}

hbk_result hbk_saga_run(struct hbk_engine *engine, const char *id, struct hbk_error *err)
{
	struct sync_outcome outcome = {0};
	/* The synchronous environment calls back before start() returns. */
	start(engine, &sync_env, id, sync_done, &outcome);
	HBK_ASSERT(outcome.ended);
	if (outcome.rc != HBK_OK && err)
		*err = outcome.err;
	return outcome.rc;
}
