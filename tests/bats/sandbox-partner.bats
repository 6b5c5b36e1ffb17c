#!/usr/bin/env bats
# The partner protocol of hbk-sandbox (the Hotelbeds APItude shape of
# PROTOCOLS.md) and the hotelbeds adapter against it. The protocol is
# driven with curl and checked field by field: authentication (401 on a
# missing, wrong or stale signature), the availability shape, checkrates,
# bookings create / duplicate clientReference / get / list with paging and
# filter / modify / cancel. Then the adapter: hbk-admin inventory sync
# fills an empty store with what the demo catalog holds and a second run
# changes nothing; hbk books through the adapter, including a create whose
# answer is lost (looked up, booked once); wrong credentials exit 7 naming
# the partner, and neither key nor secret appears in any output or log.

load helpers

setup_file() {
	seed_once
}

setup() {
	load_libs
	fresh_home
	start_sandbox
	in=$(day 20)
	out=$(day 22)
}

teardown() {
	stop_sandbox
}

# X-Signature for a key, a secret and a unix time.
sig() {
	printf '%s%s%s' "$1" "$2" "$3" | sha256sum | cut -d' ' -f1
}

# curl on the partner API with the sandbox's credentials; prints the body
# and the status on the last line. $1: method, $2: path, $3: body (optional).
partner() {
	local ts
	ts=$(date +%s)
	curl -sS -w '\n%{http_code}' -X "$1" -H 'Content-Type: application/json' \
		-H "Api-key: sandbox-key" -H "X-Signature: $(sig sandbox-key sandbox-secret "$ts")" \
		${3:+-d "$3"} "$SANDBOX_URL/hotel-api/1.0$2"
}

