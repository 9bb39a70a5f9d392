// Plain JS values <-> google.protobuf.Value / Struct, in the object shape
// @grpc/proto-loader uses (oneofs: true, so a decoded Value names its `kind`).

/**
 * Encode a JSON-like JS value as a google.protobuf.Value.
 * Follows JSON.stringify: toJSON() is honoured, undefined becomes null.
 * @param {unknown} value
 * @returns {object}
 */
export function toValue(value) {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'object' && typeof value.toJSON === 'function') return toValue(value.toJSON());
  switch (typeof value) {
    case 'number': return { numberValue: value };
    case 'bigint': return { numberValue: Number(value) };
    case 'string': return { stringValue: value };
    case 'boolean': return { boolValue: value };
    case 'object':
      if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
      return { structValue: toStruct(value) };
    default:
      throw new TypeError(`cannot send a ${typeof value} as a protobuf Value`);
  }
}

/**
 * Encode a plain object as a google.protobuf.Struct.
 * @param {Record<string, unknown> | null | undefined} object
 * @returns {{fields: Record<string, object>}}
 */
export function toStruct(object) {
  if (object === null || object === undefined) return { fields: {} };
  if (typeof object !== 'object' || Array.isArray(object)) {
    throw new TypeError('props, patches and init params must be plain objects');
  }
  const fields = {};
  for (const [key, value] of Object.entries(object)) {
    if (value !== undefined) fields[key] = toValue(value);
  }
  return { fields };
}

/**
 * Decode a google.protobuf.Value; an unset Value is null.
 * @param {any} value
 * @returns {unknown}
 */
export function fromValue(value) {
  switch (value?.kind) {
    case 'numberValue': return value.numberValue;
    case 'stringValue': return value.stringValue;
    case 'boolValue': return value.boolValue;
    case 'structValue': return fromStruct(value.structValue);
    case 'listValue': return (value.listValue.values ?? []).map(fromValue);
    default: return null;
  }
}

/**
 * Decode a google.protobuf.Struct into a plain object.
 * @param {any} struct
 * @returns {Record<string, unknown>}
 */
export function fromStruct(struct) {
  const object = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) object[key] = fromValue(value);
  return object;
}
