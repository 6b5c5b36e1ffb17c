#!/usr/bin/env bats
# kafka-admin.bats - hbk-admin topics and kafka status against a real Kafka
# wire protocol: librdkafka's mock cluster (build/tools/kafka-mock, three
# brokers on loopback) in a process of its own, with kcat as an independent
# client. Faults go to the mock through its control FIFO. Proves topic
# creation is idempotent, describe and status report partitions, leaders,
# brokers going down and consumer lag, and that missing or unreachable
# brokers fail with exit codes 2 and 6.
#
# librdkafka 2.0's mock cluster answers neither CreateTopics nor
# ListGroups: topics are made through the mock's control channel, and
# groups are named with --group. Against it, topics create must fail
# cleanly (exit 5) for the topics that are missing.

load helpers
bats_require_minimum_version 1.5.0


setup() {
	load_libs
	fresh_home
	unset HBK_KAFKA_BROKERS
	MOCK_PID=
}

teardown() {
	stop_server "${MOCK_PID:-}"
}

# A configuration naming the mock's brokers; extra lines go in the kafka block.
kafka_config() {
	CONFIG="$BATS_TEST_TMPDIR/hbk.yaml"
	{
		printf 'kafka:\n  brokers: "%s"\n' "$BROKERS"
		for line in "$@"; do printf '  %s\n' "$line"; done
	} >"$CONFIG"
}

@test "kafka-mock runs three brokers that kcat produces to and consumes from" {
	start_kafka_mock --topic demo:2
	run kcat -L -b "$BROKERS" -t demo
	assert_success
	assert_output --partial "3 brokers:"
	assert_output --partial 'topic "demo" with 2 partitions'

	echo "H-1:hello from kcat" | kcat -P -b "$BROKERS" -t demo -K:
	run timeout 20 kcat -C -b "$BROKERS" -t demo -o beginning -e -c 1 -q -f '%k|%s\n'
	assert_success
	assert_output "H-1|hello from kcat"
}

@test "kafka-mock takes faults on its control FIFO, rejects nonsense and quits cleanly" {
	start_kafka_mock
	mock_command "rtt 1 5"
	mock_command "errors Metadata NOT_LEADER_FOR_PARTITION 1"
	mock_command "broker down 3"
	mock_command "broker up 3"
	echo "broker sideways 3" >"$MOCK_CONTROL"
	echo "topic bad 0" >"$MOCK_CONTROL"
	echo "quit" >"$MOCK_CONTROL"
	for _ in $(seq 1 100); do
		kill -0 "$MOCK_PID" 2>/dev/null || break
		sleep 0.05
	done
	run kill -0 "$MOCK_PID"
	assert_failure
	run wait "$MOCK_PID"
	assert_success
	MOCK_PID=
	run cat "$MOCK_LOG"
	assert_output --partial "kafka-mock: error: unknown command: broker sideways 3"
	assert_output --partial "kafka-mock: error: unknown command: topic bad 0"
	assert_output --partial "kafka-mock: ok quit"
}

@test "kafka-mock stops cleanly on SIGTERM and on SIGINT" {
	for sig in TERM INT; do
		start_kafka_mock
		kill -"$sig" "$MOCK_PID"
		for _ in $(seq 1 100); do
			kill -0 "$MOCK_PID" 2>/dev/null || break
			sleep 0.05
		done
		run wait "$MOCK_PID"
		assert_success
		MOCK_PID=
	done
	run cat "$MOCK_LOG"
	assert_output --partial "stopping on Terminated"
	assert_output --partial "stopping on Interrupt"
}

@test "kafka-mock takes commands on stdin and prints its bootstrap servers on stdout" {
	run --separate-stderr bash -c "printf 'topic from.stdin 5\nbroker down 1\nquit\n' |
		timeout 20 '$KAFKA_MOCK' --brokers 2"
	assert_success
	assert_output --regexp '^127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+$'
	assert_equal "$(grep -c '^kafka-mock: ok ' <<<"$stderr")" 3
	run "$KAFKA_MOCK" --brokers 0
	assert_failure 2
	run "$KAFKA_MOCK" --topic nopartitions --ready-file "$BATS_TEST_TMPDIR/never"
	assert_failure 2
	assert_output --partial "expected NAME:PARTITIONS"
	[ ! -e "$BATS_TEST_TMPDIR/never" ]
}

@test "topics create: a cluster without CreateTopics fails cleanly for the missing topics only" {
	start_kafka_mock
	kafka_config
	mock_command "topic hbk.commands 12"
	run hbk-admin --config "$CONFIG" topics create
	assert_failure 5
	assert_output --partial "hbk-admin: error: kafka: cannot create hbk.events, hbk.dlq:"
	refute_output --partial "cannot create hbk.commands"
	# Nothing was created behind the error.
	run hbk-admin --config "$CONFIG" topics describe -o json
	assert_failure 3
	assert_output --partial "topic hbk.events does not exist"
}

