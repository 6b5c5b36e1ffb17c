#!/usr/bin/env bats
# Guest notices over the real protocols, against hbk-sandbox: an embedded
# `hbk book` with notify.email.kind smtp delivers the confirmation to the
# sandbox's SMTP sink, addressed to the guest; with notify.sms.kind sns the
# SMS is published to the sandbox's SNS endpoint with a well-formed SigV4
# Authorization (and the AWS secret appears in no output, log, state, mail
# or store); with the sink unreachable the booking is still CONFIRMED, the
# notice is kept, retried with backoff, parked, listed by `hbk-admin notify
# list --parked` and delivered by `hbk-admin notify resend --all` once the
# sink is back, or by hbkd's own retry timer. The SNS endpoint refuses
# unsigned requests (403) and checks the signature when it knows the
# secret; the sink speaks SMTP (command order, dot-unstuffing, 451 faults).
# Each check reads the sandbox's /__sandbox/state or the store, never the
# tool's own word.

load helpers

AWS_SECRET_VALUE="bats-aws-Secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0"

setup_file() {
	seed_once
}

setup() {
	load_libs
	# The notifier runs in the tool's own process: these suites are
	# embedded by design, whatever HBK_TEST_REMOTE says.
	HBK_TEST_REMOTE=0 fresh_home
	export HBK_CONFIG="$BATS_TEST_TMPDIR/hbk.yaml"
	export BATS_AWS_KEY="AKIDBATSNOTIFY" BATS_AWS_SECRET="$AWS_SECRET_VALUE"
	out="$BATS_TEST_TMPDIR/out"
	: >"$out"
	: >"$HBK_CONFIG"
	# The sandbox checks the SigV4 signature itself when it knows the secret.
	export HBK_SANDBOX_SNS_SECRET="$AWS_SECRET_VALUE"
	start_sandbox
}

teardown() {
	stop_hbkd
	stop_sandbox
}

state() {
	curl -sS -f "$SANDBOX_URL/__sandbox/state"
}

# Config with the email channel on SMTP at $1 and retry settings $2 $3.
smtp_config() {
	cat >"$HBK_CONFIG" <<-YAML
	notify:
	  email:
	    kind: smtp
	    url: smtp://$1
	    from: "Hotel Desk <desk@hbk.invalid>"
	  retry:
	    attempts: ${2:-5}
	    backoff_ms: ${3:-30000}
	YAML
}

sns_config() {
	cat >"$HBK_CONFIG" <<-YAML
	notify:
	  sms:
	    kind: sns
	    region: eu-west-1
	    url: $SANDBOX_URL/sns/
	    access_key_id: env:BATS_AWS_KEY
	    secret_access_key: env:BATS_AWS_SECRET
	YAML
	[ -z "${1:-}" ] || echo "    topic_arn: $1" >>"$HBK_CONFIG"
}

# Books line 1 of a fresh search; prints the booking id. Output is kept.
book() {
	hbk search --city LIS --checkin "$(day 20)" --nights 2 -o json >/dev/null
	hbk book 1 --guest "Ana Silva" --email ana@example.com --phone +351912345678 -o json \
		2>>"$out" | tee -a "$out" | jq -r .id
}

@test "smtp: the confirmation and the cancellation reach the sink, addressed to the guest" {
	smtp_config "$SANDBOX_SMTP"
	id=$(book)
	[[ "$id" == BK-* ]]
	[ "$(hbk view "$id" -o json | jq -r .status)" = CONFIRMED ]
	state >"$BATS_TEST_TMPDIR/state.json"
	run jq -r '.sns.smtp | length' "$BATS_TEST_TMPDIR/state.json"
	assert_output 1
	run jq -r '.sns.smtp[0] | [.from, (.to | join(",")), .subject] | join("|")' "$BATS_TEST_TMPDIR/state.json"
	assert_output --regexp "^desk@hbk.invalid\|ana@example.com\|Booking confirmed: $id .*, $(day 20) to $(day 22)\$"
	run jq -r '.sns.smtp[0].data' "$BATS_TEST_TMPDIR/state.json"
	assert_output --partial "To: Ana Silva <ana@example.com>"
	assert_output --partial "X-Hbk-Booking: $id"
	assert_output --partial "Dear Ana Silva,"
	# Delivered: nothing kept, and the history says sent.
	[ "$(hbk-admin notify list -o json | jq '.notices | length')" -eq 0 ]
	run hbk history "$id" -o json
	assert_success
	[ "$(echo "$output" | jq '[.events[].type | select(. == "hbk.booking.notification_sent.v1")] | length')" -eq 1 ]

	hbk cancel "$id" -q >/dev/null
	run bash -c "curl -sS '$SANDBOX_URL/__sandbox/state' | jq -r '.sns.smtp[1].subject'"
	assert_output --partial "Booking cancelled: $id"
}

