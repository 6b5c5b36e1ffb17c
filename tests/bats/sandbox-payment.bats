#!/usr/bin/env bats
# The payment provider over real HTTP: hbk-sandbox's Stripe-shaped API
# driven by curl (keys, intents, captures, refunds, cursors, declines,
# Idempotency-Key replays and mismatches, the decline fault), hbk with
# payment.kind stripe booking and cancelling against it, and hbkd's signed
# webhook: bad or stale signatures change nothing, a refund made at the
# provider reaches the booking once, posted by hand or by the sandbox.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	seed_once
}

setup() {
	load_libs
	fresh_home
	start_sandbox --webhook-secret whsec_test_hbk
	KEY="Authorization: Bearer sk_test_sandbox"
	in=$(day 25)
	out=$(day 28)
}

teardown() {
	stop_hbkd
	stop_sandbox
}

# status and body of the last call
call() {
	status_code=$(curl -sS -o "$BATS_TEST_TMPDIR/body" -D "$BATS_TEST_TMPDIR/headers" \
		-w '%{http_code}' "$@")
	body=$(cat "$BATS_TEST_TMPDIR/body")
}

# Authorizes amount (minor units) on a payment method; prints the intent id.
authorize() { # amount payment_method [booking_id]
	curl -sS -H "$KEY" "$SANDBOX_URL/v1/payment_intents" -d amount="$1" -d currency=eur \
		-d payment_method="$2" -d capture_method=manual -d confirm=true \
		-d "metadata[booking_id]=${3:-}" | jq -r .id
}

# A config for the tools and hbkd: payments through the sandbox's API.
stripe_config() {
	cat >"$BATS_TEST_TMPDIR/stripe.yaml" <<-EOF
		payment:
		  kind: stripe
		  url: $SANDBOX_URL
		  secret_key: env:TEST_PAYMENT_KEY
		  webhook_secret: env:TEST_WEBHOOK_SECRET
		  timeout_ms: 3000
	EOF
	export TEST_PAYMENT_KEY=sk_test_sandbox TEST_WEBHOOK_SECRET=whsec_test_hbk
	export HBK_CONFIG="$BATS_TEST_TMPDIR/stripe.yaml"
}

# Books the first offer in LIS through hbk; prints the booking id.
book() { # [payment_method]
	hbk search --city LIS --checkin "$in" --checkout "$out" -o json >/dev/null
	hbk book 1 --guest "Ana Silva" --email ana@example.com \
		--payment-method "${1:-pm_card_visa}" -o json | jq -r .id
}

# Signs body with secret at time t: the Stripe-Signature header's value.
sign() { # t body [secret]
	local hex
	hex=$(printf '%s' "$1.$2" | openssl dgst -sha256 -hmac "${3:-whsec_test_hbk}" | sed 's/^.*= //')
	echo "t=$1,v1=$hex"
}

# A charge.refunded event for intent, as the provider sends it now.
refund_event() { # event_id intent booking_id
	local refunds
	refunds=$(curl -sS -H "$KEY" "$SANDBOX_URL/v1/refunds?payment_intent=$2&limit=100" | jq -c .data)
	jq -cn --arg id "$1" --arg pi "$2" --arg bk "$3" --argjson refunds "$refunds" \
		'{id:$id, object:"event", type:"charge.refunded", created:now|floor,
		  data:{object:{id:("ch_" + $pi), object:"charge", payment_intent:$pi,
		  metadata:{booking_id:$bk}, amount_refunded:([$refunds[].amount]|add),
		  refunds:{object:"list", data:$refunds, has_more:false}}}}'
}

@test "the API refuses a missing or wrong secret key with 401 in Stripe's shape" {
	call "$SANDBOX_URL/v1/payment_intents"
	[ "$status_code" = 401 ]
	[ "$(echo "$body" | jq -r .error.type)" = invalid_request_error ]
	call -H "Authorization: Bearer sk_test_wrong" "$SANDBOX_URL/v1/payment_intents" \
		-d amount=100 -d currency=eur -d payment_method=pm_card_visa -d confirm=true
	[ "$status_code" = 401 ]
	# Nothing was created by the refused request.
	[ "$(curl -sS "$SANDBOX_URL/__sandbox/state" | jq '.payment.payment_intents | length')" = 0 ]
}