@test "topics create twice: existing topics are reported, not an error" {
	start_kafka_mock
	kafka_config "partitions: 12" "replication: 3"
	mock_topics 12
	for attempt in 1 2; do
		run hbk-admin --config "$CONFIG" topics create -o json
		assert_success
		run jq -r '.topics[] | [.role, .name, .result, .partitions, .replication] | join(" ")' <<<"$output"
		assert_output "commands hbk.commands exists 12 3
events hbk.events exists 12 3
dlq hbk.dlq exists 12 3"
	done
	run hbk-admin --config "$CONFIG" topics create
	assert_success
	assert_line --regexp '^TOPIC +ROLE +RESULT +PARTITIONS +REPLICATION$'
	assert_line --regexp '^hbk\.dlq +dlq +exists +12 +3$'
}

@test "topics create notes a topic whose partition count differs from the config" {
	start_kafka_mock
	kafka_config "partitions: 12"
	mock_command "topic hbk.commands 12"
	mock_command "topic hbk.events 12"
	mock_command "topic hbk.dlq 4"
	run hbk-admin --config "$CONFIG" topics create
	assert_success
	assert_output --partial "topic hbk.dlq exists with 4 partitions; kafka.partitions is 12"
	refute_output --partial "topic hbk.events exists with"
}

@test "topics describe: configured names, partition counts, leaders and replicas" {
	start_kafka_mock
	kafka_config "topics: {commands: c.cmd, events: c.evt, dlq: c.dlq}"
	mock_command "topic c.cmd 6"
	mock_command "topic c.evt 4"
	mock_command "topic c.dlq 2"
	run hbk-admin --config "$CONFIG" topics describe -o json
	assert_success
	json="$output"
	run jq -r '.topics | length' <<<"$json"
	assert_output 3
	run jq -r '.topics[] | [.role, .name, .exists, .partitions, .replication, (.partition_list | length)] | join(" ")' <<<"$json"
	assert_output "commands c.cmd true 6 3 6
events c.evt true 4 3 4
dlq c.dlq true 2 3 2"
	# Every partition is led by one of the three brokers, among its replicas.
	run jq -r '[.topics[].partition_list[] | select(.leader as $l | $l < 1 or $l > 3 or (any(.replicas[]; . == $l) | not))] | length' <<<"$json"
	assert_output 0

	run hbk-admin --config "$CONFIG" topics describe
	assert_success
	assert_line --regexp '^TOPIC +PARTITION +LEADER +REPLICAS +ISR$'
	assert_line --regexp '^c\.evt +3 +[123] +1,2,3 +1,2,3$'
	assert_equal "$(grep -c '^c\.' <<<"$output")" 12

	run hbk-admin --config "$CONFIG" topics describe -o csv
	assert_success
	assert_line --index 0 --regexp '^TOPIC,PARTITION,LEADER,REPLICAS,ISR'
}

@test "kafka status: brokers up, topics, and a broker taken down through the control FIFO" {
	start_kafka_mock
	kafka_config
	mock_topics 6
	run --separate-stderr hbk-admin --config "$CONFIG" kafka status -o json
	assert_success
	json="$output"
	run jq -r '[.brokers[] | "\(.id)=\(.state)"] | join(" ")' <<<"$json"
	assert_output "1=up 2=up 3=up"
	run jq -r '[.topics[] | "\(.name):\(.partitions):\(.leaders_down)"] | join(" ")' <<<"$json"
	assert_output "hbk.commands:6:0 hbk.events:6:0 hbk.dlq:6:0"

	mock_command "broker down 2"
	run --separate-stderr hbk-admin --config "$CONFIG" kafka status -o json
	assert_success
	json="$output"
	run jq -r '[.brokers[] | "\(.id)=\(.state)"] | join(" ")' <<<"$json"
	assert_output "1=up 2=down 3=up"
	# The partitions broker 2 leads are the ones without a live leader.
	led_by_2=$(kcat -L -b "$BROKERS" -J | jq '[.topics[] | select(.topic | startswith("hbk.")) | .partitions[] | select(.leader == 2)] | length')
	run jq '[.topics[].leaders_down] | add' <<<"$json"
	assert_output "$led_by_2"

	run hbk-admin --config "$CONFIG" kafka status
	assert_success
	assert_line --regexp '^ +2 +127\.0\.0\.1 +[0-9]+ +down$'
	assert_output --partial "hbk-admin: broker 2 at 127.0.0.1:"

	mock_command "broker up 2"
	run --separate-stderr hbk-admin --config "$CONFIG" kafka status -o json
	assert_success
	run jq -r '[.brokers[] | .state] | unique | join(" ")' <<<"$output"
	assert_output "up"
}

