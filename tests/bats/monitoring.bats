#!/usr/bin/env bats
# monitoring.bats - deploy/monitoring, checked with no cluster: the rules
# of the PrometheusRule pass promtool's checks and its unit tests
# (tests/monitoring/rules.test.yaml fires and does not fire each alert); a
# real Prometheus (Debian's prometheus) scrapes a real hbkd under a short
# booking load and evaluates the recording rules to what the load was;
# every metric the rules and the Grafana dashboard name exists in a live
# /metrics of hbkd in cluster mode; yamllint passes on deploy/ and config/.

load helpers

MONITORING="$HBK_TOP/tests/tools/check-monitoring.mjs"

setup_file() {
	command -v promtool >/dev/null && command -v prometheus >/dev/null ||
		{ echo "prometheus is not installed: sh scripts/install-deps.sh" >&2; return 1; }
	seed_once
}

setup() {
	load_libs
	fresh_home
	PROM_PID= MOCK_PID=
}

teardown() {
	stop_server "${PROM_PID:-}"
	stop_hbkd
	stop_server "${MOCK_PID:-}"
	stop_sandbox
}

# A free loopback port, for a server that cannot be told port 0.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Value of an instant PromQL query at Prometheus, "" when empty.
prom_value() {
	curl -sS --get --data-urlencode "query=$1" "http://$PROM_ADDR/api/v1/query" |
		jq -r '.data.result[0].value[1] // ""'
}

# Waits (60 s at most) until the query's value is the one expected.
await_prom() { # query value
	local v=
	for _ in $(seq 1 300); do
		v=$(prom_value "$1")
		[ "$v" = "$2" ] && return 0
		sleep 0.2
	done
	echo "$1 is '$v' at Prometheus, expected $2" >&2
	return 1
}

# n bookings with payment method pm, through the API.
book() { # n pm
	local offers i
	offers=$(curl -sS -H "Authorization: Bearer $HBK_TEST_TOKEN" \
		"$HBKD_URL/v1/offers?city=LIS&checkin=$(day 25)&nights=2&limit=50" | jq -r '.offers[].offer_id')
	for i in $(seq 1 "$1"); do
		curl -sS -o /dev/null -H "Authorization: Bearer $HBK_TEST_TOKEN" \
			-H "Content-Type: application/json" \
			-d "{\"offer_id\":\"$(echo "$offers" | sed -n "${i}p")\",\"guest\":{\"name\":\"Guest $2 $i\",\"email\":\"g$i.$2@example.com\"},\"payment_method\":\"$2\"}" \
			"$HBKD_URL/v1/bookings"
	done
}

@test "yamllint passes on deploy/ and config/ with the repository's .yamllint" {
	run yamllint -s -c "$HBK_TOP/.yamllint" "$HBK_TOP/deploy" "$HBK_TOP/config" "$HBK_TOP/tests/monitoring"
	assert_success
}

@test "the PrometheusRule's rules pass promtool check rules, and its unit tests fire and hold each alert" {
	node "$MONITORING" rules "$BATS_TEST_TMPDIR/rules.yaml"
	cp "$HBK_TOP/tests/monitoring/rules.test.yaml" "$BATS_TEST_TMPDIR/"
	run promtool check rules "$BATS_TEST_TMPDIR/rules.yaml"
	assert_success
	assert_output --partial 'SUCCESS: 26 rules found'
	cd "$BATS_TEST_TMPDIR"
	run promtool test rules rules.test.yaml
	assert_success
	# The unit tests can fail: counting a declined card (402) as an error
	# makes the quiet case page.
	sed -i 's/status=~"5\.\."/status=~"[45].."/' rules.yaml
	run promtool test rules rules.test.yaml
	assert_failure
	assert_output --partial 'alertname: HbkBookingErrorBudgetBurnFast'
}

@test "every recording rule the dashboard uses is defined in the PrometheusRule" {
	node "$MONITORING" rules "$BATS_TEST_TMPDIR/rules.yaml"
	node "$MONITORING" records >"$BATS_TEST_TMPDIR/used"
	[ -s "$BATS_TEST_TMPDIR/used" ]
	grep -o 'record: hbk:[a-z0-9_:]*' "$BATS_TEST_TMPDIR/rules.yaml" | cut -d' ' -f2 | sort -u >"$BATS_TEST_TMPDIR/defined"
	run comm -23 "$BATS_TEST_TMPDIR/used" "$BATS_TEST_TMPDIR/defined"
	assert_output ''
}

