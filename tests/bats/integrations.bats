#!/usr/bin/env bats
# hbkd against hbk-sandbox over the real protocols: the partner through the
# hotelbeds adapter, payments through the stripe adapter, guest mail over
# SMTP. Every check compares our records with the sandbox's own.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	seed_once
}

setup() {
	load_libs
	fresh_home
	start_sandbox --seed 7
	export HBK_PARTNER_KEY=sandbox-key HBK_PARTNER_SECRET=sandbox-secret
	export HBK_PAYMENT_KEY=sk_test_sandbox HBK_WEBHOOK_SECRET=whsec_sandbox
	write_config 2000
	start_hbkd --config "$HBK_CONFIG"
	export HBK_API_URL="$HBKD_URL" HBK_TOKEN="$HBK_TEST_TOKEN"
	in=$(day 20)
}

teardown() {
	stop_hbkd
	stop_sandbox
}

# The configuration wiring hbkd to the sandbox; $1: partner timeout in ms.
write_config() {
	export HBK_CONFIG="$BATS_TEST_TMPDIR/hbk.yaml"
	cat >"$HBK_CONFIG" <<-EOF
		store: {path: $HBK_HOME/hbk.db}
		partner: {kind: hotelbeds, url: "$SANDBOX_URL", api_key: "env:HBK_PARTNER_KEY", secret: "env:HBK_PARTNER_SECRET", timeout_ms: $1}
		payment: {kind: stripe, url: "$SANDBOX_URL", secret_key: "env:HBK_PAYMENT_KEY", webhook_secret: "env:HBK_WEBHOOK_SECRET", timeout_ms: $1}
		notify: {email: {kind: smtp, url: "smtp://$SANDBOX_SMTP", from: "reservations@hbk.example"}}
	EOF
}

sandbox_state() {
	curl -sS -f "$SANDBOX_URL/__sandbox/state"
}

# Waits (at most 90 s) until no booking is PENDING: a compensation the
# upstream refused goes on in the background until it answers.
settled() {
	for _ in $(seq 1 180); do
		[ -z "$(ours PENDING)" ] && return 0
		sleep 0.5
	done
	echo "still PENDING: $(ours PENDING)" >&2
	return 1
}

# Booking ids in our store with a status.
ours() {
	sqlite3 "$HBK_HOME/hbk.db" "SELECT id FROM bookings WHERE status = '$1' ORDER BY id"
}

