#!/usr/bin/env bats
# kafka-cluster.bats - cluster mode: three hbkd instances, each with its own
# store, on a three-broker mock cluster (build/tools/kafka-mock, its own
# process) and one hbk-sandbox as partner and payment provider. Write
# requests become commands on hbk.commands, decided by the owner of their
# hotel's partition; every instance serves what the others decided; an
# instance killed with SIGKILL hands its partitions and its sagas in flight
# to the others; a broker down for a while loses nothing; a command
# produced with kcat, as README.md shows, is decided like any other.

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
	declare -gA PID_OF=()
	start_kafka_mock --topic hbk.events:6 --topic hbk.commands:6 --topic hbk.dlq:1
	start_sandbox --seed 7
	export HBK_PARTNER_KEY=sandbox-key HBK_PARTNER_SECRET=sandbox-secret
	export HBK_PAYMENT_KEY=sk_test_sandbox HBK_WEBHOOK_SECRET=whsec_sandbox
	cat >"$BATS_TEST_TMPDIR/hbk.yaml" <<-EOF
		partner: {kind: hotelbeds, url: "$SANDBOX_URL", api_key: "env:HBK_PARTNER_KEY", secret: "env:HBK_PARTNER_SECRET", timeout_ms: 2000}
		payment: {kind: stripe, url: "$SANDBOX_URL", secret_key: "env:HBK_PAYMENT_KEY", webhook_secret: "env:HBK_WEBHOOK_SECRET", timeout_ms: 2000}
		kafka: {brokers: "$BROKERS", session_timeout_ms: 3000}
	EOF
	TOKEN=$(hbk-admin -q token create cluster-test)
	JSON="Content-Type: application/json"
	in=$(day 20)
}

teardown() {
	for pid in "${PIDS[@]}"; do stop_server "$pid"; done
	stop_server "${MOCK_PID:-}"
	stop_sandbox
}

# Starts an instance named name on a store of its own (a copy of the seeded
# one, unless it is there already); sets URL_<name> and PID_OF[name].
start_instance() { # name
	local home="$BATS_TEST_TMPDIR/$1" ready="$BATS_TEST_TMPDIR/$1.ready"
	mkdir -p "$home"
	[ -f "$home/hbk.db" ] || sqlite3 "$HBK_HOME/hbk.db" ".backup '$home/hbk.db'"
	rm -f "$ready"
	HBK_HOME="$home" hbkd --config "$BATS_TEST_TMPDIR/hbk.yaml" --listen 127.0.0.1:0 \
		--ready-file "$ready" --log "$BATS_TEST_TMPDIR/$1.log" --workers 2 3>&- &
	PIDS+=($!)
	PID_OF[$1]=$!
	await_ready "hbkd $1" "$!" "$ready" "$BATS_TEST_TMPDIR/$1.log" || return 1
	printf -v "URL_$1" 'http://%s' "$(cat "$ready")"
}

# Waits (20 s at most) until the instances' deciders share the six
# partitions of hbk.commands among themselves.
await_owners() { # names...
	local total n
	for _ in $(seq 1 200); do
		total=0
		for n in "$@"; do
			local url="URL_$n"
			total=$((total + $(curl -sS "${!url}/metrics" | awk '$1 == "hbk_partitions_owned" {print $2}')))
		done
		[ "$total" = 6 ] && return 0
		sleep 0.1
	done
	echo "the partitions were never shared out: $total of 6" >&2
	return 1
}

start_cluster() {
	start_instance A
	start_instance B
	start_instance C
	await_owners A B C
}

api() { # url-var path [curl args...]
	local base=${!1}
	shift
	local path=$1
	shift
	curl -sS -H "Authorization: Bearer $TOKEN" "$@" "$base$path"
}

offer() { # url-var hotel room -> a refundable offer's id
	api "$1" "/v1/offers?hotel=$2&checkin=$in&nights=2&limit=200" |
		jq -r --arg r "$3" '[.offers[] | select(.room_type == $r and .refundable)][0].offer_id'
}

body() { # offer n -> a booking request
	printf '{"offer_id":"%s","guest":{"name":"Guest %s","email":"g%s@example.com"},"payment_method":"pm_card_visa"}' "$1" "$2" "$2"
}

