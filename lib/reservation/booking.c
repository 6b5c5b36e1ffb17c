/*
 * booking.c - the booking aggregate: a fold over its events, the pure
 * decision of the saga's next step, the rules, and its JSON view.
 *
 * No I/O here: state in, events or decisions out.
 */
#include <string.h>

#include "hbk/json.h"
#include "hbk/reservation.h"

const char *hbk_booking_status_name(enum hbk_booking_status status)
{
	switch (status) {
	case HBK_BOOKING_PENDING: return "PENDING";
	case HBK_BOOKING_CONFIRMED: return "CONFIRMED";
	case HBK_BOOKING_CANCELLED: return "CANCELLED";
	case HBK_BOOKING_FAILED: return "FAILED";
	}
	return "UNKNOWN";
}

const char *hbk_saga_step_name(enum hbk_saga_step step)
{
	static const char *const names[] = {
	    [HBK_STEP_DONE] = "done",
	    [HBK_STEP_AUTHORIZE] = "authorize",
	    [HBK_STEP_PARTNER_BOOK] = "partner_book",
	    [HBK_STEP_CAPTURE] = "capture",
	    [HBK_STEP_CONFIRM] = "confirm",
	    [HBK_STEP_PARTNER_CANCEL] = "partner_cancel",
	    [HBK_STEP_PAYMENT_VOID] = "payment_void",
	    [HBK_STEP_PAYMENT_REFUND] = "payment_refund",
	    [HBK_STEP_RELEASE] = "release",
	    [HBK_STEP_FAIL] = "fail",
	    [HBK_STEP_UPDATE_CHARGE] = "update_charge",
	    [HBK_STEP_PARTNER_MODIFY] = "partner_modify",
	    [HBK_STEP_UPDATE_CAPTURE] = "update_capture",
	    [HBK_STEP_UPDATE_COMMIT] = "update_commit",
	    [HBK_STEP_UPDATE_ABANDON] = "update_abandon",
	    [HBK_STEP_CANCEL_COMMIT] = "cancel_commit",
	    [HBK_STEP_CANCEL_ABANDON] = "cancel_abandon",
	};
	return step <= HBK_STEP_CANCEL_ABANDON ? names[step] : "unknown";
}

/* Reads the stay fields an event carries (room_type, board, refundable,
 * rooms, checkin, checkout, guests); the hotel comes from `hotel.id`. */
static hbk_result stay_from_json(const json_t *data, struct hbk_stay *stay, struct hbk_error *err)
{
	const json_t *hotel = json_object_get(data, "hotel");
	const json_t *guests = json_object_get(data, "guests");
	const char *hotel_id = hbk_json_str(hotel, "id", stay->hotel_id);
	const char *checkin = hbk_json_str(data, "checkin", NULL);
	const char *checkout = hbk_json_str(data, "checkout", NULL);

	hbk_copy(stay->hotel_id, sizeof(stay->hotel_id), hotel_id);
	hbk_copy(stay->room_type, sizeof(stay->room_type),
		 hbk_json_str(data, "room_type", stay->room_type));
	hbk_copy(stay->board, sizeof(stay->board), hbk_json_str(data, "board", stay->board));
	stay->refundable = hbk_json_bool(data, "refundable", stay->refundable);
	stay->rooms = (int)hbk_json_int(data, "rooms", stay->rooms);
	stay->adults = (int)hbk_json_int(guests, "adults", stay->adults);
	stay->children = (int)hbk_json_int(guests, "children", stay->children);
	if ((checkin && !hbk_date_parse(checkin, &stay->checkin)) ||
	    (checkout && !hbk_date_parse(checkout, &stay->checkout)))
		return hbk_fail(err, HBK_EINTERNAL, "corrupt_event", "event has a malformed date");
	return HBK_OK;
}

