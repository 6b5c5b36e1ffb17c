#!/usr/bin/env node
/*
 * check-deploy.mjs - parses the Kubernetes manifests of deploy/k8s and
 * checks the invariants they must keep, so that they cannot drift from
 * each other or from hbk without a test failing.
 *
 *   node tests/tools/check-deploy.mjs check      every invariant below
 *   node tests/tools/check-deploy.mjs hbk-yaml   prints the ConfigMap's hbk.yaml
 *   node tests/tools/check-deploy.mjs probes     prints hbkd's probe paths, one a line
 *   node tests/tools/check-deploy.mjs topics     prints "NAME PARTITIONS" per KafkaTopic
 *
 * HBK_DEPLOY_DIR names another directory of manifests. check prints each
 * broken invariant to stderr and exits 1; any mode exits 1 when a manifest
 * does not parse, 2 on misuse.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseAllDocuments, parse as parseYaml } from 'yaml';

const USAGE = 'usage: check-deploy.mjs check | hbk-yaml | probes | topics';
const NAMESPACE = 'hbk';
const APP = 'hbkd';
const CONFIG_MAP = 'hbk-config';
const SECRET = 'hbk-secrets';
const REPLICAS = 3;
const PDB_MIN_AVAILABLE = 2;
const READINESS_PATH = '/readyz';
const LIVENESS_PATH = '/healthz';
const BROKERS = 3;
const TOPIC_KEYS = ['commands', 'events', 'dlq'];

function die(code, message) {
	process.stderr.write(`check-deploy: ${message}\n`);
	process.exit(code);
}

/* Every object of every manifest, each with the file it came from. */
function loadManifests(dir) {
	let files;
	try {
		files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
	} catch (e) {
		die(1, `cannot read ${dir}: ${e.message}`);
	}
	if (files.length === 0) die(1, `${dir}: no manifests`);
	const objects = [];
	for (const file of files) {
		const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
		for (const doc of docs) {
			if (doc.errors.length > 0) die(1, `${file}: ${doc.errors[0].message}`);
			const object = doc.toJS({ maxAliasCount: 100 });
			if (object === null || object === undefined) continue;
			objects.push({ file, object });
		}
	}
	return { files, objects };
}

function find(objects, kind, name) {
	const found = objects.filter((o) => o.object.kind === kind && (!name || o.object.metadata?.name === name));
	return found.map((o) => o.object);
}

