/*
 * internal.h - what the files of lib/inventory share; not exported.
 */
#ifndef HBK_INVENTORY_INTERNAL_H
#define HBK_INVENTORY_INTERNAL_H

#include "hbk/inventory.h"

/* The hotels columns hotel_from_row() reads, in its order. */
#define HOTEL_COLUMNS "id, code, name, city, stars, currency, address"

/* A hotel from the HOTEL_COLUMNS of a row, starting at column col. */
void hotel_from_row(sqlite3_stmt *stmt, int col, struct hbk_hotel *h);

/* A policy entry's instant as policies write it: RFC 3339 in whole
 * seconds, as partners publish them ("2026-11-28T00:00:00Z"). */
void policy_time_text(int64_t ms, char out[HBK_TIME_STR]);

#endif
