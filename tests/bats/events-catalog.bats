#!/usr/bin/env bats
# Every event hbk writes matches docs/events.md: a real agent session on the
# embedded store (search, book, update dates and contact, cancel, a declined
# card, and the partner and provider failures that make the saga compensate
# or abandon a change, a notice that cannot be sent, and a change through
# hbkd, whose notice is queued), on a store seeded by hbk-admin init --demo
# (the demo catalog's events) and with a token created and revoked, fills
# the events table; each row, wrapped in its CloudEvents envelope, and each envelope
# `hbk history` prints, is validated against the catalog's schemas by
# tests/tools/check-events.mjs (Ajv, JSON Schema 2020-12). The session must
# produce every type the catalog lists, and the catalog must list every
# type lib/ writes. The same checks apply to the events hbkd relays to
# Kafka (librdkafka's mock cluster, read back with kcat). The last tests
# break a copy of the catalog, or an event, and prove the check then fails.

load helpers

CHECK="$HBK_TOP/tests/tools/check-events.mjs"

# The agent session, once per file: its store is what the tests examine.
setup_file() {
	[ -d "$HBK_TOP/tests/tools/node_modules/ajv" ] ||
		{ echo "ajv is not installed: sh scripts/install-deps.sh" >&2; return 1; }
	seed_once
	export HBK_HOME="$BATS_FILE_TMPDIR/session"
	export XDG_CACHE_HOME="$BATS_FILE_TMPDIR/cache" XDG_CONFIG_HOME="$BATS_FILE_TMPDIR/config"
	unset HBK_CONFIG HBK_API_URL HBK_TOKEN HBK_FAULT_KILL_AT
	mkdir -p "$HBK_HOME"
	sqlite3 "$BATS_FILE_TMPDIR/seed/hbk.db" ".backup '$HBK_HOME/hbk.db'"
	local conf="$BATS_FILE_TMPDIR/conf" rc id
	mkdir -p "$conf"

	hbk search --hotel H-LIS-0001 --checkin "$(day 20)" --checkout "$(day 23)" --adults 2 \
		--refundable --limit 50 -o json >/dev/null
	# Booked, moved a night later, new phone, cancelled.
	id=$(hbk book 1 --guest "Ana Silva" --email ana@example.com --phone +351912345678 -o json | jq -r .id)
	hbk update "$id" --checkout "$(day 24)" -q >/dev/null
	hbk update "$id" --phone "+351 911 111 111" -q >/dev/null
	# The same change through hbkd, which queues the notice for its
	# delivery thread (notification_queued) instead of sending it.
	BATS_TEST_TMPDIR="$BATS_FILE_TMPDIR" start_hbkd
	HBK_API_URL="$HBKD_URL" HBK_TOKEN="$HBK_TEST_TOKEN" hbk update "$id" --phone "+351 922 222 222" -q >/dev/null
	stop_hbkd
	hbk-admin -q token create session-ops >/dev/null
	hbk-admin -q token revoke session-ops
	hbk cancel "$id" --reason "plans changed" -q >/dev/null
	# In cluster mode a refused command is an event of its own: cancelling
	# the cancelled booking through hbkd on Kafka (exit 4, a conflict).
	BATS_TEST_TMPDIR="$BATS_FILE_TMPDIR" start_kafka_mock --topic hbk.commands:2 --topic hbk.events:2 --topic hbk.dlq:1
	printf 'kafka:\n  brokers: "%s"\n' "$BROKERS" >"$conf/kafka.yaml"
	BATS_TEST_TMPDIR="$BATS_FILE_TMPDIR" start_hbkd --config "$conf/kafka.yaml"
	rc=0
	HBK_API_URL="$HBKD_URL" HBK_TOKEN="$HBK_TEST_TOKEN" hbk cancel "$id" -q >/dev/null 2>&1 || rc=$?
	stop_hbkd
	stop_server "$MOCK_PID"
	[ "$rc" -eq 4 ]
	# A declined card: FAILED, exit 5.
	rc=0
	hbk book 1 --guest "Dee Klined" --email dee@example.com \
		--payment-method pm_card_chargeDeclined -q >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 5 ]
	# The partner refuses the booking after the payment is authorized: voided.
	printf 'partner:\n  faults:\n    fail: [book]\n' >"$conf/book.yaml"
	rc=0
	hbk --config "$conf/book.yaml" book 1 --guest "Par Tner" --email p@example.com \
		-q >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 5 ]
	# The partner refuses a change, then a cancellation: both abandoned.
	id=$(hbk book 1 --guest "Mo Dify" --email m@example.com -o json | jq -r .id)
	printf 'partner:\n  faults:\n    fail: [modify]\n' >"$conf/modify.yaml"
	rc=0
	hbk --config "$conf/modify.yaml" update "$id" --checkout "$(day 24)" -q >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 5 ]
	printf 'partner:\n  faults:\n    fail: [cancel]\n' >"$conf/cancel.yaml"
	rc=0
	hbk --config "$conf/cancel.yaml" cancel "$id" -q >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 5 ]
	# The mail server is unreachable: the notice fails, the change stands.
	printf 'notify:\n  email:\n    kind: smtp\n    url: smtp://127.0.0.1:9\n    from: hbk@example.com\n' \
		>"$conf/mail.yaml"
	hbk --config "$conf/mail.yaml" update "$id" --guest "Mo Dified" -q >/dev/null 2>&1
	# Capture fails, and the compensation's partner cancel is refused.
	printf 'partner:\n  faults:\n    fail: [cancel]\npayment:\n  faults:\n    fail: [capture]\n' \
		>"$conf/capture.yaml"
	rc=0
	hbk --config "$conf/capture.yaml" book 1 --guest "Cap Ture" --email c@example.com \
		-q >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 6 ]
	# Authorizations unanswered: made with the answer lost (found and
	# voided), and not made at all (nothing found, nothing to void).
	printf 'payment:\n  faults:\n    lose: [authorize]\n' >"$conf/lose.yaml"
	rc=0
	hbk --config "$conf/lose.yaml" book 1 --guest "Lo St" --email l@example.com \
		-q >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 6 ]
	printf 'payment:\n  faults:\n    fail: [authorize]\n' >"$conf/unanswered.yaml"
	rc=0
	hbk --config "$conf/unanswered.yaml" book 1 --guest "Un Answered" --email u@example.com \
		-q >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 6 ]

	sqlite3 -json "$HBK_HOME/hbk.db" "SELECT id, stream, sequence, type, time_ms, partitionkey,
		correlationid, causationid, data FROM events ORDER BY position" >"$BATS_FILE_TMPDIR/rows.json"
}