@test "the agent session through hbkd against the sandbox, checked against its records" {
	run hbk search --city LIS --checkin "$in" --nights 3 -o json
	assert_success
	run hbk book 1 --guest "Ana Silva" --email ana@example.com -o json
	assert_success
	id=$(echo "$output" | jq -r .id)
	[ "$(echo "$output" | jq -r .status)" = CONFIRMED ]
	[ "$(echo "$output" | jq -r .partner.name)" = hotelbeds ]
	[ "$(echo "$output" | jq -r .payment.provider)" = stripe ]
	total=$(echo "$output" | jq -r .total.amount)
	pi=$(echo "$output" | jq -r .payment.reference)
	ref=$(echo "$output" | jq -r .partner.reference)

	state=$(sandbox_state)
	# The partner holds one booking for it, under our id as clientReference.
	[ "$(echo "$state" | jq --arg id "$id" '[.partner.bookings[] | select(.clientReference == $id)] | length')" = 1 ]
	[ "$(echo "$state" | jq -r --arg id "$id" '.partner.bookings[] | select(.clientReference == $id) | .reference')" = "$ref" ]
	# The payment was captured for the booking's total.
	minor=$(echo "$total" | tr -d .)
	[ "$(echo "$state" | jq -r --arg pi "$pi" '.payment.payment_intents[] | select(.id == $pi) | .amount_received')" = "$((10#$minor))" ]
	[ "$(echo "$state" | jq -r --arg pi "$pi" '.payment.payment_intents[] | select(.id == $pi) | .status')" = succeeded ]

	run hbk view "$id" -o json
	assert_success
	[ "$(echo "$output" | jq -r .status)" = CONFIRMED ]

	run hbk cancel "$id" -o json
	assert_success
	[ "$(echo "$output" | jq -r .status)" = CANCELLED ]
	penalty=$(echo "$output" | jq -r '.penalty.amount // "0.00"' | tr -d .)
	state=$(sandbox_state)
	[ "$(echo "$state" | jq -r --arg id "$id" '.partner.bookings[] | select(.clientReference == $id) | .status')" = CANCELLED ]
	refunded=$(echo "$state" | jq --arg pi "$pi" '[.payment.refunds[] | select(.payment_intent == $pi) | .amount] | add // 0')
	[ "$refunded" = "$((10#$minor - 10#$penalty))" ]

	# The guest's mail went through the SMTP sink: confirmation, cancellation
	# (hbkd sends it from its delivery thread: a bounded wait for both).
	for _ in $(seq 1 100); do
		[ "$(sandbox_state | jq --arg id "$id" '[.sns.smtp[] | select(.subject | contains($id))] | length')" -ge 2 ] && break
		sleep 0.1
	done
	run bash -c "curl -sS '$SANDBOX_URL/__sandbox/state' | jq -r '.sns.smtp[] | select(.to | index(\"ana@example.com\")) | .subject'"
	assert_success
	assert_line --partial "$id"
	[ "$(echo "$output" | grep -c "$id")" -ge 2 ]
}

@test "partner at 30% 5xx and 10% timeouts, 500 bookings: none PENDING, sandbox and store agree" {
	stop_hbkd
	write_config 1000
	start_hbkd --config "$HBK_CONFIG"
	export HBK_API_URL="$HBKD_URL" HBK_TOKEN="$HBK_TEST_TOKEN"
	sandbox_faults '{"endpoint":"partner.*","error_rate":0.3,"timeout_rate":0.1}'
	offers=$(curl -sS -H "Authorization: Bearer $HBK_TEST_TOKEN" \
		"$HBKD_URL/v1/offers?city=LIS&checkin=$in&nights=1&limit=50" | jq -r '.offers[].offer_id')
	[ -n "$offers" ]
	printf '%s\n' $offers >"$BATS_TEST_TMPDIR/offers"
	n=$(wc -l <"$BATS_TEST_TMPDIR/offers")
	for i in $(seq 1 500); do
		offer=$(sed -n "$(((i % n) + 1))p" "$BATS_TEST_TMPDIR/offers")
		printf '{"offer_id":"%s","guest":{"name":"Guest %d","email":"g%d@example.com"},"payment_method":"pm_card_visa"}\n' \
			"$offer" "$i" "$i"
	done >"$BATS_TEST_TMPDIR/bodies"
	# 500 requests, 25 at a time.
	xargs -P 25 -d '\n' -I{} curl -sS -o /dev/null -w '%{http_code}\n' --max-time 120 \
		-H "Authorization: Bearer $HBK_TEST_TOKEN" -H 'Content-Type: application/json' \
		-d {} "$HBKD_URL/v1/bookings" <"$BATS_TEST_TMPDIR/bodies" >"$BATS_TEST_TMPDIR/codes"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/codes")" = 500 ]
	# Every answer is a decision: 201, or a 409/503 problem for a FAILED booking.
	run grep -cv '^\(201\|409\|503\|402\)$' "$BATS_TEST_TMPDIR/codes"
	[ "$output" = 0 ]
	[ "$(grep -c '^201$' "$BATS_TEST_TMPDIR/codes")" -gt 0 ]

	# None stays PENDING: once the partner is well again, the compensations
	# it refused finish in the background.
	sandbox_faults '{"reset":true}'
	settled
	state=$(sandbox_state)
	# No live partner booking lacks a captured payment, and no captured
	# payment lacks a live partner booking.
	echo "$state" | jq -r '.partner.bookings[] | select(.status == "CONFIRMED") | .clientReference' | sort >"$BATS_TEST_TMPDIR/partner"
	echo "$state" | jq -r '.payment.payment_intents[] | select(.status == "succeeded" and .amount_received > 0 and (.amount_refunded // 0) < .amount_received) | .metadata.booking_id' | sort >"$BATS_TEST_TMPDIR/captured"
	ours CONFIRMED >"$BATS_TEST_TMPDIR/confirmed"
	diff "$BATS_TEST_TMPDIR/partner" "$BATS_TEST_TMPDIR/captured"
	diff "$BATS_TEST_TMPDIR/partner" "$BATS_TEST_TMPDIR/confirmed"
	# Each booking was booked at most once at the partner.
	[ -z "$(echo "$state" | jq -r '.partner.bookings[].clientReference' | sort | uniq -d)" ]
}

