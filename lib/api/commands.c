/*
 * commands.c - the booking commands of cluster mode: what the API
 * publishes, and how the owner of a hotel's partition decides them.
 *
 * A command is a CloudEvent on the commands topic, keyed by the hotel:
 *
 *   hbk.command.booking.create.v1  subject: the new booking's id; data: the
 *                                  body of POST /v1/bookings
 *   hbk.command.booking.update.v1  subject: the booking; data: the body of
 *                                  PATCH, plus "if_match" (a version)
 *   hbk.command.booking.cancel.v1  subject: the booking; data: the body of
 *                                  the cancel, plus "if_match"
 *
 * The owner decides each with the engine's *_begin, exactly as a single
 * instance would, and records the command's id with its decision in one
 * transaction, so a command that comes again changes nothing. A command
 * the engine refuses becomes a hbk.command.rejected.v1 event in the
 * stream named by the command's id, carrying the problem the API answers.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/inventory.h"
#include "hbk/json.h"
#include "server.h"

static const char commands_schema[] = "CREATE TABLE IF NOT EXISTS decided_commands ("
				      " id TEXT PRIMARY KEY,"
				      " type TEXT NOT NULL,"
				      " booking_id TEXT NOT NULL,"
				      " outcome TEXT NOT NULL," /* accepted | rejected */
				      " decided_ms INTEGER NOT NULL"
				      ") WITHOUT ROWID;";

hbk_result commands_migrate(struct hbk_store *store, struct hbk_error *err)
{
	return hbk_store_exec(store, commands_schema, err);
}

void command_make(struct hbk_event *command, const char *type, const char *booking_id,
		  const char *hotel_id, const char *request_id, json_t *data)
{
	memset(command, 0, sizeof(*command));
	hbk_id_new("CM", command->id);
	hbk_copy(command->type, sizeof(command->type), type);
	hbk_copy(command->subject, sizeof(command->subject), booking_id);
	hbk_copy(command->partitionkey, sizeof(command->partitionkey), hotel_id);
	hbk_copy(command->correlationid, sizeof(command->correlationid), request_id);
	command->sequence = 1;
	command->time_ms = hbk_now_ms();
	command->data = data;
}

hbk_result command_check(const struct hbk_event *ev, struct hbk_error *err)
{
	if (strcmp(ev->type, COMMAND_CREATE) != 0 && strcmp(ev->type, COMMAND_UPDATE) != 0 &&
	    strcmp(ev->type, COMMAND_CANCEL) != 0)
		return hbk_fail(err, HBK_EINVAL, "unknown_command",
				"%s is not a command type this version decides", ev->type);
	if (!hbk_id_valid("BK", ev->subject))
		return hbk_fail(err, HBK_EINVAL, "invalid_command",
				"command %s: the subject '%s' is not a booking id (BK-...)", ev->id,
				ev->subject);
	if (!ev->partitionkey[0])
		return hbk_fail(err, HBK_EINVAL, "invalid_command",
				"command %s has no key: it must be keyed by the hotel id", ev->id);
	if (!json_is_object(ev->data))
		return hbk_fail(err, HBK_EINVAL, "invalid_command",
				"command %s: the data must be a JSON object", ev->id);
	return HBK_OK;
}

/* ---- reading a command's data ---- */

/* Copies obj.key when it is a string; *set says whether it was there. */
static hbk_result take_string(const json_t *obj, const char *key, const char *field, char *dst,
			      size_t size, bool required, bool *set, struct hbk_error *err)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;
	if (set)
		*set = v != NULL;
	if (!v) {
		if (required)
			return hbk_fail_field(err, HBK_EINVAL, "missing_field", field,
					      "%s is required", field);
		return HBK_OK;
	}
	if (!json_is_string(v))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_field", field,
				      "%s must be a string", field);
	if (!hbk_copy(dst, size, json_string_value(v)))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_field", field,
				      "%s is longer than %zu characters", field, size - 1);
	return HBK_OK;
}

static hbk_result take_int(const json_t *obj, const char *key, const char *field, long long min,
			   long long max, long long *out, bool *set, struct hbk_error *err)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;
	if (set)
		*set = v != NULL;
	if (!v)
		return HBK_OK;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_field", field,
				      "%s must be a whole number from %lld to %lld", field, min,
				      max);
	*out = json_integer_value(v);
	return HBK_OK;
}

static hbk_result take_object(const json_t *obj, const char *key, const char *field,
			      const json_t **out, struct hbk_error *err)
{
	*out = json_object_get(obj, key);
	if (*out && !json_is_object(*out))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_field", field,
				      "%s must be an object", field);
	return HBK_OK;
}

