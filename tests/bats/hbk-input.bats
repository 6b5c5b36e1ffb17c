#!/usr/bin/env bats
# Bad input: each case exits 2 with a one-line message naming the problem,
# and nothing is written to the store (a dump of the inventory, events,
# bookings and sandbox tables is the same before and after).

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
	in=$(day 20)
	hbk search --hotel H-LIS-0001 --checkin "$in" --nights 2 --limit 100 -o json >/dev/null
	before=$(store_dump)
}

# Runs hbk with the arguments; expects exit 2, one line of stderr naming
# the problem ($1 is a pattern the message must contain), no stdout.
refused() {
	local pattern=$1
	shift
	run --separate-stderr hbk "$@"
	[ "$status" -eq 2 ] || { echo "status $status for: hbk $*" >&2; echo "$stderr" >&2; return 1; }
	[ -z "$output" ] || { echo "unexpected stdout: $output" >&2; return 1; }
	local first=${stderr%%$'\n'*}
	[[ "$first" == "hbk: error: "* ]] || { echo "bad message: $stderr" >&2; return 1; }
	[[ "$stderr" == *"$pattern"* ]] || { echo "message lacks '$pattern': $stderr" >&2; return 1; }
	# One line of message; a usage line may follow for usage errors.
	[ "$(printf '%s\n' "$stderr" | grep -c '^hbk: error: ')" -eq 1 ]
	[ "$(store_dump)" = "$before" ]
}

bats_require_minimum_version 1.5.0

@test "checkout not after checkin" {
	refused "checkout must be after checkin" search --city LIS --checkin "$in" --checkout "$in"
	refused "checkout must be after checkin" search --city LIS --checkin "$in" --checkout "$(day 19)"
}

@test "checkin in the past" {
	refused "checkin is in the past" search --city LIS --checkin "$(day -1)" --nights 2
}

@test "a stay over 30 nights" {
	refused "at most 30 nights" search --city LIS --checkin "$in" --checkout "$(day 51)"
	refused "--nights" search --city LIS --checkin "$in" --nights 31
}

@test "0 adults, or more guests than the room holds" {
	refused "at least one adult" search --city LIS --checkin "$in" --nights 2 --adults 0
	# A double for 3 adults, through an edited offer id.
	offer=$(jq -r '[.offers[] | select(.room_type == "DBL")][0].offer_id' "$XDG_CACHE_HOME/hbk/last-search.json")
	body=${offer#OF1.}
	while (( ${#body} % 4 )); do body+="="; done
	raw=$(printf '%s' "$body" | tr -- '-_' '+/' | base64 -d)
	[[ "$raw" == *"|DBL|"* ]]
	edited=$(printf '%s' "$raw" | awk -F'|' 'BEGIN{OFS="|"; ORS=""} {$7=3; print}' | base64 -w0 | tr -- '+/' '-_' | tr -d '=')
	refused "do not fit" book "OF1.$edited" --guest "Three" --email t@example.com
}

@test "unknown city, hotel or room type" {
	refused "unknown city 'XYZ'" search --city XYZ --checkin "$in" --nights 2
	refused "unknown hotel 'H-LIS-9999'" search --hotel H-LIS-9999 --checkin "$in" --nights 2
	id=$(hbk book 1 --guest "Ana" --email ana@example.com -o json | jq -r .id)
	before=$(store_dump)
	refused "unknown room type 'ZZZ'" update "$id" --room-type ZZZ
}

@test "malformed dates" {
	for d in 2026-02-30 2026-13-01 12/01/2026 2026-1-1 tomorrow ""; do
		refused "invalid date" search --city LIS --checkin "$d" --nights 2
	done
	refused "invalid date" list --from 2026-02-30
}

@test "an invalid email" {
	for e in plainaddress "a@b" "@example.com" "ana@@example.com" "ana example@example.com"; do
		refused "invalid email" book 1 --guest "Ana" --email "$e"
	done
}

@test "a card number as a payment method is refused and never stored or echoed" {
	for pm in "4242424242424242" "4242 4242 4242 4242" "4000-0000-0000-0002"; do
		refused "card numbers are not accepted" book 1 --guest "Ana" --email ana@example.com --payment-method "$pm"
		[[ "$stderr" != *"4242"* && "$stderr" != *"0002"* ]]
	done
	! grep -ra "4242424242424242" "$HBK_HOME" "$XDG_CACHE_HOME"
}

@test "negative or non-numeric counts" {
	refused "--adults" search --city LIS --checkin "$in" --nights 2 --adults -1
	refused "--adults" search --city LIS --checkin "$in" --nights 2 --adults two
	refused "--children" search --city LIS --checkin "$in" --nights 2 --children -3
	refused "--rooms" search --city LIS --checkin "$in" --nights 2 --rooms 0
	refused "--limit" search --city LIS --checkin "$in" --nights 2 --limit 1x
	refused "--nights" search --city LIS --checkin "$in" --nights 2.5
	refused "invalid line number" book 0 --guest A --email a@example.com
	refused "--max-price" search --city LIS --checkin "$in" --nights 2 --max-price 12.345
}

@test "unknown options and commands" {
	refused "unknown option '--colour'" search --city LIS --checkin "$in" --nights 2 --colour
	refused "unknown option '-z'" list -z
	refused "unknown command 'boko'" boko
	refused "needs a value" search --city
	refused "unknown output format" list -o yaml
	refused "missing argument" view
	refused "unexpected argument" view BK-1 BK-2
}

@test "a missing or malformed config file names the file and line" {
	refused "cannot read config file $BATS_TEST_TMPDIR/none.yaml" --config "$BATS_TEST_TMPDIR/none.yaml" list
	printf 'store:\n  path: /tmp/x.db\npartner:\n  knd: sandbox\n' >"$BATS_TEST_TMPDIR/typo.yaml"
	refused "$BATS_TEST_TMPDIR/typo.yaml:4: unknown key 'partner.knd'" --config "$BATS_TEST_TMPDIR/typo.yaml" list
	printf 'store:\n  path: [unclosed\nlog:\n  level: info\n' >"$BATS_TEST_TMPDIR/bad.yaml"
	refused "$BATS_TEST_TMPDIR/bad.yaml:" --config "$BATS_TEST_TMPDIR/bad.yaml" list
	printf 'payment:\n  secret_key: sk_test_inline\n' >"$BATS_TEST_TMPDIR/secret.yaml"
	refused "must be a reference" --config "$BATS_TEST_TMPDIR/secret.yaml" list
	[[ "$stderr" != *sk_test_inline* ]]
	HBK_CONFIG="$BATS_TEST_TMPDIR/typo.yaml" refused "unknown key 'partner.knd'" list
}

@test "book without a guest or an email is a usage error" {
	refused "--guest and --email are required" book 1 --email a@example.com
	refused "--guest and --email are required" book 1 --guest A
	refused "malformed offer id" book OF1.garbage --guest A --email a@example.com
	refused "malformed offer id" book XYZ --guest A --email a@example.com
}

@test "an update with nothing to change is a usage error" {
	id=$(hbk book 1 --guest "Ana" --email ana@example.com -o json | jq -r .id)
	before=$(store_dump)
	refused "nothing to update" update "$id"
	refused "checkout must be after checkin" update "$id" --checkout "$in"
	refused "invalid email" update "$id" --email nope
}
