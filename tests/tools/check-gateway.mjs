#!/usr/bin/env node
/*
 * check-gateway.mjs - parses deploy/gateway (Kong), deploy/mesh (Istio) and
 * deploy/logging (Fluent Bit) and checks the invariants that tie them to
 * each other and to hbkd, so that none can drift without a test failing.
 *
 *   node tests/tools/check-gateway.mjs check        every invariant below
 *   node tests/tools/check-gateway.mjs redis-args   the Redis container's
 *                                                   arguments, one a line
 *
 * HBK_DEPLOY_ROOT names another copy of deploy/. check prints each broken
 * invariant to stderr and exits 1; any mode exits 1 when a file does not
 * parse, 2 on misuse.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

import { parseAllDocuments, parse as parseYaml } from 'yaml';

const top = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = process.env.HBK_DEPLOY_ROOT || join(top, 'deploy');
const NAMESPACE = 'hbk';
const API_HOST = 'hbkd.hbk.svc.cluster.local';
const INTERNAL_PATHS = ['/healthz', '/readyz', '/metrics'];
const PLUGINS = ['rate-limiting', 'request-size-limiting', 'correlation-id'];
const UNITS = { bytes: 1, kilobytes: 1024, megabytes: 1024 * 1024 };

function die(code, message) {
	process.stderr.write(`check-gateway: ${message}\n`);
	process.exit(code);
}

function load(file) {
	let text;
	try {
		text = readFileSync(join(root, file), 'utf8');
	} catch (e) {
		die(1, `cannot read ${file}: ${e.message}`);
	}
	const objects = [];
	for (const doc of parseAllDocuments(text)) {
		if (doc.errors.length > 0) die(1, `${file}: ${doc.errors[0].message}`);
		const o = doc.toJS();
		if (o !== null && o !== undefined) objects.push(o);
	}
	return objects;
}

const kindOf = (objects, kind) => objects.filter((o) => o.kind === kind);

/* hbkd's body limit as the cluster runs it: the ConfigMap's hbk.yaml, else
 * the default of hbkd(8). */
function maxBodyBytes() {
	const cm = kindOf(load('k8s/configmap.yaml'), 'ConfigMap')[0];
	const hbk = parseYaml(cm?.data?.['hbk.yaml'] ?? '') ?? {};
	return hbk.server?.max_body_bytes ?? 65536;
}

function redisService(failures) {
	const objects = load('gateway/redis.yaml');
	const svc = kindOf(objects, 'Service')[0];
	const dep = kindOf(objects, 'Deployment')[0];
	if (!svc || !dep) {
		failures.push('gateway/redis.yaml: expected a Deployment and a Service');
		return null;
	}
	const labels = dep.spec?.template?.metadata?.labels ?? {};
	const sel = Object.entries(svc.spec?.selector ?? {});
	if (sel.length === 0 || !sel.every(([k, v]) => labels[k] === v))
		failures.push('gateway/redis.yaml: the Service does not select the Deployment');
	return { host: `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`, port: svc.spec?.ports?.[0]?.port };
}