setup() {
	load_libs
	export HBK_HOME="$BATS_FILE_TMPDIR/session"
	unset HBK_CONFIG HBK_API_URL HBK_TOKEN
	ROWS="$BATS_FILE_TMPDIR/rows.json"
}

teardown() {
	stop_hbkd
	stop_server "${MOCK_PID:-}"
}

# The catalog's event types, sorted.
catalog_types() {
	node "$CHECK" types
}

@test "every row of the events table, in its envelope, matches the catalog" {
	[ "$(jq length "$ROWS")" -ge 60 ]
	run node "$CHECK" rows "$ROWS"
	assert_success
	assert_line --index 0 --regexp '^[0-9]+ events valid, [0-9]+ types$'
}

@test "every envelope hbk history prints matches the catalog" {
	# One stream per hotel of the demo catalog, one per token (hbkd's two
	# and the session's), seven bookings and one refused command (not a
	# booking: no history).
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(DISTINCT stream) FROM events WHERE stream LIKE 'hotel:%'")" -eq 210 ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(DISTINCT stream) FROM events WHERE stream LIKE 'token:%'")" -eq 3 ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(DISTINCT stream) FROM events WHERE stream LIKE 'CM-%'")" -eq 1 ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(DISTINCT stream) FROM events")" -eq 221 ]
	# hbk history prints a booking's stream.
	streams=$(sqlite3 "$HBK_HOME/hbk.db" "SELECT DISTINCT stream FROM events WHERE stream LIKE 'BK-%' ORDER BY stream")
	[ "$(echo "$streams" | wc -l)" -eq 7 ]
	for id in $streams; do
		hbk history "$id" -o json >"$BATS_TEST_TMPDIR/history.json"
		run node "$CHECK" envelopes "$BATS_TEST_TMPDIR/history.json"
		assert_success
	done
}

@test "the session wrote every type the catalog lists, and no other" {
	catalog_types >"$BATS_TEST_TMPDIR/catalog"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/catalog")" -ge 20 ]
	jq -r '.[].type' "$ROWS" | sort -u >"$BATS_TEST_TMPDIR/written"
	run diff "$BATS_TEST_TMPDIR/catalog" "$BATS_TEST_TMPDIR/written"
	assert_success
}

