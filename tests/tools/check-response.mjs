#!/usr/bin/env node
/*
 * check-response.mjs - checks a recorded hbkd response against docs/openapi.yaml.
 *
 *   node tests/tools/check-response.mjs METHOD PATH STATUS FILE [CONTENT_TYPE]
 *
 * PATH is a path template of the spec (/v1/bookings/{id}) or a concrete
 * path that one template matches (/v1/bookings/BK-01...; no query string).
 * FILE holds the response body ("-" reads stdin). CONTENT_TYPE is the
 * response's Content-Type header; parameters such as charset are ignored
 * unless the spec lists the exact value. Without it the operation's only
 * documented media type is assumed.
 *
 * Checks that the operation exists (a 405 is accepted for any method of a
 * known path), that STATUS is documented for it, that the content type is
 * one it documents, and that the body matches the schema (JSON Schema 2020-12,
 * formats checked). Prints nothing and exits 0 when the response conforms;
 * prints why to stderr and exits 1 when it does not; exits 2 on misuse.
 * HBK_OPENAPI names another spec file.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const USAGE = 'usage: check-response.mjs METHOD PATH STATUS FILE [CONTENT_TYPE]';

function die(code, message) {
	process.stderr.write(`check-response: ${message}\n`);
	process.exit(code);
}

/* A local "#/a/b" reference of the spec, resolved. */
function resolveRef(spec, node) {
	for (let hops = 0; node && typeof node.$ref === 'string'; hops++) {
		if (hops > 16 || !node.$ref.startsWith('#/'))
			die(1, `cannot resolve $ref ${node.$ref}`);
		node = node.$ref
			.slice(2)
			.split('/')
			.map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
			.reduce((at, key) => (at == null ? undefined : at[key]), spec);
		if (node === undefined) die(1, 'dangling $ref in the spec');
	}
	return node;
}

/* The spec's path template for path: itself, or the one template it fills. */
function findPathTemplate(paths, path) {
	if (Object.hasOwn(paths, path)) return path;
	const matches = Object.keys(paths).filter((template) => {
		const pattern = template
			.split(/(\{[^}]+\})/)
			.map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
			.join('');
		return new RegExp(`^${pattern}$`).test(path);
	});
	/* A literal segment beats a parameter: /v1/bookings over /v1/{x}. */
	matches.sort((a, b) => (a.match(/\{/g) || []).length - (b.match(/\{/g) || []).length);
	return matches[0];
}

/* The response object of operation op for status, or undefined. */
function findResponse(responses, status) {
	return responses[status] ?? responses[`${status[0]}XX`] ?? responses.default;
}

function baseMediaType(type) {
	return type.split(';')[0].trim().toLowerCase();
}

/* The documented media type that contentType is, or undefined. */
function findMediaType(content, contentType) {
	const keys = Object.keys(content);
	if (contentType === undefined) return keys.length === 1 ? keys[0] : undefined;
	const exact = keys.find((key) => key.toLowerCase() === contentType.trim().toLowerCase());
	return exact ?? keys.find((key) => baseMediaType(key) === baseMediaType(contentType));
}

/* A deep copy of a schema of the spec with "#/components/schemas/X" as "#/$defs/X". */
function rebase(value) {
	if (Array.isArray(value)) return value.map(rebase);
	if (value === null || typeof value !== 'object') return value;
	const out = {};
	for (const [key, inner] of Object.entries(value)) {
		if (key === '$ref' && typeof inner === 'string') {
			if (!inner.startsWith('#/components/schemas/'))
				die(1, `schema $ref ${inner} is outside #/components/schemas`);
			out.$ref = `#/$defs/${inner.slice('#/components/schemas/'.length)}`;
		} else {
			out[key] = rebase(inner);
		}
	}
	return out;
}

function formatError(error) {
	const where = error.instancePath || '(body)';
	const params = Object.entries(error.params ?? {})
		.map(([key, value]) => `${key}=${JSON.stringify(value)}`)
		.join(', ');
	return `  ${where}: ${error.message}${params ? ` (${params})` : ''} [${error.schemaPath}]`;
}

function main(argv) {
	if (argv.length === 1 && (argv[0] === '-h' || argv[0] === '--help')) {
		process.stdout.write(`${USAGE}\n`);
		return 0;
	}
	if (argv.length < 4 || argv.length > 5) die(2, USAGE);
	const [methodArg, pathArg, status, file, contentType] = argv;
	const method = methodArg.toLowerCase();
	if (!HTTP_METHODS.includes(method)) die(2, `unknown method '${methodArg}'`);
	if (!/^[1-5][0-9][0-9]$/.test(status)) die(2, `invalid status '${status}'`);

	const here = dirname(fileURLToPath(import.meta.url));
	const specFile = process.env.HBK_OPENAPI || resolve(here, '../../docs/openapi.yaml');
	let spec;
	try {
		spec = parseYaml(readFileSync(specFile, 'utf8'));
	} catch (error) {
		die(2, `cannot read ${specFile}: ${error.message}`);
	}

	const template = findPathTemplate(spec.paths ?? {}, pathArg.split('?')[0]);
	if (!template) die(1, `path ${pathArg} is not in ${specFile}`);
	const pathItem = resolveRef(spec, spec.paths[template]);
	const operations = HTTP_METHODS.filter((m) => pathItem[m]).map((m) => pathItem[m]);
	let operation = pathItem[method];
	if (!operation && status === '405')
		operation = operations.find((op) => op.responses && op.responses['405']);
	if (!operation) die(1, `${methodArg.toUpperCase()} ${template} is not documented`);

	const response = resolveRef(spec, findResponse(operation.responses ?? {}, status));
	const what = `${methodArg.toUpperCase()} ${template} ${status}`;
	if (!response) die(1, `${what}: status ${status} is not documented for this operation`);

	let body;
	try {
		body = readFileSync(file === '-' ? 0 : file, 'utf8');
	} catch (error) {
		die(2, `cannot read ${file}: ${error.message}`);
	}
	const content = response.content ?? {};
	if (Object.keys(content).length === 0) {
		if (body.length > 0) die(1, `${what}: documented without a body, but the body is not empty`);
		return 0;
	}
	const mediaType = findMediaType(content, contentType);
	if (!mediaType)
		die(
			1,
			contentType === undefined
				? `${what}: several media types documented (${Object.keys(content).join(', ')}); give CONTENT_TYPE`
				: `${what}: content type '${contentType}' is not documented (${Object.keys(content).join(', ')})`
		);

	let instance = body;
	const base = baseMediaType(mediaType);
	if (base === 'application/json' || base.endsWith('+json')) {
		try {
			instance = JSON.parse(body);
		} catch (error) {
			die(1, `${what}: the body is not JSON: ${error.message}`);
		}
	}
	const schema = content[mediaType].schema;
	if (!schema) return 0;

	const ajv = new Ajv2020({ allErrors: true, strict: false });
	addFormats(ajv);
	const validate = ajv.compile({ ...rebase(schema), $defs: rebase(spec.components?.schemas ?? {}) });
	if (validate(instance)) return 0;
	process.stderr.write(`check-response: ${what} (${mediaType}): ${file} does not match the schema:\n`);
	for (const error of validate.errors) process.stderr.write(`${formatError(error)}\n`);
	return 1;
}

process.exitCode = main(process.argv.slice(2));
