#!/usr/bin/env bats
# hbk shell as a person uses it: in a real terminal (tmux), Tab completes
# commands, options, city codes and booking ids; commands run as on the
# command line; history is kept in $XDG_STATE_HOME/hbk/history. Piped
# input runs the same commands without a prompt.

load helpers

setup_file() {
	seed_once
}

setup() {
	load_libs
	fresh_home
	session="hbk-test-$$-$BATS_TEST_NUMBER"
}

teardown() {
	remote_down
	tmux kill-session -t "$session" 2>/dev/null || true
}

screen() { tmux capture-pane -p -t "$session"; }

# Types text literally (it may start with a dash), then named keys.
type_keys() {
	tmux send-keys -t "$session" -l -- "$1"
	shift
	[ $# -eq 0 ] || tmux send-keys -t "$session" "$@"
}

# Waits until the screen shows text (bounded: 5 s).
wait_for() {
	for _ in $(seq 1 50); do
		screen | grep -qF -- "$1" && return 0
		sleep 0.1
	done
	echo "screen never showed '$1':" >&2
	screen >&2
	return 1
}

start_shell() {
	tmux new-session -d -s "$session" -x 200 -y 50 \
		"env HBK_HOME='$HBK_HOME' XDG_CACHE_HOME='$XDG_CACHE_HOME' XDG_STATE_HOME='$XDG_STATE_HOME' PATH='$PATH' HBK_API_URL='${HBK_API_URL:-}' HBK_TOKEN='${HBK_TOKEN:-}' TERM=xterm hbk shell; sleep 30"
	wait_for "hbk>"
}

@test "Tab completes commands, options and city codes; the search runs" {
	embedded_only
	start_shell
	type_keys "sea" Tab
	wait_for "hbk> search"
	type_keys "--ci" Tab
	wait_for "hbk> search --city"
	type_keys "LI" Tab
	wait_for "hbk> search --city LIS"
	type_keys "--checkin $(day 12) --nights 2 --limit 3" Enter
	wait_for "REFUNDABLE"
	wait_for "CUR"
	screen | grep -E '^3 +' >/dev/null
}

@test "Tab completes booking ids, and the history is saved" {
	hbk search --city OPO --checkin "$(day 14)" --nights 1 -o json >/dev/null
	id=$(hbk book 1 --guest "Shell Guest" --email s@example.com -o json | jq -r .id)
	start_shell
	type_keys "view BK" Tab
	wait_for "hbk> view $id"
	tmux send-keys -t "$session" Enter
	wait_for "Shell Guest"
	type_keys "cancel $id --dr" Tab
	wait_for "cancel $id --dry-run"
	tmux send-keys -t "$session" Enter
	wait_for "Penalty:"
	type_keys "exit" Enter
	for _ in $(seq 1 50); do [ -s "$XDG_STATE_HOME/hbk/history" ] && break; sleep 0.1; done
	grep -qE "^view $id *\$" "$XDG_STATE_HOME/hbk/history"
	grep -qE "^cancel $id --dry-run *\$" "$XDG_STATE_HOME/hbk/history"
}

@test "piped commands run in order with the usual output and errors" {
	run bash -c "printf '%s\n' 'search --city ROM --checkin $(day 8) --nights 2 --limit 2 -o json' 'view BK-0000000000ZZZZZZZZ' 'book 1 --guest \"Pipe Guest\" --email p@example.com -o json' 'exit' | hbk shell"
	assert_success
	assert_output --partial '"offers"'
	assert_output --partial "hbk: error: no booking BK-0000000000ZZZZZZZZ"
	assert_output --partial '"status": "CONFIRMED"'
	assert_output --partial '"name": "Pipe Guest"'
}