@test "the catalog lists exactly the event types lib/ writes" {
	# Events are named in lib/ as "hbk.booking.<name>" (batch_add's format)
	# with "<name>.v1" literals; any other "hbk.<context>.%s" format would be
	# a writer this check does not know.
	run grep -rhoE '"hbk\.[a-z_]+\.%s"' "$HBK_TOP/lib"
	assert_output '"hbk.booking.%s"'
	{
		grep -rhoE '"[a-z_]+\.v[0-9]+"' "$HBK_TOP/lib" | tr -d '"' | sed 's/^/hbk.booking./'
		grep -rhoE "[\"']hbk\.[a-z_]+\.[a-z_]+\.v[0-9]+[\"']" "$HBK_TOP/lib" | tr -d "\"'"
	} | sort -u >"$BATS_TEST_TMPDIR/code"
	catalog_types >"$BATS_TEST_TMPDIR/catalog"
	run diff "$BATS_TEST_TMPDIR/catalog" "$BATS_TEST_TMPDIR/code"
	assert_success
}

@test "a booking through hbkd: its envelopes match and carry the request id as correlation id" {
	export HBK_HOME="$BATS_TEST_TMPDIR/home" XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
	mkdir -p "$HBK_HOME"
	sqlite3 "$BATS_FILE_TMPDIR/seed/hbk.db" ".backup '$HBK_HOME/hbk.db'"
	start_hbkd
	offer=$(curl -sS -H "Authorization: Bearer $HBK_TEST_TOKEN" \
		"$HBKD_URL/v1/offers?hotel=H-LIS-0001&checkin=$(day 25)&nights=2&limit=1" | jq -r '.offers[0].offer_id')
	id=$(curl -sS -f -H "Authorization: Bearer $HBK_TEST_TOKEN" -H "Content-Type: application/json" \
		-H "X-Request-Id: catalog-req-1" \
		-d "{\"offer_id\":\"$offer\",\"guest\":{\"name\":\"Ana Silva\",\"email\":\"ana@example.com\"},\"payment_method\":\"pm_card_visa\"}" \
		"$HBKD_URL/v1/bookings" | jq -r .id)
	curl -sS -f -H "Authorization: Bearer $HBK_TEST_TOKEN" "$HBKD_URL/v1/bookings/$id/events" \
		>"$BATS_TEST_TMPDIR/events.json"
	run node "$CHECK" envelopes "$BATS_TEST_TMPDIR/events.json"
	assert_success
	jq -e '.events[0].type == "hbk.booking.requested.v1" and .events[0].correlationid == "catalog-req-1"
		and ([.events[].type] | index("hbk.booking.confirmed.v1")) != null' "$BATS_TEST_TMPDIR/events.json"
}

@test "the events hbkd relays to Kafka match the catalog: key = hotel id, attributes in ce_* headers" {
	export HBK_HOME="$BATS_TEST_TMPDIR/home" XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
	mkdir -p "$HBK_HOME"
	sqlite3 "$BATS_FILE_TMPDIR/seed/hbk.db" ".backup '$HBK_HOME/hbk.db'"
	start_kafka_mock --topic hbk.events:6
	MOCK_BROKERS=$BROKERS
	printf 'kafka:\n  brokers: "%s"\n' "$MOCK_BROKERS" >"$BATS_TEST_TMPDIR/hbk.yaml"
	start_hbkd --config "$BATS_TEST_TMPDIR/hbk.yaml"
	auth="Authorization: Bearer $HBK_TEST_TOKEN"
	json="Content-Type: application/json"
	offer=$(curl -sS -H "$auth" "$HBKD_URL/v1/offers?hotel=H-LIS-0001&checkin=$(day 25)&nights=2&limit=1" |
		jq -r '.offers[0].offer_id')
	book() { # payment method
		curl -sS -H "$auth" -H "$json" -d "{\"offer_id\":\"$offer\",\"guest\":{\"name\":\"Ana Silva\",\"email\":\"ana@example.com\"},\"payment_method\":\"$1\"}" \
			"$HBKD_URL/v1/bookings" | jq -r .id
	}
	id=$(book pm_card_visa)
	curl -sS -f -o /dev/null -X PATCH -H "$auth" -H "$json" -H 'If-Match: "1"' \
		-d "{\"checkout\":\"$(day 28)\"}" "$HBKD_URL/v1/bookings/$id"
	curl -sS -f -o /dev/null -H "$auth" -H "$json" -d '{"reason":"plans changed"}' \
		"$HBKD_URL/v1/bookings/$id/cancel"
	book pm_card_chargeDeclined >/dev/null
	# SIGTERM: the relay publishes what is left before hbkd exits.
	stop_hbkd
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM events WHERE published = 0")" -eq 0 ]
	count=$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM events")
	[ "$count" -ge 20 ]

	kcat -b "$MOCK_BROKERS" -C -t hbk.events -o beginning -e -J -q >"$BATS_TEST_TMPDIR/kafka.jsonl"
	run node "$CHECK" kafka "$BATS_TEST_TMPDIR/kafka.jsonl"
	assert_success
	assert_line --index 0 "$count events valid, $(jq -s 'map(.headers as $h | $h[($h | index(["ce_type"])) + 1]) | unique | length' "$BATS_TEST_TMPDIR/kafka.jsonl") types"
	# The same events as the store, one message each.
	diff <(jq -r '.headers as $h | $h[($h | index(["ce_id"])) + 1]' "$BATS_TEST_TMPDIR/kafka.jsonl" | sort) \
		<(sqlite3 "$HBK_HOME/hbk.db" "SELECT id FROM events ORDER BY id")
	# A message keyed by anything but its hotel fails the check.
	jq -c 'if .offset == 0 then .key = "H-XXX-0000" else . end' "$BATS_TEST_TMPDIR/kafka.jsonl" \
		>"$BATS_TEST_TMPDIR/rekeyed.jsonl"
	run node "$CHECK" kafka "$BATS_TEST_TMPDIR/rekeyed.jsonl"
	assert_failure 1
	assert_output --partial 'key "H-XXX-0000" is not the partitionkey'
}