@test "partner failing 100%: the circuit opens, bookings fail fast and the partner is left alone until it recovers" {
	sandbox_faults '{"endpoint":"partner.*","error_rate":1}'
	for i in 1 2 3 4 5 6; do
		run hbk search --city LIS --checkin "$in" --nights 2 -o json
		run hbk book 1 --guest "Guest $i" --email "g$i@example.com" -o json
		[ "$status" -eq 6 ]
	done
	run curl -sS "$HBKD_URL/metrics"
	assert_output --partial 'hbk_upstream_circuit_state{upstream="partner"} 1'
	before=$(sandbox_state | jq '[.requests | to_entries[] | select(.key | startswith("partner.")) | .value] | add')
	# While open: fail fast with a 503 problem, and no call reaches the partner.
	offer=$(curl -sS -H "Authorization: Bearer $HBK_TEST_TOKEN" \
		"$HBKD_URL/v1/offers?city=LIS&checkin=$in&nights=2&limit=1" | jq -r '.offers[0].offer_id')
	run curl -sS -w '\n%{http_code}' -H "Authorization: Bearer $HBK_TEST_TOKEN" -H 'Content-Type: application/json' \
		-d "{\"offer_id\":\"$offer\",\"guest\":{\"name\":\"Fast Fail\",\"email\":\"ff@example.com\"},\"payment_method\":\"pm_card_visa\"}" \
		"$HBKD_URL/v1/bookings"
	assert_line --index 1 503
	echo "${lines[0]}" | jq -e '.code == "partner_unavailable"'
	after=$(sandbox_state | jq '[.requests | to_entries[] | select(.key | startswith("partner.")) | .value] | add')
	[ "$after" = "$before" ]

	# The partner recovers: after the open interval a probe goes through
	# and the circuit closes.
	sandbox_faults '{"reset":true}'
	sleep 6
	run hbk search --city LIS --checkin "$in" --nights 2 -o json
	run hbk book 1 --guest "Back Again" --email back@example.com -o json
	assert_success
	[ "$(echo "$output" | jq -r .status)" = CONFIRMED ]
	run curl -sS "$HBKD_URL/metrics"
	assert_output --partial 'hbk_upstream_circuit_state{upstream="partner"} 0'
	# The failed bookings' compensations finish once the partner answers.
	settled
	[ "$(ours FAILED | wc -l)" -ge 7 ]
}

