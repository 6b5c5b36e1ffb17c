#!/usr/bin/env bats
# kafka-catalog.bats - catalog, inventory and API tokens changed with
# hbk-admin are events, relayed to the events topic like bookings' (a
# three-broker mock cluster, build/tools/kafka-mock, in its own process):
# what hbk-admin changes in instance A's store (inventory sync from
# hbk-sandbox, whose own store the tests edit to make the partner change a
# price, an allotment, a hotel's name; token create and revoke), instance
# B, on a store of its own, serves with the same GET /v1/offers answers and
# the same tokens; an instance started on an empty store builds the demo
# catalog, the synced changes and the tokens from the topic alone; and a
# sync written before its store applied a booking decided elsewhere still
# leaves every store with the same rooms left.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	seed_once
}

setup() {
	load_libs
	fresh_home
	MOCK_PID=
	PIDS=()
	start_kafka_mock --topic hbk.events:6 --topic hbk.commands:6 --topic hbk.dlq:1
	SANDBOX_STATE="$BATS_TEST_TMPDIR/sandbox.db"
	start_sandbox --state "$SANDBOX_STATE" --days 40
	export TEST_PARTNER_KEY=sandbox-key TEST_PARTNER_SECRET=sandbox-secret
	CLUSTER="$BATS_TEST_TMPDIR/cluster.yaml"
	SYNC="$BATS_TEST_TMPDIR/sync.yaml"
	printf 'kafka:\n  brokers: "%s"\n' "$BROKERS" >"$CLUSTER"
	printf 'partner: {kind: hotelbeds, url: "%s", api_key: "env:TEST_PARTNER_KEY", secret: "env:TEST_PARTNER_SECRET"}\n' \
		"$SANDBOX_URL" >"$SYNC"
	IN=$(day 20)
}

teardown() {
	for pid in "${PIDS[@]}"; do stop_server "$pid"; done
	stop_sandbox
	stop_server "${MOCK_PID:-}"
}

# A store for an instance: "seed" copies the demo store, "empty" is a store
# with the schema and nothing else.
make_store() { # name seed|empty
	mkdir -p "$BATS_TEST_TMPDIR/$1"
	if [ "$2" = seed ]; then
		sqlite3 "$HBK_HOME/hbk.db" ".backup '$BATS_TEST_TMPDIR/$1/hbk.db'"
	else
		HBK_HOME="$BATS_TEST_TMPDIR/$1" hbk-admin -q init
	fi
}

# hbk-admin on an instance's store.
admin() { # name args...
	local name=$1
	shift
	HBK_HOME="$BATS_TEST_TMPDIR/$name" hbk-admin --config "$SYNC" "$@"
}

# Starts hbkd on the instance's store, in the cluster; sets URL_<name>.
start_instance() { # name
	local home="$BATS_TEST_TMPDIR/$1" ready="$BATS_TEST_TMPDIR/$1.ready"
	rm -f "$ready"
	HBK_HOME="$home" hbkd --config "$CLUSTER" --listen 127.0.0.1:0 --ready-file "$ready" \
		--log "$BATS_TEST_TMPDIR/$1.log" --workers 2 3>&- &
	PIDS+=($!)
	await_ready "hbkd $1" "$!" "$ready" "$BATS_TEST_TMPDIR/$1.log" || return 1
	printf -v "URL_$1" 'http://%s' "$(cat "$ready")"
}

stop_instance() { # index in PIDS
	stop_server "${PIDS[$1]}"
}

# The status of GET path on an instance with a token.
status() { # url-var token path
	curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" "${!1}$3"
}

# Waits (30 s at most) until an instance answers path with code.
await_status() { # url-var token path code
	for _ in $(seq 1 300); do
		[ "$(status "$1" "$2" "$3")" = "$4" ] && return 0
		sleep 0.1
	done
	echo "${!1}$3 never answered $4 (last: $(status "$1" "$2" "$3"))" >&2
	return 1
}

offers() { # url-var token query
	curl -sS -H "Authorization: Bearer $2" "${!1}/v1/offers?$3&checkin=$IN&nights=2&limit=500" | jq -S .
}

# Waits (30 s at most) until two instances answer the same offers, then
# shows the difference if they never do.
await_same_offers() { # url-var url-var token query
	for _ in $(seq 1 300); do
		[ "$(offers "$1" "$3" "$4")" = "$(offers "$2" "$3" "$4")" ] && return 0
		sleep 0.1
	done
	diff <(offers "$1" "$3" "$4") <(offers "$2" "$3" "$4")
}