# A copy of the catalog with one edit, for the tests that must fail.
broken_catalog() { # sed-expression
	sed "$1" "$HBK_TOP/docs/events.md" >"$BATS_TEST_TMPDIR/events.md"
	! cmp -s "$HBK_TOP/docs/events.md" "$BATS_TEST_TMPDIR/events.md"
	export HBK_EVENTS_DOC="$BATS_TEST_TMPDIR/events.md"
}

@test "a schema the events do not match fails the check, naming the event" {
	broken_catalog 's/"payment_method": { "type": "string", "pattern": "^pm_/"payment_method": { "type": "string", "pattern": "^card_/'
	run node "$CHECK" rows "$ROWS"
	assert_failure 1
	assert_output --regexp 'hbk\.booking\.requested\.v1\): data: /payment_method must match pattern'
	broken_catalog 's/"pattern": "^EV-/"pattern": "^EVT-/'
	run node "$CHECK" rows "$ROWS"
	assert_failure 1
	assert_output --partial 'envelope: /id must match pattern'
}

@test "an event of a type the catalog does not list fails the check" {
	broken_catalog 's/^### `hbk\.booking\.partner_modified\.v1`$/### Partner modified (removed)/'
	run node "$CHECK" rows "$ROWS"
	assert_failure
	broken_catalog '/^### `hbk\.booking\.partner_modified\.v1`$/,/^```$/d'
	run node "$CHECK" rows "$ROWS"
	assert_failure 1
	assert_output --partial 'type "hbk.booking.partner_modified.v1" is not in the catalog'
	jq '.[0].type = "hbk.booking.invented.v1"' "$ROWS" >"$BATS_TEST_TMPDIR/rows.json"
	unset HBK_EVENTS_DOC
	run node "$CHECK" rows "$BATS_TEST_TMPDIR/rows.json"
	assert_failure 1
	assert_output --partial 'type "hbk.booking.invented.v1" is not in the catalog'
}

@test "an event with a field the catalog does not describe, or one missing, fails the check" {
	jq '(.[] | select(.type == "hbk.booking.cancelled.v1") | .data) |= (fromjson | .extra = 1 | tojson)' \
		"$ROWS" >"$BATS_TEST_TMPDIR/extra.json"
	run node "$CHECK" rows "$BATS_TEST_TMPDIR/extra.json"
	assert_failure 1
	assert_output --partial "must NOT have additional properties 'extra'"
	jq '(.[] | select(.type == "hbk.booking.failed.v1") | .data) |= (fromjson | del(.code) | tojson)' \
		"$ROWS" >"$BATS_TEST_TMPDIR/missing.json"
	run node "$CHECK" rows "$BATS_TEST_TMPDIR/missing.json"
	assert_failure 1
	assert_output --partial "must have required property 'code'"
	jq '.[0].partitionkey = ""' "$ROWS" >"$BATS_TEST_TMPDIR/key.json"
	run node "$CHECK" rows "$BATS_TEST_TMPDIR/key.json"
	assert_failure 1
	assert_output --partial 'envelope: /partitionkey'
}

@test "a malformed catalog is refused, not half-read" {
	broken_catalog 's/"title": "hbk.booking.failed.v1"/"title": "hbk.booking.failure.v1"/'
	run node "$CHECK" types
	assert_failure 1
	assert_output --partial 'is not the heading "hbk.booking.failed.v1"'
	broken_catalog 's/"additionalProperties": false,/"additionalProperties": false, "typo": 1,/'
	run node "$CHECK" types
	assert_failure 1
	assert_output --partial 'do not compile'
}