status_of() { tail -n 1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

availability_body() {
	printf '{"stay":{"checkIn":"%s","checkOut":"%s"},"occupancies":[{"rooms":1,"adults":2,"children":0}],"hotels":{"hotel":[%s]}}' \
		"$in" "$out" "${1:-1001}"
}

# A rateKey of hotel 1001: $1 rateClass, $2 board, $3 room.
rate_key() {
	local answer
	answer=$(partner POST /hotels "$(availability_body)")
	body_of "$answer" | jq -r --arg c "$1" --arg b "$2" --arg r "$3" \
		'.hotels.hotels[0].rooms[] | select(.code == $r) | .rates[] | select(.rateClass == $c and .boardCode == $b) | .rateKey'
}

create_body() {
	printf '{"holder":{"name":"Ana","surname":"Silva"},"rooms":[{"rateKey":"%s","paxes":[{"roomId":1,"type":"AD","name":"Ana","surname":"Silva"},{"roomId":1,"type":"AD","name":"Rui","surname":"Silva"}]}],"clientReference":"%s"}' \
		"$1" "$2"
}

# The configuration of the hotelbeds adapter against the sandbox.
write_config() {
	export HBK_CONFIG="$BATS_TEST_TMPDIR/hbk.yaml"
	cat >"$HBK_CONFIG" <<-EOF
		store: {path: $HBK_HOME/hbk.db}
		partner: {kind: hotelbeds, url: "$SANDBOX_URL", api_key: "env:TEST_PARTNER_KEY", secret: "env:TEST_PARTNER_SECRET", timeout_ms: ${1:-2000}}
	EOF
}

@test "requests without a valid Api-key and X-Signature are refused with 401 in the protocol's shape" {
	run curl -sS -w '\n%{http_code}' -X POST -d "$(availability_body)" "$SANDBOX_URL/hotel-api/1.0/hotels"
	assert_success
	[ "$(status_of "$output")" = 401 ]
	[ "$(body_of "$output" | jq -r '.error.code | length > 0')" = true ]
	[ "$(body_of "$output" | jq -r '.error.message | length > 0')" = true ]

	now=$(date +%s)
	for pair in "sandbox-key:wrong-secret:$now" "other-key:sandbox-secret:$now" \
		"sandbox-key:sandbox-secret:$((now - 400))" "sandbox-key:sandbox-secret:$((now + 400))"; do
		IFS=: read -r key secret ts <<<"$pair"
		run curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Api-key: $key" \
			-H "X-Signature: $(sig "$key" "$secret" "$ts")" -d "$(availability_body)" \
			"$SANDBOX_URL/hotel-api/1.0/hotels"
		[ "$output" = 401 ] || { echo "accepted $pair" >&2; false; }
	done

	# A signature made 200 s ago is within the allowed skew.
	run curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Api-key: sandbox-key" \
		-H "X-Signature: $(sig sandbox-key sandbox-secret $((now - 200)))" \
		-d "$(availability_body)" "$SANDBOX_URL/hotel-api/1.0/hotels"
	[ "$output" = 200 ]
}

@test "availability answers the documented shape: integer codes, string nets, rate classes and types" {
	run partner POST /hotels "$(availability_body 1001,1002)"
	[ "$(status_of "$output")" = 200 ]
	doc=$(body_of "$output")
	[ "$(jq -r '.hotels.checkIn' <<<"$doc")" = "$in" ]
	[ "$(jq -r '.hotels.checkOut' <<<"$doc")" = "$out" ]
	[ "$(jq -r '.hotels.total' <<<"$doc")" = 2 ]
	[ "$(jq -r '[.hotels.hotels[].code | type] | unique | join(",")' <<<"$doc")" = number ]
	[ "$(jq -r '[.hotels.hotels[].code] | sort | join(",")' <<<"$doc")" = 1001,1002 ]
	[ "$(jq -r '.hotels.hotels[] | select(.code == 1001) | .destinationCode' <<<"$doc")" = LIS ]
	[ "$(jq -r '.hotels.hotels[] | select(.code == 1001) | .currency' <<<"$doc")" = EUR ]
	[ "$(jq -r '.hotels.hotels[0].minRate | type' <<<"$doc")" = string ]
	# Every rate carries its key, class, type, a decimal-string net, an
	# integer allotment, its board, occupancy and string policy amounts.
	rates=$(jq -c '[.hotels.hotels[].rooms[].rates[]]' <<<"$doc")
	[ "$(jq 'length > 10' <<<"$rates")" = true ]
	[ "$(jq 'all(.[]; (.rateKey | type) == "string" and (.rateKey | length) > 10)' <<<"$rates")" = true ]
	[ "$(jq 'all(.[]; (.net | type) == "string" and (.net | test("^[0-9]+\\.[0-9]{2}$")))' <<<"$rates")" = true ]
	[ "$(jq 'all(.[]; (.allotment | type) == "number" and .allotment > 0)' <<<"$rates")" = true ]
	[ "$(jq 'all(.[]; .rateClass == "NOR" or .rateClass == "NRF")' <<<"$rates")" = true ]
	[ "$(jq 'all(.[]; .rooms == 1 and .adults == 2 and .children == 0)' <<<"$rates")" = true ]
	[ "$(jq 'all(.[]; (.cancellationPolicies[0].amount | type) == "string")' <<<"$rates")" = true ]
	[ "$(jq 'all(.[]; .cancellationPolicies[0].from | test("T[0-9:]+\\+00:00$"))' <<<"$rates")" = true ]
	# Non-refundable rates must be rechecked, refundable ones are bookable.
	[ "$(jq 'all(.[] | select(.rateClass == "NRF"); .rateType == "RECHECK")' <<<"$rates")" = true ]
	[ "$(jq 'all(.[] | select(.rateClass == "NOR"); .rateType == "BOOKABLE")' <<<"$rates")" = true ]
	[ "$(jq '[.[] | select(.rateType == "RECHECK")] | length > 0' <<<"$rates")" = true ]
	# Prices are the catalog's: the same stay quoted by hbk search.
	net=$(jq -r '.hotels.hotels[] | select(.code == 1001) | .rooms[] | select(.code == "DBL") | .rates[] | select(.rateClass == "NOR" and .boardCode == "BB") | .net' <<<"$doc")
	run hbk search --hotel H-LIS-0001 --checkin "$in" --checkout "$out" --adults 2 -o json
	assert_success
	[ "$(jq -r '.offers[] | select(.room_type == "DBL" and .board == "BB" and .refundable) | .total.amount' <<<"$output")" = "$net" ]

	# A destination lists its hotels; an unknown hotel code is simply absent.
	run partner POST /hotels "{\"stay\":{\"checkIn\":\"$in\",\"checkOut\":\"$out\"},\"occupancies\":[{\"rooms\":1,\"adults\":1,\"children\":0}],\"destination\":{\"code\":\"OPO\"}}"
	[ "$(status_of "$output")" = 200 ]
	[ "$(body_of "$output" | jq '.hotels.total > 5 and all(.hotels.hotels[]; .destinationCode == "OPO")')" = true ]
	run partner POST /hotels "$(availability_body 424242)"
	[ "$(status_of "$output")" = 200 ]
	[ "$(body_of "$output" | jq '.hotels.total')" = 0 ]
	# Bad input is a 400 in the protocol's shape.
	run partner POST /hotels '{"stay":{"checkIn":"2026-02-30"}}'
	[ "$(status_of "$output")" = 400 ]
	[ "$(body_of "$output" | jq -r .error.code)" = INVALID_REQUEST ]
}

@test "availability filters: boards and rooms keep or leave out codes; a board's rates are those of the whole answer" {
	# The rates of board $1 in an unfiltered answer, "now" times masked.
	board_of_all() {
		jq -S --arg b "$1" '[.hotels.hotels[] | [.rooms[] | .rates |= map(select(.boardCode == $b))
			| select(.rates | length > 0)] | select(length > 0)]' | sed -E 's/"from": "[0-9T:-]+/"from": "T/'
	}
	rooms_of() { jq -S '[.hotels.hotels[] | .rooms]' | sed -E 's/"from": "[0-9T:-]+/"from": "T/'; }
	for occupancy in '{"rooms":1,"adults":2,"children":0}' '{"rooms":1,"adults":1,"children":1}' \
		'{"rooms":2,"adults":4,"children":0}' '{"rooms":1,"adults":3,"children":0}'; do
		stay="\"stay\":{\"checkIn\":\"$in\",\"checkOut\":\"$out\"},\"occupancies\":[$occupancy],\"hotels\":{\"hotel\":[1001,2003,9001]}"
		run partner POST /hotels "{$stay}"
		[ "$(status_of "$output")" = 200 ]
		all=$(body_of "$output")
		for board in RO BB HB AI; do
			run partner POST /hotels "{$stay,\"boards\":{\"included\":true,\"board\":[\"$board\"]}}"
			[ "$(status_of "$output")" = 200 ]
			[ "$(body_of "$output" | rooms_of)" = "$(board_of_all "$board" <<<"$all")" ]
		done
	done
	[ "$(board_of_all BB <<<"$all" | jq 'flatten | length > 0')" = true ]
	# Several boards, the rooms filter, "included" as a string and false.
	run partner POST /hotels "{$(availability_body | sed 's/^{//; s/}$//'),\"boards\":{\"included\":\"true\",\"board\":[\"RO\",\"BB\"]},\"rooms\":{\"included\":true,\"room\":[\"DBL\"]}}"
	[ "$(status_of "$output")" = 200 ]
	doc=$(body_of "$output")
	[ "$(jq -r '[.hotels.hotels[].rooms[].code] | unique | join(",")' <<<"$doc")" = DBL ]
	[ "$(jq -r '[.hotels.hotels[].rooms[].rates[].boardCode] | unique | join(",")' <<<"$doc")" = BB,RO ]
	[ "$(jq -r '.hotels.hotels[0] | (.minRate | tonumber) == ([.rooms[].rates[].net | tonumber] | min)' <<<"$doc")" = true ]
	run partner POST /hotels "{$(availability_body | sed 's/^{//; s/}$//'),\"boards\":{\"included\":false,\"board\":[\"RO\"]}}"
	[ "$(status_of "$output")" = 200 ]
	[ "$(body_of "$output" | jq '[.hotels.hotels[].rooms[].rates[].boardCode] | (length > 0) and all(. != "RO")')" = true ]
	# A malformed filter is a 400.
	run partner POST /hotels "{$(availability_body | sed 's/^{//; s/}$//'),\"boards\":{\"board\":\"RO\"}}"
	[ "$(status_of "$output")" = 400 ]
	[ "$(body_of "$output" | jq -r .error.code)" = INVALID_REQUEST ]
}

