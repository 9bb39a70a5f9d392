// Plain JS values <-> google.protobuf.Value / Struct, in the object shape
// @grpc/proto-loader uses (oneofs: true, so a decoded Value names its `kind`).
// What JSON cannot carry is refused before anything is sent, naming where it is.

/** A google.protobuf.Value as proto-loader encodes it. */
export type ProtoValue =
  | { nullValue: 'NULL_VALUE' }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: ProtoStruct }
  | { listValue: { values: ProtoValue[] } };

/** A google.protobuf.Struct as proto-loader encodes it. */
export interface ProtoStruct {
  fields: Record<string, ProtoValue>;
}

/** A value that travels as a google.protobuf.Value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A value that travels as a google.protobuf.Struct. */
export type JsonObject = { [key: string]: JsonValue };

/**
 * How deep arrays and objects may nest, counting the outermost (props themselves
 * are the first level): the server's limit (MAX_DEPTH of motion_grpc/codec.py).
 */
export const MAX_DEPTH = 32;

/**
 * Encode a JSON-like JS value as a google.protobuf.Value.
 * Follows JSON.stringify (toJSON() is honoured, undefined becomes null), but
 * throws a TypeError for what JSON would drop or garble silently, or the server
 * would refuse: functions, symbols, NaN and Infinity, bigints beyond 2^53, Maps,
 * Sets, cycles, nesting deeper than MAX_DEPTH and strings with a lone surrogate
 * (UTF-8 cannot carry them).
 */
export function toValue(value: unknown): ProtoValue {
  return encode(value, 'value', new Set(), 0);
}

/** Encode a plain object (props, a state patch, init params) as a google.protobuf.Struct. */
export function toStruct(object: unknown, what = 'props'): ProtoStruct {
  if (object === null || object === undefined) return { fields: {} };
  if (typeof object !== 'object' || Array.isArray(object)) {
    throw new TypeError(`${what} must be a plain object, not ${describe(object)}`);
  }
  return encodeObject(object, what, new Set([object]), 1);
}

// `depth`: how many arrays and objects hold `value`.
function encode(value: unknown, path: string, seen: Set<object>, depth: number): ProtoValue {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  switch (typeof value) {
    case 'string':
      checkUtf8(value, () => `${path}: a string with`);
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${path}: ${value} is not a JSON number`);
      return { numberValue: value };
    case 'bigint':
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new TypeError(`${path}: bigint ${value} is beyond 2^53 and would lose precision as a double`);
      }
      return { numberValue: Number(value) };
    case 'object':
      return encodeComposite(value, path, seen, depth);
    default:
      throw new TypeError(`${path}: cannot send a ${typeof value} (only JSON-like values travel)`);
  }
}

function encodeComposite(value: object, path: string, seen: Set<object>, depth: number): ProtoValue {
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return encode(toJSON.call(value), path, seen, depth);
  if (value instanceof Map || value instanceof Set) {
    const hint = value instanceof Map ? 'Object.fromEntries(map)' : '[...set]';
    throw new TypeError(`${path}: cannot send a ${value.constructor.name}; convert it first (${hint})`);
  }
  if (seen.has(value)) throw new TypeError(`${path}: cyclic object`);
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      checkDepth(depth + 1, path);
      return { listValue: { values: value.map((item, i) => encode(item, `${path}[${i}]`, seen, depth + 1)) } };
    }
    return { structValue: encodeObject(value, path, seen, depth + 1) };
  } finally {
    seen.delete(value);
  }
}

// `depth`: the object's own level (1 for props themselves).
function encodeObject(object: object, path: string, seen: Set<object>, depth: number): ProtoStruct {
  checkDepth(depth, path);
  const fields: Record<string, ProtoValue> = {};
  for (const [key, value] of Object.entries(object)) {
    checkUtf8(key, () => `${path}: the key ${JSON.stringify(key)} has`);
    if (value !== undefined) fields[key] = encode(value, `${path}.${key}`, seen, depth);
  }
  return { fields };
}

function checkDepth(depth: number, path: string): void {
  if (depth > MAX_DEPTH) {
    throw new TypeError(`${path}: nests arrays and objects more than ${MAX_DEPTH} deep (the server refuses deeper values)`);
  }
}

// A UTF-16 surrogate not part of a pair.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Refuse a string UTF-8 cannot carry (protobuf strings are UTF-8): one with a lone surrogate.
 * `where` starts the message: 'props.s: a string with'.
 */
function checkUtf8(text: string, where: () => string): void {
  const lone = LONE_SURROGATE.exec(text);
  if (lone !== null) {
    const code = lone[0].charCodeAt(0).toString(16).toUpperCase();
    throw new TypeError(`${where()} a lone surrogate U+${code} at index ${lone.index}, which UTF-8 cannot carry`);
  }
}

function describe(value: unknown): string {
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** A google.protobuf.Value as proto-loader decodes it (`kind` names the set field). */
export interface DecodedValue {
  kind?: string;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: DecodedStruct | null;
  listValue?: { values?: DecodedValue[] } | null;
}

/** A google.protobuf.Struct as proto-loader decodes it. */
export interface DecodedStruct {
  fields?: Record<string, DecodedValue>;
}

/** Decode a google.protobuf.Value; an unset Value is null. */
export function fromValue(value: DecodedValue | null | undefined): JsonValue {
  switch (value?.kind) {
    case 'numberValue':
      return value.numberValue ?? 0;
    case 'stringValue':
      return value.stringValue ?? '';
    case 'boolValue':
      return value.boolValue ?? false;
    case 'structValue':
      return fromStruct(value.structValue);
    case 'listValue':
      return (value.listValue?.values ?? []).map(fromValue);
    default:
      return null;
  }
}

/** Decode a google.protobuf.Struct into a plain object; an unset Struct is {}. */
export function fromStruct(struct: DecodedStruct | null | undefined): JsonObject {
  const object: JsonObject = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) object[key] = fromValue(value);
  return object;
}