# Waits (30 s at most) until the instance serves the booking with status.
await_booking() { # url-var id status
	for _ in $(seq 1 300); do
		[ "$(api "$1" "/v1/bookings/$2" | jq -r .status)" = "$3" ] && return 0
		sleep 0.1
	done
	echo "$1 never served $2 as $3: $(api "$1" "/v1/bookings/$2")" >&2
	return 1
}

metric() { # url-var name
	curl -sS "${!1}/metrics" | awk -v m="$2" '$1 == m {print $2}'
}

# Booking ids with a status in an instance's store.
ours() { # name status
	sqlite3 "$BATS_TEST_TMPDIR/$1/hbk.db" "SELECT id FROM bookings WHERE status = '$2' ORDER BY id"
}

sandbox_state() {
	curl -sS -f "$SANDBOX_URL/__sandbox/state"
}

@test "book through A, view through B and C with the same JSON, cancel through C: one owner decided both" {
	start_cluster
	run api URL_A /v1/bookings -H "$JSON" -d "$(body "$(offer URL_A H-LIS-0001 DBL)" 1)" -w '\n%{http_code}'
	assert_line --index 1 201
	id=$(echo "${lines[0]}" | jq -r .id)
	[ "$(echo "${lines[0]}" | jq -r .status)" = CONFIRMED ]
	# Read your writes: A answered once its own store had the outcome.
	[ "$(sqlite3 "$BATS_TEST_TMPDIR/A/hbk.db" "SELECT status FROM bookings WHERE id = '$id'")" = CONFIRMED ]
	for n in B C; do
		await_booking "URL_$n" "$id" CONFIRMED
		diff <(api URL_A "/v1/bookings/$id" | jq -S .) <(api "URL_$n" "/v1/bookings/$id" | jq -S .)
	done
	run api URL_C "/v1/bookings/$id/cancel" -H "$JSON" -d '{"reason":"plans changed"}' -w '\n%{http_code}'
	assert_line --index 1 200
	[ "$(echo "${lines[0]}" | jq -r .status)" = CANCELLED ]
	await_booking URL_A "$id" CANCELLED
	await_booking URL_B "$id" CANCELLED
	# Both commands were decided by one instance, the hotel's owner.
	accepted=()
	for n in A B C; do accepted+=("$(metric "URL_$n" 'hbk_commands_total{outcome="accepted"}')"); done
	[ "$(printf '%s\n' "${accepted[@]}" | sort -n | tr '\n' ' ')" = "0 0 2 " ]
	# The sandbox saw one partner booking under our id, cancelled, and the
	# payment captured and refunded.
	state=$(sandbox_state)
	[ "$(echo "$state" | jq --arg id "$id" '[.partner.bookings[] | select(.clientReference == $id)] | length')" = 1 ]
	[ "$(echo "$state" | jq -r --arg id "$id" '.partner.bookings[] | select(.clientReference == $id) | .status')" = CANCELLED ]
	refunded=$(api URL_A "/v1/bookings/$id" | jq -r '.refunded.amount | tonumber * 100 | round')
	[ "$refunded" -gt 0 ]
	[ "$(echo "$state" | jq --arg id "$id" --argjson r "$refunded" '[.payment.payment_intents[] | select(.metadata.booking_id == $id and .amount_received > 0 and .amount_refunded == $r)] | length')" = 1 ]
}

