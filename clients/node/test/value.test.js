import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromStruct, fromValue, toStruct, toValue } from '../src/index.js';

// Decoded Values carry `kind` (proto-loader's oneofs: true); add it to what toValue builds.
function decoded(value) {
  const [kind] = Object.keys(value);
  const inner = value[kind];
  if (kind === 'structValue') return { kind, structValue: { fields: mapValues(inner.fields, decoded) } };
  if (kind === 'listValue') return { kind, listValue: { values: inner.values.map(decoded) } };
  return { kind, [kind]: inner };
}

const mapValues = (object, f) => Object.fromEntries(Object.entries(object).map(([k, v]) => [k, f(v)]));

test('JSON-like values round-trip', () => {
  const value = { n: 3, s: 'x', b: false, none: null, list: [1, 'two', [3], { four: 4 }], nested: { a: { b: [] } } };
  assert.deepEqual(fromValue(decoded(toValue(value))), value);
});

test('undefined fields are dropped and toJSON is honoured', () => {
  const when = new Date(0);
  assert.deepEqual(toStruct({ a: undefined, when }), { fields: { when: { stringValue: when.toISOString() } } });
  assert.deepEqual(toValue(undefined), { nullValue: 'NULL_VALUE' });
});

test('an unset Value or Struct decodes as null or {}', () => {
  assert.equal(fromValue(null), null);
  assert.deepEqual(fromStruct(null), {});
});

test('non-objects are refused as a Struct, functions as a Value', () => {
  assert.throws(() => toStruct([1]), TypeError);
  assert.throws(() => toStruct(3), TypeError);
  assert.throws(() => toValue(() => 1), TypeError);
});
