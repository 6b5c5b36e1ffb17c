#!/usr/bin/env bats
# kafka-relay.bats - hbkd relays every event committed to its store to the
# events topic (librdkafka's mock cluster, build/tools/kafka-mock, in its
# own process, read back with kcat): an outage of every broker delays
# events and loses none (a request's command waits for the brokers, and
# what the embedded tools commit meanwhile waits in the store), the relay
# writes each event once and in order within its booking, and what SIGTERM
# could not send is sent by the next start.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	seed_once
}

setup() {
	load_libs
	fresh_home
	MOCK_PID=
	start_kafka_mock --topic hbk.events:6
	printf 'kafka:\n  brokers: "%s"\n' "$BROKERS" >"$BATS_TEST_TMPDIR/hbk.yaml"
	start_hbkd --config "$BATS_TEST_TMPDIR/hbk.yaml"
	AUTH="Authorization: Bearer $HBK_TEST_TOKEN"
	JSON="Content-Type: application/json"
}

teardown() {
	stop_hbkd
	stop_server "${MOCK_PID:-}"
}

# Books one room type of a hotel, n times; prints nothing.
book_n() { # hotel n
	local offer
	offer=$(curl -sS -H "$AUTH" "$HBKD_URL/v1/offers?hotel=$1&checkin=$(day 30)&nights=2&limit=1" |
		jq -r '.offers[0].offer_id')
	for _ in $(seq 1 "$2"); do
		curl -sS -f -o /dev/null -H "$AUTH" -H "$JSON" \
			-d "{\"offer_id\":\"$offer\",\"guest\":{\"name\":\"Kai Relay\",\"email\":\"kai@example.com\"}}" \
			"$HBKD_URL/v1/bookings"
	done
}

# Books with the embedded hbk on hbkd's store, n times: events committed
# without Kafka, for the relay to send.
book_embedded() { # hotel n
	for i in $(seq 1 "$2"); do
		hbk search --hotel "$1" --checkin "$(day 30)" --nights 2 >/dev/null
		hbk -q book 1 --guest "Kai Relay $i" --email kai@example.com >/dev/null
	done
}

metric() { # name
	curl -sS "$HBKD_URL/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

unpublished() {
	sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM events WHERE published = 0"
}

# Waits (30 s at most) until the store has no unpublished event.
await_published() {
	for _ in $(seq 1 300); do
		[ "$(unpublished)" -eq 0 ] && return 0
		sleep 0.1
	done
	echo "$(unpublished) event(s) never published" >&2
	return 1
}

# Every event of the store is on the topic exactly once, keyed by its
# hotel, in sequence order within its booking.
check_topic_matches_store() {
	kcat -b "$BROKERS" -C -t hbk.events -o beginning -e -J -q >"$BATS_TEST_TMPDIR/topic.jsonl"
	jq -r '.headers as $h | [$h[($h | index(["ce_id"])) + 1], .key] | @tsv' \
		"$BATS_TEST_TMPDIR/topic.jsonl" | sort >"$BATS_TEST_TMPDIR/topic.ids"
	sqlite3 -separator $'\t' "$HBK_HOME/hbk.db" "SELECT id, partitionkey FROM events" | sort \
		>"$BATS_TEST_TMPDIR/store.ids"
	diff "$BATS_TEST_TMPDIR/store.ids" "$BATS_TEST_TMPDIR/topic.ids"
	# Within each booking's stream, in partition order, the sequences run 1, 2, 3 ...
	jq -s -e 'map(.headers as $h | {p: .partition, o: .offset,
			s: $h[($h | index(["ce_subject"])) + 1],
			q: ($h[($h | index(["ce_sequence"])) + 1] | tonumber)})
		| sort_by(.p, .o) | group_by(.s)
		| all(. as $g | [range(0; $g | length)] | all(. as $i | $g[$i].q == $i + 1))' \
		"$BATS_TEST_TMPDIR/topic.jsonl"
}