# What the partner sells changes: the sandbox's own store is edited (its
# search model follows the triggers), and a sync then brings it in.
partner_changes() {
	local night="CAST(julianday('$(day 21)') - 2440587.5 AS INTEGER)"
	sqlite3 "$SANDBOX_STATE" "UPDATE inventory SET allotment = 1, price_minor = price_minor + 5000
		WHERE hotel_id = 'H-LIS-0001' AND room_type = 'DBL' AND night = $night;
		UPDATE hotels SET name = 'Casa Renamed' WHERE id = 'H-LIS-0002'"
}

sync_lis() { # name
	admin "$1" -q inventory sync --from "$(day 19)" --to "$(day 24)" --destination LIS
}

# The DBL offers of H-LIS-0001: rooms left and the price.
dbl() { # url-var token
	offers "$1" "$2" hotel=H-LIS-0001 |
		jq -c '[.offers[] | select(.room_type == "DBL" and .board == "RO") | {available, total}] | unique'
}

@test "hbk-admin changes on A reach B: the same offers, A's new token accepted, a revoked one refused" {
	make_store A empty
	make_store B empty
	sync_lis A
	token=$(admin A -q token create ops)
	start_instance A
	start_instance B
	# B has no token of its own: the one A created is the first it accepts.
	await_status URL_B "$token" "/v1/offers?city=LIS&checkin=$IN&nights=2" 200
	await_same_offers URL_A URL_B "$token" city=LIS
	[ "$(offers URL_B "$token" city=LIS | jq '.offers | length')" -gt 50 ]
	before=$(dbl URL_B "$token")

	# The partner changes a night and a hotel; a second sync on A brings both.
	partner_changes
	sync_lis A
	[ "$(sqlite3 "$BATS_TEST_TMPDIR/A/hbk.db" "SELECT data ->> '$.hotel.name' FROM events
		WHERE stream = 'hotel:H-LIS-0002' AND type = 'hbk.catalog.hotel_synced.v1'
		ORDER BY sequence DESC LIMIT 1")" = "Casa Renamed" ]
	# A sync that changes nothing writes no event.
	events=$(sqlite3 "$BATS_TEST_TMPDIR/A/hbk.db" "SELECT COUNT(*) FROM events")
	sync_lis A
	[ "$(sqlite3 "$BATS_TEST_TMPDIR/A/hbk.db" "SELECT COUNT(*) FROM events")" -eq "$events" ]
	await_same_offers URL_A URL_B "$token" city=LIS
	after=$(dbl URL_B "$token")
	[ "$before" != "$after" ]
	[ "$(offers URL_B "$token" hotel=H-LIS-0001 |
		jq '[.offers[] | select(.room_type == "DBL")] | map(.available) | max')" -eq 1 ]
	[ "$(offers URL_B "$token" hotel=H-LIS-0002 | jq -r '[.offers[].hotel.name] | unique | .[]')" = "Casa Renamed" ]
	# B keeps the hash only, never the token itself.
	! sqlite3 "$BATS_TEST_TMPDIR/B/hbk.db" .dump | grep -qF "$token"

	admin A -q token revoke ops
	await_status URL_B "$token" "/v1/offers?city=LIS&checkin=$IN&nights=2" 401
	[ "$(status URL_A "$token" "/v1/offers?city=LIS&checkin=$IN&nights=2")" = 401 ]

	# What A wrote, and what went through the topic, matches docs/events.md.
	sqlite3 -json "$BATS_TEST_TMPDIR/A/hbk.db" "SELECT id, stream, sequence, type, time_ms,
		partitionkey, correlationid, causationid, data FROM events ORDER BY position" >"$BATS_TEST_TMPDIR/rows.json"
	run node "$HBK_TOP/tests/tools/check-events.mjs" rows "$BATS_TEST_TMPDIR/rows.json"
	assert_success
	assert_line --index 0 --regexp '^[0-9]+ events valid, 4 types$'
	kcat -b "$BROKERS" -C -t hbk.events -o beginning -e -J -q >"$BATS_TEST_TMPDIR/kafka.jsonl"
	run node "$HBK_TOP/tests/tools/check-events.mjs" kafka "$BATS_TEST_TMPDIR/kafka.jsonl"
	assert_success
	assert_line --index 0 --regexp '^[0-9]+ events valid, 4 types$'
}

