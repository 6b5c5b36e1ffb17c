#!/usr/bin/env bats
# The saga's unhappy paths on the embedded store: declined cards end FAILED
# with the rooms released and nothing left open at the partner; a partner
# failure forced after the payment is authorized voids the payment and
# releases the rooms; changes to CANCELLED or FAILED bookings are refused
# (exit 4); unknown ids exit 3. Checked against the sandbox's own tables.

load helpers

setup_file() {
	seed_once
}

teardown() {
	remote_down
}

setup() {
	load_libs
	fresh_home
	checkin=$(day 30)
	hbk search --hotel H-LIS-0001 --checkin "$checkin" --nights 2 --adults 1 --limit 100 -o json >/dev/null
	before_allot=$(allotment H-LIS-0001 SGL "$checkin")
}

db() { sqlite3 "$HBK_HOME/hbk.db" "$@"; }

# The line of the last search for a room type and board.
line_of() {
	jq -r --arg r "$1" --arg b "$2" '[.offers[] | select(.room_type == $r and .board == $b and .refundable)][0].n' \
		"$XDG_CACHE_HOME/hbk/last-search.json"
}

@test "pm_card_chargeDeclined: FAILED payment_declined, exit 5, rooms released, nothing at the partner" {
	n=$(line_of SGL RO)
	rc=0
	hbk book "$n" --guest "Dee Klined" --email dee@example.com --payment-method pm_card_chargeDeclined \
		-o json >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || rc=$?
	[ "$rc" -eq 5 ]
	# stdout has the FAILED booking, stderr one line with the reason
	id=$(jq -r .id "$BATS_TEST_TMPDIR/out")
	jq -e '.status == "FAILED" and .failure.code == "payment_declined"' "$BATS_TEST_TMPDIR/out"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/err")" -eq 1 ]
	grep -q "^hbk: error: booking $id failed: card declined" "$BATS_TEST_TMPDIR/err"
	run hbk view "$id" -o json
	echo "$output" | jq -e '.status == "FAILED" and .failure.code == "payment_declined" and .paid.amount == "0.00"'
	[ "$(allotment H-LIS-0001 SGL "$checkin")" -eq "$before_allot" ]
	[ "$(db "SELECT COUNT(*) FROM partner_sim_bookings WHERE client_reference = '$id'")" -eq 0 ]
	[ "$(db "SELECT COUNT(*) FROM payment_sim_intents WHERE status IN ('requires_capture', 'succeeded')")" -eq 0 ]
	[ "$(db "SELECT COUNT(*) FROM sagas")" -eq 0 ]
	# The message names the problem on stderr.
	run hbk book "$(line_of SGL RO)" --guest "Dee Klined" --email dee@example.com --payment-method pm_card_chargeDeclined
	assert_failure 5
	assert_output --partial "card declined"
}

@test "insufficient funds: FAILED insufficient_funds, exit 5" {
	run hbk book "$(line_of SGL RO)" --guest "Poor" --email poor@example.com --payment-method pm_card_chargeDeclinedInsufficientFunds -o json
	assert_failure 5
	run hbk list --status FAILED -o json
	echo "$output" | jq -e '.bookings[0].failure.code == "insufficient_funds"'
	[ "$(allotment H-LIS-0001 SGL "$checkin")" -eq "$before_allot" ]
}

@test "a partner failure after the payment is authorized voids it and releases the rooms" {
	mkdir -p "$XDG_CONFIG_HOME/hbk"
	printf 'partner:\n  faults:\n    fail: book\n' >"$XDG_CONFIG_HOME/hbk/hbk.yaml"
	remote_restart
	run hbk book "$(line_of SGL RO)" --guest "Par Tner" --email p@example.com -o json
	assert_failure 5
	run hbk list --status FAILED -o json
	id=$(echo "$output" | jq -r '.bookings[0].id')
	echo "$output" | jq -e '.bookings[0].failure.code == "partner_rejected" and (.bookings[0].failure.message | test("partner refused"))'
	# The authorization was made, then voided.
	[ "$(db "SELECT status FROM payment_sim_intents WHERE id = (SELECT json_extract(data, '$.reference') FROM events WHERE stream = '$id' AND type = 'hbk.booking.payment_authorized.v1')")" = canceled ]
	[ "$(db "SELECT COUNT(*) FROM events WHERE stream = '$id' AND type = 'hbk.booking.payment_voided.v1'")" -eq 1 ]
	[ "$(allotment H-LIS-0001 SGL "$checkin")" -eq "$before_allot" ]
	[ "$(db "SELECT COUNT(*) FROM partner_sim_bookings WHERE client_reference = '$id'")" -eq 0 ]
}

@test "a partner that keeps timing out fails the booking as unavailable (exit 6), nothing left open" {
	mkdir -p "$XDG_CONFIG_HOME/hbk"
	printf 'partner:\n  faults:\n    error_rate: 1\n' >"$XDG_CONFIG_HOME/hbk/hbk.yaml"
	remote_restart
	run hbk book "$(line_of SGL RO)" --guest "Time Out" --email t@example.com -o json
	assert_failure 6
	run hbk list --status FAILED -o json
	echo "$output" | jq -e '.bookings[0].failure.code == "partner_unavailable"'
	[ "$(allotment H-LIS-0001 SGL "$checkin")" -eq "$before_allot" ]
	[ "$(db "SELECT COUNT(*) FROM payment_sim_intents WHERE status IN ('requires_capture', 'succeeded')")" -eq 0 ]
}