@test "authorize, capture part, refund, and never more captured or refunded than there is" {
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents" -d amount=36000 -d currency=EUR \
		-d payment_method=pm_card_visa -d capture_method=manual -d confirm=true \
		-d 'metadata[booking_id]=BK-1' \
		-d 'automatic_payment_methods[enabled]=true' \
		-d 'automatic_payment_methods[allow_redirects]=never'
	[ "$status_code" = 200 ]
	pi=$(echo "$body" | jq -r .id)
	[[ "$pi" == pi_* ]]
	echo "$body" | jq -e '.status == "requires_capture" and .amount_capturable == 36000
		and .currency == "eur" and .metadata.booking_id == "BK-1"'

	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents/$pi/capture" -d amount_to_capture=40000
	[ "$status_code" = 400 ]
	[ "$(echo "$body" | jq -r .error.code)" = amount_too_large ]

	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents/$pi/capture" -d amount_to_capture=30000
	[ "$status_code" = 200 ]
	echo "$body" | jq -e '.status == "succeeded" and .amount_received == 30000'
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents/$pi/capture" -d amount_to_capture=6000
	[ "$status_code" = 400 ]
	[ "$(echo "$body" | jq -r .error.code)" = payment_intent_unexpected_state ]

	call -H "$KEY" "$SANDBOX_URL/v1/refunds" -d payment_intent="$pi" -d amount=10000
	[ "$status_code" = 200 ]
	echo "$body" | jq -e '.object == "refund" and .status == "succeeded" and .amount == 10000'
	call -H "$KEY" "$SANDBOX_URL/v1/refunds" -d payment_intent="$pi" -d amount=25000
	[ "$status_code" = 400 ]
	[ "$(echo "$body" | jq -r .error.code)" = amount_too_large ]
	# Without an amount: what is left.
	call -H "$KEY" "$SANDBOX_URL/v1/refunds" -d payment_intent="$pi"
	[ "$status_code" = 200 ]
	[ "$(echo "$body" | jq .amount)" = 20000 ]

	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents/$pi"
	echo "$body" | jq -e '.amount_received == 30000 and .amount_refunded == 30000'
	call -H "$KEY" "$SANDBOX_URL/v1/refunds?payment_intent=$pi"
	echo "$body" | jq -e '.object == "list" and (.data | length) == 2
		and ([.data[].amount] == [20000, 10000])'

	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents/pi_nosuch/capture"
	[ "$status_code" = 404 ]
	[ "$(echo "$body" | jq -r .error.code)" = resource_missing ]
}

@test "a voided authorization cannot be captured" {
	pi=$(authorize 5000 pm_card_visa)
	call -H "$KEY" -X POST "$SANDBOX_URL/v1/payment_intents/$pi/cancel"
	[ "$status_code" = 200 ]
	[ "$(echo "$body" | jq -r .status)" = canceled ]
	call -H "$KEY" -X POST "$SANDBOX_URL/v1/payment_intents/$pi/capture"
	[ "$status_code" = 400 ]
	[ "$(echo "$body" | jq -r .error.code)" = payment_intent_unexpected_state ]
	# The refusal names the intent as it is now.
	[ "$(echo "$body" | jq -r .error.payment_intent.status)" = canceled ]
}

@test "lists page newest first with limit, starting_after and ending_before" {
	for i in 1 2 3 4 5; do
		ids[$i]=$(authorize "${i}00" pm_card_visa)
	done
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents?limit=2"
	[ "$status_code" = 200 ]
	[ "$(echo "$body" | jq -c '[.data[].id]')" = "[\"${ids[5]}\",\"${ids[4]}\"]" ]
	[ "$(echo "$body" | jq .has_more)" = true ]
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents?limit=2&starting_after=${ids[4]}"
	[ "$(echo "$body" | jq -c '[.data[].id]')" = "[\"${ids[3]}\",\"${ids[2]}\"]" ]
	[ "$(echo "$body" | jq .has_more)" = true ]
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents?limit=2&starting_after=${ids[2]}"
	[ "$(echo "$body" | jq -c '[.data[].id]')" = "[\"${ids[1]}\"]" ]
	[ "$(echo "$body" | jq .has_more)" = false ]
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents?limit=2&ending_before=${ids[2]}"
	[ "$(echo "$body" | jq -c '[.data[].id]')" = "[\"${ids[4]}\",\"${ids[3]}\"]" ]
	[ "$(echo "$body" | jq .has_more)" = true ]
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents?limit=101"
	[ "$status_code" = 400 ]
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents?starting_after=pi_nosuch"
	[ "$status_code" = 400 ]
	[ "$(echo "$body" | jq -r .error.code)" = resource_missing ]
}