@test "sns: the SMS is published with a well-formed SigV4 Authorization; the secret is nowhere" {
	sns_config
	id=$(book)
	[ "$(hbk view "$id" -o json | jq -r .status)" = CONFIRMED ]
	state >"$BATS_TEST_TMPDIR/state.json"
	run jq -r '.sns.messages | length' "$BATS_TEST_TMPDIR/state.json"
	assert_output 1
	run jq -r '.sns.messages[0].phone_number' "$BATS_TEST_TMPDIR/state.json"
	assert_output "+351912345678"
	run jq -r '.sns.messages[0].message' "$BATS_TEST_TMPDIR/state.json"
	assert_output --partial "booking $id confirmed"
	run jq -r '.sns.messages[0].authorization' "$BATS_TEST_TMPDIR/state.json"
	assert_output --regexp '^AWS4-HMAC-SHA256 Credential=AKIDBATSNOTIFY/[0-9]{8}/eu-west-1/sns/aws4_request, SignedHeaders=([a-z0-9-]+;)*host(;[a-z0-9-]+)*, Signature=[0-9a-f]{64}$'
	assert_output --partial "x-amz-date"
	day=$(jq -r '.sns.messages[0].authorization' "$BATS_TEST_TMPDIR/state.json" | sed 's|.*Credential=[^/]*/\([0-9]*\)/.*|\1|')
	run jq -r '.sns.messages[0].x_amz_date' "$BATS_TEST_TMPDIR/state.json"
	assert_output --regexp "^${day}T[0-9]{6}Z$"
	run jq -r '.sns.messages[0].signature_verified' "$BATS_TEST_TMPDIR/state.json"
	assert_output true
	# Both channels: the email went to the maildir (the default) too.
	run grep -rl "X-Hbk-Booking: $id" "$HBK_HOME/mail/new"
	assert_success

	# A topic instead of the guest's phone.
	sns_config "arn:aws:sns:eu-west-1:123456789012:hbk-guests"
	id2=$(book)
	run bash -c "curl -sS '$SANDBOX_URL/__sandbox/state' | jq -r '.sns.messages[1] | [.topic_arn, .message] | join(\"|\")'"
	assert_output --partial "arn:aws:sns:eu-west-1:123456789012:hbk-guests|hbk: booking $id2 confirmed"

	# The secret reaches no output, log, state, mail, store or config dump.
	hbk-admin config show >>"$out" 2>&1
	hbk-admin notify list >>"$out" 2>&1
	hbk history "$id" -o json >>"$out" 2>&1
	state >>"$out"
	sqlite3 "$HBK_HOME/hbk.db" .dump >>"$out"
	cat "$SANDBOX_LOG" >>"$out"
	grep -q "$id2" "$out"
	run grep -rF "$AWS_SECRET_VALUE" "$out" "$HBK_HOME" "$SANDBOX_LOG"
	assert_failure 1
}

@test "sns: a refused publish keeps the SMS notice; the error names SNS's code, not the secret" {
	sns_config
	sandbox_faults '{"endpoint":"sns.publish","error_rate":1}'
	id=$(book)
	[ "$(hbk view "$id" -o json | jq -r .status)" = CONFIRMED ]
	run hbk-admin notify list -o json
	assert_success
	[ "$(echo "$output" | jq -r '.notices[0].channel')" = sms ]
	[ "$(echo "$output" | jq -r '.notices[0].recipient')" = "+351912345678" ]
	[ "$(echo "$output" | jq -r '.notices[0].status')" = pending ]
	echo "$output" | jq -r '.notices[0].last_error' | grep -q "sns: answered 500 InternalError"
	run grep -rF "$AWS_SECRET_VALUE" "$out" "$HBK_HOME"
	assert_failure 1
}

