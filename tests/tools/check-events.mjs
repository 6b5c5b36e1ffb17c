#!/usr/bin/env node
/*
 * check-events.mjs - checks events against the catalog in docs/events.md.
 *
 *   node tests/tools/check-events.mjs types
 *   node tests/tools/check-events.mjs rows FILE
 *   node tests/tools/check-events.mjs envelopes FILE
 *   node tests/tools/check-events.mjs kafka FILE
 *
 * The catalog's schemas are the fenced ```json blocks of docs/events.md
 * (HBK_EVENTS_DOC names another file), each under a heading that names it:
 * "CloudEvents envelope", "Common definitions" or an event type
 * (`hbk.booking.confirmed.v1`). Every block must sit under such a heading,
 * carry the draft 2020-12 $schema and a title equal to its heading, and
 * compile in Ajv's strict mode; a malformed catalog is an error of its own.
 *
 * types      prints the catalog's event types, one a line, sorted.
 * rows       FILE holds rows of the events table as `sqlite3 -json` prints
 *            them (id, stream, sequence, type, time_ms, partitionkey,
 *            correlationid, causationid, data): each is wrapped in its
 *            CloudEvents envelope as hbk_event_json() does, then checked.
 * envelopes  FILE holds envelopes: a JSON array, or {"events": [...]} as
 *            `hbk history -o json` prints it.
 * kafka      FILE holds Kafka messages as `kcat -C -J` prints them, one JSON
 *            object a line: each is turned back into its envelope from the
 *            binary content mode (ce_* headers, content-type, the value as
 *            data), and its key must be its partitionkey.
 *
 * An event passes when its envelope matches the envelope schema, its type
 * is in the catalog, and its data matches that type's schema. Prints a
 * summary to stdout and exits 0 when all pass; prints each failure to
 * stderr and exits 1 otherwise; exits 2 on misuse. "-" reads stdin.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const USAGE = 'usage: check-events.mjs types | rows FILE | envelopes FILE | kafka FILE';
const DRAFT = 'https://json-schema.org/draft/2020-12/schema';
const ENVELOPE = 'CloudEvents envelope';
const COMMON = 'Common definitions';
const TYPE_NAME = /^hbk\.[a-z_]+\.[a-z_]+\.v[1-9][0-9]*$/;
const SOURCE = 'urn:hbk:embedded'; /* HBK_EVENT_SOURCE in lib/include/hbk/events.h */
const ERRORS_SHOWN_MAX = 50;

function die(code, message) {
	process.stderr.write(`check-events: ${message}\n`);
	process.exit(code);
}

function readText(file) {
	try {
		return readFileSync(file === '-' ? 0 : file, 'utf8');
	} catch (e) {
		die(2, `cannot read ${file}: ${e.message}`);
	}
}

function parseJson(text, what) {
	try {
		return JSON.parse(text);
	} catch (e) {
		die(1, `${what}: not JSON: ${e.message}`);
	}
}