@test "checkrates confirms a RECHECK rate as BOOKABLE at the catalog's price" {
	key=$(rate_key NRF RO DBL)
	[ -n "$key" ]
	run partner POST /checkrates "{\"rooms\":[{\"rateKey\":\"$key\"}]}"
	[ "$(status_of "$output")" = 200 ]
	doc=$(body_of "$output")
	[ "$(jq -r .hotel.code <<<"$doc")" = 1001 ]
	[ "$(jq -r '.hotel.rooms[0].rates[0].rateType' <<<"$doc")" = BOOKABLE ]
	[ "$(jq -r '.hotel.rooms[0].rates[0].rateClass' <<<"$doc")" = NRF ]
	[ "$(jq -r '.hotel.totalNet | type' <<<"$doc")" = string ]
	run partner POST /checkrates '{"rooms":[{"rateKey":"not-a-key"}]}'
	[ "$(status_of "$output")" = 400 ]
}

@test "bookings: create, duplicate clientReference refused, get, list with filter and paging, modify, cancel" {
	key=$(rate_key NOR BB DBL)
	run partner POST /bookings "$(create_body "$key" BK-TEST-1)"
	[ "$(status_of "$output")" = 200 ]
	doc=$(body_of "$output")
	ref=$(jq -r .booking.reference <<<"$doc")
	[[ "$ref" =~ ^102-[0-9]{9}$ ]]
	[ "$(jq -r .booking.status <<<"$doc")" = CONFIRMED ]
	[ "$(jq -r .booking.clientReference <<<"$doc")" = BK-TEST-1 ]
	[ "$(jq -r .booking.holder.surname <<<"$doc")" = Silva ]
	[ "$(jq -r .booking.hotel.code <<<"$doc")" = 1001 ]
	[ "$(jq -r '.booking.hotel.totalNet | type' <<<"$doc")" = string ]
	[ "$(jq -r '.booking.totalNet | type' <<<"$doc")" = number ]
	[ "$(jq -r '.booking.pendingAmount | type' <<<"$doc")" = number ]
	[ "$(jq -r '.booking.hotel.rooms[0].rates[0].boardCode' <<<"$doc")" = BB ]

	# The same clientReference again: refused, and nothing new is booked.
	run partner POST /bookings "$(create_body "$key" BK-TEST-1)"
	[ "$(status_of "$output")" = 409 ]
	[ "$(body_of "$output" | jq -r .error.message | grep -ci duplicate)" = 1 ]
	[ "$(curl -sS "$SANDBOX_URL/__sandbox/state" | jq '.partner.bookings | length')" = 1 ]

	run partner GET "/bookings/$ref"
	[ "$(status_of "$output")" = 200 ]
	[ "$(body_of "$output" | jq -r .booking.clientReference)" = BK-TEST-1 ]
	run partner GET /bookings/102-000000000
	[ "$(status_of "$output")" = 404 ]

	for n in 2 3 4; do
		run partner POST /bookings "$(create_body "$(rate_key NOR RO TWN)" "BK-TEST-$n")"
		[ "$(status_of "$output")" = 200 ]
	done
	window="start=$(day -1)&end=$(day 1)&filterType=CREATION"
	run partner GET "/bookings?$window&from=1&to=3"
	[ "$(status_of "$output")" = 200 ]
	[ "$(body_of "$output" | jq -c '[.bookings.from, .bookings.to, .bookings.total, (.bookings.bookings | length)]')" = '[1,3,4,3]' ]
	run partner GET "/bookings?$window&from=4&to=6"
	[ "$(body_of "$output" | jq -c '[.bookings.from, .bookings.to, .bookings.total, .bookings.bookings[0].clientReference]')" = '[4,4,4,"BK-TEST-4"]' ]
	run partner GET "/bookings?$window&from=1&to=10&clientReference=BK-TEST-3"
	[ "$(body_of "$output" | jq -c '[.bookings.total, .bookings.bookings[0].clientReference]')" = '[1,"BK-TEST-3"]' ]
	run partner GET "/bookings?start=$in&end=$in&filterType=CHECKIN&from=1&to=10"
	[ "$(body_of "$output" | jq .bookings.total)" = 4 ]
	run partner GET "/bookings?start=$(day 100)&end=$(day 101)&filterType=CHECKIN&from=1&to=10"
	[ "$(body_of "$output" | jq .bookings.total)" = 0 ]
	run partner GET "/bookings?from=1&to=10"
	[ "$(status_of "$output")" = 400 ]

	# Modify: SIMULATION prices without writing, UPDATE writes.
	longer=$(day 23)
	change="{\"booking\":{\"hotel\":{\"code\":1001,\"checkIn\":\"$in\",\"checkOut\":\"$longer\",\"rooms\":[{\"code\":\"DBL\",\"rates\":[{\"boardCode\":\"BB\",\"rateClass\":\"NOR\",\"rooms\":1,\"adults\":2,\"children\":0}]}]}}}"
	run partner PUT "/bookings/$ref" "{\"mode\":\"SIMULATION\",${change:1}"
	[ "$(status_of "$output")" = 200 ]
	[ "$(body_of "$output" | jq -r .booking.hotel.checkOut)" = "$longer" ]
	run partner GET "/bookings/$ref"
	[ "$(body_of "$output" | jq -r .booking.hotel.checkOut)" = "$out" ]
	run partner PUT "/bookings/$ref" "{\"mode\":\"UPDATE\",${change:1}"
	[ "$(status_of "$output")" = 200 ]
	run partner GET "/bookings/$ref"
	[ "$(body_of "$output" | jq -r .booking.hotel.checkOut)" = "$longer" ]

	# Cancel: SIMULATION reports the penalty and changes nothing; then
	# CANCELLATION; a second CANCELLATION answers the cancelled booking.
	run partner DELETE "/bookings/$ref?cancellationFlag=SIMULATION"
	[ "$(status_of "$output")" = 200 ]
	[ "$(body_of "$output" | jq -r .booking.status)" = CONFIRMED ]
	[ "$(body_of "$output" | jq -r '.booking.hotel.cancellationAmount')" = 0 ]
	run partner DELETE "/bookings/$ref?cancellationFlag=CANCELLATION"
	[ "$(status_of "$output")" = 200 ]
	[ "$(body_of "$output" | jq -r .booking.status)" = CANCELLED ]
	run partner DELETE "/bookings/$ref?cancellationFlag=CANCELLATION"
	[ "$(status_of "$output")" = 200 ]
	[ "$(body_of "$output" | jq -r .booking.status)" = CANCELLED ]
	run partner GET "/bookings?$window&from=1&to=10&status=CANCELLED"
	[ "$(body_of "$output" | jq -c '[.bookings.total, .bookings.bookings[0].reference]')" = "[1,\"$ref\"]" ]
	# The state view shows the partner's bookings.
	state=$(curl -sS "$SANDBOX_URL/__sandbox/state")
	[ "$(jq -r --arg r "$ref" '.partner.bookings[] | select(.reference == $r) | .status' <<<"$state")" = CANCELLED ]
	[ "$(jq -r --arg r "$ref" '.partner.bookings[] | select(.reference == $r) | .hotel.code' <<<"$state")" = 1001 ]
}