static hbk_result take_guest(const json_t *guest, struct hbk_guest *g, bool required, bool *name,
			     bool *email, bool *phone, struct hbk_error *err)
{
	hbk_result rc = take_string(guest, "name", "guest.name", g->name, sizeof(g->name),
				    required, name, err);
	if (rc == HBK_OK)
		rc = take_string(guest, "email", "guest.email", g->email, sizeof(g->email),
				 required, email, err);
	if (rc == HBK_OK)
		rc = take_string(guest, "phone", "guest.phone", g->phone, sizeof(g->phone), false,
				 phone, err);
	return rc;
}

/* A command about a hotel is decided by that hotel's partition only. */
static hbk_result check_key(const struct hbk_event *ev, const char *hotel_id,
			    struct hbk_error *err)
{
	if (strcmp(ev->partitionkey, hotel_id) == 0)
		return HBK_OK;
	return hbk_fail(err, HBK_EINVAL, "wrong_key",
			"command %s is keyed by '%s' but is about hotel %s: key it by the hotel",
			ev->id, ev->partitionkey, hotel_id);
}

static hbk_result decide_create(struct hbk_engine *engine, const struct hbk_event *ev,
				struct hbk_error *err)
{
	struct hbk_book_request book = {0};
	char offer_id[HBK_OFFER_ID_MAX], booking_id[HBK_ID_MAX];
	const json_t *guest;
	hbk_result rc = take_string(ev->data, "offer_id", "offer_id", offer_id, sizeof(offer_id),
				    true, NULL, err);
	if (rc == HBK_OK)
		rc = take_object(ev->data, "guest", "guest", &guest, err);
	if (rc == HBK_OK && !guest)
		rc = hbk_fail_field(err, HBK_EINVAL, "missing_field", "guest", "guest is required");
	if (rc == HBK_OK)
		rc = take_guest(guest, &book.guest, true, NULL, NULL, NULL, err);
	if (rc == HBK_OK)
		rc = take_string(ev->data, "payment_method", "payment_method", book.payment_method,
				 sizeof(book.payment_method), false, NULL, err);
	if (rc == HBK_OK && !book.payment_method[0])
		hbk_copy(book.payment_method, sizeof(book.payment_method), "pm_card_visa");
	if (rc == HBK_OK && hbk_looks_like_card_number(book.payment_method))
		rc = hbk_fail_field(err, HBK_EINVAL, "card_number_refused", "payment_method",
				    "card numbers are not accepted: give a payment method token "
				    "(pm_...)");
	if (rc == HBK_OK)
		rc = hbk_offer_id_decode(offer_id, &book.stay, &book.expected_total, err);
	if (rc == HBK_OK)
		rc = check_key(ev, book.stay.hotel_id, err);
	if (rc != HBK_OK)
		return rc;
	hbk_copy(book.id, sizeof(book.id), ev->subject);
	hbk_copy(book.correlation_id, sizeof(book.correlation_id),
		 ev->correlationid[0] ? ev->correlationid : ev->id);
	rc = hbk_book_begin(engine, &book, booking_id, err);
	if (rc == HBK_ECONFLICT && strcmp(err->code, "stale_version") == 0)
		return hbk_fail(err, HBK_ECONFLICT, "booking_exists",
				"booking %s exists already", ev->subject);
	return rc;
}

/* The booking a change is about, which must be of the command's hotel. */
static hbk_result check_booking(struct hbk_engine *engine, const struct hbk_event *ev,
				struct hbk_error *err)
{
	struct hbk_booking b;
	hbk_result rc = hbk_booking_get(engine, ev->subject, &b, err);
	return rc == HBK_OK ? check_key(ev, b.stay.hotel_id, err) : rc;
}

static hbk_result decide_update(struct hbk_engine *engine, const struct hbk_event *ev, bool *saga,
				struct hbk_error *err)
{
	struct hbk_update_request u = {0};
	char checkin[16] = "", checkout[16] = "";
	const json_t *guests = NULL, *guest = NULL;
	long long adults = 0, children = 0, if_match = -1;
	hbk_result rc = check_booking(engine, ev, err);
	if (rc == HBK_OK)
		rc = take_int(ev->data, "if_match", "if_match", 0, INT64_MAX, &if_match, NULL, err);
	if (rc == HBK_OK)
		rc = take_string(ev->data, "checkin", "checkin", checkin, sizeof(checkin), false,
				 &u.set_checkin, err);
	if (rc == HBK_OK)
		rc = take_string(ev->data, "checkout", "checkout", checkout, sizeof(checkout),
				 false, &u.set_checkout, err);
	if (rc == HBK_OK)
		rc = take_string(ev->data, "room_type", "room_type", u.room_type,
				 sizeof(u.room_type), false, &u.set_room_type, err);
	if (rc == HBK_OK)
		rc = take_object(ev->data, "guests", "guests", &guests, err);
	if (rc == HBK_OK)
		rc = take_int(guests, "adults", "guests.adults", 0, HBK_MAX_GUESTS, &adults,
			      &u.set_adults, err);
	if (rc == HBK_OK)
		rc = take_int(guests, "children", "guests.children", 0, HBK_MAX_GUESTS, &children,
			      &u.set_children, err);
	if (rc == HBK_OK)
		rc = take_object(ev->data, "guest", "guest", &guest, err);
	if (rc == HBK_OK)
		rc = take_guest(guest, &u.guest, false, &u.set_name, &u.set_email, &u.set_phone,
				err);
	if (rc != HBK_OK)
		return rc;
	if ((u.set_checkin && !hbk_date_parse(checkin, &u.checkin)) ||
	    (u.set_checkout && !hbk_date_parse(checkout, &u.checkout)))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_date",
				      u.set_checkin ? "checkin" : "checkout",
				      "invalid date (expected YYYY-MM-DD)");
	u.adults = (int)adults;
	u.children = (int)children;
	u.if_match = if_match;
	return hbk_update_begin(engine, ev->subject, &u, saga, err);
}