@test "kafka status: a consumer group's lag follows what kcat consumed" {
	start_kafka_mock
	kafka_config
	mock_topics 3
	for i in 1 2 3 4; do echo "H-7:event $i"; done | kcat -P -b "$BROKERS" -t hbk.events -K:
	run timeout 30 kcat -C -b "$BROKERS" -G hbk-test -o beginning -c 3 -q -f '%s\n' hbk.events
	assert_success
	assert_output "event 1
event 2
event 3"
	run --separate-stderr hbk-admin --config "$CONFIG" kafka status --group hbk-test,nobody -o json
	assert_success
	json="$output"
	run jq -r '.groups[] | "\(.group) \(.lag) \(.partitions | length)"' <<<"$json"
	assert_output "hbk-test 1 1
nobody 0 0"
	run jq -r '.groups[0].partitions[0] | "\(.topic) \(.committed) \(.end) \(.lag)"' <<<"$json"
	assert_output "hbk.events 3 4 1"

	run hbk-admin --config "$CONFIG" kafka status --group hbk-test -o csv
	assert_success
	assert_line --regexp "^hbk-test,unknown,1\s*$"
	assert_output --partial "name them with --group"
}

@test "brokers come from --brokers, then HBK_KAFKA_BROKERS, then kafka.brokers" {
	start_kafka_mock
	mock_topics 2
	HBK_KAFKA_BROKERS="$BROKERS" run hbk-admin topics describe -o json
	assert_success
	run jq -r '[.topics[].partitions] | join(" ")' <<<"$output"
	assert_output "2 2 2"
	# --brokers wins over an unreachable environment.
	printf 'kafka:\n  timeout_ms: 500\n' >"$BATS_TEST_TMPDIR/fast.yaml"
	HBK_KAFKA_BROKERS=127.0.0.1:1 run hbk-admin --config "$BATS_TEST_TMPDIR/fast.yaml" topics describe --brokers "$BROKERS"
	assert_success
	# The environment wins over the file.
	printf 'kafka:\n  brokers: 127.0.0.1:1\n  timeout_ms: 500\n' >"$BATS_TEST_TMPDIR/far.yaml"
	HBK_KAFKA_BROKERS="$BROKERS" run hbk-admin --config "$BATS_TEST_TMPDIR/far.yaml" kafka status
	assert_success
}

@test "unreachable brokers: exit 6 naming them, for every Kafka command" {
	printf 'kafka:\n  brokers: 127.0.0.1:1\n  timeout_ms: 500\n' >"$BATS_TEST_TMPDIR/c.yaml"
	for cmd in "topics create" "topics describe" "kafka status"; do
		run hbk-admin --config "$BATS_TEST_TMPDIR/c.yaml" $cmd
		assert_failure 6
		assert_output --partial "hbk-admin: error: kafka: no broker at 127.0.0.1:1 answered within 500 ms"
		assert_output --partial "Connection refused"
	done
}

@test "no brokers configured: a usage error (exit 2) for every Kafka command" {
	for cmd in "topics create" "topics describe" "kafka status"; do
		run hbk-admin $cmd
		assert_failure 2
		assert_output --partial "no Kafka brokers: give --brokers HOST:PORT,..., set HBK_KAFKA_BROKERS or kafka.brokers"
		assert_output --partial "usage: hbk-admin ${cmd%% *}"
	done
	run hbk-admin topics list --brokers 127.0.0.1:1
	assert_failure 2
	assert_output --partial "topics: unknown action 'list'"
	run hbk-admin kafka status --group ",," --brokers 127.0.0.1:1
	assert_failure 2
}

@test "config show writes the kafka block with its defaults; bad kafka values are refused" {
	printf 'kafka:\n  brokers: [a:9092, b:9092]\n  partitions: 24\n' >"$BATS_TEST_TMPDIR/c.yaml"
	run hbk-admin --config "$BATS_TEST_TMPDIR/c.yaml" config show
	assert_success
	assert_line "kafka.brokers: a:9092,b:9092"
	assert_line "kafka.partitions: 24"
	assert_line "kafka.replication: 3"
	assert_line "kafka.topics.events: hbk.events"
	assert_line "kafka.timeout_ms: 5000"

	printf 'kafka:\n  brokers: a:9092\n  replication: 0\n' >"$BATS_TEST_TMPDIR/bad.yaml"
	run hbk-admin --config "$BATS_TEST_TMPDIR/bad.yaml" topics create
	assert_failure 2
	assert_output --partial "kafka.replication: expected a whole number from 1 to 32, got '0'"
	printf 'kafka:\n  brokers: a:9092\n  topics: {dlq: "dead letters"}\n' >"$BATS_TEST_TMPDIR/bad.yaml"
	run hbk-admin --config "$BATS_TEST_TMPDIR/bad.yaml" kafka status
	assert_failure 2
	assert_output --partial "kafka.topics.dlq: invalid topic name 'dead letters'"
}
