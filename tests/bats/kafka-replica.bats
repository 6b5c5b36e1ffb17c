#!/usr/bin/env bats
# kafka-replica.bats - several hbkd instances, each with its own store, on
# one events topic (librdkafka's mock cluster, build/tools/kafka-mock, in
# its own process): what one instance decides, the others serve with the
# same JSON and the same inventory; an instance started on an empty store
# rebuilds every booking from the topic; a message that is not an event
# lands in the dead-letter topic with its reason and origin, and the
# partition keeps moving.

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
	printf 'kafka:\n  brokers: "%s"\n' "$BROKERS" >"$BATS_TEST_TMPDIR/hbk.yaml"
	TOKEN=$(hbk-admin -q token create cluster-test)
	JSON="Content-Type: application/json"
}

teardown() {
	for pid in "${PIDS[@]}"; do stop_server "$pid"; done
	stop_server "${MOCK_PID:-}"
}

book() { # url-var hotel room -> id
	local offer
	offer=$(instance_api "$1" "/v1/offers?hotel=$2&checkin=$(day 20)&nights=2&limit=200" |
		jq -r --arg r "$3" '[.offers[] | select(.room_type == $r)][0].offer_id')
	instance_api "$1" /v1/bookings -H "$JSON" \
		-d "{\"offer_id\":\"$offer\",\"guest\":{\"name\":\"Ines Cluster\",\"email\":\"ines@example.com\"}}" |
		jq -r .id
}

inventory() { # name hotel
	sqlite3 "$BATS_TEST_TMPDIR/$1/hbk.db" \
		"SELECT room_type, night, allotment FROM inventory WHERE hotel_id = '$2' ORDER BY 1, 2"
}

@test "what instance A decides, B and C serve with the same JSON and the same rooms left" {
	start_instance A
	start_instance B
	start_instance C
	x=$(book URL_A H-LIS-0001 DBL)
	y=$(book URL_A H-LIS-0001 TWN)
	z=$(book URL_A H-PAR-0002 DBL)
	instance_api URL_A "/v1/bookings/$y/cancel" -H "$JSON" -d '{"reason":"plans changed"}' >/dev/null
	instance_api URL_A "/v1/bookings/$x" -X PATCH -H "$JSON" -d "{\"checkout\":\"$(day 23)\"}" >/dev/null
	for n in B C; do
		await_booking "URL_$n" "$y" CANCELLED
		await_booking "URL_$n" "$z" CONFIRMED
		for _ in $(seq 1 300); do
			[ "$(instance_api "URL_$n" "/v1/bookings/$x" | jq -r .checkout)" = "$(day 23)" ] && break
			sleep 0.1
		done
		for id in "$x" "$y" "$z"; do
			diff <(instance_api URL_A "/v1/bookings/$id" | jq -S .) <(instance_api "URL_$n" "/v1/bookings/$id" | jq -S .)
		done
		diff <(inventory A H-LIS-0001) <(inventory "$n" H-LIS-0001)
		diff <(inventory A H-PAR-0002) <(inventory "$n" H-PAR-0002)
	done
	# B's search sees A's bookings: the same rooms left as A shows.
	diff <(instance_api URL_A "/v1/offers?hotel=H-LIS-0001&checkin=$(day 20)&nights=2&limit=200" | jq -c '[.offers[] | {room_type, board, refundable, available}]') \
		<(instance_api URL_B "/v1/offers?hotel=H-LIS-0001&checkin=$(day 20)&nights=2&limit=200" | jq -c '[.offers[] | {room_type, board, refundable, available}]')
	[ "$(curl -sS "$URL_B/metrics" | awk '$1 == "hbk_applier_events_total{outcome=\"applied\"}" {print $2}')" -gt 10 ]
	# Caught up: within a few seconds B's lag reads 0.
	for _ in $(seq 1 50); do
		[ "$(curl -sS "$URL_B/metrics" | awk '$1 == "hbk_applier_lag" {print $2}')" = 0 ] && break
		sleep 0.1
	done
	[ "$(curl -sS "$URL_B/metrics" | awk '$1 == "hbk_applier_lag" {print $2}')" = 0 ]
}

@test "an instance started on an empty store rebuilds every booking from the events topic" {
	start_instance A
	ids=()
	for room in DBL TWN TRP; do ids+=("$(book URL_A H-LIS-0003 "$room")"); done
	instance_api URL_A "/v1/bookings/${ids[1]}/cancel" -H "$JSON" -d '{"reason":"rebuild"}' >/dev/null
	start_instance D
	await_booking URL_D "${ids[0]}" CONFIRMED
	await_booking URL_D "${ids[1]}" CANCELLED
	await_booking URL_D "${ids[2]}" CONFIRMED
	for id in "${ids[@]}"; do
		diff <(instance_api URL_A "/v1/bookings/$id" | jq -S .) <(instance_api URL_D "/v1/bookings/$id" | jq -S .)
	done
	diff <(inventory A H-LIS-0003) <(inventory D H-LIS-0003)
	# Its own group, new: it read the topic from the beginning.
	grep -q '"msg":"kafka".*applying them from it as hbkd-IN-' "$BATS_TEST_TMPDIR/D.log"
}

@test "a message that is not an event lands in hbk.dlq with its reason and origin; the partition moves on" {
	start_instance A
	start_instance B
	# A foreign message with no CloudEvent headers, keyed like a hotel.
	echo '{"oops":true}' | kcat -b "$BROKERS" -P -t hbk.events -k H-LIS-0005
	x=$(book URL_A H-LIS-0005 DBL)
	await_booking URL_B "$x" CONFIRMED
	for _ in $(seq 1 300); do
		kcat -b "$BROKERS" -C -t hbk.dlq -o beginning -e -J -q >"$BATS_TEST_TMPDIR/dlq.jsonl"
		[ "$(wc -l <"$BATS_TEST_TMPDIR/dlq.jsonl")" -ge 2 ] && break
		sleep 0.1
	done
	# The hotel's partition: the bad message's, and its bookings' after it.
	partition=$(kcat -b "$BROKERS" -C -t hbk.events -o beginning -e -J -q |
		jq -r 'select(.key == "H-LIS-0005") | .partition' | sort -u)
	[ "$(echo "$partition" | wc -l)" -eq 1 ]
	# One dead letter from each instance, each with the message as it was.
	[ "$(wc -l <"$BATS_TEST_TMPDIR/dlq.jsonl")" -eq 2 ]
	jq -e -s --arg p "$partition" 'all(.key == "H-LIS-0005" and .payload == "{\"oops\":true}"
		and (.headers as $h | ($h | index(["hbk_dlq_topic"])) as $t | $h[$t + 1] == "hbk.events")
		and (.headers as $h | $h[($h | index(["hbk_dlq_partition"])) + 1] == $p)
		and (.headers as $h | $h[($h | index(["hbk_dlq_reason"])) + 1] | test("invalid_event: not a CloudEvent")))' \
		"$BATS_TEST_TMPDIR/dlq.jsonl"
	[ "$(curl -sS "$URL_B/metrics" | awk '$1 == "hbk_applier_events_total{outcome=\"dead_lettered\"}" {print $2}')" -eq 1 ]
}
