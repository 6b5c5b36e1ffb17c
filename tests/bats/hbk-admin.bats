#!/usr/bin/env bats
# hbk-admin as an operator uses it: init creates and seeds the store (the
# demo catalog's size and shape), is safe to run again, refuses to reseed
# under bookings; hotel and inventory listings in every format; config show
# masks secrets; errors have their documented exit codes.

load helpers

setup() {
	load_libs
	export HBK_HOME="$BATS_TEST_TMPDIR/home"
	export XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config"
	unset HBK_CONFIG HBK_API_URL
}

db() { sqlite3 "$HBK_HOME/hbk.db" "$@"; }

@test "init --demo seeds at least 200 hotels in 12 cities, 3 to 6 room types, 400 days" {
	run hbk-admin init --demo
	assert_success
	[ "$(db "SELECT COUNT(*) FROM hotels")" -ge 200 ]
	[ "$(db "SELECT COUNT(DISTINCT city) FROM hotels")" -ge 12 ]
	[ "$(db "SELECT COUNT(*) FROM (SELECT hotel_id, COUNT(*) n FROM room_types GROUP BY hotel_id) WHERE n < 3 OR n > 6")" -eq 0 ]
	[ "$(db "SELECT MIN(n) FROM (SELECT COUNT(*) n FROM inventory GROUP BY hotel_id, room_type)")" -eq 400 ]
	today=$(( $(date -u +%s) / 86400 ))
	[ "$(db "SELECT MIN(night) FROM inventory")" -eq "$today" ]
	[ "$(db "SELECT COUNT(*) FROM blackouts")" -gt 0 ]
	[ "$(db "SELECT COUNT(*) FROM hotels WHERE sells_refundable = 1")" -gt 0 ]
	[ "$(db "SELECT COUNT(*) FROM hotels WHERE nrf_discount_pct > 0")" -gt 0 ]
}

@test "init without --demo creates an empty store, and running it again is harmless" {
	run hbk-admin init
	assert_success
	[ -f "$HBK_HOME/hbk.db" ]
	[ "$(db "SELECT COUNT(*) FROM hotels")" -eq 0 ]
	run hbk-admin init
	assert_success
	run hbk search --city LIS --checkin "$(day 3)" --nights 1
	assert_failure 2
	assert_output --partial "unknown city"
}

@test "the demo catalog is deterministic" {
	hbk-admin -q init --demo
	a=$(db "SELECT SUM(price_minor), SUM(allotment), COUNT(*) FROM inventory; SELECT group_concat(name) FROM hotels")
	HBK_HOME="$BATS_TEST_TMPDIR/other" hbk-admin -q init --demo
	b=$(sqlite3 "$BATS_TEST_TMPDIR/other/hbk.db" "SELECT SUM(price_minor), SUM(allotment), COUNT(*) FROM inventory; SELECT group_concat(name) FROM hotels")
	[ "$a" = "$b" ]
}

@test "reseeding a store with bookings needs --force" {
	hbk-admin -q init --demo
	hbk search --city LIS --checkin "$(day 5)" --nights 1 -o json >/dev/null
	hbk book 1 --guest A --email a@example.com -q >/dev/null
	run hbk-admin init --demo
	assert_failure 4
	[ "$(db "SELECT COUNT(*) FROM bookings")" -eq 1 ]
}

@test "hotel list, hotel show and inventory show in table, json and csv" {
	hbk-admin -q init --demo
	run hbk-admin hotel list --city LIS
	assert_success
	assert_line --index 0 --regexp '^ID +NAME +CITY +STARS'
	[ "${#lines[@]}" -eq 16 ]
	run hbk-admin hotel list -o json
	echo "$output" | jq -e '(.hotels | length) >= 200 and (.hotels[0] | has("id") and has("stars") and has("currency"))'
	run hbk-admin hotel show H-LIS-0001 -o json
	assert_success
	echo "$output" | jq -e '.id == "H-LIS-0001" and .city == "LIS" and (.room_types | length) >= 3 and (.boards | map(.code) | index("RO")) != null'
	run hbk-admin hotel show H-LIS-0001
	assert_success
	assert_output --partial "Double Room"
	run hbk-admin inventory show --hotel H-LIS-0001 --from "$(day 1)" --to "$(day 3)" -o csv
	assert_success
	assert_line --index 0 --partial "NIGHT,ROOM,AVAILABLE"
	run hbk-admin inventory show --hotel H-LIS-0001 --from "$(day 1)" --to "$(day 3)" -o json
	echo "$output" | jq -e '.hotel == "H-LIS-0001" and (.inventory | length) > 0 and (.inventory[0].price.amount | test("^[0-9]+\\.[0-9]{2}$"))'
}

@test "admin errors: unknown hotel 3, bad dates and missing options 2, no store 3" {
	run hbk-admin hotel show H-LIS-0001
	assert_failure 3
	assert_output --partial "hbk-admin init"
	hbk-admin -q init --demo
	run hbk-admin hotel show H-NOPE-0001
	assert_failure 3
	run hbk-admin inventory show --hotel H-LIS-0001 --from 2026-02-30 --to "$(day 3)"
	assert_failure 2
	run hbk-admin inventory show --from "$(day 1)" --to "$(day 3)"
	assert_failure 2
	run hbk-admin hotel list --city NOPE
	assert_failure 2
	run hbk-admin bogus
	assert_failure 2
}

@test "config show masks secrets and names the file" {
	secret_file="$BATS_TEST_TMPDIR/partner.secret"
	echo "super-secret-partner-value" >"$secret_file"
	export PAYMENT_KEY=sk_test_should_not_show
	printf 'partner:\n  kind: sandbox\n  secret: file:%s\npayment:\n  secret_key: env:PAYMENT_KEY\n' "$secret_file" >"$BATS_TEST_TMPDIR/c.yaml"
	run hbk-admin --config "$BATS_TEST_TMPDIR/c.yaml" config show
	assert_success
	assert_output --partial "$BATS_TEST_TMPDIR/c.yaml"
	assert_output --partial "partner.secret: <secret>"
	assert_output --partial "payment.secret_key: <secret>"
	refute_output --partial "super-secret-partner-value"
	refute_output --partial "sk_test_should_not_show"
}
