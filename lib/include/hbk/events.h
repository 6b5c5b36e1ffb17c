/*
 * events.h - the CloudEvents envelope and the SQLite event store.
 *
 * Every change is an event appended to a stream (one per booking, one per
 * hotel's catalog and inventory, one per API token) with a
 * per-stream sequence; appending at a sequence someone else took fails, so
 * writers get optimistic concurrency. The events table doubles as the
 * outbox: `published` marks what a bus has delivered beyond this process.
 */
#ifndef HBK_EVENTS_H
#define HBK_EVENTS_H

#include <jansson.h>

#include "hbk/core.h"
#include "hbk/store.h"

#define HBK_EVENT_TYPE_MAX 64
#define HBK_EVENT_SOURCE   "urn:hbk:embedded"
/* A stream id or partition key: "token:" and a token name are the longest. */
#define HBK_EVENT_KEY_MAX 80

struct hbk_event {
	char id[HBK_ID_MAX]; /* EV-..., filled by append */
	char type[HBK_EVENT_TYPE_MAX];
	char subject[HBK_EVENT_KEY_MAX]; /* the stream id */
	int64_t position;		 /* the global order, filled by reads */
	int64_t sequence;		 /* filled by append */
	int64_t time_ms;		 /* filled by append when 0 */
	char partitionkey[HBK_EVENT_KEY_MAX];
	char correlationid[HBK_ID_MAX];
	char causationid[HBK_ID_MAX];
	json_t *data; /* owned by the event */
};

hbk_result hbk_events_migrate(struct hbk_store *store, struct hbk_error *err);

/*
 * Appends ev at sequence expected + 1 of its stream, inside the caller's
 * write transaction. Fails HBK_ECONFLICT "stale_version" when the stream is
 * no longer at expected. Fills id, sequence and time_ms.
 */
hbk_result hbk_events_append(struct hbk_store *store, struct hbk_event *ev, int64_t expected,
			     struct hbk_error *err);

/* The sequence of a stream's last event; 0 for a stream with none. */
hbk_result hbk_events_version(struct hbk_store *store, const char *stream, int64_t *version,
			      struct hbk_error *err);

/*
 * Appends ev at the end of its stream, whatever its version: for writers
 * whose events are whole states (a hotel's catalog, a token), inside a
 * write transaction that already serializes them on this store.
 */
hbk_result hbk_events_append_next(struct hbk_store *store, struct hbk_event *ev,
				  struct hbk_error *err);

/* What reads call for each event; fn borrows ev. */
typedef hbk_result (*hbk_event_fn)(const struct hbk_event *ev, void *ctx, struct hbk_error *err);

/* Calls fn for the first max events not yet published, in position order. */
hbk_result hbk_events_unpublished(struct hbk_store *store, int max, hbk_event_fn fn, void *ctx,
				  struct hbk_error *err);

/*
 * Stores an event decided elsewhere (from the bus) as it is: id, sequence
 * and time kept, marked published. *inserted is false when the id is
 * already there (a redelivery). Fails HBK_ECONFLICT "stale_version" when
 * the stream holds another event at that sequence. Inside the caller's
 * write transaction.
 */
hbk_result hbk_events_insert(struct hbk_store *store, const struct hbk_event *ev, bool *inserted,
			     struct hbk_error *err);

/*
 * What a context's replica does with an event decided elsewhere: stores it
 * (hbk_events_insert) and, when it is new, applies it with apply.
 * *applied is false for one already there. Inside the caller's write
 * transaction.
 */
typedef hbk_result (*hbk_event_apply_fn)(struct hbk_store *store, const struct hbk_event *ev,
					 void *ctx, struct hbk_error *err);
hbk_result hbk_events_apply_new(struct hbk_store *store, const struct hbk_event *ev, bool *applied,
				hbk_event_apply_fn apply, void *ctx, struct hbk_error *err);

/* Whether the store holds the event with this id (false on a read error:
 * hbk_events_insert() tells for sure). */
bool hbk_events_known(struct hbk_store *store, const char *id);

/* Calls fn for each event of a stream in order. */
hbk_result hbk_events_read(struct hbk_store *store, const char *stream, hbk_event_fn fn, void *ctx,
			   struct hbk_error *err);
/* The same from the event at from_sequence (1 or more) on: what a reader
 * that already folded the stream's start needs. */
hbk_result hbk_events_read_from(struct hbk_store *store, const char *stream, int64_t from_sequence,
				hbk_event_fn fn, void *ctx, struct hbk_error *err);

/* The structured-mode CloudEvents JSON of an event. New reference. */
json_t *hbk_event_json(const struct hbk_event *ev);
void hbk_event_clear(struct hbk_event *ev);

#endif
