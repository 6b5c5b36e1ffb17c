#!/usr/bin/env bats
# hbk-sandbox as a program: usage, its control routes (faults, state), the
# faults' effect on the protocols, persistence with --state, and a clean
# stop. The protocols themselves: sandbox-partner, sandbox-payment and
# sandbox-notify.

load helpers

setup() {
	load_libs
	export HBK_HOME="$BATS_TEST_TMPDIR/home"
}

teardown() {
	stop_sandbox
}

@test "hbk-sandbox --help, --version, and bad usage exit 2 with a message" {
	run hbk-sandbox --help
	assert_success
	assert_output --partial "usage: hbk-sandbox"
	assert_output --partial "--smtp-listen"
	assert_output --partial "hbk-sandbox(1)"
	run hbk-sandbox --version
	assert_output --regexp '^hbk-sandbox [0-9]+\.[0-9]+\.[0-9]+$'
	run hbk-sandbox --bogus
	[ "$status" -eq 2 ]
	assert_output --partial "usage:"
	run hbk-sandbox --error-rate 2
	[ "$status" -eq 2 ]
	assert_output --partial "--error-rate must be a number from 0 to 1"
	run hbk-sandbox --listen nonsense
	[ "$status" -eq 2 ]
	assert_output --partial "HOST:PORT"
}

@test "a port already taken: exit 6 naming the address" {
	start_sandbox
	port=${SANDBOX_URL##*:}
	run hbk-sandbox --listen "127.0.0.1:$port"
	[ "$status" -eq 6 ]
	assert_output --partial "cannot listen on 127.0.0.1:$port"
}

@test "faults are set, read and reset at run time; a bad entry changes nothing" {
	start_sandbox
	run curl -sS -w '\n%{http_code}' -X POST -d '{"endpoint":"partner.*","error_rate":1}' "$SANDBOX_URL/__sandbox/faults"
	assert_line --index 1 200
	# Every partner call now fails in the partner's own error shape ...
	run curl -sS -w '\n%{http_code}' -X POST -d '{}' "$SANDBOX_URL/hotel-api/1.0/hotels"
	assert_line --index 1 500
	echo "${lines[0]}" | jq -e '.error.code and .error.message'
	# ... and payments are untouched (401 for a missing key, not a fault).
	run curl -sS -o /dev/null -w '%{http_code}' "$SANDBOX_URL/v1/payment_intents"
	assert_output 401

	for bad in '{"endpoint":"partner.*","error_rate":1.5}' '{"endpoint":"partner.*","bogus":1}' \
		'{"error_rate":0.1}' 'not json' '[{"endpoint":"x.*","latency_ms":5},{"endpoint":"y","latency_ms":-1}]'; do
		run curl -sS -w '\n%{http_code}' -X POST -d "$bad" "$SANDBOX_URL/__sandbox/faults"
		assert_line --index 1 400
		echo "${lines[0]}" | jq -e '.error | length > 0'
	done
	run curl -sS "$SANDBOX_URL/__sandbox/faults"
	[ "$(echo "$output" | jq length)" = 1 ]
	[ "$(echo "$output" | jq -r '.[0].endpoint')" = 'partner.*' ]

	run curl -sS -X POST -d '{"reset":true}' "$SANDBOX_URL/__sandbox/faults"
	[ "$(echo "$output" | jq length)" = 0 ]
	run curl -sS -o /dev/null -w '%{http_code}' -X POST -d '{}' "$SANDBOX_URL/hotel-api/1.0/hotels"
	refute_output 500
}

@test "the state counts requests per endpoint and shows the faults" {
	start_sandbox --error-rate 0
	curl -sS -o /dev/null "$SANDBOX_URL/v1/payment_intents"
	curl -sS -o /dev/null "$SANDBOX_URL/v1/payment_intents"
	run curl -sS "$SANDBOX_URL/__sandbox/state"
	assert_success
	[ "$(echo "$output" | jq '.requests["payment.payment_intents.list"]')" = 2 ]
	echo "$output" | jq -e '.partner and .payment and .sns and (.faults | type == "array")'
	run curl -sS -o /dev/null -w '%{http_code}' "$SANDBOX_URL/__sandbox/nothing"
	assert_output 404
}

@test "--state keeps the simulators' records across a restart" {
	start_sandbox --state "$BATS_TEST_TMPDIR/sandbox.db"
	run curl -sS -H "Authorization: Bearer sk_test_sandbox" -d amount=1000 -d currency=eur -d payment_method=pm_card_visa \
		-d capture_method=manual -d confirm=true -d 'metadata[booking_id]=BK-STATE' \
		"$SANDBOX_URL/v1/payment_intents"
	assert_success
	pi=$(echo "$output" | jq -r .id)
	[[ "$pi" == pi_* ]]
	stop_sandbox
	start_sandbox --state "$BATS_TEST_TMPDIR/sandbox.db"
	run curl -sS "$SANDBOX_URL/__sandbox/state"
	[ "$(echo "$output" | jq --arg pi "$pi" '[.payment.payment_intents[] | select(.id == $pi)] | length')" = 1 ]
}

@test "SIGTERM stops it cleanly (exit 0)" {
	start_sandbox
	kill -TERM "$SANDBOX_PID"
	wait "$SANDBOX_PID"
}

@test "answers are gzip-compressed for a client that accepts it, plain otherwise" {
	start_sandbox
	key=sandbox-key secret=sandbox-secret now=$(date +%s)
	sig=$(printf '%s%s%s' "$key" "$secret" "$now" | sha256sum | cut -d' ' -f1)
	body="{\"stay\":{\"checkIn\":\"$(day 20)\",\"checkOut\":\"$(day 22)\"},\"occupancies\":[{\"rooms\":1,\"adults\":2,\"children\":0}],\"destination\":{\"code\":\"LIS\"}}"
	curl -sS -D "$BATS_TEST_TMPDIR/gz.h" -o "$BATS_TEST_TMPDIR/gz.body" -H 'Accept-Encoding: gzip' \
		-H "Api-key: $key" -H "X-Signature: $sig" -H 'Content-Type: application/json' -d "$body" \
		"$SANDBOX_URL/hotel-api/1.0/hotels"
	grep -qi '^Content-Encoding: gzip' "$BATS_TEST_TMPDIR/gz.h"
	[ "$(gzip -dc "$BATS_TEST_TMPDIR/gz.body" | jq '.hotels.hotels | length')" -gt 0 ]
	curl -sS -D "$BATS_TEST_TMPDIR/plain.h" -o "$BATS_TEST_TMPDIR/plain.body" \
		-H "Api-key: $key" -H "X-Signature: $sig" -H 'Content-Type: application/json' -d "$body" \
		"$SANDBOX_URL/hotel-api/1.0/hotels"
	run grep -qi '^Content-Encoding' "$BATS_TEST_TMPDIR/plain.h"
	[ "$status" -eq 1 ]
	cmp <(gzip -dc "$BATS_TEST_TMPDIR/gz.body" | jq -S .hotels.total) <(jq -S .hotels.total "$BATS_TEST_TMPDIR/plain.body")
}