@test "every committed event reaches the topic once, keyed by its hotel, in order within its booking" {
	book_n H-LIS-0001 3
	book_n H-PAR-0002 2
	await_published
	# The bookings' two hotels (the demo catalog's and the token's events have keys of their own).
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(DISTINCT partitionkey) FROM events WHERE stream LIKE 'BK-%'")" -eq 2 ]
	check_topic_matches_store
	[ "$(metric hbk_outbox_pending)" -eq 0 ]
	[ "$(metric hbk_outbox_published_total)" -eq "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM events")" ]
}

@test "with every broker down a request waits for them; the events wait and then arrive, none lost, none twice" {
	book_n H-LIS-0001 1
	await_published
	mock_command "broker down -1"
	# A request's command cannot be sent: the request waits.
	offer=$(curl -sS -H "$AUTH" "$HBKD_URL/v1/offers?hotel=H-LIS-0003&checkin=$(day 30)&nights=2&limit=1" | jq -r '.offers[0].offer_id')
	curl -sS -o /dev/null -w '%{http_code}' --max-time 60 -H "$AUTH" -H "$JSON" \
		-d "{\"offer_id\":\"$offer\",\"guest\":{\"name\":\"Kai Waits\",\"email\":\"kai@example.com\"}}" \
		"$HBKD_URL/v1/bookings" >"$BATS_TEST_TMPDIR/waited" 3>&- &
	# What the embedded tools commit meanwhile waits in the store.
	book_embedded H-LIS-0003 3
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM bookings WHERE status = 'CONFIRMED'")" -eq 4 ]
	[ "$(unpublished)" -gt 0 ]
	[ ! -s "$BATS_TEST_TMPDIR/waited" ]
	for _ in $(seq 1 100); do
		[ "$(metric hbk_outbox_failures_total)" -gt 0 ] && break
		sleep 0.1
	done
	[ "$(metric hbk_outbox_failures_total)" -gt 0 ]
	[ "$(metric hbk_outbox_pending)" -gt 0 ]
	mock_command "broker up -1"
	# The brokers are back: the request is decided and answered.
	for _ in $(seq 1 300); do
		[ -s "$BATS_TEST_TMPDIR/waited" ] && break
		sleep 0.1
	done
	[ "$(cat "$BATS_TEST_TMPDIR/waited")" = 201 ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM bookings WHERE status = 'CONFIRMED'")" -eq 5 ]
	await_published
	check_topic_matches_store
}

@test "what SIGTERM could not send waits in the store, and the next start sends it" {
	mock_command "broker down -1"
	book_embedded H-PAR-0002 2
	# The relay gets 10 s to drain, then leaves the rest: wait for a clean exit.
	kill -TERM "$HBKD_PID"
	for _ in $(seq 1 300); do
		kill -0 "$HBKD_PID" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$HBKD_PID" 2>/dev/null
	HBKD_PID=
	left=$(unpublished)
	[ "$left" -gt 0 ]
	grep -q "\"detail\":\"$left event(s) not relayed: they wait in the store" "$HBKD_LOG"
	mock_command "broker up -1"
	start_hbkd --config "$BATS_TEST_TMPDIR/hbk.yaml"
	await_published
	check_topic_matches_store
}

@test "SIGTERM after the brokers died: hbkd still stops, and what it could not send waits in the store" {
	book_n H-LIS-0002 1
	await_published
	kill -9 "$MOCK_PID"
	MOCK_PID=
	book_embedded H-LIS-0002 1
	kill -TERM "$HBKD_PID"
	for _ in $(seq 1 300); do
		kill -0 "$HBKD_PID" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$HBKD_PID" 2>/dev/null
	HBKD_PID=
	[ "$(unpublished)" -gt 0 ]
	grep -q '"msg":"stop","detail":"hbkd stopped"' "$HBKD_LOG"
}
