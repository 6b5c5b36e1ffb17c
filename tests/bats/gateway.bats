#!/usr/bin/env bats
# gateway.bats - the stack around hbkd, checked with no cluster: Kong
# (deploy/gateway, decK and the Ingress Controller's KongPlugins), Istio
# (deploy/mesh) and Fluent Bit (deploy/logging) agree with each other and
# with hbkd (tests/tools/check-gateway.mjs), and each kind of drift fails
# the check; a real hbkd writes the JSON lines the log pipeline parses;
# a real Redis (Debian's redis-server) runs with the manifest's arguments
# and keeps the counters the way the gateway's rate-limiting uses it.

load helpers

CHECK="$HBK_TOP/tests/tools/check-gateway.mjs"

setup_file() {
	[ -d "$HBK_TOP/tests/tools/node_modules/yaml" ] ||
		{ echo "yaml is not installed: sh scripts/install-deps.sh" >&2; return 1; }
	seed_once
}

setup() {
	load_libs
	fresh_home
	REDIS_PID=
	unset HBK_DEPLOY_ROOT
}

teardown() {
	stop_hbkd
	stop_server "${REDIS_PID:-}"
}

# Copies deploy/, applies the sed expression to one file of the copy and
# runs the check on it; the check must fail.
drift() { # file sed-expression
	rm -rf "$BATS_TEST_TMPDIR/deploy"
	cp -r "$HBK_TOP/deploy" "$BATS_TEST_TMPDIR/deploy"
	sed -i "$2" "$BATS_TEST_TMPDIR/deploy/$1"
	! cmp -s "$HBK_TOP/deploy/$1" "$BATS_TEST_TMPDIR/deploy/$1" || {
		echo "drift: '$2' changed nothing in $1" >&2
		return 1
	}
	HBK_DEPLOY_ROOT="$BATS_TEST_TMPDIR/deploy" run node "$CHECK" check
	assert_failure 1
}

@test "Kong, Istio and Fluent Bit agree with each other and with hbkd" {
	run node "$CHECK" check
	assert_success
	assert_output ''
}

@test "each kind of drift in the gateway, the mesh or the logs fails the check" {
	drift gateway/kong.yaml 's|paths: \[/v1/\]|paths: [/]|'
	assert_output --partial 'exposes /'
	drift gateway/kong.yaml 's/allowed_payload_size: 64/allowed_payload_size: 128/'
	assert_output --partial "allows 131072 bytes, hbkd's server.max_body_bytes is 65536"
	drift gateway/kong.yaml 's/policy: redis/policy: local/'
	assert_output --partial 'rate-limiting policy local'
	drift gateway/kong.yaml 's/redis_host: redis.hbk/redis_host: cache.hbk/'
	assert_output --partial 'the Redis Service is redis.hbk.svc.cluster.local:6379'
	drift gateway/kong.yaml 's/header_name: X-Request-Id/header_name: X-Correlation-Id/'
	assert_output --partial 'correlation-id header X-Correlation-Id'
	drift gateway/kong.yaml 's/    retries: 0/    retries: 5/'
	assert_output --partial 'the mesh retries, Kong must not'
	drift gateway/plugins.yaml '0,/minute: 600/s//minute: 6000/'
	assert_output --partial "KongPlugin hbk-rate-limiting differs from kong.yaml's rate-limiting"
	drift gateway/redis.yaml 's/^  name: redis$/  name: valkey/'
	assert_output --partial 'the Redis Service is valkey.hbk'
	drift mesh/peerauthentication.yaml 's/mode: STRICT/mode: PERMISSIVE/'
	assert_output --partial 'not STRICT'
	drift mesh/virtualservice.yaml '/idempotency-key: {regex: ".+"}/d'
	assert_output --partial 'route keyed-creates retries requests that are not safe to resend'
	drift mesh/virtualservice.yaml 's/        attempts: 0/        attempts: 1/'
	assert_output --partial 'route writes retries requests that are not safe to resend'
	drift mesh/destinationrule.yaml 's/maxEjectionPercent: 34/maxEjectionPercent: 100/'
	assert_output --partial 'maxEjectionPercent 100'
	drift logging/fluent-bit.yaml 's/merge_log: on/merge_log: off/'
	assert_output --partial 'does not merge the JSON log lines'
	drift logging/fluent-bit.yaml 's/copy: request_id correlationid/copy: request_id rid/'
	assert_output --partial 'request_id is not copied to correlationid'
}