@test "an unreachable sink: CONFIRMED, the notice parked and listed, resent once the sink is back" {
	dead="$SANDBOX_SMTP"
	stop_sandbox
	smtp_config "$dead" 1
	id=$(book)
	[ "$(hbk view "$id" -o json | jq -r .status)" = CONFIRMED ]
	run hbk history "$id" -o json
	[ "$(echo "$output" | jq -r '[.events[] | select(.type == "hbk.booking.notification_failed.v1")][0].data.error')" != null ]

	run hbk-admin notify list --parked -o json
	assert_success
	[ "$(echo "$output" | jq '.notices | length')" -eq 1 ]
	[ "$(echo "$output" | jq -r '.notices[0].booking_id')" = "$id" ]
	[ "$(echo "$output" | jq -r '.notices[0].kind')" = confirmation ]
	[ "$(echo "$output" | jq -r '.notices[0].channel')" = email ]
	[ "$(echo "$output" | jq -r '.notices[0].recipient')" = ana@example.com ]
	[ "$(echo "$output" | jq -r '.notices[0].attempts')" -eq 1 ]
	echo "$output" | jq -r '.notices[0].last_error' | grep -q "smtp:"
	run hbk-admin notify list --parked
	assert_success
	assert_output --partial "parked"
	assert_output --partial "$id"
	# The stored message is the rendered one, ready to go.
	sqlite3 "$HBK_HOME/hbk.db" "SELECT message FROM notices" | grep -q "X-Hbk-Booking: $id"

	# Still down: resend fails (exit 6) and the notice stays parked.
	run hbk-admin notify resend --all
	assert_failure 6
	[ "$(hbk-admin notify list --parked -o json | jq -r '.notices[0].attempts')" -eq 2 ]

	start_sandbox
	smtp_config "$SANDBOX_SMTP" 1
	run hbk-admin notify resend --all
	assert_success
	assert_output "sent 1 notice(s), 0 failed"
	run bash -c "curl -sS '$SANDBOX_URL/__sandbox/state' | jq -r '.sns.smtp[0] | [(.to | join(\",\")), .subject] | join(\"|\")'"
	assert_output --partial "ana@example.com|Booking confirmed: $id"
	[ "$(hbk-admin notify list --parked -o json | jq '.notices | length')" -eq 0 ]
	[ "$(hbk-admin notify list -o json | jq -r '.notices[0].status')" = sent ]
	run hbk-admin notify resend 1
	assert_failure 4
}

@test "a sink that answers 451: the notice waits, and the next due retry delivers it" {
	smtp_config "$SANDBOX_SMTP" 5 1
	sandbox_faults '{"endpoint":"smtp.data","error_rate":1}'
	id=$(book)
	[ "$(hbk view "$id" -o json | jq -r .status)" = CONFIRMED ]
	run hbk-admin notify list -o json
	[ "$(echo "$output" | jq -r '.notices[0].status')" = pending ]
	echo "$output" | jq -r '.notices[0].last_error' | grep -q "451"
	[ "$(state | jq '.sns.smtp | length')" -eq 0 ]
	[ "$(state | jq '.requests["smtp.data"]')" -eq 1 ]
	sandbox_faults '{"reset":true}'
	sleep 0.1
	run hbk-admin notify retry
	assert_success
	assert_output "sent 1 notice(s), parked 0"
	run bash -c "curl -sS '$SANDBOX_URL/__sandbox/state' | jq -r '.sns.smtp[0].subject'"
	assert_output --partial "Booking confirmed: $id"
	[ "$(hbk-admin notify list -o json | jq -r '.notices[0].status')" = sent ]
}

