// The conformance runner: every scenario of conformance/scenarios.json (its
// format is in conformance/README.md), replayed against MOTION_TARGET (or
// MOTION_CONFORMANCE_TARGET, when the scenarios' app is served apart) through
// this client's connection (service config, API key, deadlines, MotionError),
// with requests and responses in proto JSON converted by the proto's own types.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import protobuf from 'protobufjs';
import { fromStruct, fromValue, MotionClient, MotionError, PROTO_DIR, status } from '../dist/index.js';
import { live, target } from './live.js';

const conformanceTarget = process.env.MOTION_CONFORMANCE_TARGET || target;
const SCENARIO_FILE = new URL('../../../conformance/scenarios.json', import.meta.url);
const CALL_TIMEOUT_MS = 30_000;
const TAKE_TIMEOUT_MS = 10_000;

const file = JSON.parse(readFileSync(SCENARIO_FILE, 'utf8'));
const root = protobuf.loadSync(`${PROTO_DIR}/motion/v1/motion.proto`);
const service = root.lookupService('motion.v1.MotionService');

describe('conformance scenarios', live, () => {
  let client;

  before(async () => {
    assert.equal(file.format, 1, `${SCENARIO_FILE.pathname}: unknown format ${file.format}`);
    client = new MotionClient(conformanceTarget);
    const hosted = (await client.describeComponents({ timeoutMs: CALL_TIMEOUT_MS })).map((c) => c.name);
    assert.ok(hosted.includes('Conformance'), `${conformanceTarget} must also serve conformance/app.py (it hosts ${hosted})`);
  });
  after(() => client?.close());

  for (const scenario of file.scenarios) {
    test(scenario.name, async () => {
      const vars = { instance: `conf-node-${randomBytes(8).toString('hex')}`, request_id: randomUUID() };
      for (const [i, step] of scenario.steps.entries()) {
        try {
          await runStep(client, step, vars);
        } catch (error) {
          error.message = `step ${i + 1} (${step.rpc}): ${error.message}`;
          throw error;
        }
      }
    });
  }
});

/** Call one RPC, compare its answer with the expectation, save variables. */
async function runStep(client, step, vars) {
  const method = service.methods[step.rpc];
  assert.ok(method, `no RPC ${step.rpc}`);
  method.resolve();
  const request = fromProtoJson(method.resolvedRequestType, substitute(step.request ?? {}, vars), 'request');
  const { answer, error } = await invoke(client, method, request, step);
  const expect = substitute(step.expect ?? { code: 'OK' }, vars);
  checkOutcome(expect, answer, error);
  for (const [name, path] of Object.entries(step.save ?? {})) {
    vars[name] = path.split('.').reduce((value, key) => value?.[key], answer);
    assert.notEqual(vars[name], undefined, `nothing at ${path} to save as ${name}`);
  }
}

async function invoke(client, method, request, step) {
  const type = method.resolvedResponseType;
  const options = { timeoutMs: CALL_TIMEOUT_MS };
  const messages = [];
  try {
    if (step.paginate) return { answer: await paginate(client, request, type) };
    if (!method.responseStream) return { answer: toProtoJson(type, await client.unary(step.rpc, request, options)) };
    const reader = client.serverStream(step.rpc, request, options);
    const timer = step.take ? setTimeout(() => reader.cancel(), TAKE_TIMEOUT_MS) : undefined;
    try {
      for await (const message of reader) {
        if (step.take && !message.event) continue; // progress heartbeats are not compared
        messages.push(toProtoJson(type, message));
        if (messages.length === step.take) break;
      }
    } finally {
      clearTimeout(timer);
    }
    if (step.take) assert.equal(messages.length, step.take, `only ${messages.length} of ${step.take} events in time`);
    return { answer: { messages } };
  } catch (error) {
    if (!(error instanceof MotionError)) throw error;
    return { answer: { messages }, error };
  }
}

