/*
 * internal.h - what the files of lib/reservation share; not exported.
 */
#ifndef HBK_RESERVATION_INTERNAL_H
#define HBK_RESERVATION_INTERNAL_H

#include "hbk/events.h"
#include "hbk/reservation.h"
#include "hbk/store.h"

#define BOOKING_EVENTS_PER_COMMIT_MAX 4

/* Events to append together, in one transaction, to one booking. */
struct event_batch {
	int count;
	struct hbk_event events[BOOKING_EVENTS_PER_COMMIT_MAX];
};

/* Adds an event of type "hbk.booking.<name>" to the batch; takes data. */
void batch_add(struct event_batch *batch, const struct hbk_booking *b, const char *name,
	       json_t *data);
void batch_clear(struct event_batch *batch);

/* Folds a booking's events: HBK_ENOTFOUND when it has none. */
hbk_result booking_load(struct hbk_store *store, const char *id, struct hbk_booking *b,
			struct hbk_error *err);

/* What the projection row of a booking is indexed by. */
struct booking_keys {
	enum hbk_booking_status status;
	struct hbk_stay stay;
	char email[HBK_EMAIL_MAX + 1];
};
void booking_keys_of(const struct hbk_booking *b, struct booking_keys *keys);

/* Writes b's projection row. was: the keys the row holds now (NULL when
 * unknown or new), so that indexes are rewritten only when they change.
 * Inside the caller's write transaction. */
hbk_result booking_project_over(struct hbk_store *store, const struct booking_keys *was,
				const struct hbk_booking *b, struct hbk_error *err);

/* Appends the batch at b's sequence, applies it to b and, unless the
 * caller defers it to its commit, writes the projection. Inside the
 * caller's write transaction. */
hbk_result booking_append(struct hbk_store *store, struct hbk_booking *b, struct event_batch *batch,
			  bool defer_projection, struct hbk_error *err);

/* The saga registry: which process runs which booking's saga, and the
 * partner and payment provider (identities) it runs against. */
hbk_result saga_register(struct hbk_store *store, const char *booking_id, const char *kind,
			 const char *partner, const char *payment, struct hbk_error *err);
/* Lists another instance's saga in flight (cluster mode). */
hbk_result saga_register_remote(struct hbk_store *store, const char *booking_id, const char *kind,
				struct hbk_error *err);
hbk_result saga_unregister(struct hbk_store *store, const char *booking_id, struct hbk_error *err);
/* This process's identity: pid and start time (clock ticks after boot). */
void process_identity(long *pid, long long *start);
/* True when the process pid with that start time is still running. */
bool process_alive(long pid, long long start);

/*
 * The nights an update moves: those of `from` that `keep` does not already
 * cover in the same room type; hold=true takes them, else gives them back.
 * Inside a write transaction.
 */
hbk_result stay_move_nights(struct hbk_store *store, const struct hbk_stay *from,
			    const struct hbk_stay *keep, bool hold, struct hbk_error *err);

/* Writes the booking view of b. Inside a write transaction. */
hbk_result booking_project(struct hbk_store *store, const struct hbk_booking *b,
			   struct hbk_error *err);

/* Takes the nights an update adds to a booking (b->new_stay less what
 * b->stay already holds). Inside a write transaction. */
hbk_result update_hold_new_nights(struct hbk_store *store, const struct hbk_booking *b,
				  struct hbk_error *err);

/* The stay fields of an event's data (room_type, board, dates, guests ...). */
json_t *stay_json(const struct hbk_stay *stay);

/* Sends (or, in hbkd, queues for the delivery thread) a guest notice and
 * records that it was sent, queued or not; never fails. */
enum hbk_notice;
void booking_notify(struct hbk_engine *engine, struct hbk_booking *b, enum hbk_notice notice);

/* Maps a failure code recorded on a booking back to a result. */
hbk_result failure_result(const char *code);

#endif
