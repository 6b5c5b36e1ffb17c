#!/usr/bin/env node
/*
 * check-monitoring.mjs - reads deploy/monitoring for the tests.
 *
 *   node tests/tools/check-monitoring.mjs rules OUT   writes the PrometheusRule's
 *                                                     groups as a rules file
 *   node tests/tools/check-monitoring.mjs metrics     prints every hbkd metric
 *                                                     the rules and the dashboard
 *                                                     name, one a line
 *   node tests/tools/check-monitoring.mjs records     prints every recording
 *                                                     rule the dashboard uses
 *
 * Exits 1 when a file does not parse or holds no rule, 2 on misuse.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parse as parseYaml, stringify } from 'yaml';

const top = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = join(top, 'deploy', 'monitoring');

function fail(msg, code = 1) {
	process.stderr.write(`check-monitoring: ${msg}\n`);
	process.exit(code);
}

function load(name) {
	try {
		return parseYaml(readFileSync(join(dir, name), 'utf8'));
	} catch (e) {
		fail(`${name}: ${e.message}`);
	}
}

function rules() {
	const doc = load('prometheusrule.yaml');
	if (doc?.kind !== 'PrometheusRule' || !Array.isArray(doc.spec?.groups))
		fail('prometheusrule.yaml: no PrometheusRule with spec.groups');
	return doc.spec;
}

function dashboardExprs() {
	const cm = load('grafana-dashboard.yaml');
	const json = cm?.data?.['hbkd.json'];
	if (typeof json !== 'string') fail('grafana-dashboard.yaml: no data.hbkd.json');
	let dash;
	try {
		dash = JSON.parse(json);
	} catch (e) {
		fail(`grafana-dashboard.yaml: hbkd.json: ${e.message}`);
	}
	const exprs = [];
	for (const p of dash.panels ?? []) for (const t of p.targets ?? []) exprs.push(t.expr);
	if (exprs.length === 0) fail('grafana-dashboard.yaml: no panel queries');
	return exprs;
}

function ruleExprs() {
	const exprs = [];
	for (const g of rules().groups) for (const r of g.rules ?? []) exprs.push(r.expr);
	return exprs;
}

// Metric names in PromQL: hbk_ names (not the hbk:... recording rules,
// whose colon stops the match), label values and strings left out.
function metricNames(expr) {
	const bare = String(expr).replace(/"[^"]*"/g, '""');
	return bare.match(/(?<![:\w])hbk_[a-z0-9_]+/g) ?? [];
}

const [mode, out] = process.argv.slice(2);
if (mode === 'rules' && out) {
	writeFileSync(out, stringify(rules()));
} else if (mode === 'metrics') {
	const names = new Set();
	for (const e of [...ruleExprs(), ...dashboardExprs()]) for (const n of metricNames(e)) names.add(n);
	process.stdout.write([...names].sort().join('\n') + '\n');
} else if (mode === 'records') {
	const names = new Set();
	for (const e of dashboardExprs())
		for (const n of String(e).match(/hbk:[a-z0-9_:]+/g) ?? []) names.add(n);
	process.stdout.write([...names].sort().join('\n') + '\n');
} else {
	fail('usage: check-monitoring.mjs rules OUT | metrics | records', 2);
}