@test "an authorization whose answers were all lost is found by its key and voided: FAILED, nothing held" {
	mkdir -p "$XDG_CONFIG_HOME/hbk"
	# The simulator authorizes each time, and every answer is lost.
	printf 'payment:\n  faults:\n    lose: authorize\n' >"$XDG_CONFIG_HOME/hbk/hbk.yaml"
	remote_restart
	run hbk book "$(line_of SGL RO)" --guest "Lost Answer" --email l@example.com -o json
	assert_failure 6
	id=$(db "SELECT id FROM bookings WHERE status = 'FAILED'")
	[ -n "$id" ]
	[ "$(db "SELECT json_extract(doc, '$.failure.code') FROM bookings WHERE id = '$id'")" = payment_unavailable ]
	# One authorization under the key, voided by the compensation.
	[ "$(db "SELECT status FROM payment_sim_intents WHERE booking_id = '$id'")" = canceled ]
	[ "$(db "SELECT COUNT(*) FROM events WHERE stream = '$id' AND type = 'hbk.booking.payment_voided.v1'")" -eq 1 ]
	[ "$(allotment H-LIS-0001 SGL "$checkin")" -eq "$before_allot" ]
	[ "$(db "SELECT COUNT(*) FROM sagas")" -eq 0 ]
}

@test "updating or cancelling a CANCELLED booking: exit 4 with a clear message" {
	id=$(hbk book "$(line_of SGL RO)" --guest "C" --email c@example.com -o json | jq -r .id)
	hbk cancel "$id" -q >/dev/null
	before=$(store_dump)
	run hbk cancel "$id"
	assert_failure 4
	assert_output "hbk: error: cannot cancel booking $id: it is CANCELLED"
	run hbk update "$id" --checkout "$(day 33)"
	assert_failure 4
	assert_output --partial "cannot update booking $id: it is CANCELLED"
	run hbk update "$id" --email new@example.com
	assert_failure 4
	[ "$(store_dump)" = "$before" ]
}

@test "updating or cancelling a FAILED booking: exit 4" {
	hbk book "$(line_of SGL RO)" --guest "F" --email f@example.com --payment-method pm_card_chargeDeclined -o json >/dev/null || true
	id=$(hbk list --status FAILED -o json | jq -r '.bookings[0].id')
	run hbk cancel "$id"
	assert_failure 4
	assert_output --partial "it is FAILED"
	run hbk update "$id" --adults 1
	assert_failure 4
	assert_output --partial "it is FAILED"
}

@test "an unknown booking id: exit 3 for view, update, cancel and history" {
	for cmd in view history "cancel" "update --adults 1"; do
		run hbk $cmd BK-0000000000ZZZZZZZZ
		assert_failure 3
		assert_output --partial "no booking BK-0000000000ZZZZZZZZ"
	done
	run hbk view not-an-id
	assert_failure 3
}

@test "a stale --if-match version is refused with exit 4" {
	id=$(hbk book "$(line_of SGL RO)" --guest "V" --email v@example.com -o json | jq -r .id)
	run hbk update "$id" --email w@example.com --if-match 7
	assert_failure 4
	assert_output --partial "version 1, not 7"
	run hbk update "$id" --email w@example.com --if-match 1 -o json
	assert_success
	echo "$output" | jq -e '.version == 2'
}

@test "an update the partner refuses leaves the booking as it was" {
	id=$(hbk book "$(line_of SGL RO)" --guest "M" --email m@example.com -o json | jq -r .id)
	printf 'partner:\n  faults:\n    fail: modify\n' >"$BATS_TEST_TMPDIR/f.yaml"
	remote_restart --config "$BATS_TEST_TMPDIR/f.yaml"
	old_night=$(allotment H-LIS-0001 SGL "$checkin")
	new_night=$(allotment H-LIS-0001 SGL "$(day 32)")
	run hbk --config "$BATS_TEST_TMPDIR/f.yaml" update "$id" --checkout "$(day 33)" -o json
	assert_failure 5
	run hbk view "$id" -o json
	echo "$output" | jq -e '.status == "CONFIRMED" and .version == 1 and .checkout == "'"$(day 32)"'"'
	[ "$(allotment H-LIS-0001 SGL "$checkin")" -eq "$old_night" ]
	[ "$(allotment H-LIS-0001 SGL "$(day 32)")" -eq "$new_night" ]
	# Nothing charged for the change.
	[ "$(db "SELECT COUNT(*) FROM payment_sim_intents WHERE status = 'succeeded'")" -eq 1 ]
}

@test "a blacked-out night is not offered, and an offer over it cannot be booked" {
	row=$(db "SELECT hotel_id, night FROM blackouts ORDER BY night LIMIT 1")
	hotel=${row%|*}
	night=$(date -u -d "@$(( ${row#*|} * 86400 ))" +%F)
	day_before=$(date -u -d "$night -1 day" +%F)
	run hbk search --hotel "$hotel" --checkin "$day_before" --nights 2 --adults 1 -o json
	assert_success
	echo "$output" | jq -e '.offers == []'
	# The night before alone is sold; an edited offer over the closed night is refused.
	run hbk search --hotel "$hotel" --checkin "$day_before" --nights 1 --adults 1 -o json
	offer=$(echo "$output" | jq -r '.offers[0].offer_id')
	[ "$offer" != null ]
	body=${offer#OF1.}
	while (( ${#body} % 4 )); do body+="="; done
	raw=$(printf '%s' "$body" | tr -- '-_' '+/' | base64 -d)
	out=$(printf '%s' "$raw" | awk -F'|' 'BEGIN{OFS="|"; ORS=""} {$6=$6+1; print}' | base64 -w0 | tr -- '+/' '-_' | tr -d '=')
	before=$(store_dump)
	run hbk book "OF1.$out" --guest "Closed" --email closed@example.com
	assert_failure 4
	assert_output --partial "closed"
	[ "$(store_dump)" = "$before" ]
}