async function paginate(client, request, type) {
  const instanceIds = [];
  let pages = 0;
  let pageToken = '';
  do {
    const page = toProtoJson(type, await client.unary('ListInstances', { ...request, pageToken }, { timeoutMs: CALL_TIMEOUT_MS }));
    pages += 1;
    if (request.pageSize) assert.ok(page.instanceIds.length <= request.pageSize, `page ${pages} over pageSize`);
    instanceIds.push(...page.instanceIds);
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  return { instanceIds, pages };
}

function checkOutcome(expect, answer, error) {
  const code = error ? status[error.code] : 'OK';
  assert.equal(code, expect.code ?? 'OK', error ? `${code}: ${error.details}` : 'the call succeeded');
  if (expect.reason !== undefined) {
    assert.equal(error.reason, expect.reason, `reason of ${code}: ${error.details}`);
    assert.equal(error.errorInfo.domain, 'motion-grpc');
  }
  if (expect.errorMetadata !== undefined) match(expect.errorMetadata, error.errorInfo?.metadata ?? {}, 'errorMetadata');
  if (expect.response !== undefined) match(expect.response, answer, 'response');
  if (expect.messages !== undefined) match(expect.messages, answer.messages, 'messages');
}

/** Assert `actual` matches `expected` by the rules of conformance/README.md ("Matching"). */
function match(expected, actual, path) {
  const fail = (why) => assert.fail(`${path}: ${why}; got ${JSON.stringify(actual)}`);
  if (expected === 'present') return isDefault(actual) && fail('expected a value');
  if (expected === 'absent') return isDefault(actual) || fail('expected nothing');
  if (typeof expected === 'number') {
    return (typeof actual === 'number' || typeof actual === 'string') && Number(actual) === expected || fail(`expected ${expected}`);
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) fail(`expected ${expected.length} items`);
    return expected.forEach((item, i) => match(item, actual[i], `${path}.${i}`));
  }
  if (expected === null || typeof expected !== 'object') return assert.deepEqual(actual, expected, path);
  if ('$len' in expected) return actual?.length === expected.$len || fail(`expected length ${expected.$len}`);
  if ('$gte' in expected) return Number(actual) >= expected.$gte || fail(`expected >= ${expected.$gte}`);
  if ('$exact' in expected) return assert.deepEqual(actual, expected.$exact, path);
  if ('$contains' in expected) {
    if (!Array.isArray(actual)) fail('expected a list');
    return expected.$contains.forEach((item) => actual.some((a) => matches(item, a)) || fail(`no ${JSON.stringify(item)}`));
  }
  if (actual === null || typeof actual !== 'object') fail('expected an object');
  for (const [key, value] of Object.entries(expected)) match(value, actual[key], `${path}.${key}`);
}

function matches(expected, actual) {
  try {
    match(expected, actual, '');
    return true;
  } catch (error) {
    if (error instanceof assert.AssertionError) return false;
    throw error;
  }
}

function isDefault(value) {
  if (value === undefined || value === null || value === '' || value === 0 || value === false) return true;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

/** Replace "${name}" (keeping the variable's type) and ${name} inside longer strings. */
function substitute(value, vars) {
  if (typeof value === 'string') {
    const whole = value.match(/^\$\{(\w+)\}$/);
    if (whole) return lookup(vars, whole[1]);
    return value.replace(/\$\{(\w+)\}/g, (_, name) => String(lookup(vars, name)));
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, vars));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  }
  return value;
}

function lookup(vars, name) {
  assert.ok(name in vars, `unknown variable ${name}`);
  return vars[name];
}

/** Proto JSON -> the object grpc-js serializes; unknown fields are an error of the file. */
function fromProtoJson(type, json, path) {
  const object = {};
  for (const [key, value] of Object.entries(json)) {
    const field = type.fields[key];
    assert.ok(field, `${path}.${key}: no such field in ${type.name}`);
    field.resolve();
    const convert = (item) => fromJsonField(field, item, `${path}.${key}`);
    object[key] = field.repeated ? value.map(convert) : convert(value);
  }
  return object;
}

function fromJsonField(field, value, path) {
  const type = field.resolvedType;
  if (!(type instanceof protobuf.Type)) return value; // scalars, enums by name, bytes as base64 all pass as is
  if (type.fullName === '.google.protobuf.Struct') return structMessage(value);
  if (type.fullName === '.google.protobuf.Value') return valueMessage(value);
  return fromProtoJson(type, value, path);
}

// Struct and Value in proto JSON are plain JSON. They become messages as they are, not through
// toStruct/toValue: scenarios send what the client's own API refuses before sending (props
// nested too deep), to see the server's answer.
function valueMessage(json) {
  if (json === null) return { nullValue: 'NULL_VALUE' };
  if (Array.isArray(json)) return { listValue: { values: json.map(valueMessage) } };
  if (typeof json === 'object') return { structValue: structMessage(json) };
  const kind = { number: 'numberValue', string: 'stringValue', boolean: 'boolValue' }[typeof json];
  return { [kind]: json };
}

function structMessage(json) {
  return { fields: Object.fromEntries(Object.entries(json).map(([key, value]) => [key, valueMessage(value)])) };
}

/** A decoded message (proto-loader objects, defaults filled) -> proto JSON with defaults. */
function toProtoJson(type, message) {
  if (message === null || message === undefined) return null;
  const json = {};
  for (const field of type.fieldsArray) {
    field.resolve();
    const value = message[field.name];
    const convert = (item) => toJsonField(field, item);
    if (field.map) json[field.name] = Object.fromEntries(Object.entries(value ?? {}).map(([k, v]) => [k, convert(v)]));
    else json[field.name] = field.repeated ? (value ?? []).map(convert) : convert(value);
  }
  return json;
}

function toJsonField(field, value) {
  const type = field.resolvedType;
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (!(type instanceof protobuf.Type)) return value;
  if (type.fullName === '.google.protobuf.Struct') return value === null ? null : fromStruct(value);
  if (type.fullName === '.google.protobuf.Value') return value === null ? null : fromValue(value);
  return toProtoJson(type, value);
}