static struct hbk_booking_payment *find_payment(struct hbk_booking *b, const char *reference)
{
	for (int i = 0; i < b->npayments; i++)
		if (strcmp(b->payments[i].reference, reference) == 0)
			return &b->payments[i];
	return NULL;
}

static void guest_from_json(const json_t *guest, struct hbk_guest *out)
{
	hbk_copy(out->name, sizeof(out->name), hbk_json_str(guest, "name", out->name));
	hbk_copy(out->email, sizeof(out->email), hbk_json_str(guest, "email", out->email));
	hbk_copy(out->phone, sizeof(out->phone), hbk_json_str(guest, "phone", out->phone));
}

static hbk_result apply_requested(struct hbk_booking *b, const json_t *data, int64_t time_ms,
				  struct hbk_error *err)
{
	const json_t *hotel = json_object_get(data, "hotel");
	hbk_result rc = stay_from_json(data, &b->stay, err);
	if (rc == HBK_OK)
		rc = hbk_json_get_money(data, "total", &b->total, err);
	if (rc == HBK_OK)
		rc = hbk_policy_from_json(json_object_get(data, "cancellation_policy"),
					  b->total.currency, &b->policy, err);
	if (rc != HBK_OK)
		return rc;
	hbk_copy(b->hotel_name, sizeof(b->hotel_name), hbk_json_str(hotel, "name", ""));
	hbk_copy(b->hotel_city, sizeof(b->hotel_city), hbk_json_str(hotel, "city", ""));
	hbk_copy(b->room_name, sizeof(b->room_name), hbk_json_str(data, "room_name", ""));
	guest_from_json(json_object_get(data, "guest"), &b->guest);
	hbk_copy(b->payment_method, sizeof(b->payment_method),
		 hbk_json_str(data, "payment_method", ""));
	hbk_copy(b->partner_name, sizeof(b->partner_name), hbk_json_str(data, "partner", ""));
	hbk_copy(b->payment_provider, sizeof(b->payment_provider),
		 hbk_json_str(data, "payment_provider", ""));
	b->status = HBK_BOOKING_PENDING;
	b->saga = HBK_SAGA_CREATE;
	b->created_ms = time_ms;
	b->charge_payment = -1;
	return HBK_OK;
}

static hbk_result apply_update_requested(struct hbk_booking *b, const json_t *data,
					 struct hbk_error *err)
{
	b->new_stay = b->stay;
	hbk_result rc = stay_from_json(data, &b->new_stay, err);
	if (rc == HBK_OK)
		rc = hbk_json_get_money(data, "total", &b->new_total, err);
	if (rc == HBK_OK)
		rc = hbk_policy_from_json(json_object_get(data, "cancellation_policy"),
					  b->new_total.currency, &b->new_policy, err);
	if (rc != HBK_OK)
		return rc;
	hbk_copy(b->new_room_name, sizeof(b->new_room_name),
		 hbk_json_str(data, "room_name", b->room_name));
	b->stay_changes = hbk_json_bool(data, "stay_changes", false);
	b->saga = HBK_SAGA_UPDATE;
	b->compensating = false;
	b->payment_uncertain = false;
	b->partner_modified = false;
	b->new_rooms_held = false;
	b->charge_payment = -1;
	return HBK_OK;
}

