#!/usr/bin/env bats
# Help, versions and man pages: --help on stdout with exit 0, misuse on
# stderr with exit 2, every command's --help lists its options, and every
# program in cmd/ has a man page that renders without warnings.

load helpers

setup() {
	load_libs
}

@test "hbk --help, --version, and no command" {
	run hbk --help
	assert_success
	assert_output --partial "usage: hbk"
	for c in search book view list update cancel history shell; do
		assert_output --partial "  $c"
	done
	run hbk --version
	assert_success
	assert_output --regexp '^hbk [0-9]+\.[0-9]+\.[0-9]+$'
	run --separate-stderr hbk
	assert_failure 2
	[ -z "$output" ]
	[[ "$stderr" == *"usage: hbk"* ]]
}

bats_require_minimum_version 1.5.0

@test "each hbk command's --help lists its options and needs no store" {
	export HBK_HOME="$BATS_TEST_TMPDIR/none"
	run hbk search --help
	assert_success
	for o in --city --checkin --checkout --nights --adults --children --rooms --max-price --refundable --sort --limit; do
		assert_output --partial -- "$o"
	done
	run hbk book --help
	assert_success
	assert_output --partial -- "--payment-method"
	run hbk update --help
	assert_output --partial -- "--room-type"
	run hbk cancel --help
	assert_output --partial -- "--dry-run"
	[ ! -e "$HBK_HOME" ]
}

@test "hbk-admin --help and --version" {
	run hbk-admin --help
	assert_success
	for c in init hotel inventory recover config; do
		assert_output --partial "  $c"
	done
	run hbk-admin --version
	assert_output --regexp '^hbk-admin [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "every program has a man page that renders cleanly" {
	for dir in "$HBK_TOP"/cmd/*/; do
		tool=$(basename "$dir")
		page=$(ls "$HBK_TOP"/man/"$tool".[0-9] 2>/dev/null | head -1)
		[ -n "$page" ] || { echo "no man page for $tool" >&2; return 1; }
		run groff -man -ww -z "$page"
		assert_success
		[ -z "$output" ] || { echo "$page: $output" >&2; return 1; }
	done
	run groff -man -ww -z "$HBK_TOP/man/hbk.yaml.5"
	assert_success
	[ -z "$output" ]
	run bash -c "MANWIDTH=80 man -l '$HBK_TOP/man/hbk.1' | col -b"
	assert_output --partial "EXIT STATUS"
}
