#!/bin/sh
# Installs the Debian packages hbk builds, tests and benchmarks with, then
# the Node tools of tests/tools (the OpenAPI linter and response checker).
# Idempotent: when every package is already present it makes no apt call,
# and npm runs only when tests/tools/package-lock.json is newer than what
# is installed.
set -eu

packages="
build-essential pkg-config
libcurl4-openssl-dev zlib1g-dev libjansson-dev libsqlite3-dev sqlite3 libreadline-dev
librdkafka-dev libyaml-dev libevent-dev libssl-dev
bats bats-support bats-assert jq bc curl tmux man-db groff-base kcat wrk nginx-light
prometheus yamllint python3 redis-server
"
# Node.js runs tests/tools; Debian's nodejs (18 on Debian 12) will do, and
# a node already on the machine is kept.
if ! command -v npm >/dev/null 2>&1; then
	packages="$packages nodejs npm"
fi

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages:$missing" >&2
		echo "install-deps: run as root, or: sudo apt-get install$missing" >&2
		exit 1
	fi
	echo "install-deps: installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The Node tools, pinned by tests/tools/package-lock.json. npm ci writes
# node_modules/.package-lock.json last, so a missing or older one means
# the install is absent, stale or was interrupted.
tools="$(cd "$(dirname "$0")/.." && pwd)/tests/tools"
installed="$tools/node_modules/.package-lock.json"
if [ ! -f "$installed" ] || [ -n "$(find "$tools/package-lock.json" -newer "$installed")" ]; then
	echo "install-deps: installing the Node tools of tests/tools" >&2
	npm ci --no-audit --no-fund --prefix "$tools" >/dev/null
fi