@test "a refused command answers its problem on the instance that sent it; a stale If-Match is 412" {
	start_cluster
	id=$(api URL_A /v1/bookings -H "$JSON" -d "$(body "$(offer URL_A H-PAR-0002 DBL)" 2)" | jq -r .id)
	await_booking URL_B "$id" CONFIRMED
	run api URL_B "/v1/bookings/$id" -X PATCH -H "$JSON" -H 'If-Match: "7"' -d '{"guest":{"name":"Late"}}' -w '\n%{http_code}'
	assert_line --index 1 412
	echo "${lines[0]}" | jq -e '.code == "precondition_failed"'
	run api URL_C "/v1/bookings/$id/cancel" -H "$JSON" -d '{}' -w '\n%{http_code}'
	assert_line --index 1 200
	await_booking URL_B "$id" CANCELLED
	run api URL_B "/v1/bookings/$id/cancel" -H "$JSON" -d '{}' -w '\n%{http_code}'
	assert_line --index 1 409
	# The refusal travelled as an event; its instance counted one rejection.
	total=0
	for n in A B C; do total=$((total + $(metric "URL_$n" 'hbk_commands_total{outcome="rejected"}'))); done
	[ "$total" = 2 ]
	kcat -C -b "$BROKERS" -t hbk.events -e -q -J >"$BATS_TEST_TMPDIR/events.jsonl"
	jq -r 'select(.headers | index("hbk.command.rejected.v1")) | .key' "$BATS_TEST_TMPDIR/events.jsonl" | sort | uniq -c >"$BATS_TEST_TMPDIR/rejections"
	grep -q '2 H-PAR-0002' "$BATS_TEST_TMPDIR/rejections"
	# Every event on the topic, the refusals included, matches docs/events.md.
	run node "$HBK_TOP/tests/tools/check-events.mjs" kafka "$BATS_TEST_TMPDIR/events.jsonl"
	assert_success
}

@test "300 concurrent bookings over three instances for a room type with 10 rooms left: exactly 10 CONFIRMED" {
	start=$(($(date -u -d "$in" +%s) / 86400))
	sqlite3 "$HBK_HOME/hbk.db" "UPDATE inventory SET allotment = 10 WHERE hotel_id = 'H-LIS-0001' AND room_type = 'DBL' AND night >= $start AND night < $start + 2"
	start_cluster
	o=$(offer URL_A H-LIS-0001 DBL)
	[ "$(api URL_B "/v1/offers?hotel=H-LIS-0001&checkin=$in&nights=2&limit=200" | jq '[.offers[] | select(.room_type == "DBL")][0].available')" = 10 ]
	for i in $(seq 1 300); do
		case $((i % 3)) in 0) url=$URL_A ;; 1) url=$URL_B ;; 2) url=$URL_C ;; esac
		printf '%s %s\n' "$url" "$(body "$o" "$i")"
	done >"$BATS_TEST_TMPDIR/requests"
	xargs -P 60 -L 1 -d '\n' sh -c 'curl -sS -o /dev/null -w "%{http_code}\n" --max-time 120 \
		-H "Authorization: Bearer $0" -H "Content-Type: application/json" -d "${1#* }" "${1%% *}/v1/bookings"' "$TOKEN" \
		<"$BATS_TEST_TMPDIR/requests" >"$BATS_TEST_TMPDIR/codes"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/codes")" = 300 ]
	[ "$(grep -c '^201$' "$BATS_TEST_TMPDIR/codes")" = 10 ]
	[ "$(grep -c '^409$' "$BATS_TEST_TMPDIR/codes")" = 290 ]
	# Every instance ends with the same ten, and no room left.
	for n in A B C; do
		for _ in $(seq 1 100); do
			[ "$(ours "$n" CONFIRMED | wc -l)" = 10 ] && break
			sleep 0.1
		done
		[ "$(ours "$n" CONFIRMED | wc -l)" = 10 ]
		diff <(ours A CONFIRMED) <(ours "$n" CONFIRMED)
		[ "$(sqlite3 "$BATS_TEST_TMPDIR/$n/hbk.db" "SELECT MAX(allotment) FROM inventory WHERE hotel_id = 'H-LIS-0001' AND room_type = 'DBL' AND night >= $start AND night < $start + 2")" = 0 ]
	done
	[ "$(sandbox_state | jq '[.partner.bookings[] | select(.status == "CONFIRMED")] | length')" = 10 ]
}