@test "test payment methods decline with 402 card_error and their decline codes" {
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents" -d amount=1000 -d currency=eur \
		-d payment_method=pm_card_chargeDeclined -d capture_method=manual -d confirm=true
	[ "$status_code" = 402 ]
	echo "$body" | jq -e '.error.type == "card_error" and .error.code == "card_declined"
		and .error.decline_code == "generic_decline"
		and .error.payment_intent.status == "requires_payment_method"'
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents" -d amount=1000 -d currency=eur \
		-d payment_method=pm_card_chargeDeclinedInsufficientFunds -d capture_method=manual \
		-d confirm=true
	[ "$status_code" = 402 ]
	[ "$(echo "$body" | jq -r .error.decline_code)" = insufficient_funds ]
	# A card number is refused and never echoed.
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents" -d amount=1000 -d currency=eur \
		-d payment_method=4242424242424242 -d confirm=true
	[ "$status_code" = 400 ]
	[[ "$body" != *4242424242424242* ]]
}

@test "the decline_rate fault declines authorizations" {
	sandbox_faults '{"endpoint":"payment.payment_intents.create","decline_rate":1}'
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents" -d amount=1000 -d currency=eur \
		-d payment_method=pm_card_visa -d capture_method=manual -d confirm=true
	[ "$status_code" = 402 ]
	[ "$(echo "$body" | jq -r .error.type)" = card_error ]
	sandbox_faults '{"endpoint":"payment.payment_intents.create","decline_rate":0}'
	call -H "$KEY" "$SANDBOX_URL/v1/payment_intents" -d amount=1000 -d currency=eur \
		-d payment_method=pm_card_visa -d capture_method=manual -d confirm=true
	[ "$status_code" = 200 ]
}

@test "Idempotency-Key: a repeat gets the first answer, other parameters a 400 idempotency_error" {
	args=(-H "$KEY" -H "Idempotency-Key: bk-1:authorize" "$SANDBOX_URL/v1/payment_intents"
		-d amount=2500 -d currency=eur -d payment_method=pm_card_visa
		-d capture_method=manual -d confirm=true)
	call "${args[@]}"
	[ "$status_code" = 200 ]
	first=$body
	pi=$(echo "$first" | jq -r .id)
	# Captured since: the repeat still gets the saved answer, not a new intent.
	curl -sS -H "$KEY" -X POST "$SANDBOX_URL/v1/payment_intents/$pi/capture" >/dev/null
	call "${args[@]}"
	[ "$status_code" = 200 ]
	[ "$body" = "$first" ]
	grep -qi '^Idempotent-Replayed: true' "$BATS_TEST_TMPDIR/headers"
	[ "$(curl -sS "$SANDBOX_URL/__sandbox/state" | jq '.payment.payment_intents | length')" = 1 ]

	call -H "$KEY" -H "Idempotency-Key: bk-1:authorize" "$SANDBOX_URL/v1/payment_intents" \
		-d amount=2600 -d currency=eur -d payment_method=pm_card_visa \
		-d capture_method=manual -d confirm=true
	[ "$status_code" = 400 ]
	[ "$(echo "$body" | jq -r .error.type)" = idempotency_error ]

	# A decline is saved and replayed as well: same status, same body.
	decline=(-H "$KEY" -H "Idempotency-Key: bk-2:authorize" "$SANDBOX_URL/v1/payment_intents"
		-d amount=2500 -d currency=eur -d payment_method=pm_card_chargeDeclined
		-d capture_method=manual -d confirm=true)
	call "${decline[@]}"
	[ "$status_code" = 402 ]
	first=$body
	call "${decline[@]}"
	[ "$status_code" = 402 ]
	[ "$body" = "$first" ]

	# A refund repeated under its key refunds once.
	call -H "$KEY" -H "Idempotency-Key: bk-1:refund" "$SANDBOX_URL/v1/refunds" \
		-d payment_intent="$pi" -d amount=500
	call -H "$KEY" -H "Idempotency-Key: bk-1:refund" "$SANDBOX_URL/v1/refunds" \
		-d payment_intent="$pi" -d amount=500
	[ "$status_code" = 200 ]
	[ "$(curl -sS -H "$KEY" "$SANDBOX_URL/v1/payment_intents/$pi" | jq .amount_refunded)" = 500 ]
}