@test "inventory sync fills an empty store with the partner's catalog, and a second run changes nothing" {
	export HBK_HOME="$BATS_TEST_TMPDIR/synced"
	mkdir -p "$HBK_HOME"
	export TEST_PARTNER_KEY=sandbox-key TEST_PARTNER_SECRET=sandbox-secret
	write_config
	run hbk-admin -q init
	assert_success
	from=$(day 3)
	to=$(day 10)
	run hbk-admin inventory sync --from "$from" --to "$to" --destination LIS
	assert_success
	assert_output --regexp "^synced 15 hotels, [0-9]+ room types, [0-9]+ room nights from $from to $to: [1-9][0-9]* rows changed$"
	run hbk-admin inventory sync --from "$from" --to "$to" --destination LIS
	assert_success
	assert_output --regexp ": 0 rows changed$"
	run hbk-admin -o json inventory sync --from "$from" --to "$to" --hotel 1001,H-LIS-0002
	assert_success
	[ "$(jq -c '[.hotels, .changed]' <<<"$output")" = '[2,0]' ]

	# What was synced is what the demo catalog (the sandbox's) holds.
	seed="$BATS_FILE_TMPDIR/seed/hbk.db"
	nights="night >= CAST(julianday('$from') - 2440587.5 AS INTEGER) AND night < CAST(julianday('$to') - 2440587.5 AS INTEGER)"
	q="SELECT hotel_id, room_type, night, allotment FROM inventory WHERE hotel_id LIKE 'H-LIS-%' AND $nights ORDER BY 1, 2, 3"
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "$q" | md5sum)" = "$(sqlite3 "$seed" "$q" | md5sum)" ]
	# Prices too, where the partner shows a refundable rate (a hotel that
	# sells only non-refundable ones hides its full price).
	q="SELECT hotel_id, room_type, night, price_minor FROM inventory WHERE hotel_id IN (SELECT id FROM hotels WHERE city = 'LIS' AND sells_refundable = 1) AND $nights ORDER BY 1, 2, 3"
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "$q" | md5sum)" = "$(sqlite3 "$seed" "$q" | md5sum)" ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "$q" | wc -l)" -gt 300 ]
	q="SELECT hotel_id, code, capacity, max_children FROM room_types WHERE hotel_id LIKE 'H-LIS-%' ORDER BY 1, 2"
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "$q")" = "$(sqlite3 "$seed" "$q")" ]
	q="SELECT hotel_id, code, supplement_minor FROM boards WHERE hotel_id LIKE 'H-LIS-%' ORDER BY 1, 2"
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "$q")" = "$(sqlite3 "$seed" "$q")" ]
	q="SELECT id, code, name, stars, currency, free_cancel_days, nrf_discount_pct FROM hotels WHERE id = 'H-LIS-0001'"
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "$q")" = "$(sqlite3 "$seed" "$q")" ]

	# The synced store books through the adapter.
	run hbk search --hotel H-LIS-0001 --checkin "$(day 4)" --nights 2 -o json
	assert_success
	run hbk book 1 --guest "Ana Silva" --email ana@example.com -o json
	assert_success
	[ "$(jq -r .status <<<"$output")" = CONFIRMED ]
}

