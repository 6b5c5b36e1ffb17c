#!/usr/bin/env bats
# The Kubernetes manifests of deploy/k8s cannot drift silently: every
# manifest parses, and tests/tools/check-deploy.mjs checks the invariants
# (3 hbkd replicas, probes on /readyz and /healthz on the server's port, a
# PDB of minAvailable 2 and a Service that select the Deployment's pods,
# the Service aimed at the container port, no secret values committed,
# Kafka with 3 brokers and the topics and partition count of the
# ConfigMap's hbk.yaml). hbk-admin itself must accept that hbk.yaml, and a
# real hbkd must answer 200 on the probe paths. The last test edits copies
# of the manifests and proves each kind of drift fails the check.

load helpers

CHECK="$HBK_TOP/tests/tools/check-deploy.mjs"

setup_file() {
	[ -d "$HBK_TOP/tests/tools/node_modules/yaml" ] ||
		{ echo "yaml is not installed: sh scripts/install-deps.sh" >&2; return 1; }
	seed_once
}

setup() {
	load_libs
	fresh_home
	unset HBK_DEPLOY_DIR
}

teardown() {
	stop_hbkd
}

# Fake values for the secrets hbk.yaml reads, so hbk-admin can load it.
fake_secrets() {
	export HBK_PARTNER_API_KEY=k HBK_PARTNER_SECRET=s HBK_PAYMENT_SECRET_KEY=sk_test_x \
		HBK_PAYMENT_WEBHOOK_SECRET=whsec_x
}

@test "every manifest parses and every invariant holds" {
	run node "$CHECK" check
	assert_success
	assert_output --regexp '^[0-9]+ objects in 9 manifests: every invariant holds$'
}

@test "the ConfigMap's hbk.yaml is a configuration hbk accepts, in cluster mode, with the KafkaTopics' names and partitions" {
	node "$CHECK" hbk-yaml >"$BATS_TEST_TMPDIR/hbk.yaml"
	fake_secrets
	run hbk-admin --config "$BATS_TEST_TMPDIR/hbk.yaml" config show
	assert_success
	assert_line --regexp '^kafka\.brokers: [a-z0-9.-]+:[0-9]+$'
	refute_output --partial sk_test_x
	echo "$output" >"$BATS_TEST_TMPDIR/effective"
	# The topics hbk would use are the topics Strimzi creates.
	for key in commands events dlq; do
		topic=$(sed -n "s/^kafka\.topics\.$key: //p" "$BATS_TEST_TMPDIR/effective")
		partitions=$(sed -n 's/^kafka\.partitions: //p' "$BATS_TEST_TMPDIR/effective")
		[ -n "$topic" ] && [ -n "$partitions" ]
		node "$CHECK" topics | grep -qx "$topic $partitions"
	done
	[ "$(node "$CHECK" topics | wc -l)" -eq 3 ]
	# Unknown keys are errors, so a misspelt key in the ConfigMap fails here.
	sed 's/^  brokers:/  broker:/' "$BATS_TEST_TMPDIR/hbk.yaml" >"$BATS_TEST_TMPDIR/typo.yaml"
	run hbk-admin --config "$BATS_TEST_TMPDIR/typo.yaml" config show
	assert_failure 2
	# And without the Secret's values it does not start.
	unset HBK_PAYMENT_SECRET_KEY
	run hbk-admin --config "$BATS_TEST_TMPDIR/hbk.yaml" config show
	assert_failure
	assert_output --partial HBK_PAYMENT_SECRET_KEY
}

@test "hbkd answers 200 on the probe paths of the manifests" {
	start_hbkd
	paths=$(node "$CHECK" probes)
	[ "$(echo "$paths" | wc -l)" -eq 2 ]
	for path in $paths; do
		[ "$(curl -sS -o /dev/null -w '%{http_code}' "$HBKD_URL$path")" = 200 ]
	done
	# A path hbkd does not serve would not pass.
	[ "$(curl -sS -o /dev/null -w '%{http_code}' "$HBKD_URL/ready")" != 200 ]
}

# A copy of the manifests with one file edited: drift FILE SED-EXPRESSION
drift() {
	rm -rf "$BATS_TEST_TMPDIR/k8s"
	cp -r "$HBK_TOP/deploy/k8s" "$BATS_TEST_TMPDIR/k8s"
	sed -i "$2" "$BATS_TEST_TMPDIR/k8s/$1"
	! cmp -s "$HBK_TOP/deploy/k8s/$1" "$BATS_TEST_TMPDIR/k8s/$1"
	export HBK_DEPLOY_DIR="$BATS_TEST_TMPDIR/k8s"
	run node "$CHECK" check
	assert_failure 1
}

@test "each kind of drift fails the check" {
	drift deployment.yaml 's/^  replicas: 3$/  replicas: 2/'
	assert_output --partial 'replicas 2, expected 3'
	drift deployment.yaml 's|path: /readyz|path: /ready|'
	assert_output --partial 'readinessProbe on /ready, expected /readyz'
	drift deployment.yaml 's|containerPort: 8080|containerPort: 9090|'
	assert_output --partial 'port "http" is 9090'
	drift pdb.yaml 's/minAvailable: 2/minAvailable: 1/'
	assert_output --partial 'minAvailable 1, expected 2'
	drift pdb.yaml 's/app.kubernetes.io\/name: hbkd$/app.kubernetes.io\/name: hbk/'
	assert_output --partial 'PodDisruptionBudget hbkd: its selector does not select'
	drift service.yaml 's/targetPort: http/targetPort: web/'
	assert_output --partial 'targetPort web is no port'
	drift topics.yaml '0,/partitions: 12/s//partitions: 6/'
	assert_output --partial 'hbk.commands: 6 partitions, kafka.partitions is 12'
	drift topics.yaml 's/topicName: hbk.dlq/topicName: hbk.deadletters/'
	assert_output --partial 'kafka.topics names'
	drift configmap.yaml 's/brokers: hbk-kafka-bootstrap/brokers: kafka-bootstrap/'
	assert_output --partial 'the bootstrap Service is hbk-kafka-bootstrap'
	drift kafka.yaml 's/^  replicas: 3$/  replicas: 1/'
	assert_output --partial '1 brokers, expected 3'
	drift deployment.yaml '0,/secretKeyRef: {name: hbk-secrets, key: partner-secret}/s//secretKeyRef: {name: other, key: partner-secret}/'
	assert_output --partial 'HBK_PARTNER_SECRET is not a secretKeyRef of hbk-secrets'
	drift kustomization.yaml '/  - pdb.yaml/d'
	assert_output --partial 'kustomization.yaml lists'
}

@test "config/hbkd.yaml works as shipped from the source tree: hbkd starts and logs to standard error" {
	local cfg="$HBK_TOP/config/hbkd.yaml" ready="$BATS_TEST_TMPDIR/hbkd.ready"
	run hbk-admin --config "$cfg" config show
	assert_success
	run hbk-admin -q --config "$cfg" init --demo
	assert_success
	hbkd --config "$cfg" --listen 127.0.0.1:0 --ready-file "$ready" --workers 1 \
		2>"$BATS_TEST_TMPDIR/stderr" 3>&- &
	HBKD_PID=$!
	await_ready hbkd "$HBKD_PID" "$ready" "$BATS_TEST_TMPDIR/stderr"
	run curl -sS -o /dev/null -w '%{http_code}' "http://$(cat "$ready")/healthz"
	assert_output 200
	run grep -c '"path":"/healthz"' "$BATS_TEST_TMPDIR/stderr"
	assert_success
}