@test "hbk with payment.kind stripe: captured at the sandbox, declines fail the booking, cancel refunds there" {
	stripe_config
	id=$(book)
	[[ "$id" == BK-* ]]
	run hbk view "$id" -o json
	assert_success
	echo "$output" | jq -e '.status == "CONFIRMED" and .payment.provider == "stripe"'
	pi=$(echo "$output" | jq -r .payment.reference)
	total=$(echo "$output" | jq -r .total.amount | tr -d .)
	intent=$(curl -sS -H "$KEY" "$SANDBOX_URL/v1/payment_intents/$pi")
	echo "$intent" | jq -e --argjson t "$((10#$total))" \
		'.status == "succeeded" and .amount_received == $t'
	[ "$(echo "$intent" | jq -r .metadata.booking_id)" = "$id" ]

	run --separate-stderr hbk book 1 --guest "Ana Silva" --email ana@example.com \
		--payment-method pm_card_chargeDeclinedInsufficientFunds -o json
	[ "$status" -eq 5 ]
	[[ "$stderr" == *insufficient_funds* ]]
	echo "$output" | jq -e '.status == "FAILED" and .failure.code == "insufficient_funds"'

	run --separate-stderr hbk cancel "$id" -o json
	assert_success
	refunded=$(echo "$output" | jq -r .refunded.amount | tr -d .)
	[ "$((10#$refunded))" -gt 0 ]
	[ "$(curl -sS -H "$KEY" "$SANDBOX_URL/v1/payment_intents/$pi" | jq .amount_refunded)" = \
		"$((10#$refunded))" ]
	# The secret key never reaches the output or the store.
	! grep -rq sk_test_sandbox "$HBK_HOME"
}

@test "hbk with payment.kind stripe: a wrong key is an authentication failure that names no key" {
	stripe_config
	export TEST_PAYMENT_KEY=sk_test_wrong_key
	hbk search --city LIS --checkin "$in" --checkout "$out" -o json >/dev/null
	run hbk book 1 --guest "Ana Silva" --email ana@example.com -o json
	[ "$status" -ne 0 ]
	[[ "$output" == *payment* ]]
	[[ "$output" != *sk_test_wrong_key* ]]
	[ "$(curl -sS "$SANDBOX_URL/__sandbox/state" | jq '.payment.payment_intents | length')" = 0 ]
}

@test "hbkd's payment webhook: a bad or stale signature is a 400 that changes nothing" {
	stripe_config
	id=$(book)
	pi=$(hbk view "$id" -o json | jq -r .payment.reference)
	start_hbkd
	curl -sS -H "$KEY" "$SANDBOX_URL/v1/refunds" -d payment_intent="$pi" -d amount=1000 >/dev/null
	event=$(refund_event evt_bad "$pi" "$id")
	before=$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM events; SELECT refunded_minor FROM bookings WHERE id='$id'")
	now=$(date +%s)

	call -H "Stripe-Signature: $(sign "$now" "$event" whsec_other)" \
		-H 'Content-Type: application/json' --data-binary "$event" \
		"$HBKD_URL/v1/webhooks/payments"
	[ "$status_code" = 400 ]
	[ "$(echo "$body" | jq -r .code)" = invalid_signature ]
	check_response POST /v1/webhooks/payments 400 "$BATS_TEST_TMPDIR/body" application/problem+json

	# The body changed after signing.
	call -H "Stripe-Signature: $(sign "$now" "$event")" -H 'Content-Type: application/json' \
		--data-binary "${event/1000/9000}" "$HBKD_URL/v1/webhooks/payments"
	[ "$status_code" = 400 ]

	call -H "Stripe-Signature: $(sign $((now - 301)) "$event")" \
		-H 'Content-Type: application/json' --data-binary "$event" \
		"$HBKD_URL/v1/webhooks/payments"
	[ "$status_code" = 400 ]
	[ "$(echo "$body" | jq -r .code)" = signature_expired ]

	call -H 'Content-Type: application/json' --data-binary "$event" \
		"$HBKD_URL/v1/webhooks/payments"
	[ "$status_code" = 400 ]

	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM events; SELECT refunded_minor FROM bookings WHERE id='$id'")" = "$before" ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM payment_webhook_events")" = 0 ]
}

