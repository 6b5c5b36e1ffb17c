#!/usr/bin/env bats
# Text that is not valid UTF-8, or that a length limit would cut inside a
# character, never stops a server and never reaches an answer or a log
# line as it came. Each shape (invalid bytes, overlong and surrogate
# encodings, and runs of 2- and 3-byte characters long enough to cross
# every truncation limit at every offset) goes by curl over loopback into
# each place hbkd echoes outside text: the path (with and without a
# token), booking ids, query parameter names and values, the headers it
# reads, and the field names and values of a create and a change. Every
# answer must be a 4xx problem (or a plain answer where the input is
# legal) in valid UTF-8 JSON; an answer to valid input holds no U+FFFD
# (no character was cut); the log stays valid JSON lines; the server is
# alive afterwards. The same holds for hbk in remote mode (a one-line
# error and a documented exit code), for the arguments the embedded hbk
# and hbk-admin quote in their errors, and for hbk-sandbox's partner and
# payment protocols and its request log. The requests of a test go through one curl process
# (a config file), so that hundreds of them take a second.

load helpers

setup_file() {
	seed_once
}

setup() {
	load_libs
	fresh_home
	in=$(day 20)
}

teardown() {
	stop_hbkd
	stop_sandbox
}

# ---- shapes ----

# Invalid UTF-8, percent-encoded: a lone 0xFF, overlong '/', a UTF-16
# surrogate, a code point past U+10FFFF, a sequence cut short, a lone
# continuation byte, 0xFE; then the same within a valid name.
BAD_SHAPES="%FF %C0%AF %ED%A0%80 %F4%90%80%80 %E2%82 %80 %FE abc%FFdef H-LIS-%C0%AF"

# a run of N 'a'
as() {
	local s
	printf -v s '%*s' "$1" ''
	printf '%s' "${s// /a}"
}

