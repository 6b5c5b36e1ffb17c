/*
 * replica.c - applying a booking event that another instance decided.
 *
 * In cluster mode one instance decides each hotel's bookings and every
 * instance keeps a read model of all of them. A replica stores the event
 * as it came, folds it into the booking and writes the booking view, and
 * moves the same rooms the deciding instance moved, so that its inventory
 * matches and it can take over the hotel's decisions when the partition
 * moves. Which rooms an event moves follows from the booking before it:
 *
 *   rooms_held    current  the whole stay (a new booking)
 *   rooms_held    new      the update's nights the old stay does not cover
 *   rooms_released new     those same nights (an update abandoned)
 *   rooms_released current during an update: the old nights the new stay
 *                          does not cover; else the whole stay (a cancel,
 *                          a failed booking)
 *
 * exactly as the saga's own steps move them (saga.c).
 */
#include <string.h>

#include "hbk/inventory.h"
#include "hbk/json.h"
#include "internal.h"

static const char booking_prefix[] = "hbk.booking.";

static const char *saga_kind_name(enum hbk_saga_kind kind)
{
	return kind == HBK_SAGA_CREATE ? "create" : kind == HBK_SAGA_UPDATE ? "update" : "cancel";
}

/* The rooms ev moves, given the booking b as it was before ev. */
static hbk_result move_rooms(struct hbk_store *store, const struct hbk_booking *b,
			     const struct hbk_event *ev, struct hbk_error *err)
{
	const char *name = ev->type + sizeof(booking_prefix) - 1;
	bool held = strcmp(name, "rooms_held.v1") == 0;
	if (!held && strcmp(name, "rooms_released.v1") != 0)
		return HBK_OK;
	bool current = strcmp(hbk_json_str(ev->data, "hold", "current"), "current") == 0;
	const struct hbk_stay *stay = &b->stay;
	if (held && current)
		return hbk_inventory_hold(store, stay->hotel_id, stay->room_type, stay->checkin,
					  stay->checkout, stay->rooms, err);
	if (!current)
		return stay_move_nights(store, &b->new_stay, &b->stay, held, err);
	if (b->saga == HBK_SAGA_UPDATE && b->stay_changes)
		return stay_move_nights(store, &b->stay, &b->new_stay, false, err);
	return hbk_inventory_release(store, stay->hotel_id, stay->room_type, stay->checkin,
				     stay->checkout, stay->rooms, err);
}

hbk_result hbk_booking_replicate(struct hbk_store *store, const struct hbk_event *ev, bool *applied,
				 struct hbk_error *err)
{
	struct hbk_booking b;
	HBK_ASSERT(store->tx_depth > 0);
	*applied = false;
	if (strncmp(ev->type, booking_prefix, sizeof(booking_prefix) - 1) != 0)
		return hbk_fail(err, HBK_EINVAL, "invalid_event", "%s is not a booking event",
				ev->type);

	/* This instance's own events come back: skip them before any work. */
	if (hbk_events_known(store, ev->id))
		return HBK_OK;
	hbk_result rc = booking_load(store, ev->subject, &b, err);
	if (rc == HBK_ENOTFOUND) {
		memset(&b, 0, sizeof(b));
		b.charge_payment = -1;
		hbk_copy(b.id, sizeof(b.id), ev->subject);
		rc = HBK_OK;
	}
	if (rc != HBK_OK)
		return rc;
	bool inserted;
	rc = hbk_events_insert(store, ev, &inserted, err);
	if (rc != HBK_OK || !inserted) /* a redelivery changes nothing */
		return rc;
	if (ev->sequence != b.sequence + 1)
		return hbk_fail(err, HBK_ECONFLICT, "out_of_order",
				"event %s is %s's event %lld, but %lld came last", ev->id,
				ev->subject, (long long)ev->sequence, (long long)b.sequence);
	/* Rooms first: which ones depends on the booking before the event. */
	rc = move_rooms(store, &b, ev, err);
	if (rc == HBK_OK)
		rc = hbk_booking_apply(&b, ev->type, ev->data, ev->sequence, ev->time_ms, err);
	if (rc == HBK_OK)
		rc = booking_project(store, &b, err);
	if (rc == HBK_OK)
		rc = b.saga == HBK_SAGA_NONE ? saga_unregister(store, b.id, err)
					     : saga_register_remote(store, b.id, saga_kind_name(b.saga), err);
	*applied = rc == HBK_OK;
	return rc;
}