@test "hbkd's payment webhook: a refund made at the provider reaches the booking once" {
	stripe_config
	id=$(book)
	pi=$(hbk view "$id" -o json | jq -r .payment.reference)
	start_hbkd
	curl -sS -H "$KEY" "$SANDBOX_URL/v1/refunds" -d payment_intent="$pi" -d amount=1500 >/dev/null
	event=$(refund_event evt_refund_1 "$pi" "$id")

	call -H "Stripe-Signature: $(sign "$(date +%s)" "$event")" \
		-H 'Content-Type: application/json' --data-binary "$event" \
		"$HBKD_URL/v1/webhooks/payments"
	[ "$status_code" = 200 ]
	check_response POST /v1/webhooks/payments 200 "$BATS_TEST_TMPDIR/body" application/json
	echo "$body" | jq -e --arg id "$id" '.outcome == "applied" and .booking_id == $id'
	run curl -sS -H "Authorization: Bearer $HBK_TEST_TOKEN" "$HBKD_URL/v1/bookings/$id"
	[ "$(echo "$output" | jq -r .refunded.amount)" = 15.00 ]
	[ "$(echo "$output" | jq -r .status)" = CONFIRMED ]

	# Delivered again: applied once.
	call -H "Stripe-Signature: $(sign "$(date +%s)" "$event")" \
		-H 'Content-Type: application/json' --data-binary "$event" \
		"$HBKD_URL/v1/webhooks/payments"
	[ "$status_code" = 200 ]
	[ "$(echo "$body" | jq -r .outcome)" = duplicate ]
	# A new event listing the same refund changes nothing either.
	event=$(refund_event evt_refund_2 "$pi" "$id")
	call -H "Stripe-Signature: $(sign "$(date +%s)" "$event")" \
		-H 'Content-Type: application/json' --data-binary "$event" \
		"$HBKD_URL/v1/webhooks/payments"
	[ "$(echo "$body" | jq -r .outcome)" = unchanged ]
	run hbk history "$id" -o json
	[ "$(echo "$output" | jq '[.events[] | select(.type == "hbk.booking.payment_refunded.v1" and .data.external)] | length')" = 1 ]
	[ "$(hbk view "$id" -o json | jq -r .refunded.amount)" = 15.00 ]

	# A payment no booking has: acknowledged and ignored.
	other=$(authorize 700 pm_card_visa)
	event=$(jq -cn --arg pi "$other" '{id:"evt_other", type:"payment_intent.canceled",
		data:{object:{id:$pi, object:"payment_intent", metadata:{}}}}')
	call -H "Stripe-Signature: $(sign "$(date +%s)" "$event")" \
		-H 'Content-Type: application/json' --data-binary "$event" \
		"$HBKD_URL/v1/webhooks/payments"
	[ "$status_code" = 200 ]
	[ "$(echo "$body" | jq -r .outcome)" = ignored ]
}

@test "the sandbox posts a signed charge.refunded to hbkd when a booking's payment is refunded there" {
	# Each end must know the other's address: hbkd starts first, told the
	# port the sandbox will listen on.
	stop_sandbox
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	SANDBOX_URL="http://127.0.0.1:$port"
	stripe_config
	start_hbkd
	start_sandbox --listen "127.0.0.1:$port" --webhook-secret whsec_test_hbk \
		--webhook-url "$HBKD_URL/v1/webhooks/payments"
	[ "$SANDBOX_URL" = "http://127.0.0.1:$port" ]

	id=$(book)
	pi=$(hbk view "$id" -o json | jq -r .payment.reference)
	[[ "$pi" == pi_* ]]
	curl -sS -H "$KEY" "$SANDBOX_URL/v1/refunds" -d payment_intent="$pi" -d amount=2000 >/dev/null
	for _ in $(seq 1 50); do
		[ "$(hbk view "$id" -o json | jq -r .refunded.amount)" = 20.00 ] && break
		sleep 0.1
	done
	[ "$(hbk view "$id" -o json | jq -r .refunded.amount)" = 20.00 ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT type, outcome FROM payment_webhook_events")" = "charge.refunded|applied" ]
}

