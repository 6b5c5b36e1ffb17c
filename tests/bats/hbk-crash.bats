#!/usr/bin/env bats
# Crash safety: hbk book killed with SIGKILL at any point leaves no booking
# PENDING for good. The next command that opens the store, or
# hbk-admin recover, resumes or compensates the saga; every booking ends
# CONFIRMED or FAILED with the rooms, the partner and the payment agreeing.
# HBK_FAULT_KILL_AT kills the process (SIGKILL, as kill -9) right after a
# named step's external call ("capture") or after recording it
# ("capture:recorded"); the last test kills at random moments from outside.
# A saga begun against hbk-sandbox (the partner and the payment provider
# over HTTP) is resumed only by a process configured with the same ones:
# any other leaves it alone and says so.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	seed_once
}

setup() {
	load_libs
	fresh_home
	in=$(day 25)
	hbk search --hotel H-LIS-0001 --checkin "$in" --nights 2 --limit 100 -o json >/dev/null
	line=$(jq '[.offers[] | select(.room_type == "DBL" and .board == "RO" and .refundable)][0].n' \
		"$XDG_CACHE_HOME/hbk/last-search.json")
	start=$(allotment H-LIS-0001 DBL "$in")
}

db() { sqlite3 "$HBK_HOME/hbk.db" "$@"; }

# Every booking is final and agrees with the rooms, the partner and the payments.
assert_consistent() {
	[ "$(db "SELECT COUNT(*) FROM bookings WHERE status = 'PENDING'")" -eq 0 ]
	[ "$(db "SELECT COUNT(*) FROM sagas")" -eq 0 ]
	confirmed=$(db "SELECT COUNT(*) FROM bookings WHERE status = 'CONFIRMED'")
	[ "$(allotment H-LIS-0001 DBL "$in")" -eq $((start - confirmed)) ]
	# A confirmed booking has one partner booking and one captured payment of its total.
	[ "$(db "SELECT COUNT(*) FROM bookings b WHERE b.status = 'CONFIRMED' AND (
		(SELECT COUNT(*) FROM partner_sim_bookings p WHERE p.client_reference = b.id AND p.status = 'CONFIRMED') != 1
		OR b.paid_minor != b.total_minor OR b.refunded_minor != 0)")" -eq 0 ]
	[ "$(db "SELECT COUNT(*) FROM payment_sim_intents i JOIN bookings b ON b.id = i.booking_id
		WHERE b.status = 'CONFIRMED' AND i.status = 'succeeded' AND i.amount_received = b.total_minor")" -eq "$confirmed" ]
	# A failed booking keeps nothing: no live partner booking, no money taken.
	[ "$(db "SELECT COUNT(*) FROM bookings b WHERE b.status = 'FAILED' AND (
		(SELECT COUNT(*) FROM partner_sim_bookings p WHERE p.client_reference = b.id AND p.status = 'CONFIRMED') != 0
		OR b.paid_minor != b.refunded_minor)")" -eq 0 ]
	[ "$(db "SELECT COUNT(*) FROM payment_sim_intents i JOIN bookings b ON b.id = i.booking_id
		WHERE b.status = 'FAILED' AND i.status = 'requires_capture'")" -eq 0 ]
}

book_killed_at() {
	rc=0
	HBK_FAULT_KILL_AT=$1 hbk book "$line" --guest "Kay Nine" --email k9@example.com ${2:+--payment-method $2} \
		>/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 137 ]
	[ "$(db "SELECT COUNT(*) FROM bookings WHERE status = 'PENDING'")" -eq 1 ]
	[ "$(db "SELECT COUNT(*) FROM sagas")" -eq 1 ]
}

@test "killed at each step of the saga, the next command resumes it to CONFIRMED" {
	for step in authorize authorize:recorded partner_book partner_book:recorded capture; do
		book_killed_at "$step"
		# Any command that opens the store recovers first.
		run hbk list -o json
		assert_success
		echo "$output" | jq -e '.bookings[0].status == "CONFIRMED"'
		assert_consistent
	done
	[ "$(db "SELECT COUNT(*) FROM bookings")" -eq 5 ]
	# One payment intent per booking: resumed steps did not charge twice.
	[ "$(db "SELECT COUNT(*) FROM payment_sim_intents")" -eq 5 ]
	[ "$(db "SELECT COUNT(*) FROM partner_sim_bookings")" -eq 5 ]
}

