#!/bin/sh
# Proves that docs/openapi.yaml lints clean and that check-response.mjs
# accepts the valid fixtures and refuses the invalid one. The fixtures are
# bodies the embedded tool printed (hbk book/cancel --dry-run -o json) and
# the problem hbkd makes of a declined payment.
# Needs `npm ci --prefix tests/tools` (scripts/install-deps.sh runs it).
set -eu
cd "$(dirname "$0")/../.."
tools=tests/tools
check="node $tools/check-response.mjs"
fixtures=$tools/fixtures
fail=0

# Redocly reports on stderr (after a Node.js deprecation banner on Node 20)
# and exits 0 when there are only warnings, so its summary line is checked.
out=$("$tools/node_modules/.bin/redocly" lint --config "$tools/redocly.yaml" docs/openapi.yaml 2>&1) || fail=1
if [ "$fail" -ne 0 ] || printf '%s\n' "$out" | grep -Eq 'You have [0-9]+ warning|Validation failed'; then
	printf '%s\n' "$out" | grep -v '[║╔╚]' >&2
	fail=1
fi

$check POST /v1/bookings 201 "$fixtures/booking-confirmed.json" || fail=1
$check GET /v1/bookings/BK-01M88Z6SHZA23K2W1G 200 "$fixtures/booking-confirmed.json" || fail=1
$check POST /v1/bookings 402 "$fixtures/problem-402-failed.json" application/problem+json || fail=1
$check POST '/v1/bookings/{id}/cancel' 200 "$fixtures/cancel-preview.json" || fail=1
if $check GET '/v1/bookings/{id}' 200 "$fixtures/booking-invalid.json" 2>/dev/null; then
	echo "selftest: booking-invalid.json was accepted" >&2
	fail=1
fi
if $check GET '/v1/bookings/{id}' 418 "$fixtures/booking-confirmed.json" 2>/dev/null; then
	echo "selftest: an undocumented status was accepted" >&2
	fail=1
fi
[ "$fail" -eq 0 ] && echo "selftest: ok"
exit "$fail"