@test "hbkd's payment webhook: off without payment.webhook_secret (503), POST only (405), no token needed" {
	start_hbkd
	event='{"id":"evt_x","type":"charge.refunded","data":{"object":{}}}'
	call -H "Stripe-Signature: $(sign "$(date +%s)" "$event")" \
		-H 'Content-Type: application/json' --data-binary "$event" \
		"$HBKD_URL/v1/webhooks/payments"
	[ "$status_code" = 503 ]
	[ "$(echo "$body" | jq -r .code)" = webhook_not_configured ]
	check_response POST /v1/webhooks/payments 503 "$BATS_TEST_TMPDIR/body" application/problem+json
	call "$HBKD_URL/v1/webhooks/payments"
	[ "$status_code" = 405 ]
	grep -qi '^Allow: POST' "$BATS_TEST_TMPDIR/headers"
	# The route is in the metrics under its own label.
	curl -sS "$HBKD_URL/metrics" | grep -q 'route="/v1/webhooks/payments"'
}

@test "the sandbox delivers a webhook again until hbkd takes it, as Stripe retries" {
	free_port() {
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
	}
	hport=$(free_port)
	stop_sandbox
	start_sandbox --webhook-secret whsec_test_hbk \
		--webhook-url "http://127.0.0.1:$hport/v1/webhooks/payments"
	stripe_config
	id=$(book)
	pi=$(hbk view "$id" -o json | jq -r .payment.reference)
	# hbkd is not up yet: the first deliveries find nobody.
	curl -sS -H "$KEY" "$SANDBOX_URL/v1/refunds" -d payment_intent="$pi" -d amount=700 >/dev/null
	sleep 0.3
	[ "$(hbk view "$id" -o json | jq -r .refunded.amount)" = 0.00 ]
	start_hbkd --listen "127.0.0.1:$hport"
	for _ in $(seq 1 80); do
		[ "$(hbk view "$id" -o json | jq -r .refunded.amount)" = 7.00 ] && break
		sleep 0.1
	done
	[ "$(hbk view "$id" -o json | jq -r .refunded.amount)" = 7.00 ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM payment_webhook_events")" = 1 ]
}

@test "lost answers (the sandbox does the call, the client times out): retried under the same key, never charged twice" {
	stripe_config
	sed -i 's/timeout_ms: 3000/timeout_ms: 400/' "$HBK_CONFIG"
	sandbox_faults '{"endpoint":"payment.*","timeout_rate":0.5}'
	hbk search --city LIS --checkin "$in" --checkout "$out" -o json >/dev/null
	for i in 1 2 3 4 5 6; do
		run --separate-stderr hbk book "$i" --guest "Guest $i" --email "g$i@example.com" -o json
		# A decision either way: CONFIRMED, or FAILED as unavailable.
		[ "$status" -eq 0 ] || [ "$status" -eq 6 ]
	done
	sandbox_faults '{"reset":true}'
	# A compensation still unanswered after its retries stays with its saga,
	# PENDING, until recovery finishes it with the provider back.
	hbk-admin -q recover >/dev/null
	state=$(curl -sS "$SANDBOX_URL/__sandbox/state")
	# One intent per booking, whatever the retries.
	[ "$(echo "$state" | jq '[.payment.payment_intents[] | .metadata.booking_id] | group_by(.) | map(length) | max')" = 1 ]
	for id in $(sqlite3 "$HBK_HOME/hbk.db" "SELECT id FROM bookings"); do
		row=$(sqlite3 "$HBK_HOME/hbk.db" "SELECT status, total_minor, paid_minor - refunded_minor FROM bookings WHERE id = '$id'")
		net=$(echo "$state" | jq --arg id "$id" '[.payment.payment_intents[] | select(.metadata.booking_id == $id) | .amount_received - .amount_refunded] | add // 0')
		IFS='|' read -r st total ours <<<"$row"
		# The provider holds what the booking says it holds: the total when
		# it is confirmed, nothing when it failed.
		[ "$net" = "$ours" ]
		if [ "$st" = CONFIRMED ]; then [ "$net" = "$total" ]; else [ "$net" = 0 ]; fi
	done
	[ -z "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT id FROM bookings WHERE status = 'PENDING'")" ]
	# Answers were lost: more calls came than distinct effects were made.
	calls=$(echo "$state" | jq '[.requests | to_entries[] | select(.key | startswith("payment.")) | .value] | add')
	effects=$(echo "$state" | jq '[.payment.payment_intents[] | 1 + (if .status == "succeeded" or .status == "canceled" then 1 else 0 end)] | add')
	[ "$calls" -gt "$effects" ]
}