@test "killed during compensation, the next command finishes it to FAILED" {
	printf 'partner:\n  faults:\n    fail: book\n' >"$BATS_TEST_TMPDIR/f.yaml"
	export HBK_CONFIG="$BATS_TEST_TMPDIR/f.yaml"
	for step in payment_void payment_void:recorded; do
		book_killed_at "$step"
		run hbk view "$(db "SELECT id FROM bookings WHERE status = 'PENDING'")" -o json
		assert_success
		echo "$output" | jq -e '.status == "FAILED" and .failure.code == "partner_rejected"'
		assert_consistent
	done
}

@test "a declined card killed mid-saga ends FAILED with the rooms back" {
	book_killed_at authorize pm_card_chargeDeclined
	run hbk-admin recover
	assert_success
	assert_output --partial "recovered 1 saga"
	run hbk list --status FAILED -o json
	echo "$output" | jq -e '.bookings[0].failure.code == "payment_declined"'
	assert_consistent
}

@test "hbk-admin recover resumes orphans and reports none left" {
	book_killed_at capture
	run hbk-admin recover
	assert_success
	assert_output --partial "recovered 1 saga"
	assert_consistent
	book_killed_at partner_book:recorded
	run hbk-admin recover -o json
	assert_success
	echo "$output" | jq -e '.recovered == 1 and .pending == []'
	assert_consistent
	run hbk-admin recover
	assert_success
	assert_output --partial "recovered 0 saga"
}

@test "a saga begun against hbk-sandbox is left alone by a process configured otherwise, and finished by one configured alike" {
	start_sandbox
	export TEST_PARTNER_KEY=sandbox-key TEST_PARTNER_SECRET=sandbox-secret TEST_PAYMENT_KEY=sk_test_sandbox
	conf="$BATS_TEST_TMPDIR/sandbox.yaml"
	cat >"$conf" <<-EOF
		partner: {kind: hotelbeds, url: "$SANDBOX_URL/", api_key: "env:TEST_PARTNER_KEY", secret: "env:TEST_PARTNER_SECRET", timeout_ms: 3000}
		payment: {kind: stripe, url: "$SANDBOX_URL", secret_key: "env:TEST_PAYMENT_KEY", timeout_ms: 3000}
	EOF
	rc=0
	HBK_CONFIG="$conf" HBK_FAULT_KILL_AT=partner_book hbk book "$line" --guest "Kay Nine" \
		--email k9@example.com >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 137 ]
	id=$(db "SELECT booking_id FROM sagas")
	[ -n "$id" ]
	events=$(db "SELECT COUNT(*) FROM events WHERE stream = '$id'")
	pi=$(curl -sS -H "Authorization: Bearer sk_test_sandbox" "$SANDBOX_URL/v1/payment_intents" |
		jq -r --arg id "$id" '.data[] | select(.metadata.booking_id == $id) | .id')
	[[ "$pi" == pi_* ]]
	says="saga of $id left alone: it began with partner hotelbeds $SANDBOX_URL and payment stripe $SANDBOX_URL; this process has partner sandbox and payment sandbox"

	# A plain hbk (the built-in simulators) leaves it as it is and says so.
	run --separate-stderr hbk list -o json
	assert_success
	[ "$stderr" = "hbk: warning: $says (run it with the configuration it began with)" ]
	echo "$output" | jq -e --arg id "$id" '.bookings[] | select(.id == $id) | .status == "PENDING"'
	[ "$(db "SELECT COUNT(*) FROM events WHERE stream = '$id'")" -eq "$events" ]
	[ "$(db "SELECT COUNT(*) FROM payment_sim_intents WHERE booking_id = '$id'")" -eq 0 ]
	[ "$(db "SELECT COUNT(*) FROM partner_sim_bookings WHERE client_reference = '$id'")" -eq 0 ]
	# So does hbk-admin recover, in its output, and hbkd, in its log.
	run --separate-stderr hbk-admin recover
	[ "$status" -eq 6 ]
	assert_line "recovered 0 saga(s)"
	assert_line "pending $id"
	assert_line "left $id: began with partner hotelbeds $SANDBOX_URL and payment stripe $SANDBOX_URL"
	[[ "$stderr" == *"hbk-admin: warning: $says"* ]]
	[[ "$stderr" == *"hbk-admin: error: 1 booking(s) still PENDING: 1 saga(s) began with other providers"* ]]
	run --separate-stderr hbk-admin recover -o json
	echo "$output" | jq -e --arg id "$id" --arg url "$SANDBOX_URL" \
		'.recovered == 0 and .left == [{id: $id, partner: ("hotelbeds " + $url), payment: ("stripe " + $url)}]'
	start_hbkd
	stop_hbkd
	jq -se --arg says "$says" '[.[] | select(.msg == "recovery")] |
		length == 1 and .[0].level == "warn" and (.[0].detail | startswith($says))' "$HBKD_LOG"
	[ "$(db "SELECT COUNT(*) FROM events WHERE stream = '$id'")" -eq "$events" ]
	[ "$(curl -sS -H "Authorization: Bearer sk_test_sandbox" "$SANDBOX_URL/v1/payment_intents/$pi" | jq -r .status)" = requires_capture ]

	# The configuration it began with finishes it, against the sandbox.
	HBK_CONFIG="$conf" run --separate-stderr hbk view "$id" -o json
	assert_success
	[ -z "$stderr" ]
	echo "$output" | jq -e '.status == "CONFIRMED" and .partner.name == "hotelbeds" and .payment.provider == "stripe"'
	[ "$(curl -sS -H "Authorization: Bearer sk_test_sandbox" "$SANDBOX_URL/v1/payment_intents/$pi" | jq -r .status)" = succeeded ]
	[ "$(db "SELECT COUNT(*) FROM sagas")" -eq 0 ]
	[ "$(db "SELECT COUNT(*) FROM payment_sim_intents WHERE booking_id = '$id'")" -eq 0 ]
	stop_sandbox
}