@test "retries wait for their backoff, then park after the last attempt" {
	dead="$SANDBOX_SMTP"
	stop_sandbox
	# A long backoff: the next attempt is not due yet.
	smtp_config "$dead" 3 600000
	id=$(book)
	run hbk-admin notify retry -o json
	assert_success
	[ "$(echo "$output" | jq -r .sent)" -eq 0 ]
	run hbk-admin notify list -o json
	[ "$(echo "$output" | jq -r '.notices[0].status')" = pending ]
	[ "$(echo "$output" | jq -r '.notices[0].attempts')" -eq 1 ]
	[ "$(echo "$output" | jq -r '.notices[0].next_attempt_at')" != null ]
	# Due now (sent back in time); attempt 2 fails and waits again.
	sqlite3 "$HBK_HOME/hbk.db" "UPDATE notices SET next_attempt_ms = 0"
	hbk-admin -q notify retry >/dev/null
	run hbk-admin notify list -o json
	[ "$(echo "$output" | jq -r '.notices[0].status')" = pending ]
	[ "$(echo "$output" | jq -r '.notices[0].attempts')" -eq 2 ]
	# Attempt 3 is the last: parked.
	sqlite3 "$HBK_HOME/hbk.db" "UPDATE notices SET next_attempt_ms = 0"
	run hbk-admin notify retry
	assert_success
	assert_output "sent 0 notice(s), parked 1"
	run hbk-admin notify list --parked -o json
	[ "$(echo "$output" | jq -r '.notices[0].attempts')" -eq 3 ]

	# Back up: a pending notice goes out on the next pass.
	start_sandbox
	smtp_config "$SANDBOX_SMTP" 3 1
	id2=$(book)
	[ "$(hbk-admin notify list -o json | jq '[.notices[] | select(.booking_id == "'"$id2"'")] | length')" -eq 0 ]
	run bash -c "curl -sS '$SANDBOX_URL/__sandbox/state' | jq -r '.sns.smtp[0].subject'"
	assert_output --partial "$id2"
}

@test "hbkd: a notice kept while the sink is down goes out on its retry timer once it is back" {
	dead="$SANDBOX_SMTP"
	stop_sandbox
	smtp_config "$dead" 5 1
	start_hbkd --config "$HBK_CONFIG"
	export HBK_API_URL="$HBKD_URL" HBK_TOKEN="$HBK_TEST_TOKEN"
	id=$(book)
	[ "$(hbk view "$id" -o json | jq -r .status)" = CONFIRMED ]
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT status FROM notices WHERE booking_id = '$id'")" = pending ]
	# The sink is back on the same address; no one runs hbk-admin.
	start_sandbox --smtp-listen "$dead"
	[ "$SANDBOX_SMTP" = "$dead" ]
	for _ in $(seq 1 100); do
		[ "$(state | jq '.sns.smtp | length')" -ge 1 ] && break
		sleep 0.2
	done
	run bash -c "curl -sS '$SANDBOX_URL/__sandbox/state' | jq -r '.sns.smtp[0] | [(.to | join(\",\")), .subject] | join(\"|\")'"
	assert_output --partial "ana@example.com|Booking confirmed: $id"
	[ "$(sqlite3 "$HBK_HOME/hbk.db" "SELECT status FROM notices WHERE booking_id = '$id'")" = sent ]
	run curl -sS "$HBKD_URL/metrics"
	assert_output --partial 'hbk_notify_notices{status="sent"} 1'
	assert_output --partial 'hbk_notify_notices{status="pending"} 0'
}

@test "the SNS endpoint refuses requests without a SigV4 Authorization (403 XML)" {
	form='Action=Publish&Version=2010-03-31&PhoneNumber=%2B351912345678&Message=hi'
	run curl -sS -w '\n%{http_code}' -X POST -d "$form" "$SANDBOX_URL/sns/"
	assert_line --index 1 403
	assert_line --index 0 --partial "<Code>MissingAuthenticationToken</Code>"
	assert_line --index 0 --partial "<ErrorResponse"

	auth='AWS4-HMAC-SHA256 Credential=AKID/20261125/eu-west-1/sns/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'
	run curl -sS -w '\n%{http_code}' -X POST -d "$form" -H "Authorization: $auth" "$SANDBOX_URL/sns/"
	assert_line --index 1 403
	assert_line --index 0 --partial "X-Amz-Date"
	run curl -sS -w '\n%{http_code}' -X POST -d "$form" -H "Authorization: AWS4-HMAC-SHA256 Credential=AKID/x, Signature=00" \
		-H "X-Amz-Date: 20261125T000000Z" "$SANDBOX_URL/sns/"
	assert_line --index 1 403
	assert_line --index 0 --partial "<Code>IncompleteSignature</Code>"
	# Well-formed, but not signed with the secret.
	run curl -sS -w '\n%{http_code}' -X POST -d "$form" -H "Authorization: $auth" \
		-H "X-Amz-Date: 20261125T101010Z" "$SANDBOX_URL/sns/"
	assert_line --index 1 403
	assert_line --index 0 --partial "<Code>SignatureDoesNotMatch</Code>"
	[ "$(state | jq '.sns.messages | length')" -eq 0 ]

	# Signed by curl's own SigV4: accepted; a bad form is then a 400.
	run curl -sS -w '\n%{http_code}' --aws-sigv4 "aws:amz:eu-west-1:sns" \
		--user "AKIDCURL:$AWS_SECRET_VALUE" -d "$form" "$SANDBOX_URL/sns/"
	assert_line --index 1 200
	assert_line --index 0 --regexp '<MessageId>[0-9a-f-]{36}</MessageId>'
	run curl -sS -w '\n%{http_code}' --aws-sigv4 "aws:amz:eu-west-1:sns" \
		--user "AKIDCURL:$AWS_SECRET_VALUE" -d "Action=Publish&Message=hi" "$SANDBOX_URL/sns/"
	assert_line --index 1 400
	assert_line --index 0 --partial "<Code>InvalidParameter</Code>"
	run curl -sS -o /dev/null -w '%{http_code}' "$SANDBOX_URL/sns/"
	assert_output 405
}