hbk_result hbk_booking_apply(struct hbk_booking *b, const char *type, const json_t *data,
			     int64_t sequence, int64_t time_ms, struct hbk_error *err)
{
	static const char prefix[] = "hbk.booking.";
	hbk_result rc = HBK_OK;
	struct hbk_money amount;
	const char *reference = hbk_json_str(data, "reference", "");
	const char *hold = hbk_json_str(data, "hold", "current");
	struct hbk_booking_payment *payment;

	if (strncmp(type, prefix, sizeof(prefix) - 1) != 0)
		goto unknown;
	const char *name = type + sizeof(prefix) - 1;

	if (strcmp(name, "requested.v1") == 0) {
		rc = apply_requested(b, data, time_ms, err);
	} else if (strcmp(name, "rooms_held.v1") == 0) {
		if (strcmp(hold, "new") == 0)
			b->new_rooms_held = true;
		else
			b->rooms_held = true;
	} else if (strcmp(name, "rooms_released.v1") == 0) {
		if (strcmp(hold, "new") == 0)
			b->new_rooms_held = false;
		else
			b->rooms_held = false;
	} else if (strcmp(name, "payment_authorized.v1") == 0) {
		if (b->npayments >= HBK_PAYMENTS_MAX)
			return hbk_fail(err, HBK_ECONFLICT, "too_many_payments",
					"booking has too many payments");
		rc = hbk_json_get_money(data, "amount", &amount, err);
		if (rc != HBK_OK)
			return rc;
		payment = &b->payments[b->npayments];
		memset(payment, 0, sizeof(*payment));
		hbk_copy(payment->reference, sizeof(payment->reference), reference);
		payment->authorized = amount.minor;
		if (b->saga == HBK_SAGA_UPDATE)
			b->charge_payment = b->npayments;
		b->npayments++;
	} else if (strcmp(name, "payment_captured.v1") == 0 ||
		   strcmp(name, "payment_refunded.v1") == 0) {
		rc = hbk_json_get_money(data, "amount", &amount, err);
		if (rc != HBK_OK)
			return rc;
		if (!(payment = find_payment(b, reference)))
			return hbk_fail(err, HBK_EINTERNAL, "corrupt_event",
					"%s names unknown payment %s", type, reference);
		if (name[8] == 'c')
			payment->captured += amount.minor;
		else
			payment->refunded += amount.minor;
	} else if (strcmp(name, "payment_voided.v1") == 0) {
		/* After a lookup ("found" given), the uncertain payment is settled:
		 * voided, or there was nothing to void (no reference). */
		if (json_object_get(data, "found"))
			b->payment_uncertain = false;
		if (reference[0] == '\0' && json_is_false(json_object_get(data, "found"))) {
			/* Nothing was held. */
		} else if (!(payment = find_payment(b, reference))) {
			return hbk_fail(err, HBK_EINTERNAL, "corrupt_event",
					"%s names unknown payment %s", type, reference);
		} else {
			payment->voided = true;
		}
	} else if (strcmp(name, "partner_booked.v1") == 0) {
		b->partner_booked = true;
		hbk_copy(b->partner_reference, sizeof(b->partner_reference), reference);
	} else if (strcmp(name, "partner_cancelled.v1") == 0) {
		b->partner_cancelled = true;
	} else if (strcmp(name, "partner_modified.v1") == 0) {
		b->partner_modified = true;
	} else if (strcmp(name, "confirmed.v1") == 0) {
		b->status = HBK_BOOKING_CONFIRMED;
		b->version = 1;
		b->saga = HBK_SAGA_NONE;
	} else if (strcmp(name, "compensation_started.v1") == 0) {
		b->compensating = true;
		hbk_copy(b->failure_code, sizeof(b->failure_code), hbk_json_str(data, "code", ""));
		b->partner_uncertain = json_is_true(json_object_get(data, "partner_uncertain"));
		/* The unanswered call was made after the booking's last event. */
		hbk_copy(b->payment_key, sizeof(b->payment_key),
			 hbk_json_str(data, "payment_key", ""));
		b->payment_uncertain = b->payment_key[0] != '\0';
		b->payment_since_ms = b->updated_ms;
		hbk_copy(b->failure_message, sizeof(b->failure_message),
			 hbk_json_str(data, "message", ""));
	} else if (strcmp(name, "failed.v1") == 0) {
		b->status = HBK_BOOKING_FAILED;
		b->saga = HBK_SAGA_NONE;
		b->compensating = false;
	} else if (strcmp(name, "update_requested.v1") == 0) {
		rc = apply_update_requested(b, data, err);
	} else if (strcmp(name, "updated.v1") == 0) {
		b->stay = b->new_stay;
		b->total = b->new_total;
		b->policy = b->new_policy;
		hbk_copy(b->room_name, sizeof(b->room_name), b->new_room_name);
		if (b->stay_changes)
			b->rooms_held = b->new_rooms_held || b->rooms_held;
		b->new_rooms_held = false;
		b->saga = HBK_SAGA_NONE;
		b->version++;
	} else if (strcmp(name, "update_abandoned.v1") == 0 ||
		   strcmp(name, "cancel_abandoned.v1") == 0) {
		b->saga = HBK_SAGA_NONE;
		b->compensating = false;
		b->charge_payment = -1;
	} else if (strcmp(name, "guest_updated.v1") == 0) {
		guest_from_json(json_object_get(data, "guest"), &b->guest);
		b->version++;
	} else if (strcmp(name, "cancel_requested.v1") == 0) {
		rc = hbk_json_get_money(data, "penalty", &b->penalty, err);
		hbk_copy(b->cancel_reason, sizeof(b->cancel_reason),
			 hbk_json_str(data, "reason", ""));
		b->saga = HBK_SAGA_CANCEL;
		b->compensating = false;
		b->payment_uncertain = false;
	} else if (strcmp(name, "cancelled.v1") == 0) {
		b->status = HBK_BOOKING_CANCELLED;
		b->saga = HBK_SAGA_NONE;
		b->version++;
	} else if (strcmp(name, "compensation_step_failed.v1") == 0) {
		const char *step = hbk_json_str(data, "step", "");
		for (int i = HBK_STEP_DONE; i <= HBK_STEP_CANCEL_ABANDON; i++)
			if (strcmp(step, hbk_saga_step_name((enum hbk_saga_step)i)) == 0)
				b->unresolved |= 1u << i;
	} else if (strcmp(name, "notification_sent.v1") == 0 ||
		   strcmp(name, "notification_queued.v1") == 0 ||
		   strcmp(name, "notification_failed.v1") == 0) {
		/* History only. */
	} else {
		goto unknown;
	}
	if (rc != HBK_OK)
		return rc;
	HBK_ASSERT(sequence == b->sequence + 1);
	b->sequence = sequence;
	b->updated_ms = time_ms;
	return HBK_OK;
unknown:
	return hbk_fail(err, HBK_EINTERNAL, "unknown_event", "unknown event type '%s'", type);
}