@test "an instance started on an empty store builds the catalog, the inventory and the tokens from the topic" {
	make_store A seed
	token=$(admin A -q token create ops)
	gone=$(admin A -q token create gone)
	admin A -q token revoke gone
	partner_changes
	sync_lis A
	start_instance A
	make_store D empty
	[ "$(sqlite3 "$BATS_TEST_TMPDIR/D/hbk.db" "SELECT COUNT(*) FROM hotels")" -eq 0 ]
	start_instance D
	await_status URL_D "$token" "/v1/offers?city=PAR&checkin=$IN&nights=2" 200
	# The demo catalog (another city, written by init --demo) and the synced changes.
	await_same_offers URL_A URL_D "$token" city=PAR
	await_same_offers URL_A URL_D "$token" city=LIS
	[ "$(offers URL_D "$token" hotel=H-LIS-0002 | jq -r '[.offers[].hotel.name] | unique | .[]')" = "Casa Renamed" ]
	q="SELECT COUNT(*), SUM(allotment), SUM(price_minor) FROM inventory; SELECT COUNT(*) FROM hotels;
		SELECT COUNT(*) FROM blackouts; SELECT COUNT(*) FROM boards; SELECT COUNT(*) FROM room_types"
	for _ in $(seq 1 100); do
		[ "$(sqlite3 "$BATS_TEST_TMPDIR/A/hbk.db" "$q")" = "$(sqlite3 "$BATS_TEST_TMPDIR/D/hbk.db" "$q")" ] && break
		sleep 0.1
	done
	diff <(sqlite3 "$BATS_TEST_TMPDIR/A/hbk.db" "$q") <(sqlite3 "$BATS_TEST_TMPDIR/D/hbk.db" "$q")
	[ "$(sqlite3 "$BATS_TEST_TMPDIR/D/hbk.db" "SELECT COUNT(*) FROM hotels")" -eq 210 ]
	[ "$(status URL_D "$gone" "/v1/offers?city=PAR&checkin=$IN&nights=2")" = 401 ]
}

@test "a sync written before its store applied a booking decided elsewhere leaves both stores with the same rooms left" {
	make_store A seed
	make_store B seed
	token=$(admin A -q token create ops)
	start_instance A
	start_instance B
	await_status URL_B "$token" "/v1/offers?hotel=H-LIS-0001&checkin=$IN&nights=2" 200
	# A stops; B books a DBL night the partner is about to change.
	stop_instance 0
	offer=$(curl -sS -H "Authorization: Bearer $token" \
		"$URL_B/v1/offers?hotel=H-LIS-0001&checkin=$(day 21)&nights=1&limit=200" |
		jq -r '[.offers[] | select(.room_type == "DBL")][0].offer_id')
	id=$(curl -sS -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
		-d "{\"offer_id\":\"$offer\",\"guest\":{\"name\":\"Ines Cluster\",\"email\":\"ines@example.com\"}}" \
		"$URL_B/v1/bookings" | jq -r .id)
	[[ "$id" == BK-* ]]
	# A, which has not seen the booking, syncs the partner's new allotment (1).
	partner_changes
	sync_lis A
	start_instance A
	await_status URL_A "$token" "/v1/bookings/$id" 200
	q="SELECT room_type, night, allotment, price_minor FROM inventory WHERE hotel_id = 'H-LIS-0001' ORDER BY 1, 2"
	for _ in $(seq 1 100); do
		[ "$(sqlite3 "$BATS_TEST_TMPDIR/A/hbk.db" "$q")" = "$(sqlite3 "$BATS_TEST_TMPDIR/B/hbk.db" "$q")" ] && break
		sleep 0.1
	done
	diff <(sqlite3 "$BATS_TEST_TMPDIR/A/hbk.db" "$q") <(sqlite3 "$BATS_TEST_TMPDIR/B/hbk.db" "$q")
	# The partner's one room, less the booking's: none left, on both.
	night="CAST(julianday('$(day 21)') - 2440587.5 AS INTEGER)"
	[ "$(sqlite3 "$BATS_TEST_TMPDIR/B/hbk.db" "SELECT allotment FROM inventory
		WHERE hotel_id = 'H-LIS-0001' AND room_type = 'DBL' AND night = $night")" -eq 0 ]
}
