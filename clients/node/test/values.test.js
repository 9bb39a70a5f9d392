import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromStruct, fromValue, toStruct, toValue } from '../dist/index.js';

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

test('undefined fields are dropped, toJSON is honoured, safe bigints become numbers', () => {
  const when = new Date(0);
  assert.deepEqual(toStruct({ a: undefined, when }), { fields: { when: { stringValue: when.toISOString() } } });
  assert.deepEqual(toValue(undefined), { nullValue: 'NULL_VALUE' });
  assert.deepEqual(toValue(42n), { numberValue: 42 });
});

test('a value shared by two keys is not a cycle', () => {
  const shared = { x: 1 };
  assert.deepEqual(fromValue(decoded(toValue({ a: shared, b: [shared] }))), { a: { x: 1 }, b: [{ x: 1 }] });
});

test('an unset Value or Struct decodes as null or {}', () => {
  assert.equal(fromValue(null), null);
  assert.deepEqual(fromStruct(null), {});
});

test('non-objects are refused as a Struct', () => {
  assert.throws(() => toStruct([1]), { name: 'TypeError', message: /props must be a plain object, not an array/ });
  assert.throws(() => toStruct(3, 'patch'), { name: 'TypeError', message: /patch must be a plain object/ });
});

test('what JSON cannot carry is refused with a TypeError naming where it is', () => {
  const cyclic = { a: [] };
  cyclic.a.push(cyclic);
  const refused = [
    [{ f: () => 1 }, /props\.f: cannot send a function/],
    [{ s: Symbol('x') }, /props\.s: cannot send a symbol/],
    [{ big: 2n ** 53n }, /props\.big: bigint 9007199254740992 is beyond 2\^53/],
    [{ n: NaN }, /props\.n: NaN is not a JSON number/],
    [{ list: [1, Infinity] }, /props\.list\[1\]: Infinity is not a JSON number/],
    [{ m: new Map() }, /props\.m: cannot send a Map; convert it first \(Object\.fromEntries\(map\)\)/],
    [{ s: new Set([1]) }, /props\.s: cannot send a Set; convert it first \(\[\.\.\.set\]\)/],
    [cyclic, /props\.a\[0\]: cyclic object/],
  ];
  for (const [props, message] of refused) assert.throws(() => toStruct(props), { name: 'TypeError', message });
});

/** `levels` objects nested in each other: { a: { a: ... {} } }. */
function nested(levels) {
  const root = {};
  let inner = root;
  for (let i = 1; i < levels; i++) inner = inner.a = {};
  return root;
}

test("nesting deeper than the server's 32 levels is refused with a TypeError naming where", () => {
  assert.doesNotThrow(() => toStruct(nested(32))); // props itself is the first level
  assert.throws(() => toStruct(nested(33)), {
    name: 'TypeError',
    message: new RegExp(`^props${'\\.a'.repeat(32)}: nests arrays and objects more than 32 deep`),
  });
  let list = 1;
  for (let i = 0; i < 32; i++) list = [list];
  assert.doesNotThrow(() => toValue(list));
  assert.throws(() => toValue([list]), { name: 'TypeError', message: /^value(\[0\]){32}: nests arrays and objects more than 32 deep/ });
  // Far deeper than protobufjs can encode: still the same TypeError, found in one walk.
  assert.throws(() => toStruct(nested(5000)), { name: 'TypeError', message: /more than 32 deep/ });
});

test('a string with a lone surrogate is refused: UTF-8 cannot carry it', () => {
  assert.deepEqual(toValue('a\u{1F600}'), { stringValue: 'a\u{1F600}' }); // a surrogate pair is one character
  const refused = [
    [{ s: 'x\ud800' }, /^props\.s: a string with a lone surrogate U\+D800 at index 1, which UTF-8 cannot carry/],
    [{ list: ['\udc00y'] }, /^props\.list\[0\]: a string with a lone surrogate U\+DC00 at index 0/],
    [{ s: 'ab\ude00\ud83d' }, /^props\.s: .* U\+DE00 at index 2/],
    [{ ['k\ud83d']: 1 }, /^props: the key "k\\ud83d" has a lone surrogate U\+D83D at index 1, which UTF-8 cannot carry/],
  ];
  for (const [props, message] of refused) assert.throws(() => toStruct(props), { name: 'TypeError', message });
});