struct hbk_money hbk_booking_paid(const struct hbk_booking *b)
{
	struct hbk_money paid = hbk_money_make(0, b->total.currency);
	for (int i = 0; i < b->npayments; i++)
		paid.minor += b->payments[i].captured;
	return paid;
}

struct hbk_money hbk_booking_refunded(const struct hbk_booking *b)
{
	struct hbk_money refunded = hbk_money_make(0, b->total.currency);
	for (int i = 0; i < b->npayments; i++)
		refunded.minor += b->payments[i].refunded;
	return refunded;
}

static int64_t net_paid(const struct hbk_booking *b)
{
	return hbk_booking_paid(b).minor - hbk_booking_refunded(b).minor;
}

static bool has_open_authorization(const struct hbk_booking *b)
{
	for (int i = 0; i < b->npayments; i++)
		if (b->payments[i].captured == 0 && !b->payments[i].voided)
			return true;
	return false;
}

/* A compensation step still to do: not refused for good before. */
static bool open_step(const struct hbk_booking *b, enum hbk_saga_step step)
{
	return !(b->unresolved & (1u << step));
}

static enum hbk_saga_step next_create(const struct hbk_booking *b)
{
	if (!b->compensating) {
		if (b->npayments == 0)
			return HBK_STEP_AUTHORIZE;
		if (!b->partner_booked)
			return HBK_STEP_PARTNER_BOOK;
		if (b->payments[0].captured < b->payments[0].authorized)
			return HBK_STEP_CAPTURE;
		return HBK_STEP_CONFIRM;
	}
	if ((b->partner_booked || b->partner_uncertain) && !b->partner_cancelled &&
	    open_step(b, HBK_STEP_PARTNER_CANCEL))
		return HBK_STEP_PARTNER_CANCEL;
	if ((b->payment_uncertain || has_open_authorization(b)) &&
	    open_step(b, HBK_STEP_PAYMENT_VOID))
		return HBK_STEP_PAYMENT_VOID;
	if (net_paid(b) > 0 && open_step(b, HBK_STEP_PAYMENT_REFUND))
		return HBK_STEP_PAYMENT_REFUND;
	if (b->rooms_held)
		return HBK_STEP_RELEASE;
	return HBK_STEP_FAIL;
}

