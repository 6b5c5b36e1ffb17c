#!/usr/bin/env bats
# No overbooking: many hbk processes at once on one SQLite file, each
# trying to book the same room type for the same nights. Exactly as many
# succeed as there were rooms; the rest exit 4; the allotment ends at 0
# and never goes negative; no failed attempt leaves a trace.

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
}

night() { echo $(( $(date -u -d "$1" +%s) / 86400 )); }

@test "40 concurrent hbk book on 5 rooms: exactly 5 CONFIRMED, 35 exit 4" {
	checkin=$(day 45)
	checkout=$(day 48)
	n0=$(night "$checkin")
	sqlite3 "$HBK_HOME/hbk.db" "UPDATE inventory SET allotment = 5 WHERE hotel_id = 'H-LIS-0001' AND room_type = 'DBL' AND night >= $n0 AND night < $n0 + 3"
	offer=$(hbk search --hotel H-LIS-0001 --checkin "$checkin" --checkout "$checkout" --limit 100 -o json |
		jq -r '[.offers[] | select(.room_type == "DBL")][0].offer_id')
	[ -n "$offer" ]

	out="$BATS_TEST_TMPDIR/runs"
	mkdir -p "$out"
	pids=()
	for i in $(seq 1 40); do
		(rc=0
		 hbk book "$offer" --guest "Guest $i" --email "g$i@example.com" -o json >"$out/$i.json" 2>"$out/$i.err" || rc=$?
		 echo $rc >"$out/$i.rc") &
		pids+=($!)
	done
	# Wait for the bookings only (an hbkd may be running in the background).
	for pid in "${pids[@]}"; do wait "$pid"; done

	ok=0 conflict=0 other=0
	for i in $(seq 1 40); do
		rc=$(cat "$out/$i.rc")
		case $rc in
		0) ok=$((ok + 1)); jq -e '.status == "CONFIRMED"' "$out/$i.json" >/dev/null ;;
		4) conflict=$((conflict + 1)); grep -q "no availability" "$out/$i.err" ;;
		*) other=$((other + 1)); cat "$out/$i.err" >&2 ;;
		esac
	done
	echo "ok=$ok conflict=$conflict other=$other"
	[ "$ok" -eq 5 ]
	[ "$conflict" -eq 35 ]
	[ "$other" -eq 0 ]

	run sqlite3 "$HBK_HOME/hbk.db" "SELECT MIN(allotment), MAX(allotment) FROM inventory WHERE hotel_id = 'H-LIS-0001' AND room_type = 'DBL' AND night >= $n0 AND night < $n0 + 3"
	assert_output "0|0"
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM inventory WHERE allotment < 0")" -eq 0 ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM bookings")" -eq 5 ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM bookings WHERE status = 'CONFIRMED'")" -eq 5 ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM payment_sim_intents")" -eq 5 ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM partner_sim_bookings")" -eq 5 ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM sagas")" -eq 0 ]
}

@test "a multi-room booking takes every night or none" {
	checkin=$(day 50)
	n0=$(night "$checkin")
	# Three rooms left on the first night, two on the second.
	sqlite3 "$HBK_HOME/hbk.db" "UPDATE inventory SET allotment = 3 WHERE hotel_id = 'H-LIS-0001' AND room_type = 'DBL' AND night = $n0;
		UPDATE inventory SET allotment = 2 WHERE hotel_id = 'H-LIS-0001' AND room_type = 'DBL' AND night = $n0 + 1"
	offer=$(hbk search --hotel H-LIS-0001 --checkin "$checkin" --nights 2 --rooms 2 --adults 2 --limit 100 -o json |
		jq -r '[.offers[] | select(.room_type == "DBL")][0].offer_id')
	[ -n "$offer" ]
	run hbk book "$offer" --guest "Group One" --email one@example.com
	assert_success
	[ "$(allotment H-LIS-0001 DBL "$checkin")" -eq 1 ]
	[ "$(allotment H-LIS-0001 DBL "$(day 51)")" -eq 0 ]
	# The same again: the first night has 1 room, so nothing is taken.
	before=$(store_dump)
	run hbk book "$offer" --guest "Group Two" --email two@example.com
	assert_failure 4
	assert_output --partial "no availability"
	[ "$(allotment H-LIS-0001 DBL "$checkin")" -eq 1 ]
	[ "$(allotment H-LIS-0001 DBL "$(day 51)")" -eq 0 ]
	[ "$(store_dump)" = "$before" ]
}