@test "inventory sync needs partner.kind hotelbeds and valid dates; an unreachable partner exits 6" {
	run hbk-admin inventory sync --from "$(day 1)" --to "$(day 3)" --destination LIS
	assert_failure 2
	assert_output --partial "partner.kind: hotelbeds"
	export TEST_PARTNER_KEY=sandbox-key TEST_PARTNER_SECRET=sandbox-secret
	write_config
	run hbk-admin inventory sync --from "$(day 3)" --to "$(day 1)" --destination LIS
	assert_failure 2
	run hbk-admin inventory sync --from "$(day 1)" --to "$(day 3)"
	assert_failure 2
	assert_output --partial "--hotel CODES or --destination CODE"
	run hbk-admin inventory sync --from "$(day 1)" --to "$(day 3)" --hotel 1001 --destination LIS
	assert_failure 2
	# A partner that does not answer: unavailable, exit 6.
	stop_sandbox
	run hbk-admin inventory sync --from "$(day 1)" --to "$(day 3)" --hotel 1001
	assert_failure 6
	assert_output --partial "partner unavailable"
}

@test "hbk books, updates and cancels through the hotelbeds adapter; the sandbox holds the same" {
	export TEST_PARTNER_KEY=sandbox-key TEST_PARTNER_SECRET=sandbox-secret
	write_config
	# Line 1 of a non-refundable-first search: a RECHECK rate.
	run hbk search --hotel H-LIS-0001 --checkin "$in" --nights 2 --adults 2 --sort price -o json
	assert_success
	[ "$(jq -r '.offers[0].refundable' <<<"$output")" = false ]
	run hbk book 1 --guest "Ana Silva" --email ana@example.com -o json
	assert_success
	id=$(jq -r .id <<<"$output")
	ref=$(jq -r .partner.reference <<<"$output")
	[ "$(jq -r .partner.name <<<"$output")" = hotelbeds ]
	state=$(curl -sS "$SANDBOX_URL/__sandbox/state")
	[ "$(jq -r --arg id "$id" '.partner.bookings[] | select(.clientReference == $id) | .reference' <<<"$state")" = "$ref" ]
	[ "$(jq -r '.requests["partner.checkrates"]' <<<"$state")" = 1 ]

	run hbk update "$id" --checkout "$(day 23)" -o json
	assert_success
	state=$(curl -sS "$SANDBOX_URL/__sandbox/state")
	[ "$(jq -r --arg id "$id" '.partner.bookings[] | select(.clientReference == $id) | .checkOut' <<<"$state")" = "$(day 23)" ]

	run hbk cancel "$id" -o json
	assert_success
	[ "$(jq -r .status <<<"$output")" = CANCELLED ]
	state=$(curl -sS "$SANDBOX_URL/__sandbox/state")
	[ "$(jq -r --arg id "$id" '.partner.bookings[] | select(.clientReference == $id) | .status' <<<"$state")" = CANCELLED ]
}