/* The schemas of the catalog, by the heading each follows. */
function loadCatalog(docPath) {
	const lines = readText(docPath).split('\n');
	const schemas = new Map();
	let heading = null;
	for (let i = 0; i < lines.length; i++) {
		const h = /^#{1,6}\s+(.*?)\s*$/.exec(lines[i]);
		if (h) {
			heading = h[1].replace(/`/g, '');
			continue;
		}
		if (!/^```json\s*$/.test(lines[i])) continue;
		const start = i + 1;
		let end = start;
		while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
		if (end === lines.length) die(1, `${docPath}:${i + 1}: unterminated json block`);
		const where = `${docPath}:${i + 1}`;
		if (heading === null) die(1, `${where}: a json block before any heading`);
		if (heading !== ENVELOPE && heading !== COMMON && !TYPE_NAME.test(heading))
			die(1, `${where}: a json block under "${heading}", which names no event type`);
		if (schemas.has(heading)) die(1, `${where}: a second json block for ${heading}`);
		const schema = parseJson(lines.slice(start, end).join('\n'), where);
		if (schema.$schema !== DRAFT) die(1, `${where}: $schema is not ${DRAFT}`);
		if (schema.title !== heading)
			die(1, `${where}: title "${schema.title}" is not the heading "${heading}"`);
		schemas.set(heading, schema);
		i = end;
	}
	for (const name of [ENVELOPE, COMMON])
		if (!schemas.has(name)) die(1, `${docPath}: no "${name}" schema`);

	const ajv = new Ajv2020({ strict: true, allErrors: true });
	addFormats(ajv);
	const validators = new Map();
	try {
		ajv.addSchema(schemas.get(COMMON));
		for (const [name, schema] of schemas)
			if (name !== COMMON) validators.set(name, ajv.compile(schema));
	} catch (e) {
		die(1, `${docPath}: the schemas do not compile: ${e.message}`);
	}
	return validators;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ", as hbk_time_format() writes it. */
function formatTime(ms) {
	return new Date(ms).toISOString();
}

/* A row of the events table in its envelope, as hbk_event_json() builds it. */
function envelopeOfRow(row, index) {
	const where = `row ${index + 1}`;
	for (const column of ['id', 'stream', 'sequence', 'type', 'time_ms', 'partitionkey', 'data'])
		if (!Object.hasOwn(row, column)) die(1, `${where}: no column ${column}`);
	const event = {
		specversion: '1.0',
		id: row.id,
		source: SOURCE,
		type: row.type,
		subject: row.stream,
		time: formatTime(row.time_ms),
		datacontenttype: 'application/json',
		sequence: row.sequence,
		partitionkey: row.partitionkey,
	};
	if (row.correlationid) event.correlationid = row.correlationid;
	if (row.causationid) event.causationid = row.causationid;
	event.data = parseJson(row.data, `${where} (${row.id}) data`);
	return event;
}

/* A Kafka message in binary content mode back in its envelope; a key that
 * is not the partition key, or a header pair that is not a string pair, is
 * a failure of the message. */
function envelopeOfMessage(message, index, failures) {
	const where = `message ${index + 1} (partition ${message.partition}, offset ${message.offset})`;
	const headers = message.headers || [];
	const event = {};
	if (!Array.isArray(headers) || headers.length % 2 !== 0) {
		failures.push(`${where}: headers are not name-value pairs`);
		return event;
	}
	for (let i = 0; i < headers.length; i += 2) {
		const [name, value] = [headers[i], headers[i + 1]];
		if (name === 'content-type') event.datacontenttype = value;
		else if (name.startsWith('ce_'))
			event[name.slice(3)] = name === 'ce_sequence' && /^[0-9]+$/.test(value) ? Number(value) : value;
		else failures.push(`${where}: unexpected header ${name}`);
	}
	if (message.key !== event.partitionkey)
		failures.push(`${where}: key ${JSON.stringify(message.key)} is not the partitionkey ${JSON.stringify(event.partitionkey)}`);
	event.data = parseJson(message.payload, `${where} value`);
	return event;
}

function describe(errors) {
	return errors
		.map((e) => `${e.instancePath || '(top)'} ${e.message}${e.params && e.params.additionalProperty ? ` '${e.params.additionalProperty}'` : ''}`)
		.join('; ');
}

function check(events, validators) {
	const failures = [];
	const seen = new Map();
	const envelope = validators.get(ENVELOPE);
	events.forEach((event, index) => {
		const name = `event ${index + 1} (${event && event.id}, ${event && event.type})`;
		if (!envelope(event)) failures.push(`${name}: envelope: ${describe(envelope.errors)}`);
		const type = event && event.type;
		const data = validators.get(type);
		if (type === ENVELOPE || type === COMMON || !data) {
			failures.push(`${name}: type ${JSON.stringify(type)} is not in the catalog`);
			return;
		}
		if (!data(event.data)) failures.push(`${name}: data: ${describe(data.errors)}`);
		seen.set(type, (seen.get(type) || 0) + 1);
	});
	return { failures, seen };
}

const [mode, file] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const docPath = process.env.HBK_EVENTS_DOC || resolve(here, '../../docs/events.md');

if (mode === 'types' && file === undefined) {
	const validators = loadCatalog(docPath);
	const types = [...validators.keys()].filter((name) => TYPE_NAME.test(name)).sort();
	process.stdout.write(types.map((t) => `${t}\n`).join(''));
	process.exit(0);
}
if (!['rows', 'envelopes', 'kafka'].includes(mode) || file === undefined) die(2, USAGE);

const validators = loadCatalog(docPath);
const text = readText(file);
let input;
if (mode === 'kafka')
	input = text.split('\n').filter((line) => line.trim() !== '').map((line, i) => parseJson(line, `${file}:${i + 1}`));
else input = parseJson(text, file);
if (mode === 'envelopes' && input && !Array.isArray(input)) input = input.events;
if (!Array.isArray(input)) die(1, `${file}: expected a JSON array of ${mode}`);
if (input.length === 0) die(1, `${file}: no events to check`);
const messageFailures = [];
const events =
	mode === 'rows'
		? input.map(envelopeOfRow)
		: mode === 'kafka'
			? input.map((m, i) => envelopeOfMessage(m, i, messageFailures))
			: input;

const { failures: eventFailures, seen } = check(events, validators);
const failures = [...messageFailures, ...eventFailures];
if (failures.length > 0) {
	for (const f of failures.slice(0, ERRORS_SHOWN_MAX)) process.stderr.write(`check-events: ${f}\n`);
	if (failures.length > ERRORS_SHOWN_MAX)
		process.stderr.write(`check-events: ... and ${failures.length - ERRORS_SHOWN_MAX} more\n`);
	process.stderr.write(`check-events: ${failures.length} of ${events.length} events do not match the catalog\n`);
	process.exit(1);
}
const types = [...seen.keys()].sort();
process.stdout.write(`${events.length} events valid, ${types.length} types\n`);
for (const t of types) process.stdout.write(`${t} ${seen.get(t)}\n`);
