#!/bin/sh
# Installs the Debian packages hbk builds, tests and benchmarks with.
# Idempotent: when every package is already present it makes no apt call.
set -eu

packages="
build-essential pkg-config
libcurl4-openssl-dev libjansson-dev libsqlite3-dev sqlite3 libreadline-dev
librdkafka-dev libyaml-dev libevent-dev libssl-dev
bats bats-support bats-assert jq bc curl tmux man-db groff-base kcat wrk nginx-light
"

missing=""
for p in $packages; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

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
