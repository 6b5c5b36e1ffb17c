# helpers.bash - shared set-up for the end-to-end suites: a fresh
# $HBK_HOME per test with its own caches, the built tools on PATH, and a
# demo store seeded once per file and copied for each test.

HBK_TOP="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
export PATH="$HBK_TOP/bin:$PATH"

load_libs() {
	load '/usr/lib/bats/bats-support/load'
	load '/usr/lib/bats/bats-assert/load'
}

# Seeds a demo store once per file (the slow part) into $BATS_FILE_TMPDIR.
seed_once() {
	export HBK_HOME="$BATS_FILE_TMPDIR/seed"
	if [ ! -f "$HBK_HOME/hbk.db" ]; then
		hbk-admin -q init --demo >/dev/null
	fi
}

# A fresh home for one test, with a copy of the seeded store.
fresh_home() {
	local seed="$BATS_FILE_TMPDIR/seed"
	export HBK_HOME="$BATS_TEST_TMPDIR/home"
	export XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
	export XDG_STATE_HOME="$BATS_TEST_TMPDIR/state"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/config"
	unset HBK_CONFIG HBK_API_URL HBK_TOKEN HBK_FAULT_KILL_AT
	mkdir -p "$HBK_HOME"
	if [ -f "$seed/hbk.db" ]; then
		sqlite3 "$seed/hbk.db" ".backup '$HBK_HOME/hbk.db'"
		remote_up
	fi
}

# With HBK_TEST_REMOTE=1 the suites of the agent's tool run a second time
# with hbk in remote mode: an hbkd on the test's store serves every command.
remote_up() {
	[ "${HBK_TEST_REMOTE:-}" = 1 ] || return 0
	start_hbkd "$@"
	export HBK_API_URL="$HBKD_URL" HBK_TOKEN="$HBK_TEST_TOKEN"
}

# After a change of configuration (faults): hbkd reads it again.
remote_restart() {
	[ "${HBK_TEST_REMOTE:-}" = 1 ] || return 0
	stop_hbkd
	unset HBK_API_URL HBK_TOKEN
	remote_up "$@"
}

remote_down() {
	stop_hbkd
}

# Skips a test that can only run on the embedded engine.
embedded_only() {
	[ "${HBK_TEST_REMOTE:-}" != 1 ] || skip "embedded engine only"
}

# A date N days from today (UTC), YYYY-MM-DD.
day() {
	date -u -d "+$1 days" +%F
}

# The number of rooms left for a hotel, room type and night.
allotment() {
	sqlite3 "$HBK_HOME/hbk.db" "SELECT allotment FROM inventory WHERE hotel_id='$1' AND room_type='$2' AND night = CAST(julianday('$3') - 2440587.5 AS INTEGER)"
}

# A dump of everything a failed command must not change.
store_dump() {
	sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*), COALESCE(SUM(allotment),0) FROM inventory; SELECT COUNT(*) FROM events; SELECT COUNT(*) FROM bookings; SELECT COUNT(*) FROM payment_sim_intents; SELECT COUNT(*) FROM partner_sim_bookings;"
}

# Waits for a server started in the background to write its ready file:
# await_ready NAME PID READY_FILE LOG (at most 10 s; the log on failure).
await_ready() {
	for _ in $(seq 1 200); do
		[ -s "$3" ] && return 0
		kill -0 "$2" 2>/dev/null || { cat "$4" >&2; return 1; }
		sleep 0.05
	done
	echo "$1 did not start" >&2
	return 1
}

# Stops a server: SIGTERM, then SIGKILL after 5 s. stop_server PID
stop_server() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 0
	kill -TERM "$1"
	for _ in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -9 "$1" 2>/dev/null || true
}

# Starts hbkd on a free loopback port over $HBK_HOME's store; sets HBKD_URL,
# HBKD_PID, HBKD_LOG and a token in HBK_TEST_TOKEN. Extra arguments go to
# hbkd (e.g. --config FILE).
start_hbkd() {
	HBKD_LOG="$BATS_TEST_TMPDIR/hbkd.log"
	local ready="$BATS_TEST_TMPDIR/hbkd.ready"
	rm -f "$ready"
	HBK_TEST_TOKEN=$(env -u HBK_API_URL hbk-admin -q token create "test-$BATS_TEST_NUMBER-$RANDOM")
	hbkd --listen 127.0.0.1:0 --ready-file "$ready" --log "$HBKD_LOG" --workers 2 "$@" \
		3>&- &
	HBKD_PID=$!
	await_ready hbkd "$HBKD_PID" "$ready" "$HBKD_LOG" || return 1
	HBKD_URL="http://$(cat "$ready")"
	export HBKD_URL HBKD_PID HBKD_LOG HBK_TEST_TOKEN
}