@test "a real hbkd writes one JSON object a line, with the request_id and booking_id the log pipeline keeps" {
	start_hbkd
	local auth="Authorization: Bearer $HBK_TEST_TOKEN" offer id
	offer=$(curl -sS -H "$auth" -H 'X-Request-Id: rid-search-1' \
		"$HBKD_URL/v1/offers?city=LIS&checkin=$(day 21)&nights=2&limit=1" | jq -r '.offers[0].offer_id')
	id=$(curl -sS -H "$auth" -H 'X-Request-Id: rid-book-1' -H 'Content-Type: application/json' \
		-d "{\"offer_id\":\"$offer\",\"guest\":{\"name\":\"Ana Silva\",\"email\":\"ana@example.com\"},\"payment_method\":\"pm_card_visa\"}" \
		"$HBKD_URL/v1/bookings" | jq -r .id)
	stop_hbkd
	# Every line is a JSON object, as the kubernetes filter's merge_log needs.
	run jq -e -s 'length > 2 and all(type == "object")' "$HBKD_LOG"
	assert_success
	run jq -r 'select(.request_id == "rid-search-1") | "\(.method) \(.path) \(.status)"' "$HBKD_LOG"
	assert_output 'GET /v1/offers 200'
	run jq -r 'select(.request_id == "rid-book-1") | "\(.method) \(.status) \(.booking_id)"' "$HBKD_LOG"
	assert_output "POST 201 $id"
	# Its events carry the same id as their correlation id.
	run sqlite3 "$HBK_HOME/hbk.db" "SELECT count(*) FROM events WHERE correlationid = 'rid-book-1' AND stream LIKE '%$id'"
	assert_output --regexp '^[1-9]'
}

@test "redis-server runs with the manifest's arguments and keeps shared, expiring counters as the gateway's rate limiting does" {
	command -v redis-server >/dev/null || { echo "redis-server is not installed: sh scripts/install-deps.sh" >&2; return 1; }
	local port args=()
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mapfile -t args < <(node "$CHECK" redis-args)
	[ "${#args[@]}" -gt 0 ]
	redis-server --bind 127.0.0.1 --port "$port" "${args[@]}" \
		</dev/null >"$BATS_TEST_TMPDIR/redis.log" 2>&1 3>&- &
	REDIS_PID=$!
	for _ in $(seq 1 100); do
		redis-cli -p "$port" ping 2>/dev/null | grep -qx PONG && break
		sleep 0.05
	done
	run redis-cli -p "$port" config get maxmemory-policy
	assert_line volatile-ttl
	run redis-cli -p "$port" config get save
	assert_line --index 1 ''
	# Two gateway replicas count requests of one token in the same minute:
	# INCRBY then EXPIRE, in one transaction each, on one key.
	key="ratelimit:hbkd:Bearer-abc:$(date -u +%Y%m%d%H%M):minute"
	for replica in 1 2; do
		for _ in 1 2 3; do
			printf 'MULTI\nINCRBY %s 1\nEXPIRE %s 60\nEXEC\n' "$key" "$key" | redis-cli -p "$port" >/dev/null
		done
	done
	run redis-cli -p "$port" get "$key"
	assert_output 6
	run redis-cli -p "$port" ttl "$key"
	[ "$output" -gt 0 ] && [ "$output" -le 60 ]
}