function one(objects, kind, name, failures) {
	const found = find(objects, kind, name);
	if (found.length !== 1) {
		failures.push(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
		return null;
	}
	return found[0];
}

/* Do the labels carry every key and value of the selector? */
function selects(selector, labels) {
	const entries = Object.entries(selector || {});
	return entries.length > 0 && entries.every(([k, v]) => labels && labels[k] === v);
}

function sameMap(a, b) {
	return JSON.stringify(Object.entries(a || {}).sort()) === JSON.stringify(Object.entries(b || {}).sort());
}

/* The container port a probe's or a Service's port names (name or number). */
function containerPort(container, port) {
	return (container.ports || []).find((p) => p.name === port || p.containerPort === port);
}

function hbkYaml(objects) {
	const cm = find(objects, 'ConfigMap', CONFIG_MAP)[0];
	if (!cm || typeof cm.data?.['hbk.yaml'] !== 'string') die(1, `no ConfigMap ${CONFIG_MAP} with hbk.yaml`);
	return cm.data['hbk.yaml'];
}

function hbkdContainer(objects) {
	const deployment = find(objects, 'Deployment', APP)[0];
	const container = deployment?.spec?.template?.spec?.containers?.find((c) => c.name === APP);
	if (!container) die(1, `no Deployment ${APP} with a container ${APP}`);
	return { deployment, container };
}

function checkKustomization(files, objects, failures) {
	const k = one(objects, 'Kustomization', null, failures);
	if (!k) return;
	const listed = [...(k.resources || [])].sort();
	const present = files.filter((f) => f !== 'kustomization.yaml').sort();
	if (JSON.stringify(listed) !== JSON.stringify(present))
		failures.push(`kustomization.yaml lists ${listed.join(', ')}; the directory holds ${present.join(', ')}`);
}

function checkNamespaces(objects, failures) {
	one(objects, 'Namespace', NAMESPACE, failures);
	for (const { file, object } of objects) {
		if (!object.apiVersion || !object.kind) failures.push(`${file}: an object without apiVersion or kind`);
		if (['Namespace', 'Kustomization'].includes(object.kind)) continue;
		if (object.metadata?.namespace !== NAMESPACE)
			failures.push(`${file}: ${object.kind} ${object.metadata?.name} is not in namespace ${NAMESPACE}`);
	}
}

/* No secret value is committed: no Secret objects, and every secret the
 * configuration reads by env:NAME comes from a secretKeyRef. */
function checkSecrets(objects, config, failures) {
	for (const { file, object } of objects)
		if (object.kind === 'Secret') failures.push(`${file}: a Secret with values is committed`);
	const wanted = new Set();
	const walk = (node) => {
		if (typeof node === 'string') {
			const m = /^env:([A-Z0-9_]+)$/.exec(node);
			if (m) wanted.add(m[1]);
		} else if (node && typeof node === 'object') Object.values(node).forEach(walk);
	};
	walk(config);
	if (wanted.size === 0) failures.push('hbk.yaml reads no secret through env:NAME');
	const { deployment } = hbkdContainer(objects);
	const spec = deployment.spec.template.spec;
	for (const c of [...(spec.initContainers || []), ...spec.containers]) {
		const env = new Map((c.env || []).map((e) => [e.name, e]));
		for (const name of wanted) {
			const e = env.get(name);
			if (!e) failures.push(`container ${c.name}: no env ${name}, which hbk.yaml reads`);
			else if (e.value !== undefined || e.valueFrom?.secretKeyRef?.name !== SECRET)
				failures.push(`container ${c.name}: env ${name} is not a secretKeyRef of ${SECRET}`);
		}
	}
}

function checkDeployment(objects, config, failures) {
	const { deployment, container } = hbkdContainer(objects);
	const template = deployment.spec.template;
	const labels = template.metadata?.labels;
	if (deployment.spec.replicas !== REPLICAS)
		failures.push(`Deployment ${APP}: replicas ${deployment.spec.replicas}, expected ${REPLICAS}`);
	if (!selects(deployment.spec.selector?.matchLabels, labels))
		failures.push(`Deployment ${APP}: its selector does not select its own pods`);

	const listen = String(config?.server?.listen || '');
	const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
	const http = (container.ports || []).find((p) => p.name === 'http');
	if (!http || http.containerPort !== port)
		failures.push(`container ${APP}: port "http" is ${http?.containerPort}, server.listen is ${listen}`);
	if (!listen.startsWith('0.0.0.0:'))
		failures.push(`server.listen ${listen} is not reachable from outside the pod`);

	for (const [kind, path] of [['readinessProbe', READINESS_PATH], ['livenessProbe', LIVENESS_PATH]]) {
		const probe = container[kind]?.httpGet;
		if (!probe) {
			failures.push(`container ${APP}: no httpGet ${kind}`);
			continue;
		}
		if (probe.path !== path) failures.push(`container ${APP}: ${kind} on ${probe.path}, expected ${path}`);
		if (containerPort(container, probe.port)?.containerPort !== port)
			failures.push(`container ${APP}: ${kind} port ${probe.port} is not the server's port ${port}`);
	}
	const res = container.resources || {};
	if (!res.requests?.cpu || !res.requests?.memory || !res.limits?.memory)
		failures.push(`container ${APP}: resources need cpu and memory requests and a memory limit`);

	/* The configuration file hbkd reads is the ConfigMap's hbk.yaml. */
	const command = [...(container.command || []), ...(container.args || [])];
	const at = command.indexOf('--config');
	const configPath = at >= 0 ? command[at + 1] : null;
	const mounts = container.volumeMounts || [];
	const volumes = template.spec.volumes || [];
	const mount = mounts.find((m) => configPath && configPath === `${m.mountPath}/hbk.yaml`);
	const volume = mount && volumes.find((v) => v.name === mount.name);
	if (!volume || volume.configMap?.name !== CONFIG_MAP)
		failures.push(`container ${APP}: --config ${configPath} is not hbk.yaml of ConfigMap ${CONFIG_MAP}`);
	const store = String(config?.store?.path || '');
	if (!mounts.some((m) => store.startsWith(`${m.mountPath}/`)))
		failures.push(`container ${APP}: store.path ${store} is on no volume`);
	return { deployment, container, labels };
}

function checkPdb(objects, deployment, labels, failures) {
	const pdb = one(objects, 'PodDisruptionBudget', APP, failures);
	if (!pdb) return;
	if (pdb.spec?.minAvailable !== PDB_MIN_AVAILABLE)
		failures.push(`PodDisruptionBudget ${APP}: minAvailable ${pdb.spec?.minAvailable}, expected ${PDB_MIN_AVAILABLE}`);
	if (!selects(pdb.spec?.selector?.matchLabels, labels))
		failures.push(`PodDisruptionBudget ${APP}: its selector does not select the Deployment's pods`);
	if (!sameMap(pdb.spec?.selector?.matchLabels, deployment.spec.selector?.matchLabels))
		failures.push(`PodDisruptionBudget ${APP}: its selector is not the Deployment's`);
	if (pdb.spec.minAvailable >= deployment.spec.replicas)
		failures.push(`PodDisruptionBudget ${APP}: minAvailable leaves no pod to disrupt`);
}

function checkService(objects, container, labels, failures) {
	const service = one(objects, 'Service', APP, failures);
	if (!service) return;
	if (!selects(service.spec?.selector, labels))
		failures.push(`Service ${APP}: its selector does not select the Deployment's pods`);
	for (const p of service.spec?.ports || [])
		if (!containerPort(container, p.targetPort ?? p.port))
			failures.push(`Service ${APP}: targetPort ${p.targetPort} is no port of container ${APP}`);
	if (!(service.spec?.ports || []).length) failures.push(`Service ${APP}: no ports`);
}

function checkKafka(objects, config, failures) {
	const kafka = one(objects, 'Kafka', null, failures);
	if (!kafka) return;
	const cluster = kafka.metadata.name;
	const pools = find(objects, 'KafkaNodePool').filter((p) => p.metadata?.labels?.['strimzi.io/cluster'] === cluster);
	const brokers = pools
		.filter((p) => (p.spec?.roles || []).includes('broker'))
		.reduce((n, p) => n + (p.spec?.replicas || 0), 0);
	if (brokers !== BROKERS) failures.push(`Kafka ${cluster}: ${brokers} brokers, expected ${BROKERS}`);
	if (kafka.metadata.annotations?.['strimzi.io/node-pools'] !== 'enabled')
		failures.push(`Kafka ${cluster}: node pools are not enabled`);

	/* kafka.brokers is the plain listener of the bootstrap Service. */
	const listener = (kafka.spec?.kafka?.listeners || []).find((l) => l.type === 'internal' && l.tls === false);
	const expected = listener && `${cluster}-kafka-bootstrap.${NAMESPACE}.svc.cluster.local:${listener.port}`;
	if (!listener) failures.push(`Kafka ${cluster}: no plain internal listener`);
	else if (config?.kafka?.brokers !== expected)
		failures.push(`kafka.brokers is ${config?.kafka?.brokers}, the bootstrap Service is ${expected}`);

	const minIsr = Number(kafka.spec?.kafka?.config?.['min.insync.replicas']);
	if (!(minIsr >= 2 && minIsr < BROKERS))
		failures.push(`Kafka ${cluster}: min.insync.replicas ${minIsr} must be at least 2 and below ${BROKERS}`);

	/* The topics are exactly those of kafka.topics, with kafka.partitions. */
	const topics = find(objects, 'KafkaTopic');
	const wanted = TOPIC_KEYS.map((k) => config?.kafka?.topics?.[k]).sort();
	const have = topics.map((t) => t.spec?.topicName).sort();
	if (JSON.stringify(wanted) !== JSON.stringify(have))
		failures.push(`KafkaTopics ${have.join(', ')}; kafka.topics names ${wanted.join(', ')}`);
	for (const t of topics) {
		const name = t.spec?.topicName;
		if (t.metadata?.labels?.['strimzi.io/cluster'] !== cluster)
			failures.push(`KafkaTopic ${name}: not labelled for the Kafka cluster ${cluster}`);
		if (t.spec?.partitions !== config?.kafka?.partitions)
			failures.push(`KafkaTopic ${name}: ${t.spec?.partitions} partitions, kafka.partitions is ${config?.kafka?.partitions}`);
		if (t.spec?.replicas !== BROKERS)
			failures.push(`KafkaTopic ${name}: ${t.spec?.replicas} replicas, expected ${BROKERS}`);
		const isr = Number(t.spec?.config?.['min.insync.replicas'] ?? minIsr);
		if (!(isr >= 2 && isr < t.spec?.replicas))
			failures.push(`KafkaTopic ${name}: min.insync.replicas ${isr} leaves no room for a broker down`);
	}
	const events = topics.find((t) => t.spec?.topicName === config?.kafka?.topics?.events);
	if (events && Number(events.spec?.config?.['retention.ms']) !== -1)
		failures.push(`KafkaTopic ${events.spec.topicName}: the system of record must be kept for ever (retention.ms -1)`);
}

const [mode, extra] = process.argv.slice(2);
if (extra !== undefined || !['check', 'hbk-yaml', 'probes', 'topics'].includes(mode)) die(2, USAGE);
const here = dirname(fileURLToPath(import.meta.url));
const dir = process.env.HBK_DEPLOY_DIR || resolve(here, '../../deploy/k8s');
const { files, objects } = loadManifests(dir);

if (mode === 'hbk-yaml') {
	process.stdout.write(hbkYaml(objects));
	process.exit(0);
}
if (mode === 'probes') {
	const { container } = hbkdContainer(objects);
	for (const kind of ['readinessProbe', 'livenessProbe'])
		process.stdout.write(`${container[kind]?.httpGet?.path}\n`);
	process.exit(0);
}
if (mode === 'topics') {
	for (const t of find(objects, 'KafkaTopic')) process.stdout.write(`${t.spec?.topicName} ${t.spec?.partitions}\n`);
	process.exit(0);
}

const failures = [];
let config = null;
try {
	config = parseYaml(hbkYaml(objects));
} catch (e) {
	failures.push(`the ConfigMap's hbk.yaml does not parse: ${e.message}`);
}
checkKustomization(files, objects, failures);
checkNamespaces(objects, failures);
checkSecrets(objects, config, failures);
const { deployment, container, labels } = checkDeployment(objects, config, failures);
checkPdb(objects, deployment, labels, failures);
checkService(objects, container, labels, failures);
checkKafka(objects, config, failures);

if (failures.length > 0) {
	for (const f of failures) process.stderr.write(`check-deploy: ${f}\n`);
	process.exit(1);
}
process.stdout.write(`${objects.length} objects in ${files.length} manifests: every invariant holds\n`);