function checkKong(failures) {
	const kong = load('gateway/kong.yaml')[0] ?? {};
	if (kong._format_version !== '3.0') failures.push(`kong.yaml: _format_version ${kong._format_version}, expected "3.0"`);
	const services = kong.services ?? [];
	if (services.length !== 1) {
		failures.push(`kong.yaml: ${services.length} services, expected 1`);
		return;
	}
	const svc = services[0];
	let url;
	try {
		url = new URL(svc.url);
	} catch {
		failures.push(`kong.yaml: service url ${svc.url} does not parse`);
		return;
	}
	const k8sSvc = kindOf(load('k8s/service.yaml'), 'Service')[0];
	const port = k8sSvc?.spec?.ports?.[0]?.port;
	if (url.hostname !== API_HOST || Number(url.port || 80) !== port)
		failures.push(`kong.yaml: service url ${svc.url}, the hbkd Service is ${API_HOST}:${port}`);
	if (svc.retries !== 0) failures.push(`kong.yaml: retries ${svc.retries}: the mesh retries, Kong must not`);
	for (const r of svc.routes ?? [])
		for (const p of r.paths ?? []) {
			if (!p.startsWith('/v1/')) failures.push(`kong.yaml: route ${r.name} exposes ${p}, only /v1/ is public`);
			if (INTERNAL_PATHS.some((i) => i.startsWith(p)))
				failures.push(`kong.yaml: route ${r.name} exposes ${p}`);
		}
	const plugins = Object.fromEntries((svc.plugins ?? []).map((p) => [p.name, p.config ?? {}]));
	for (const name of PLUGINS) if (!plugins[name]) failures.push(`kong.yaml: no ${name} plugin`);

	const rl = plugins['rate-limiting'] ?? {};
	const redis = redisService(failures);
	if (rl.policy !== 'redis') failures.push(`kong.yaml: rate-limiting policy ${rl.policy}, expected redis`);
	if (redis && (rl.redis_host !== redis.host || rl.redis_port !== redis.port))
		failures.push(`kong.yaml: rate-limiting redis ${rl.redis_host}:${rl.redis_port}, the Redis Service is ${redis.host}:${redis.port}`);
	if (!(rl.limit_by === 'consumer' || (rl.limit_by === 'header' && rl.header_name === 'Authorization')))
		failures.push(`kong.yaml: rate-limiting limit_by ${rl.limit_by}: limits are per consumer (the token)`);

	const rs = plugins['request-size-limiting'] ?? {};
	const bytes = rs.allowed_payload_size * (UNITS[rs.size_unit ?? 'megabytes'] ?? NaN);
	if (bytes !== maxBodyBytes())
		failures.push(`kong.yaml: request-size-limiting allows ${bytes} bytes, hbkd's server.max_body_bytes is ${maxBodyBytes()}`);

	const ci = plugins['correlation-id'] ?? {};
	if (ci.header_name !== 'X-Request-Id')
		failures.push(`kong.yaml: correlation-id header ${ci.header_name}, hbkd honours X-Request-Id`);

	// The Ingress Controller's resources say the same.
	const kic = load('gateway/plugins.yaml');
	const byPlugin = Object.fromEntries(kindOf(kic, 'KongPlugin').map((p) => [p.plugin, p]));
	for (const name of PLUGINS) {
		if (!byPlugin[name]) failures.push(`plugins.yaml: no KongPlugin for ${name}`);
		else if (!isDeepStrictEqual(byPlugin[name].config, plugins[name]))
			failures.push(`plugins.yaml: KongPlugin ${byPlugin[name].metadata.name} differs from kong.yaml's ${name}`);
	}
	const ingress = kindOf(kic, 'Ingress')[0];
	const listed = (ingress?.metadata?.annotations?.['konghq.com/plugins'] ?? '').split(',');
	for (const p of Object.values(byPlugin))
		if (!listed.includes(p.metadata.name)) failures.push(`plugins.yaml: the Ingress does not use ${p.metadata.name}`);
	for (const rule of ingress?.spec?.rules ?? [])
		for (const p of rule.http?.paths ?? []) {
			if (p.path !== '/v1/') failures.push(`plugins.yaml: the Ingress exposes ${p.path}`);
			if (p.backend?.service?.name !== 'hbkd') failures.push('plugins.yaml: the Ingress is not aimed at hbkd');
		}
}

/* A route may retry only reads and creates that carry an Idempotency-Key. */
function safeToRetry(route) {
	return (route.match ?? []).length > 0 && route.match.every((m) => {
		const method = m.method?.exact;
		if (method === 'GET' || method === 'HEAD') return true;
		return method === 'POST' && m.headers?.['idempotency-key'] !== undefined;
	});
}