@test "declines, insufficient funds, 429 with Retry-After and replays never capture more than a booking's total" {
	run hbk search --city LIS --checkin "$in" --nights 2 -o json
	run --separate-stderr hbk book 1 --guest "Declined" --email d@example.com --payment-method pm_card_chargeDeclined -o json
	[ "$status" -eq 5 ]
	[ "$(echo "$output" | jq -r .failure.code)" = payment_declined ]
	run --separate-stderr hbk book 1 --guest "Poor" --email p@example.com --payment-method pm_card_chargeDeclinedInsufficientFunds -o json
	[ "$status" -eq 5 ]
	[ "$(echo "$output" | jq -r .failure.code)" = insufficient_funds ]

	# A third of the payment calls throttled (429, Retry-After: 1): the
	# bookings wait as told and are decided, never left PENDING.
	sandbox_faults '{"endpoint":"payment.*","throttle_rate":0.34}'
	start=$(date +%s)
	confirmed=0
	for i in 1 2 3 4 5 6; do
		run --separate-stderr hbk book "$i" --guest "Throttled $i" --email "t$i@example.com" -o json
		case "$(echo "$output" | jq -r .status)" in
		CONFIRMED) confirmed=$((confirmed + 1)) ;;
		FAILED) [ "$(echo "$output" | jq -r .failure.code)" = payment_unavailable ] ;;
		*) false ;;
		esac
	done
	sandbox_faults '{"reset":true}'
	[ "$confirmed" -gt 0 ]
	# 12 or more payment steps at a 1/3 throttle: some waited a second.
	[ $(($(date +%s) - start)) -ge 1 ]
	[ "$(grep -c '^hbk-sandbox: POST /v1/.* 429 ' "$SANDBOX_LOG")" -gt 0 ]

	# The same Idempotency-Key 10 times: one booking, one payment.
	offer=$(curl -sS -H "Authorization: Bearer $HBK_TEST_TOKEN" \
		"$HBKD_URL/v1/offers?city=LIS&checkin=$in&nights=2&limit=1" | jq -r '.offers[0].offer_id')
	pids=()
	for i in $(seq 1 10); do
		curl -sS -o /dev/null -H "Authorization: Bearer $HBK_TEST_TOKEN" -H 'Content-Type: application/json' \
			-H 'Idempotency-Key: replay-1' \
			-d "{\"offer_id\":\"$offer\",\"guest\":{\"name\":\"Replay\",\"email\":\"r@example.com\"},\"payment_method\":\"pm_card_visa\"}" \
			"$HBKD_URL/v1/bookings" &
		pids+=($!)
	done
	wait "${pids[@]}"
	state=$(sandbox_state)
	[ "$(echo "$state" | jq '[.payment.payment_intents[] | select(.metadata.booking_id != null)] | group_by(.metadata.booking_id) | map(length) | max')" = 1 ]
	# Never more captured than the booking's total.
	for id in $(ours CONFIRMED); do
		total=$(sqlite3 "$HBK_HOME/hbk.db" "SELECT total_minor FROM bookings WHERE id = '$id'")
		captured=$(echo "$state" | jq --arg id "$id" '[.payment.payment_intents[] | select(.metadata.booking_id == $id) | .amount_received] | add // 0')
		[ "$captured" -le "$total" ]
		[ "$captured" = "$total" ]
	done
	[ -z "$(ours PENDING)" ]
}

@test "wrong partner credentials: a clear error naming the partner, exit 7, no secret in any output or log" {
	stop_hbkd
	export HBK_PARTNER_KEY=wrong-key-4b1d HBK_PARTNER_SECRET=wrong-secret-9f7e
	start_hbkd --config "$HBK_CONFIG"
	export HBK_API_URL="$HBKD_URL" HBK_TOKEN="$HBK_TEST_TOKEN"
	run hbk search --city LIS --checkin "$in" --nights 2 -o json
	run hbk book 1 --guest "Ana Silva" --email ana@example.com
	[ "$status" -eq 7 ]
	assert_output --partial "partner rejected the credentials"
	refute_output --partial "API token"
	assert_output --partial partner
	refute_output --partial wrong-key-4b1d
	refute_output --partial wrong-secret-9f7e
	run grep -r -l -e wrong-key-4b1d -e wrong-secret-9f7e "$HBKD_LOG" "$SANDBOX_LOG" "$HBK_HOME"
	[ "$status" -eq 1 ]
}