@test "sns: a wrong secret is refused (SignatureDoesNotMatch); the notice waits for a retry" {
	sns_config
	BATS_AWS_SECRET="not-the-right-secret" book >/dev/null
	[ "$(state | jq '.sns.messages | length')" -eq 0 ]
	run hbk-admin notify list -o json
	[ "$(echo "$output" | jq -r '.notices[0].status')" = pending ]
	echo "$output" | jq -r '.notices[0].last_error' | grep -q "403 SignatureDoesNotMatch"
	# With the right secret, the due retry goes through.
	sqlite3 "$HBK_HOME/hbk.db" "UPDATE notices SET next_attempt_ms = 0"
	run hbk-admin notify retry
	assert_success
	assert_output "sent 1 notice(s), parked 0"
	[ "$(state | jq -r '.sns.messages[0].signature_verified')" = true ]
}

@test "the SMTP sink: command order enforced, dot-unstuffing, QUIT closes" {
	host=${SANDBOX_SMTP%:*}
	port=${SANDBOX_SMTP##*:}
	# A descriptor of its own: bats keeps 3 for itself.
	exec {smtp}<>"/dev/tcp/$host/$port"
	printf 'MAIL FROM:<a@example.com>\r\nEHLO test\r\nRCPT TO:<b@example.com>\r\nMAIL FROM:<a@example.com>\r\nDATA\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\nSubject: two\r\n dots\r\n\r\n..starts with a dot\r\n.\r\nQUIT\r\n' >&"$smtp"
	timeout 5 cat <&"$smtp" >"$BATS_TEST_TMPDIR/smtp.txt"
	exec {smtp}>&-
	run cat "$BATS_TEST_TMPDIR/smtp.txt"
	assert_line --index 0 --regexp '^220 '
	assert_line --index 1 --regexp '^503 '
	assert_output --partial "250 HELP"
	assert_output --partial "354 "
	assert_output --partial "250 2.0.0 OK queued as"
	assert_output --partial "221 "
	state >"$BATS_TEST_TMPDIR/state.json"
	run jq -r '.sns.smtp[0] | [.from, (.to | join(",")), .subject] | join("|")' "$BATS_TEST_TMPDIR/state.json"
	assert_output "a@example.com|b@example.com,c@example.com|two dots"
	run jq -r '.sns.smtp[0].data' "$BATS_TEST_TMPDIR/state.json"
	assert_output --partial $'\r\n.starts with a dot\r'
	refute_output --partial "..starts"
}

@test "hbk-admin notify: usage errors exit 2, an unknown notice 3" {
	run hbk-admin notify resend
	assert_failure 2
	run hbk-admin notify resend 1 --all
	assert_failure 2
	run hbk-admin notify list --all
	assert_failure 2
	run hbk-admin notify frobnicate
	assert_failure 2
	run hbk-admin notify resend abc
	assert_failure 2
	run hbk-admin notify resend 42
	assert_failure 3
	assert_output --partial "no notice 42"
	run hbk-admin notify list -o csv
	assert_success
	assert_output --partial "ID,BOOKING,KIND,CHANNEL,RECIPIENT,STATUS"
}