@test "a create whose answer is lost is looked up by clientReference: booked once, CONFIRMED" {
	export TEST_PARTNER_KEY=sandbox-key TEST_PARTNER_SECRET=sandbox-secret
	write_config 1000
	sandbox_faults '{"endpoint":"partner.bookings.create","timeout_rate":1}'
	run hbk search --hotel H-LIS-0001 --checkin "$in" --nights 2 -o json
	assert_success
	run hbk book 3 --guest "Ana Silva" --email ana@example.com -o json
	assert_success
	id=$(jq -r .id <<<"$output")
	[ "$(jq -r .status <<<"$output")" = CONFIRMED ]
	state=$(curl -sS "$SANDBOX_URL/__sandbox/state")
	[ "$(jq --arg id "$id" '[.partner.bookings[] | select(.clientReference == $id)] | length' <<<"$state")" = 1 ]
	[ "$(jq -r '.requests["partner.bookings.list"]' <<<"$state")" -ge 1 ]
	[ "$(jq -r --arg id "$id" '.partner.bookings[] | select(.clientReference == $id) | .reference' <<<"$state")" = "$(jq -r .partner.reference <<<"$output")" ]
}

@test "a create that fails with a 5xx and is not found is not booked: the booking fails unavailable" {
	export TEST_PARTNER_KEY=sandbox-key TEST_PARTNER_SECRET=sandbox-secret
	write_config 1000
	sandbox_faults '{"endpoint":"partner.bookings.create","error_rate":1}'
	run hbk search --hotel H-LIS-0001 --checkin "$in" --nights 2 -o json
	assert_success
	run hbk book 3 --guest "Ana Silva" --email ana@example.com -o json
	assert_failure 6
	[ "$(curl -sS "$SANDBOX_URL/__sandbox/state" | jq '.partner.bookings | length')" = 0 ]
}

