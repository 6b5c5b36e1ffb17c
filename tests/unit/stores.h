/*
 * stores.h - what the unit tests that build one store from another's
 * events, and compare the two, share.
 */
#ifndef HBK_TEST_STORES_H
#define HBK_TEST_STORES_H

#include "hbk/events.h"
#include "hbk/store.h"

/* Calls fn for every event of from's streams whose names match the LIKE
 * pattern, a stream at a time, in the order their first events came. */
void stores_replay(struct hbk_store *from, const char *pattern, hbk_event_fn fn, void *ctx);

/* The rows sql finds, as text ("a|b|\n" a row). Caller frees. */
char *stores_dump(struct hbk_store *store, const char *sql);

/* Checks that sql finds the same rows, and some, in both stores. */
void stores_check_same(struct hbk_store *a, struct hbk_store *b, const char *sql);

#endif