static hbk_result decide_cancel(struct hbk_engine *engine, const struct hbk_event *ev,
				struct hbk_error *err)
{
	char reason[HBK_REASON_MAX * 2] = "";
	long long if_match = -1;
	hbk_result rc = check_booking(engine, ev, err);
	if (rc == HBK_OK)
		rc = take_int(ev->data, "if_match", "if_match", 0, INT64_MAX, &if_match, NULL, err);
	if (rc == HBK_OK)
		rc = take_string(ev->data, "reason", "reason", reason, sizeof(reason), false, NULL,
				 err);
	if (rc == HBK_OK)
		rc = hbk_cancel_begin(engine, ev->subject, reason, if_match, err);
	return rc;
}

/* ---- recording the decision ---- */

static bool seen(struct hbk_store *store, const char *id)
{
	sqlite3_stmt *stmt;
	bool found = false;
	if (hbk_store_prepare(store, "SELECT 1 FROM decided_commands WHERE id = ?", &stmt, NULL) !=
	    HBK_OK)
		return false;
	hbk_bind_text(stmt, 1, id);
	found = sqlite3_step(stmt) == SQLITE_ROW;
	hbk_stmt_done(stmt);
	return found;
}

/* Inside the caller's write transaction. */
static hbk_result remember(struct hbk_store *store, const struct hbk_event *ev,
			   const char *outcome, struct hbk_error *err)
{
	sqlite3_stmt *stmt;
	hbk_result rc = hbk_store_prepare(store,
					  "INSERT INTO decided_commands (id, type, booking_id,"
					  " outcome, decided_ms) VALUES (?,?,?,?,?)",
					  &stmt, err);
	if (rc != HBK_OK)
		return rc;
	hbk_bind_text(stmt, 1, ev->id);
	hbk_bind_text(stmt, 2, ev->type);
	hbk_bind_text(stmt, 3, ev->subject);
	hbk_bind_text(stmt, 4, outcome);
	sqlite3_bind_int64(stmt, 5, hbk_now_ms());
	if (sqlite3_step(stmt) != SQLITE_DONE)
		rc = hbk_store_fail(store, err, "decided commands");
	hbk_stmt_done(stmt);
	return rc;
}

/* The refusal as an event of its own stream, with the command recorded. */
static hbk_result record_rejected(struct hbk_store *store, const struct hbk_event *cmd,
			 const struct hbk_error *why, struct hbk_error *err)
{
	struct hbk_event ev = {0};
	hbk_copy(ev.type, sizeof(ev.type), REJECTION_EVENT);
	hbk_copy(ev.subject, sizeof(ev.subject), cmd->id);
	hbk_copy(ev.partitionkey, sizeof(ev.partitionkey), cmd->partitionkey);
	hbk_copy(ev.correlationid, sizeof(ev.correlationid), cmd->correlationid);
	hbk_copy(ev.causationid, sizeof(ev.causationid), cmd->id);
	ev.data = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "command", cmd->type, "booking_id",
			    cmd->subject, "status", hbk_api_status(why->result, why->code),
			    "result", hbk_result_name(why->result), "code", why->code, "detail",
			    why->message);
	if (why->field[0])
		json_object_set_new(ev.data, "field", json_string(why->field));
	hbk_result rc = hbk_store_begin(store, true, err);
	if (rc == HBK_OK) {
		rc = hbk_events_append(store, &ev, 0, err);
		if (rc == HBK_OK)
			rc = remember(store, cmd, "rejected", err);
		rc = rc == HBK_OK ? hbk_store_commit(store, err) : (hbk_store_rollback(store), rc);
	}
	json_decref(ev.data);
	return rc;
}