@test "wrong partner credentials exit 7 naming the partner; neither key nor secret in any output or log" {
	stop_sandbox
	start_sandbox --partner-key k-PARTNERKEY-4711 --partner-secret s-PARTNERSECRET-0815
	export TEST_PARTNER_KEY=k-PARTNERKEY-4711 TEST_PARTNER_SECRET=s-WRONGSECRET-2342
	write_config
	run hbk-admin inventory sync --from "$(day 3)" --to "$(day 5)" --hotel 1001
	assert_failure 7
	assert_output --partial "partner rejected the credentials (401)"
	refute_output --partial PARTNERKEY
	refute_output --partial SECRET-
	run hbk search --hotel H-LIS-0001 --checkin "$in" --nights 2 -o json
	assert_success
	run hbk book 1 --guest "Ana Silva" --email ana@example.com -v
	assert_failure 7
	assert_output --partial "partner rejected the credentials"
	refute_output --partial PARTNERKEY
	refute_output --partial SECRET-
	run hbk list -o json
	[ "$(jq -r '.bookings[0].failure.code' <<<"$output")" = partner_auth ]
	# Not in the store (events, failure reasons) nor in the sandbox's log.
	run grep -ral -e PARTNERKEY -e WRONGSECRET -e PARTNERSECRET "$HBK_HOME" "$SANDBOX_LOG"
	assert_failure 1

	# With the right secret the same configuration works.
	export TEST_PARTNER_SECRET=s-PARTNERSECRET-0815
	run hbk-admin inventory sync --from "$(day 3)" --to "$(day 5)" --hotel 1001
	assert_success
}