stop_hbkd() {
	stop_server "${HBKD_PID:-}"
	HBKD_PID=
}

# Starts hbk-sandbox on free ports (HTTP and the SMTP sink); extra
# arguments go to it. Sets SANDBOX_URL, SANDBOX_SMTP, SANDBOX_PID and
# SANDBOX_LOG.
start_sandbox() {
	SANDBOX_LOG="$BATS_TEST_TMPDIR/sandbox.log"
	local ready="$BATS_TEST_TMPDIR/sandbox.ready"
	rm -f "$ready"
	hbk-sandbox --listen 127.0.0.1:0 --smtp-listen 127.0.0.1:0 --ready-file "$ready" \
		"$@" 2>>"$SANDBOX_LOG" 3>&- &
	SANDBOX_PID=$!
	await_ready hbk-sandbox "$SANDBOX_PID" "$ready" "$SANDBOX_LOG" || return 1
	SANDBOX_URL="http://$(sed -n 1p "$ready")"
	SANDBOX_SMTP="$(sed -n 2p "$ready")"
	export SANDBOX_URL SANDBOX_SMTP SANDBOX_PID SANDBOX_LOG
}

stop_sandbox() {
	stop_server "${SANDBOX_PID:-}"
	SANDBOX_PID=
}

# Sets the sandbox's faults: sandbox_faults '{"endpoint":"partner.*","error_rate":1}'
sandbox_faults() {
	curl -sS -f -X POST -d "$1" "$SANDBOX_URL/__sandbox/faults" >/dev/null
}

# curl against hbkd with the test token; prints the body, and the status
# on the last line.
api() {
	curl -sS -w '\n%{http_code}' -H "Authorization: Bearer $HBK_TEST_TOKEN" "$@"
}

# Checks a recorded response against docs/openapi.yaml.
check_response() {
	node "$HBK_TOP/tests/tools/check-response.mjs" "$@"
}

# ---- Kafka: librdkafka's mock cluster in its own process ----
KAFKA_MOCK="$HBK_TOP/build/tools/kafka-mock"

# Starts kafka-mock with three brokers; extra arguments go to it. Sets
# BROKERS, MOCK_PID, MOCK_LOG and MOCK_CONTROL.
start_kafka_mock() {
	MOCK_LOG="$BATS_TEST_TMPDIR/kafka-mock.log"
	MOCK_CONTROL="$BATS_TEST_TMPDIR/kafka-mock.control"
	local ready="$BATS_TEST_TMPDIR/kafka-mock.ready"
	rm -f "$ready"
	"$KAFKA_MOCK" --brokers 3 --ready-file "$ready" --control "$MOCK_CONTROL" "$@" \
		</dev/null >/dev/null 2>>"$MOCK_LOG" 3>&- &
	MOCK_PID=$!
	await_ready kafka-mock "$MOCK_PID" "$ready" "$MOCK_LOG" || return 1
	BROKERS=$(cat "$ready")
}

# Sends one command to the mock and waits (5 s at most) for its answer.
mock_command() {
	local before
	before=$(grep -cxF -e "kafka-mock: ok $1" "$MOCK_LOG" || true)
	echo "$1" >"$MOCK_CONTROL"
	for _ in $(seq 1 100); do
		[ "$(grep -cxF -e "kafka-mock: ok $1" "$MOCK_LOG" || true)" -gt "$before" ] && return 0
		sleep 0.05
	done
	echo "kafka-mock did not take '$1':" >&2
	cat "$MOCK_LOG" >&2
	return 1
}

# hbk's three topics on the mock, with PARTITIONS each.
mock_topics() {
	mock_command "topic hbk.commands $1"
	mock_command "topic hbk.events $1"
	mock_command "topic hbk.dlq $1"
}

# ---- cluster tests: several hbkd instances, each with its own store ----

declare -gA PID_OF=()

# Starts an instance named name with $BATS_TEST_TMPDIR/hbk.yaml on a store
# of its own (a copy of the seeded one, unless it is there already); sets
# URL_<name> and PID_OF[name], and adds its pid to PIDS.
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

# curl against the instance whose URL is in the variable url-var, with $TOKEN.
instance_api() { # url-var path [curl args...]
	local base=${!1}
	shift
	local path=$1
	shift
	curl -sS -H "Authorization: Bearer $TOKEN" "$@" "$base$path"
}

# Waits (30 s at most) until the instance serves the booking with status.
await_booking() { # url-var id status
	for _ in $(seq 1 300); do
		[ "$(instance_api "$1" "/v1/bookings/$2" | jq -r .status)" = "$3" ] && return 0
		sleep 0.1
	done
	echo "$1 never served $2 as $3: $(instance_api "$1" "/v1/bookings/$2")" >&2
	return 1
}