@test "README.md's kcat command is decided like a request; a message that is no command lands in hbk.dlq" {
	start_cluster
	# Not a command: to the dead letters with its reason and origin.
	echo '{"hello":"world"}' | kcat -P -b "$BROKERS" -t hbk.commands -k H-LIS-0001 \
		-H ce_specversion=1.0 -H ce_id=CM-BAD1 -H ce_source=urn:test -H ce_type=hbk.command.booking.explode.v1 \
		-H ce_subject=BK-BAD1 -H ce_time=2026-01-01T00:00:00.000Z
	awk '/<!-- kafka-examples:begin -->/ { inside = 1; next }
	     /<!-- kafka-examples:end -->/ { inside = 0 }
	     inside && !/^```/' "$HBK_TOP/README.md" >"$BATS_TEST_TMPDIR/kcat.sh"
	grep -q 'kcat -P' "$BATS_TEST_TMPDIR/kcat.sh"
	run env -i PATH="$PATH" BROKERS="$BROKERS" HBKD="$URL_B" TOKEN="$TOKEN" bash -euo pipefail "$BATS_TEST_TMPDIR/kcat.sh"
	assert_success
	for n in A B C; do await_booking "URL_$n" BK-KCAT00000000000001 CONFIRMED; done
	[ "$(api URL_A /v1/bookings/BK-KCAT00000000000001 | jq -r .guest.name)" = "Kim Kafka" ]
	[ "$(sandbox_state | jq '[.partner.bookings[] | select(.clientReference == "BK-KCAT00000000000001")] | length')" = 1 ]
	kcat -C -b "$BROKERS" -t hbk.events -e -q -J >"$BATS_TEST_TMPDIR/events.jsonl"
	run node "$HBK_TOP/tests/tools/check-events.mjs" kafka "$BATS_TEST_TMPDIR/events.jsonl"
	assert_success
	run kcat -C -b "$BROKERS" -t hbk.dlq -e -q -J
	assert_success
	echo "$output" | jq -e 'select(.key == "H-LIS-0001") | .headers | (index("hbk_dlq_topic") as $i | .[$i + 1]) == "hbk.commands"'
	echo "$output" | jq -r '.headers | (index("hbk_dlq_reason") as $i | .[$i + 1])' | grep -q '^unknown_command: hbk.command.booking.explode.v1 is not a command type'
	run api URL_A /v1/bookings/BK-BAD1 -o /dev/null -w '%{http_code}'
	assert_output 404
	dead=0
	for n in A B C; do dead=$((dead + $(metric "URL_$n" 'hbk_commands_total{outcome="dead_lettered"}'))); done
	[ "$dead" = 1 ]
}

# Books in the background from four clients, round robin over the named
# instances, until $BATS_TEST_TMPDIR/stop exists: "instance http-code
# booking-id time" lines in $BATS_TEST_TMPDIR/answers.
stream() { # names...
	mapfile -t offers < <(api URL_A "/v1/offers?city=LIS&checkin=$in&nights=1&limit=60" | jq -r '.offers[].offer_id')
	for client in 1 2 3 4; do
		stream_client "$client" "$@" &
	done
	while [ -n "$(jobs -pr)" ]; do sleep 0.2; done
}

stream_client() { # client names...
	local client=$1 i=0 n url code id answer
	shift
	local names=("$@")
	answer="$BATS_TEST_TMPDIR/answer.$client"
	while [ ! -e "$BATS_TEST_TMPDIR/stop" ]; do
		n=${names[$(((i + client) % ${#names[@]}))]}
		url="URL_$n"
		i=$((i + 1))
		rm -f "$answer"
		code=$(curl -sS --max-time 60 -o "$answer" -w '%{http_code}' \
			-H "Authorization: Bearer $TOKEN" -H "$JSON" \
			-d "$(body "${offers[$((RANDOM % ${#offers[@]}))]}" "$client-$i")" "${!url}/v1/bookings" 2>/dev/null) || true
		id=$(jq -r '.id // .booking.id // empty' "$answer" 2>/dev/null || true)
		echo "$n $code ${id:--} $(date +%s.%N)" >>"$BATS_TEST_TMPDIR/answers"
	done
}

# Waits (60 s at most) until no booking of the instance is PENDING.
settled() { # name
	for _ in $(seq 1 120); do
		[ -z "$(ours "$1" PENDING)" ] && return 0
		sleep 0.5
	done
	echo "$1 still has PENDING: $(ours "$1" PENDING)" >&2
	return 1
}

# The sandbox's records against ours: each booking booked at the partner
# once and captured once, and what is confirmed there is what is confirmed
# here.
sandbox_agrees() { # name
	local state
	state=$(sandbox_state)
	[ -z "$(echo "$state" | jq -r '.partner.bookings[].clientReference' | sort | uniq -d)" ]
	[ -z "$(echo "$state" | jq -r '.payment.payment_intents[] | select(.amount_received > 0) | .metadata.booking_id' | sort | uniq -d)" ]
	echo "$state" | jq -r '.partner.bookings[] | select(.status == "CONFIRMED") | .clientReference' | sort >"$BATS_TEST_TMPDIR/partner"
	echo "$state" | jq -r '.payment.payment_intents[] | select(.status == "succeeded" and .amount_received > 0 and (.amount_refunded // 0) < .amount_received) | .metadata.booking_id' | sort >"$BATS_TEST_TMPDIR/captured"
	diff "$BATS_TEST_TMPDIR/partner" "$BATS_TEST_TMPDIR/captured"
	diff "$BATS_TEST_TMPDIR/partner" <(ours "$1" CONFIRMED)
}

@test "kill -9 of an instance under a stream of bookings: its partitions and sagas move, nothing twice, it catches up" {
	start_cluster
	stream A B C 3>&- &
	streamer=$!
	sleep 4
	kill -9 "${PID_OF[B]}"
	# The survivors share its partitions once its session expires.
	await_owners A C
	sleep 3
	touch "$BATS_TEST_TMPDIR/stop"
	while kill -0 "$streamer" 2>/dev/null; do sleep 0.2; done
	settled A
	settled C
	# Accepted while B was away: answers came from A and C.
	[ "$(awk '$1 != "B" && $2 == 201' "$BATS_TEST_TMPDIR/answers" | wc -l)" -gt 10 ]
	# Every booking an instance answered for is decided everywhere.
	awk '$3 != "-" && $2 ~ /^(201|402|409|503)$/ {print $3}' "$BATS_TEST_TMPDIR/answers" | sort -u >"$BATS_TEST_TMPDIR/answered"
	for id in $(cat "$BATS_TEST_TMPDIR/answered"); do
		status=$(sqlite3 "$BATS_TEST_TMPDIR/A/hbk.db" "SELECT status FROM bookings WHERE id = '$id'")
		[ "$status" = CONFIRMED ] || [ "$status" = FAILED ] || { echo "$id is '$status' on A" >&2; false; }
	done
	sandbox_agrees A
	diff <(ours A CONFIRMED) <(ours C CONFIRMED)
	# B comes back on its own store and catches up with what it missed.
	start_instance B
	for _ in $(seq 1 120); do
		[ "$(ours B CONFIRMED)" = "$(ours A CONFIRMED)" ] && [ -z "$(ours B PENDING)" ] && break
		sleep 0.5
	done
	diff <(ours A CONFIRMED) <(ours B CONFIRMED)
	[ -z "$(ours B PENDING)" ]
}

@test "a broker down for 10 s under a stream of bookings: no acknowledged booking lost, none twice" {
	start_cluster
	stream A B C 3>&- &
	streamer=$!
	sleep 3
	mock_command "broker down 2"
	sleep 10
	mock_command "broker up 2"
	sleep 3
	touch "$BATS_TEST_TMPDIR/stop"
	while kill -0 "$streamer" 2>/dev/null; do sleep 0.2; done
	for n in A B C; do settled "$n"; done
	awk '$2 == 201 {print $3}' "$BATS_TEST_TMPDIR/answers" | sort >"$BATS_TEST_TMPDIR/acknowledged"
	awk '{print $2}' "$BATS_TEST_TMPDIR/answers" | sort | uniq -c >&2 # shown on failure
	[ "$(wc -l <"$BATS_TEST_TMPDIR/acknowledged")" -gt 10 ]
	[ -z "$(uniq -d "$BATS_TEST_TMPDIR/acknowledged")" ]
	# Every acknowledged booking is CONFIRMED on every instance.
	for n in A B C; do
		for _ in $(seq 1 120); do
			[ -z "$(comm -23 "$BATS_TEST_TMPDIR/acknowledged" <(ours "$n" CONFIRMED))" ] && break
			sleep 0.5
		done
		[ -z "$(comm -23 "$BATS_TEST_TMPDIR/acknowledged" <(ours "$n" CONFIRMED))" ]
	done
	sandbox_agrees A
	diff <(ours A CONFIRMED) <(ours B CONFIRMED)
	diff <(ours A CONFIRMED) <(ours C CONFIRMED)
}

@test "the owner of a hotel killed with sagas in flight: a survivor adopts them, each booked and charged once" {
	start_cluster
	# The instance that decides H-MAD-0001 counts the first command.
	api URL_A /v1/bookings -H "$JSON" -d "$(body "$(offer URL_A H-MAD-0001 DBL)" 1)" >/dev/null
	owner=
	for n in A B C; do
		[ "$(metric "URL_$n" 'hbk_commands_total{outcome="accepted"}')" = 1 ] && owner=$n
	done
	[ -n "$owner" ]
	survivors=()
	for n in A B C; do [ "$n" = "$owner" ] || survivors+=("$n"); done
	via=URL_${survivors[0]}
	# A slow partner: the owner's sagas are at the partner when it dies.
	curl -sS -f -X POST -d '{"endpoint":"partner.*","latency_ms":1200}' "$SANDBOX_URL/__sandbox/faults" >/dev/null
	ids=()
	for i in 2 3 4; do
		ids+=("$(api "$via" '/v1/bookings?wait=0' -H "$JSON" -d "$(body "$(offer "$via" H-MAD-0001 DBL)" "$i")" | jq -r .id)")
	done
	for id in "${ids[@]}"; do [ "$(api "$via" "/v1/bookings/$id" | jq -r .status)" = PENDING ]; done
	kill -9 "${PID_OF[$owner]}"
	await_owners "${survivors[@]}"
	for id in "${ids[@]}"; do await_booking "$via" "$id" CONFIRMED; done
	adopted=0
	for n in "${survivors[@]}"; do adopted=$((adopted + $(metric "URL_$n" hbk_sagas_adopted_total))); done
	[ "$adopted" = 3 ]
	state=$(sandbox_state)
	for id in "${ids[@]}"; do
		[ "$(echo "$state" | jq --arg id "$id" '[.partner.bookings[] | select(.clientReference == $id and .status == "CONFIRMED")] | length')" = 1 ]
		[ "$(echo "$state" | jq --arg id "$id" '[.payment.payment_intents[] | select(.metadata.booking_id == $id and .amount_received > 0)] | length')" = 1 ]
	done
	diff <(api "URL_${survivors[0]}" "/v1/bookings/${ids[0]}" | jq -S .) <(api "URL_${survivors[1]}" "/v1/bookings/${ids[0]}" | jq -S .)
}

@test "a command on a partition hbkd would not choose for its key goes to hbk.dlq; the right one is decided" {
	start_cluster
	o=$(offer URL_A H-LIS-0002 DBL)
	for p in 0 1 2 3 4 5; do
		printf '{"offer_id":"%s","guest":{"name":"Par Tition","email":"p@example.com"}}\n' "$o" |
			kcat -P -b "$BROKERS" -t hbk.commands -p "$p" -k H-LIS-0002 \
				-H ce_specversion=1.0 -H "ce_id=CM-PART$p" -H ce_source=urn:test \
				-H ce_type=hbk.command.booking.create.v1 -H "ce_subject=BK-PART0000000000000$p" \
				-H "ce_time=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)"
	done
	for _ in $(seq 1 100); do
		[ "$(kcat -C -b "$BROKERS" -t hbk.dlq -e -q -J | wc -l)" = 5 ] && break
		sleep 0.2
	done
	kcat -C -b "$BROKERS" -t hbk.dlq -e -q -J >"$BATS_TEST_TMPDIR/dlq.jsonl"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/dlq.jsonl")" = 5 ]
	[ "$(jq -r '.headers | (index("hbk_dlq_reason") as $i | .[$i + 1])' "$BATS_TEST_TMPDIR/dlq.jsonl" | grep -c '^wrong_partition: ')" = 5 ]
	decided() {
		for p in 0 1 2 3 4 5; do api URL_A "/v1/bookings/BK-PART0000000000000$p" | jq -r .status; done |
			grep -c CONFIRMED || true
	}
	for _ in $(seq 1 100); do
		[ "$(decided)" -ge 1 ] && break
		sleep 0.1
	done
	[ "$(decided)" = 1 ]
}