@test "every metric the rules and the dashboard name exists in a live /metrics of hbkd in cluster mode" {
	start_kafka_mock --topic hbk.events:2 --topic hbk.commands:2 --topic hbk.dlq:1
	start_sandbox --seed 7
	export HBK_PARTNER_KEY=sandbox-key HBK_PARTNER_SECRET=sandbox-secret
	export HBK_PAYMENT_KEY=sk_test_sandbox HBK_WEBHOOK_SECRET=whsec_sandbox
	cat >"$BATS_TEST_TMPDIR/hbk.yaml" <<-EOF
		partner: {kind: hotelbeds, url: "$SANDBOX_URL", api_key: "env:HBK_PARTNER_KEY", secret: "env:HBK_PARTNER_SECRET", timeout_ms: 2000}
		payment: {kind: stripe, url: "$SANDBOX_URL", secret_key: "env:HBK_PAYMENT_KEY", webhook_secret: "env:HBK_WEBHOOK_SECRET", timeout_ms: 2000}
		kafka: {brokers: "$BROKERS", session_timeout_ms: 3000}
	EOF
	start_hbkd --config "$BATS_TEST_TMPDIR/hbk.yaml"
	book 3 pm_card_visa
	book 1 pm_card_chargeDeclined
	# The sagas run after the answer: wait for their steps' histograms.
	for _ in $(seq 1 150); do
		curl -sS "$HBKD_URL/metrics" >"$BATS_TEST_TMPDIR/metrics"
		grep -q '^hbk_saga_step_duration_seconds_bucket{step="capture"' "$BATS_TEST_TMPDIR/metrics" && break
		sleep 0.2
	done
	sed -n 's/^\(hbk_[a-z0-9_]*\)[{ ].*/\1/p' "$BATS_TEST_TMPDIR/metrics" | sort -u >"$BATS_TEST_TMPDIR/live"
	node "$MONITORING" metrics >"$BATS_TEST_TMPDIR/named"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/named")" -ge 15 ]
	run comm -23 "$BATS_TEST_TMPDIR/named" "$BATS_TEST_TMPDIR/live"
	assert_output ''
}

@test "a real Prometheus scrapes a real hbkd and evaluates the recording rules to what the load was" {
	start_hbkd
	node "$MONITORING" rules "$BATS_TEST_TMPDIR/rules.yaml"
	PROM_ADDR="127.0.0.1:$(free_port)"
	cat >"$BATS_TEST_TMPDIR/prometheus.yml" <<-EOF
		global: {scrape_interval: 1s, evaluation_interval: 1s}
		rule_files: [rules.yaml]
		scrape_configs:
		  - job_name: hbkd
		    static_configs: [{targets: ["${HBKD_URL#http://}"]}]
	EOF
	prometheus --config.file="$BATS_TEST_TMPDIR/prometheus.yml" \
		--storage.tsdb.path="$BATS_TEST_TMPDIR/tsdb" --web.listen-address="$PROM_ADDR" \
		</dev/null >"$BATS_TEST_TMPDIR/prometheus.log" 2>&1 3>&- &
	PROM_PID=$!
	# hbkd scraped once before the load: every series starts at zero.
	await_prom 'up{job="hbkd"}' 1
	await_prom 'sum(hbk_bookings_total)' 0

	book 12 pm_card_visa
	book 4 pm_card_chargeDeclined
	run curl -sS "$HBKD_URL/metrics"
	assert_line 'hbk_bookings_total{outcome="confirmed"} 12'
	assert_line 'hbk_bookings_total{outcome="failed"} 4'

	await_prom 'sum(hbk_bookings_total)' 16
	# 4 of the 16 sagas failed (declined cards); none answered 5xx.
	await_prom 'hbk:booking_saga_failures:ratio_rate5m' 0.25
	await_prom 'hbk:booking_create_errors:ratio_rate5m' 0
	await_prom 'ALERTS{alertname="HbkBookingErrorBudgetBurnFast"}' ''
}