@test "a capture done at the provider whose answers were all lost is not left charged on a FAILED booking" {
	stripe_config
	sed -i 's/timeout_ms: 3000/timeout_ms: 400/' "$HBK_CONFIG"
	sandbox_faults '{"endpoint":"payment.payment_intents.capture","timeout_rate":1}'
	hbk search --city LIS --checkin "$in" --checkout "$out" -o json >/dev/null
	run --separate-stderr hbk book 1 --guest "Ana Silva" --email ana@example.com -o json
	[ "$status" -eq 6 ]
	id=$(echo "$output" | jq -r .id)
	[ "$(echo "$output" | jq -r .status)" = FAILED ]
	sandbox_faults '{"reset":true}'
	# The provider captured it; the booking failed: the money goes back.
	net=$(curl -sS "$SANDBOX_URL/__sandbox/state" | jq --arg id "$id" '[.payment.payment_intents[] | select(.metadata.booking_id == $id) | .amount_received - .amount_refunded] | add')
	[ "$net" = 0 ]
}

@test "an authorization whose answers were all lost is found by its key and voided: FAILED, the intent canceled" {
	stripe_config
	sed -i 's/timeout_ms: 3000/timeout_ms: 400/' "$HBK_CONFIG"
	# The provider authorizes each time; every answer is lost.
	sandbox_faults '{"endpoint":"payment.payment_intents.create","timeout_rate":1}'
	hbk search --city LIS --checkin "$in" --checkout "$out" -o json >/dev/null
	run --separate-stderr hbk book 1 --guest "Ana Silva" --email ana@example.com -o json
	[ "$status" -eq 6 ]
	id=$(echo "$output" | jq -r .id)
	echo "$output" | jq -e '.status == "FAILED" and .failure.code == "payment_unavailable"'
	# What the authorize key created is at the provider, voided: no money held.
	intents=$(curl -sS -H "$KEY" "$SANDBOX_URL/v1/payment_intents?limit=100")
	[ "$(echo "$intents" | jq --arg id "$id" '[.data[] | select(.metadata.booking_id == $id)] | length')" = 1 ]
	[ "$(echo "$intents" | jq -r --arg id "$id" '.data[] | select(.metadata.booking_id == $id) | .status')" = canceled ]
	# The booking's history says what was found and voided.
	pi=$(echo "$intents" | jq -r --arg id "$id" '.data[] | select(.metadata.booking_id == $id) | .id')
	hbk history "$id" -o json | jq -e --arg pi "$pi" '[.events[] | select(.type == "hbk.booking.payment_voided.v1" and .data.reference == $pi)] | length == 1'
	[ -z "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT booking_id FROM sagas")" ]
}

@test "through hbkd too: an authorization whose answers were all lost ends voided at the provider" {
	stripe_config
	sed -i 's/timeout_ms: 3000/timeout_ms: 400/' "$HBK_CONFIG"
	start_hbkd
	sandbox_faults '{"endpoint":"payment.payment_intents.create","timeout_rate":1}'
	export HBK_API_URL="$HBKD_URL" HBK_TOKEN="$HBK_TEST_TOKEN"
	hbk search --city LIS --checkin "$in" --checkout "$out" -o json >/dev/null
	run --separate-stderr hbk book 1 --guest "Ana Silva" --email ana@example.com -o json
	[ "$status" -eq 6 ]
	id=$(echo "$output" | jq -r .id)
	[ "$(hbk view "$id" -o json | jq -r .status)" = FAILED ]
	intents=$(curl -sS -H "$KEY" "$SANDBOX_URL/v1/payment_intents?limit=100")
	[ "$(echo "$intents" | jq -r --arg id "$id" '[.data[] | select(.metadata.booking_id == $id) | .status] | join(",")')" = canceled ]
}

@test "a provider that refuses connections: the booking FAILED at once, no lookup for what was never sent" {
	stripe_config
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	sed -i "s|url: .*|url: http://127.0.0.1:$port|" "$HBK_CONFIG"
	hbk search --city LIS --checkin "$in" --checkout "$out" -o json >/dev/null
	run --separate-stderr hbk book 1 --guest "Ana Silva" --email ana@example.com -o json
	[ "$status" -eq 6 ]
	id=$(echo "$output" | jq -r .id)
	echo "$output" | jq -e '.status == "FAILED" and .failure.code == "payment_unavailable"'
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT COUNT(*) FROM sagas")" -eq 0 ]
	# Nothing can be held: the compensation did not look for it.
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT json_extract(data, '$.payment_key') IS NULL FROM events WHERE stream = '$id' AND type = 'hbk.booking.compensation_started.v1'")" -eq 1 ]
}