static enum hbk_saga_step next_update(const struct hbk_booking *b)
{
	if (b->compensating) {
		if ((b->payment_uncertain ||
		     (b->charge_payment >= 0 && has_open_authorization(b))) &&
		    open_step(b, HBK_STEP_PAYMENT_VOID))
			return HBK_STEP_PAYMENT_VOID;
		return HBK_STEP_UPDATE_ABANDON;
	}
	int64_t net = net_paid(b);
	if (b->new_total.minor > net) {
		if (b->charge_payment < 0)
			return HBK_STEP_UPDATE_CHARGE;
		if (!b->partner_modified)
			return HBK_STEP_PARTNER_MODIFY;
		return HBK_STEP_UPDATE_CAPTURE;
	}
	if (!b->partner_modified)
		return HBK_STEP_PARTNER_MODIFY;
	if (net > b->new_total.minor && open_step(b, HBK_STEP_PAYMENT_REFUND))
		return HBK_STEP_PAYMENT_REFUND;
	return HBK_STEP_UPDATE_COMMIT;
}

static enum hbk_saga_step next_cancel(const struct hbk_booking *b)
{
	if (b->compensating)
		return HBK_STEP_CANCEL_ABANDON;
	if (b->partner_booked && !b->partner_cancelled)
		return HBK_STEP_PARTNER_CANCEL;
	if (net_paid(b) > b->penalty.minor && open_step(b, HBK_STEP_PAYMENT_REFUND))
		return HBK_STEP_PAYMENT_REFUND;
	if (b->rooms_held)
		return HBK_STEP_RELEASE;
	return HBK_STEP_CANCEL_COMMIT;
}

enum hbk_saga_step hbk_booking_next_step(const struct hbk_booking *b)
{
	switch (b->saga) {
	case HBK_SAGA_NONE: return HBK_STEP_DONE;
	case HBK_SAGA_CREATE: return next_create(b);
	case HBK_SAGA_UPDATE: return next_update(b);
	case HBK_SAGA_CANCEL: return next_cancel(b);
	}
	return HBK_STEP_DONE;
}

hbk_result hbk_booking_check_changeable(const struct hbk_booking *b, const char *what,
					struct hbk_error *err)
{
	if (b->status == HBK_BOOKING_CONFIRMED && b->saga == HBK_SAGA_NONE)
		return HBK_OK;
	if (b->status == HBK_BOOKING_CONFIRMED || b->status == HBK_BOOKING_PENDING)
		return hbk_fail(err, HBK_ECONFLICT, "booking_busy",
				"cannot %s booking %s: another change is in progress", what, b->id);
	return hbk_fail(err, HBK_ECONFLICT, "invalid_state", "cannot %s booking %s: it is %s", what,
			b->id, hbk_booking_status_name(b->status));
}