static hbk_result record_accepted(struct hbk_engine *engine, const struct hbk_event *cmd,
			 struct hbk_error *err)
{
	struct hbk_store *store = engine->store;
	hbk_result rc = HBK_OK;
	/* A saga's first transaction is still open: the record joins it. */
	if (!engine->start_open)
		rc = hbk_store_begin(store, true, err);
	engine->start_open = false;
	if (rc != HBK_OK)
		return rc;
	rc = remember(store, cmd, "accepted", err);
	if (rc == HBK_OK)
		return hbk_store_commit(store, err);
	hbk_store_rollback(store);
	return rc;
}

void command_decide(struct worker *worker, const struct hbk_event *ev)
{
	struct hbk_engine *engine = worker->engine;
	struct metrics *m = worker->server->metrics;
	struct hbk_error why = {0}, err = {0};
	bool saga = true;
	hbk_result rc;

	if (seen(engine->store, ev->id)) {
		atomic_fetch_add(&m->commands[COMMAND_DUPLICATE], 1);
		return;
	}
	if (strcmp(ev->type, COMMAND_CREATE) == 0)
		rc = decide_create(engine, ev, &why);
	else if (strcmp(ev->type, COMMAND_UPDATE) == 0)
		rc = decide_update(engine, ev, &saga, &why);
	else
		rc = decide_cancel(engine, ev, &why);

	if (rc == HBK_OK) {
		if (record_accepted(engine, ev, &err) != HBK_OK) {
			/* Not recorded, so the command comes again: the saga
			 * it started is taken over then. */
			server_log_line(worker->server,
					json_pack("{s:s, s:s, s:s}", "level", "error", "msg",
						  "cluster", "detail", err.message));
			return;
		}
		atomic_fetch_add(&m->commands[COMMAND_ACCEPTED], 1);
		if (saga)
			command_run_saga(worker, ev->subject);
		return;
	}
	if (engine->start_open) { /* not left open on failure, but be sure */
		engine->start_open = false;
		hbk_store_rollback(engine->store);
	}
	if (record_rejected(engine->store, ev, &why, &err) != HBK_OK)
		server_log_line(worker->server, json_pack("{s:s, s:s, s:s}", "level", "error", "msg",
							  "cluster", "detail", err.message));
	else
		atomic_fetch_add(&m->commands[COMMAND_REJECTED], 1);
}

/* ---- sagas run by the decider ---- */

struct owned_saga {
	struct worker *worker;
	char id[HBK_ID_MAX];
};

static void owned_done(void *arg, hbk_result rc, const struct hbk_error *err)
{
	struct owned_saga *s = arg;
	(void)rc;
	(void)err;
	atomic_fetch_sub(&s->worker->server->metrics->in_flight, 1);
	free(s);
}

static void owned_start(void *arg)
{
	struct owned_saga *s = arg;
	hbk_saga_start(s->worker->engine, s->id, owned_done, s);
}

void command_run_saga(struct worker *worker, const char *id)
{
	struct owned_saga *s = hbk_xcalloc(1, sizeof(*s));
	s->worker = worker;
	hbk_copy(s->id, sizeof(s->id), id);
	atomic_fetch_add(&worker->server->metrics->in_flight, 1);
	worker->saga_env.defer(worker->saga_env.ctx, 0, owned_start, s);
}

/* ---- the API's side: a refusal as the requester's store shows it ---- */

struct found {
	struct hbk_error *rejection;
	bool any;
};

static hbk_result found_rejection(const struct hbk_event *ev, void *ctx, struct hbk_error *err)
{
	struct found *f = ctx;
	struct hbk_error *r = f->rejection;
	(void)err;
	if (strcmp(ev->type, REJECTION_EVENT) != 0)
		return HBK_OK;
	f->any = true;
	memset(r, 0, sizeof(*r));
	const char *result = hbk_json_str(ev->data, "result", "");
	r->result = HBK_EINTERNAL;
	for (int i = HBK_OK + 1; i <= HBK_EAUTH; i++)
		if (strcmp(hbk_result_name((hbk_result)i), result) == 0)
			r->result = (hbk_result)i;
	hbk_copy(r->code, sizeof(r->code), hbk_json_str(ev->data, "code", "rejected"));
	hbk_copy(r->field, sizeof(r->field), hbk_json_str(ev->data, "field", ""));
	hbk_copy(r->message, sizeof(r->message), hbk_json_str(ev->data, "detail", ""));
	return HBK_OK;
}

hbk_result command_rejection(struct hbk_store *store, const char *command_id,
			     struct hbk_error *rejection, struct hbk_error *err)
{
	struct found f = {rejection, false};
	hbk_result rc = hbk_events_read(store, command_id, found_rejection, &f, err);
	if (rc == HBK_OK && !f.any)
		return HBK_ENOTFOUND;
	return rc;
}