# Valid UTF-8 that any limit of at most $size bytes cuts inside a
# character, whatever text comes before it: 2-byte and 3-byte characters
# after 0, 1 or 2 ASCII bytes, of several lengths; and the shape of the
# report (199 ASCII bytes, then a 2-byte character).
split_shapes() {
	local size lead char s
	for size in 20 40 70 130 250 600; do
		for lead in '' a; do
			s=$lead
			while [ ${#s} -lt $((size / 2)) ]; do s+='%C3%A9'; done
			printf '%s\n' "$s"
		done
		for lead in '' a aa; do
			s=$lead
			while [ ${#s} -lt $((size / 3)) ]; do s+='%E2%82%AC'; done
			printf '%s\n' "$s"
		done
	done
	printf '%s%%C3%%A9\n' "$(as 198)" "$(as 199)"
}

# The bytes of a percent-encoded shape.
raw() {
	printf '%b' "${1//\%/\\x}"
}

# ---- one batch of requests ----

# Starts a batch against base URL $1.
batch() {
	Q="$BATS_TEST_TMPDIR/q$RANDOM"
	mkdir -p "$Q"
	: >"$Q/config"
	QN=0
	QBASE=$1
}

# Adds a request: queue STATUS_REGEX METHOD PATH BODY [HEADER...]. PATH
# is percent-encoded; BODY and the headers may hold any byte but NUL, a
# newline, '"' and '\'.
queue() {
	local expect=$1 method=$2 path=$3 body=${4-} h
	shift $(($# < 4 ? $# : 4))
	QN=$((QN + 1))
	[ "$QN" -eq 1 ] || echo next >>"$Q/config"
	{
		printf 'url = "%s%s"\nrequest = "%s"\noutput = "%s/%d.body"\n' \
			"$QBASE" "$path" "$method" "$Q" "$QN"
		printf 'write-out = "%%{http_code}\\n"\n'
		for h in "$@"; do printf 'header = "%s"\n' "$h"; done
		if [ -n "$body" ]; then
			printf '%s' "$body" >"$Q/$QN.in"
			printf 'data-binary = "@%s/%d.in"\n' "$Q" "$QN"
		fi
	} >>"$Q/config"
	printf '%s %s %s\n' "$expect" "$method" "$path" >"$Q/$QN.what"
}

# Sends the batch; checks every answer (its status, valid UTF-8, a JSON
# problem or error object for a refusal), and that the server (pid $1) is
# alive. With --whole, the input was valid UTF-8: no answer holds U+FFFD.
send() {
	local pid=$1 whole=${2:-} i expect what bodies=() codes=() shapes=()
	curl -sS -K "$Q/config" >"$Q/statuses" 2>"$Q/curl.err" || true
	mapfile -t codes <"$Q/statuses"
	for i in $(seq 1 "$QN"); do
		read -r expect what <"$Q/$i.what"
		if ! [[ ${codes[i - 1]:-} =~ ^($expect)$ ]]; then
			echo "$what: HTTP ${codes[i - 1]:-none}, expected $expect" >&2
			head -c 2000 "$Q/$i.body" >&2 2>/dev/null
			head -n 3 "$Q/curl.err" >&2
			return 1
		fi
		bodies+=("$Q/$i.body")
	done
	# One jq and one iconv for the whole batch; a failure names the answer.
	mapfile -t shapes < <(jq -r 'if type != "object" then "not an object"
		elif (.status | type) == "number" then "\(.status) \(.detail | type)"
		elif .error then "error" else "plain" end' "${bodies[@]}" 2>/dev/null)
	for i in $(seq 1 "$QN"); do
		case "${codes[i - 1]}:${shapes[i - 1]:-}" in
		2??:plain | 4??:error | "${codes[i - 1]}:${codes[i - 1]} string") ;;
		*)
			echo "$(cat "$Q/$i.what"): HTTP ${codes[i - 1]}, not a JSON answer:" >&2
			od -c "$Q/$i.body" | head -20 >&2
			return 1
			;;
		esac
	done
	if ! cat "${bodies[@]}" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1; then
		for i in $(seq 1 "$QN"); do
			iconv -f UTF-8 -t UTF-8 "$Q/$i.body" >/dev/null 2>&1 ||
				echo "$(cat "$Q/$i.what"): not valid UTF-8: $(od -c "$Q/$i.body" | head)" >&2
		done
		return 1
	fi
	if [ "$whole" = --whole ] && grep -l $'\xef\xbf\xbd\|\\\\ufffd' "${bodies[@]}" >&2; then
		echo "a character was cut in the answers above" >&2
		return 1
	fi
	kill -0 "$pid"
}

# Queues make_request SHAPE for each bad shape and sends them; then for
# each split shape, checking that no character was cut.
each_shape() {
	local pid=$1 make=$2 shape
	batch "$BASE"
	for shape in $BAD_SHAPES; do "$make" "$shape"; done
	send "$pid"
	batch "$BASE"
	for shape in $(split_shapes); do "$make" "$shape"; done
	send "$pid" --whole
}

hbkd_up() {
	start_hbkd
	BASE=$HBKD_URL
	AUTH="Authorization: Bearer $HBK_TEST_TOKEN"
	JSON="Content-Type: application/json"
}

# hbkd answers its health check and its log is valid UTF-8 JSON lines.
hbkd_well() {
	kill -0 "$HBKD_PID"
	run curl -sS -o /dev/null -w '%{http_code}' "$HBKD_URL/healthz"
	assert_output 200
	iconv -f UTF-8 -t UTF-8 "$HBKD_LOG" >/dev/null
	jq -e . "$HBKD_LOG" >/dev/null
	! grep -q 'BUG' "$HBKD_LOG"
}

offer() {
	curl -sS -H "$AUTH" "$HBKD_URL/v1/offers?city=LIS&checkin=$in&nights=2&limit=1" |
		jq -r '.offers[0].offer_id'
}

# An offer id that decodes to the fields given ('|' between them).
forge() {
	printf 'OF1.%s' "$(printf '%b' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '=')"
}

# ---- hbkd ----

@test "hbkd: an unknown path of any shape, with no token, is a 404 problem" {
	hbkd_up
	unknown_path() {
		queue 404 GET "/$1"
		queue 404 GET "/v1/$1/x"
		queue 404 GET "/v1/bookings/BK-1/$1"
		queue 404 POST "/$1" '{}' "$JSON"
	}
	each_shape "$HBKD_PID" unknown_path
	hbkd_well
}

@test "hbkd: a booking id of any shape is a 404 problem on every booking route" {
	hbkd_up
	booking_id() {
		queue 404 GET "/v1/bookings/$1" '' "$AUTH"
		queue 404 GET "/v1/bookings/BK-$1" '' "$AUTH"
		queue 404 GET "/v1/bookings/$1/events" '' "$AUTH"
		queue 404 POST "/v1/bookings/$1/cancel" '{}' "$AUTH" "$JSON"
		queue 404 PATCH "/v1/bookings/$1" '{"guest":{"phone":"+351911111111"}}' "$AUTH" "$JSON"
	}
	each_shape "$HBKD_PID" booking_id
	hbkd_well
}

@test "hbkd: query parameter names of any shape are refused with a problem" {
	hbkd_up
	param_name() {
		queue 400 GET "/v1/offers?city=LIS&checkin=$in&nights=2&$1=1" '' "$AUTH"
		queue 400 GET "/v1/offers?$1" '' "$AUTH"
		queue 400 GET "/v1/bookings?$1=x" '' "$AUTH"
		queue 400 POST "/v1/bookings?$1=1" '{}' "$AUTH" "$JSON"
		queue 400 GET "/v1/offers?city=LIS&$1=1&$1=1" '' "$AUTH"
	}
	each_shape "$HBKD_PID" param_name
	hbkd_well
}

@test "hbkd: query values of any shape in a search and a list are answered, never echoed cut" {
	hbkd_up
	param_value() {
		local p
		for p in city hotel checkin checkout nights adults children rooms max_price \
			refundable sort limit; do
			queue '4..' GET "/v1/offers?city=LIS&checkin=$in&nights=2&$p=$1" '' "$AUTH"
		done
		queue '4..' GET "/v1/offers?checkin=$1&checkout=$1" '' "$AUTH"
		for p in status hotel checkin_from checkin_to email limit cursor; do
			queue '200|4..' GET "/v1/bookings?$p=$1" '' "$AUTH"
		done
		queue '4..' POST "/v1/bookings?wait=$1" '{}' "$AUTH" "$JSON"
	}
	each_shape "$HBKD_PID" param_value
	hbkd_well
}

@test "hbkd: headers of any shape (request id, idempotency key, If-Match, token, type)" {
	hbkd_up
	local offer_id
	offer_id=$(offer)
	header_value() {
		local v
		v=$(raw "$1")
		queue 404 GET "/v1/bookings/BK-0NOPE" '' "$AUTH" "X-Request-Id: $v"
		queue 404 GET "/nothing/$1" '' "X-Request-Id: $v"
		queue 400 POST "/v1/bookings" "{\"offer_id\":\"$offer_id\"}" "$AUTH" "$JSON" \
			"Idempotency-Key: $v" "X-Request-Id: $v"
		queue 400 PATCH "/v1/bookings/BK-0NOPE" '{}' "$AUTH" "$JSON" "If-Match: $v"
		queue 401 GET "/v1/bookings" '' "Authorization: Bearer $v"
		queue 401 GET "/v1/bookings" '' "Authorization: $v"
		queue 415 POST "/v1/bookings" '{}' "$AUTH" "Content-Type: application/$v"
		queue 415 POST "/v1/bookings" '{}' "$AUTH" "Content-Type: $v"
	}
	each_shape "$HBKD_PID" header_value
	hbkd_well
	# The log records what it was sent in valid UTF-8.
	run grep -c '"path":"/nothing/' "$HBKD_LOG"
	assert [ "$output" -gt 30 ]
}

@test "hbkd: JSON field names of any shape in a create and a change are refused" {
	hbkd_up
	local offer_id id
	offer_id=$(offer)
	id=$(curl -sS -H "$AUTH" -H "$JSON" -d "{\"offer_id\":\"$offer_id\",\"guest\":{\"name\":\"Ana Silva\",\"email\":\"ana@example.com\"}}" \
		"$HBKD_URL/v1/bookings" | jq -r .id)
	[[ $id == BK-* ]]
	field_name() {
		local k
		k=$(raw "$1")
		queue 400 POST /v1/bookings "{\"$k\":1}" "$AUTH" "$JSON"
		queue 400 POST /v1/bookings "{\"offer_id\":\"$offer_id\",\"guest\":{\"name\":\"A\",\"email\":\"a@b.co\",\"$k\":1}}" "$AUTH" "$JSON"
		queue 400 PATCH "/v1/bookings/$id" "{\"$k\":1}" "$AUTH" "$JSON"
		queue 400 PATCH "/v1/bookings/$id" "{\"guest\":{\"$k\":1}}" "$AUTH" "$JSON"
		queue 400 PATCH "/v1/bookings/$id" "{\"guests\":{\"$k\":1}}" "$AUTH" "$JSON"
		queue 400 PATCH "/v1/bookings/$id" "{\"$k\":1}" "$AUTH" "$JSON"
		queue 400 POST "/v1/bookings/$id/cancel" "{\"$k\":1}" "$AUTH" "$JSON"
	}
	each_shape "$HBKD_PID" field_name
	hbkd_well
}

@test "hbkd: JSON values of any shape in a create and a change are refused" {
	hbkd_up
	local offer_id id
	offer_id=$(offer)
	id=$(curl -sS -H "$AUTH" -H "$JSON" -d "{\"offer_id\":\"$offer_id\",\"guest\":{\"name\":\"Ana Silva\",\"email\":\"ana@example.com\"}}" \
		"$HBKD_URL/v1/bookings" | jq -r .id)
	[[ $id == BK-* ]]
	field_value() {
		local v g
		v=$(raw "$1")
		g='"name":"Ana Silva","email":"ana@example.com"'
		queue '4..' POST /v1/bookings "{\"offer_id\":\"$v\",\"guest\":{$g}}" "$AUTH" "$JSON"
		queue '4..' POST /v1/bookings "{\"offer_id\":\"$(forge "$v|DBL|RO|R|20813|20815|2|0|1|15000|EUR")\",\"guest\":{$g}}" "$AUTH" "$JSON"
		queue '4..' POST /v1/bookings "{\"offer_id\":\"$(forge "H-LIS-0002|$v|RO|R|20813|20815|2|0|1|15000|EUR")\",\"guest\":{$g}}" "$AUTH" "$JSON"
		queue '4..' POST /v1/bookings "{\"offer_id\":\"$(forge "H-LIS-0002|DBL|$v|R|20813|20815|2|0|1|15000|EUR")\",\"guest\":{$g}}" "$AUTH" "$JSON"
		queue '4..' POST /v1/bookings "{\"offer_id\":\"$(forge "H-LIS-0002|DBL|RO|R|20813|20815|2|0|1|15000|$v")\",\"guest\":{$g}}" "$AUTH" "$JSON"
		queue "$NAME_EXPECT" POST /v1/bookings "{\"offer_id\":\"$offer_id\",\"guest\":{\"name\":\"$v\",\"email\":\"ana@example.com\"}}" "$AUTH" "$JSON"
		queue '4..' POST /v1/bookings "{\"offer_id\":\"$offer_id\",\"guest\":{\"name\":\"Ana\",\"email\":\"$v\"}}" "$AUTH" "$JSON"
		queue '4..' POST /v1/bookings "{\"offer_id\":\"$offer_id\",\"guest\":{$g,\"phone\":\"$v\"}}" "$AUTH" "$JSON"
		queue '4..' POST /v1/bookings "{\"offer_id\":\"$offer_id\",\"guest\":{$g},\"payment_method\":\"$v\"}" "$AUTH" "$JSON"
		queue '4..' PATCH "/v1/bookings/$id" "{\"checkin\":\"$v\"}" "$AUTH" "$JSON"
		queue '4..' PATCH "/v1/bookings/$id" "{\"checkout\":\"$v\"}" "$AUTH" "$JSON"
		queue '4..' PATCH "/v1/bookings/$id" "{\"room_type\":\"$v\"}" "$AUTH" "$JSON"
		queue '4..' PATCH "/v1/bookings/$id" "{\"guest\":{\"email\":\"$v\"}}" "$AUTH" "$JSON"
		queue "$REASON_EXPECT" POST "/v1/bookings/$id/cancel" "{\"reason\":\"$v\",\"dry_run\":true}" "$AUTH" "$JSON"
	}
	local shape
	batch "$BASE"
	NAME_EXPECT='4..' REASON_EXPECT='4..'
	for shape in $BAD_SHAPES; do field_value "$shape"; done
	send "$HBKD_PID"
	# Nothing was booked or changed by any of them.
	run curl -sS -H "$AUTH" "$HBKD_URL/v1/bookings"
	assert_equal "$(jq '.bookings | length' <<<"$output")" 1
	run curl -sS -H "$AUTH" "$HBKD_URL/v1/bookings/$id"
	assert_equal "$(jq -r '.version' <<<"$output")" 1
	# A long name of valid characters may be booked (or refused as too
	# long), a reason may be given to a dry run: either way, no answer
	# holds a character cut in two.
	batch "$BASE"
	NAME_EXPECT='201|4..' REASON_EXPECT='200|4..'
	for shape in $(split_shapes); do field_value "$shape"; done
	send "$HBKD_PID" --whole
	run curl -sS -H "$AUTH" "$HBKD_URL/v1/bookings/$id"
	assert_equal "$(jq -r '.version' <<<"$output")" 1
	hbkd_well
}

@test "hbkd: the requests of the report do not stop it" {
	hbkd_up
	local offer_id
	offer_id=$(offer)
	batch "$HBKD_URL"
	queue 404 GET /%FF
	queue 404 GET /%C0%AF
	queue 404 GET "/$(as 198)%C3%A9"
	queue 404 GET /v1/bookings/%FF '' "$AUTH"
	queue 400 GET "/v1/offers?$(as 63)%C3%A9=1" '' "$AUTH"
	queue 400 GET "/v1/bookings?$(as 63)%C3%A9=1" '' "$AUTH"
	queue 422 GET "/v1/offers?city=LIS&nights=2&checkin=$(as 31)%C3%A9" '' "$AUTH"
	queue '200|422' GET "/v1/bookings?email=$(as 63)%C3%A9" '' "$AUTH"
	queue 400 POST /v1/bookings "{\"$(as 63)é\":1}" "$AUTH" "$JSON"
	queue 400 POST /v1/bookings "{\"offer_id\":\"$offer_id\",\"guest\":{\"$(as 63)é\":1}}" "$AUTH" "$JSON"
	queue 400 PATCH /v1/bookings/BK-0NOPE "{\"$(as 63)é\":1}" "$AUTH" "$JSON"
	queue '4..' POST /v1/bookings "{\"offer_id\":\"$(forge 'H-\xff|DBL|RO|R|20813|20815|2|0|1|15000|EUR')\",\"guest\":{\"name\":\"A\",\"email\":\"a@b.co\"}}" "$AUTH" "$JSON"
	send "$HBKD_PID"
	hbkd_well
}

# ---- hbk in remote mode ----

# hbk against hbkd: a documented exit code, one line on stderr starting
# "hbk: error:" in valid UTF-8, nothing on stdout.
remote_refuses() {
	run -0 true
	run --separate-stderr hbk --api "$HBKD_URL" --token "$HBK_TEST_TOKEN" "$@"
	if ! [[ $status =~ ^[234]$ ]] || [ -n "$output" ] || [[ $stderr != "hbk: error: "* ]] ||
		[ "$(printf '%s\n' "$stderr" | wc -l)" -ne 1 ] ||
		! printf '%s' "$stderr" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1; then
		echo "hbk $*: exit $status, stdout '$output', stderr '$stderr'" >&2
		return 1
	fi
}

hbk_valid_utf8() {
	printf '%s' "$1" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1
}

# A list that finds nothing for valid text: exit 0 and valid UTF-8 (no
# character of the text cut in two), or a refusal as above.
remote_answers() {
	run -0 true
	run --separate-stderr hbk --api "$HBKD_URL" --token "$HBK_TEST_TOKEN" "$@"
	if [ "$status" -eq 0 ]; then
		if ! printf '%s%s' "$output" "$stderr" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1 ||
			[[ $output$stderr == *$'\xef\xbf\xbd'* ]]; then
			echo "hbk $*: exit 0, stdout '$output', stderr '$stderr'" >&2
			return 1
		fi
		return 0
	fi
	remote_refuses "$@"
}

@test "hbk --api: arguments of any shape give a clear error, and hbkd stays up" {
	bats_require_minimum_version 1.5.0
	hbkd_up
	local id shape v
	id=$(HBK_API_URL=$HBKD_URL HBK_TOKEN=$HBK_TEST_TOKEN hbk -o json search --city LIS \
		--checkin "$in" --nights 2 --limit 1 >/dev/null &&
		HBK_API_URL=$HBKD_URL HBK_TOKEN=$HBK_TEST_TOKEN hbk -o json book 1 \
			--guest "Ana Silva" --email ana@example.com | jq -r .id)
	[[ $id == BK-* ]]
	for shape in $BAD_SHAPES $(split_shapes); do
		v=$(raw "$shape")
		remote_refuses view "$v"
		remote_refuses history "BK-$v"
		remote_refuses cancel "$v"
		remote_refuses search --city "$v" --checkin "$in" --nights 2
		remote_refuses search --hotel "$v" --checkin "$in" --nights 2
		if hbk_valid_utf8 "$v"; then
			remote_answers list --email "$v"
		else
			remote_refuses list --email "$v"
		fi
		remote_refuses list --status "$v"
		remote_refuses book "$v" --guest "Ana" --email ana@example.com
		remote_refuses book "$(forge "$v|DBL|RO|R|20813|20815|2|0|1|15000|EUR")" \
			--guest "Ana" --email ana@example.com
		remote_refuses update "$id" --room-type "$v"
		remote_refuses update "$id" --email "$v"
	done
	kill -0 "$HBKD_PID"
	hbkd_well
}

# The embedded tools: an argument of any shape is refused with one line,
# exit 2 or 3, in valid UTF-8 (the usage line may follow).
embedded_refuses() {
	run --separate-stderr "$@"
	if ! [[ $status =~ ^[23]$ ]] || [[ $stderr != *": error: "* ]] ||
		! printf '%s' "$stderr" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1; then
		echo "$*: exit $status, stderr '$stderr'" >&2
		return 1
	fi
}

@test "hbk and hbk-admin: arguments of any shape are quoted in valid UTF-8" {
	bats_require_minimum_version 1.5.0
	local shape v
	for shape in $BAD_SHAPES $(split_shapes); do
		v=$(raw "$shape")
		embedded_refuses hbk "$v"
		embedded_refuses hbk "--$v"
		embedded_refuses hbk view BK-0NOPE "$v"
		embedded_refuses hbk view "$v"
		embedded_refuses hbk search --city "$v" --checkin "$in" --nights 2
		embedded_refuses hbk-admin "$v"
		embedded_refuses hbk-admin token create "$v"
	done
}

# ---- hbk-sandbox ----

@test "hbk-sandbox: partner and payment routes answer bad bytes with an error, and stay up" {
	start_sandbox
	BASE=$SANDBOX_URL
	local ts
	ts=$(date +%s)
	PARTNER_AUTH=("Api-key: sandbox-key"
		"X-Signature: $(printf '%s%s%s' sandbox-key sandbox-secret "$ts" | sha256sum | cut -d' ' -f1)")
	PAY_AUTH="Authorization: Bearer sk_test_sandbox"
	local shape
	# One intent, so that a list has a cursor to look for.
	curl -sS -f -H "$PAY_AUTH" -d amount=100 -d currency=eur -d payment_method=pm_card_visa \
		-d confirm=true -d capture_method=manual "$SANDBOX_URL/v1/payment_intents" |
		jq -e '.id | startswith("pi_")'
	sandbox_shape() {
		local v
		v=$(raw "$1")
		queue 404 GET "/hotel-api/1.0/$1" '' "${PARTNER_AUTH[@]}"
		queue '4..' GET "/hotel-api/1.0/bookings/$1" '' "${PARTNER_AUTH[@]}"
		queue '4..' DELETE "/hotel-api/1.0/bookings/$1" '' "${PARTNER_AUTH[@]}"
		queue '4..' GET "/hotel-api/1.0/bookings?$1=1&from=1&to=10" '' "${PARTNER_AUTH[@]}"
		queue '4..' GET "/hotel-api/1.0/bookings?clientReference=$1&from=1&to=10" '' "${PARTNER_AUTH[@]}"
		queue '4..' POST "/hotel-api/1.0/hotels" "{\"$v\":1}" "${PARTNER_AUTH[@]}" "Content-Type: application/json"
		queue '4..' POST "/hotel-api/1.0/hotels" "{\"stay\":{\"checkIn\":\"$v\",\"checkOut\":\"$v\"},\"occupancies\":[{\"rooms\":1,\"adults\":2,\"children\":0}],\"hotels\":{\"hotel\":[1001]}}" "${PARTNER_AUTH[@]}" "Content-Type: application/json"
		queue '4..' POST "/hotel-api/1.0/checkrates" "{\"rooms\":[{\"rateKey\":\"$v\"}]}" "${PARTNER_AUTH[@]}" "Content-Type: application/json"
		queue '4..' POST "/hotel-api/1.0/bookings" "{\"holder\":{\"name\":\"$v\",\"surname\":\"$v\"},\"rooms\":[{\"rateKey\":\"$v\"}],\"clientReference\":\"$v\"}" "${PARTNER_AUTH[@]}" "Content-Type: application/json"
		queue 401 GET "/hotel-api/1.0/bookings/x" '' "Api-key: $v" "X-Signature: $v"
		queue '4..' GET "/v1/$1" '' "$PAY_AUTH"
		queue '4..' GET "/v1/payment_intents/$1" '' "$PAY_AUTH"
		queue '4..' POST "/v1/payment_intents/$1/capture" '' "$PAY_AUTH"
		queue '4..' POST "/v1/payment_intents/$1/cancel" '' "$PAY_AUTH"
		# As the provider lists do, an unknown filter of valid text may be
		# ignored; bad bytes are refused.
		queue "$LIST_EXPECT" GET "/v1/payment_intents?$1=1" '' "$PAY_AUTH"
		queue '4..' GET "/v1/payment_intents?starting_after=$1" '' "$PAY_AUTH"
		queue '4..' POST "/v1/payment_intents" "amount=100&currency=$1&payment_method=$1&$1=1" "$PAY_AUTH"
		queue '4..' POST "/v1/payment_intents" "amount=100&currency=eur&payment_method=$1&confirm=true&capture_method=manual" "$PAY_AUTH" "Idempotency-Key: $v"
		queue '4..' POST "/v1/refunds" "payment_intent=$1" "$PAY_AUTH"
		queue 401 GET "/v1/payment_intents" '' "Authorization: Bearer $v"
		queue '4..' GET "/__sandbox/$1"
		queue '4..' POST "/__sandbox/faults" "{\"$v\":1}"
		queue '4..' POST "/__sandbox/faults" "{\"endpoint\":\"$v\",\"error_rate\":7}"
	}
	LIST_EXPECT='4..'
	batch "$BASE"
	for shape in $BAD_SHAPES; do sandbox_shape "$shape"; done
	send "$SANDBOX_PID"
	LIST_EXPECT='200|4..'
	batch "$BASE"
	for shape in $(split_shapes); do sandbox_shape "$shape"; done
	send "$SANDBOX_PID" --whole
	run curl -sS -o /dev/null -w '%{http_code}' "$SANDBOX_URL/__sandbox/health"
	assert_output 200
	! grep -q BUG "$SANDBOX_LOG"
	# Its request log names every request, in valid UTF-8.
	run grep -c '^hbk-sandbox: GET /hotel-api/1.0/' "$SANDBOX_LOG"
	assert [ "$output" -gt 30 ]
	iconv -f UTF-8 -t UTF-8 "$SANDBOX_LOG" >/dev/null
}