hbk_result hbk_guest_check(const struct hbk_guest *guest, struct hbk_error *err)
{
	if (!guest->name[0])
		return hbk_fail_field(err, HBK_EINVAL, "invalid_guest", "guest",
				      "the guest's name is required");
	for (const char *p = guest->name; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return hbk_fail_field(err, HBK_EINVAL, "invalid_guest", "guest",
					      "the guest's name has control characters");
	if (!hbk_utf8_valid(guest->name, strlen(guest->name)))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_guest", "guest",
				      "the guest's name is not valid UTF-8");
	if (!hbk_email_valid(guest->email))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_email", "email",
				      "invalid email address '%s'", guest->email);
	for (const char *p = guest->phone; *p; p++)
		if (!strchr("+0123456789 -()", *p))
			return hbk_fail_field(err, HBK_EINVAL, "invalid_phone", "phone",
					      "invalid phone number '%s'", guest->phone);
	if (guest->phone[0] && hbk_looks_like_card_number(guest->phone) &&
	    strlen(guest->phone) > 16)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_phone", "phone",
				      "invalid phone number");
	return HBK_OK;
}

json_t *hbk_booking_json(const struct hbk_booking *b)
{
	char checkin[HBK_DATE_STR], checkout[HBK_DATE_STR];
	char created[HBK_TIME_STR], updated[HBK_TIME_STR];
	struct hbk_money paid = hbk_booking_paid(b);
	struct hbk_money refunded = hbk_booking_refunded(b);

	hbk_date_format(b->stay.checkin, checkin);
	hbk_date_format(b->stay.checkout, checkout);
	hbk_time_format(b->created_ms, created);
	hbk_time_format(b->updated_ms, updated);

	json_t *json = json_pack(
	    "{s:s, s:s, s:I, s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:b, s:i, s:s, s:s, s:i,"
	    " s:{s:i, s:i}, s:{s:s, s:s, s:s}, s:o, s:o, s:o, s:o}",
	    "id", b->id, "status", hbk_booking_status_name(b->status), "version",
	    (json_int_t)b->version, "hotel", "id", b->stay.hotel_id, "name", b->hotel_name, "city",
	    b->hotel_city, "room_type", b->stay.room_type, "room_name", b->room_name, "board",
	    b->stay.board, "refundable", b->stay.refundable, "rooms", b->stay.rooms, "checkin",
	    checkin, "checkout", checkout, "nights", b->stay.checkout - b->stay.checkin, "guests",
	    "adults", b->stay.adults, "children", b->stay.children, "guest", "name", b->guest.name,
	    "email", b->guest.email, "phone", b->guest.phone, "total", hbk_json_money(&b->total),
	    "paid", hbk_json_money(&paid), "refunded", hbk_json_money(&refunded),
	    "cancellation_policy", hbk_policy_json(&b->policy));
	HBK_ASSERT(json != NULL);
	json_object_set_new(json, "partner",
			    json_pack("{s:s, s:s?}", "name", b->partner_name, "reference",
				      b->partner_booked ? b->partner_reference : NULL));
	json_object_set_new(json, "payment",
			    json_pack("{s:s, s:s?}", "provider", b->payment_provider, "reference",
				      b->npayments ? b->payments[0].reference : NULL));
	if (b->status == HBK_BOOKING_FAILED)
		json_object_set_new(json, "failure",
				    json_pack("{s:s, s:s}", "code", b->failure_code, "message",
					      b->failure_message));
	if (b->unresolved) {
		json_t *steps = json_array();
		for (int i = HBK_STEP_DONE; i <= HBK_STEP_CANCEL_ABANDON; i++)
			if (b->unresolved & (1u << i))
				json_array_append_new(
				    steps, json_string(hbk_saga_step_name((enum hbk_saga_step)i)));
		json_object_set_new(json, "unresolved", steps);
	}
	if (b->status == HBK_BOOKING_CANCELLED) {
		json_object_set_new(json, "cancellation",
				    json_pack("{s:o, s:s}", "penalty", hbk_json_money(&b->penalty),
					      "reason", b->cancel_reason));
	}
	json_object_set_new(json, "created_at", json_string(created));
	json_object_set_new(json, "updated_at", json_string(updated));
	return json;
}
