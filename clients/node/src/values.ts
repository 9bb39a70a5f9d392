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
 * Encode a JSON-like JS value as a google.protobuf.Value.
 * Follows JSON.stringify (toJSON() is honoured, undefined becomes null), but
 * throws a TypeError for what JSON would drop or garble silently: functions,
 * symbols, NaN and Infinity, bigints beyond 2^53, Maps, Sets and cycles.
 */
export function toValue(value: unknown): ProtoValue {
  return encode(value, 'value', new Set());
}

/** Encode a plain object (props, a state patch, init params) as a google.protobuf.Struct. */
export function toStruct(object: unknown, what = 'props'): ProtoStruct {
  if (object === null || object === undefined) return { fields: {} };
  if (typeof object !== 'object' || Array.isArray(object)) {
    throw new TypeError(`${what} must be a plain object, not ${describe(object)}`);
  }
  return encodeObject(object, what, new Set([object]));
}

function encode(value: unknown, path: string, seen: Set<object>): ProtoValue {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  switch (typeof value) {
    case 'string':
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
      return encodeComposite(value, path, seen);
    default:
      throw new TypeError(`${path}: cannot send a ${typeof value} (only JSON-like values travel)`);
  }
}

function encodeComposite(value: object, path: string, seen: Set<object>): ProtoValue {
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return encode(toJSON.call(value), path, seen);
  if (value instanceof Map || value instanceof Set) {
    const hint = value instanceof Map ? 'Object.fromEntries(map)' : '[...set]';
    throw new TypeError(`${path}: cannot send a ${value.constructor.name}; convert it first (${hint})`);
  }
  if (seen.has(value)) throw new TypeError(`${path}: cyclic object`);
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      return { listValue: { values: value.map((item, i) => encode(item, `${path}[${i}]`, seen)) } };
    }
    return { structValue: encodeObject(value, path, seen) };
  } finally {
    seen.delete(value);
  }
}

function encodeObject(object: object, path: string, seen: Set<object>): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [key, value] of Object.entries(object)) {
    if (value !== undefined) fields[key] = encode(value, `${path}.${key}`, seen);
  }
  return { fields };
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