function checkMesh(failures) {
	const pa = load('mesh/peerauthentication.yaml')[0];
	if (pa?.metadata?.namespace !== NAMESPACE || pa?.spec?.mtls?.mode !== 'STRICT')
		failures.push('mesh: PeerAuthentication of the hbk namespace is not STRICT');
	const vs = load('mesh/virtualservice.yaml')[0] ?? {};
	if (!(vs.spec?.hosts ?? []).includes(API_HOST)) failures.push(`mesh: the VirtualService is not for ${API_HOST}`);
	const routes = vs.spec?.http ?? [];
	for (const r of routes) {
		if (!r.timeout) failures.push(`mesh: route ${r.name} has no timeout`);
		if ((r.retries?.attempts ?? 2) > 0 && !safeToRetry(r))
			failures.push(`mesh: route ${r.name} retries requests that are not safe to resend`);
	}
	const last = routes[routes.length - 1];
	if (!last || (last.match ?? []).length > 0 || last.retries?.attempts !== 0)
		failures.push('mesh: the last route must catch every other request with retries attempts 0');
	const dr = load('mesh/destinationrule.yaml')[0] ?? {};
	if (dr.spec?.host !== API_HOST) failures.push(`mesh: the DestinationRule is not for ${API_HOST}`);
	const od = dr.spec?.trafficPolicy?.outlierDetection;
	if (!od) failures.push('mesh: no outlierDetection');
	else if (!(od.maxEjectionPercent > 0 && od.maxEjectionPercent < 50))
		failures.push(`mesh: maxEjectionPercent ${od.maxEjectionPercent}: at most one of three replicas may go`);
	if (dr.spec?.trafficPolicy?.tls?.mode !== 'ISTIO_MUTUAL') failures.push('mesh: the DestinationRule does not use ISTIO_MUTUAL');
}

function checkLogging(failures) {
	const objects = load('logging/fluent-bit.yaml');
	const cm = kindOf(objects, 'ConfigMap')[0];
	let conf;
	try {
		conf = parseYaml(cm?.data?.['fluent-bit.yaml'] ?? '');
	} catch (e) {
		failures.push(`logging: fluent-bit.yaml does not parse: ${e.message}`);
		return;
	}
	const p = conf?.pipeline ?? {};
	const tail = (p.inputs ?? []).find((i) => i.name === 'tail');
	if (!tail || !String(tail.path).includes(`_${NAMESPACE}_`))
		failures.push('logging: no tail input on the hbk namespace\'s container logs');
	const k8s = (p.filters ?? []).find((f) => f.name === 'kubernetes');
	if (!k8s || ![true, 'on', 'true'].includes(k8s.merge_log)) failures.push('logging: the kubernetes filter does not merge the JSON log lines');
	const copy = (p.filters ?? []).find((f) => f.name === 'modify' && f.copy === 'request_id correlationid');
	if (!copy) failures.push('logging: request_id is not copied to correlationid');
	if ((p.outputs ?? []).length === 0) failures.push('logging: no output');
	const ds = kindOf(objects, 'DaemonSet')[0];
	const mount = (ds?.spec?.template?.spec?.containers?.[0]?.volumeMounts ?? []).find((m) => m.mountPath === '/fluent-bit/etc');
	const vol = (ds?.spec?.template?.spec?.volumes ?? []).find((v) => v.name === mount?.name);
	if (vol?.configMap?.name !== cm?.metadata?.name) failures.push('logging: the DaemonSet does not mount the ConfigMap');
	const args = ds?.spec?.template?.spec?.containers?.[0]?.args ?? [];
	if (!args.includes('--config=/fluent-bit/etc/fluent-bit.yaml')) failures.push('logging: the DaemonSet does not run fluent-bit.yaml');
}

const mode = process.argv[2];
if (mode === 'check') {
	const failures = [];
	checkKong(failures);
	checkMesh(failures);
	checkLogging(failures);
	for (const f of failures) process.stderr.write(`check-gateway: ${f}\n`);
	process.exit(failures.length === 0 ? 0 : 1);
} else if (mode === 'redis-args') {
	const dep = kindOf(load('gateway/redis.yaml'), 'Deployment')[0];
	process.stdout.write((dep?.spec?.template?.spec?.containers?.[0]?.args ?? []).join('\n') + '\n');
} else {
	die(2, 'usage: check-gateway.mjs check | redis-args');
}