@test "a store made before sagas recorded their providers: migrated, and the kinds the booking names decide" {
	start_sandbox
	export TEST_PAYMENT_KEY=sk_test_sandbox
	conf="$BATS_TEST_TMPDIR/stripe.yaml"
	printf 'payment: {kind: stripe, url: "%s", secret_key: "env:TEST_PAYMENT_KEY"}\n' "$SANDBOX_URL" >"$conf"
	rc=0
	HBK_CONFIG="$conf" HBK_FAULT_KILL_AT=partner_book hbk book "$line" --guest "Kay Nine" \
		--email k9@example.com >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 137 ]
	id=$(db "SELECT booking_id FROM sagas")
	# The store as schema 7 left it: no provider columns.
	db "ALTER TABLE sagas DROP COLUMN partner; ALTER TABLE sagas DROP COLUMN payment; PRAGMA user_version = 7"
	run --separate-stderr hbk list -o json
	assert_success
	[ "$stderr" = "hbk: warning: saga of $id left alone: it began with partner sandbox and payment stripe; this process has partner sandbox and payment sandbox (run it with the configuration it began with)" ]
	[ "$(db "PRAGMA user_version")" -eq 8 ]
	[ "$(db "SELECT partner || '|' || payment FROM sagas")" = "|" ]
	HBK_CONFIG="$conf" run --separate-stderr hbk view "$id" -o json
	assert_success
	echo "$output" | jq -e '.status == "CONFIRMED"'
	[ "$(db "SELECT COUNT(*) FROM sagas")" -eq 0 ]
	stop_sandbox
}

@test "kill -9 at random moments: every booking ends CONFIRMED or FAILED, consistent" {
	for i in $(seq 1 25); do
		pm=pm_card_visa
		[ $((i % 5)) -ne 0 ] || pm=pm_card_chargeDeclined
		hbk book "$line" --guest "R $i" --email "r$i@example.com" --payment-method $pm >/dev/null 2>&1 &
		pid=$!
		sleep "0.00$((RANDOM % 9))$((RANDOM % 10))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	hbk list >/dev/null
	assert_consistent
	# Whatever was cut short, nothing is left half-done.
	[ "$(db "SELECT COUNT(*) FROM bookings WHERE status NOT IN ('CONFIRMED', 'FAILED')")" -eq 0 ]
}
