// Raw proto-loader messages -> the client's plain types.

import type { ComponentInfo, UpdateEvent, UpdateOutcome, UpdateStatus } from './types.js';
import { fromStruct, fromValue, type DecodedStruct, type DecodedValue, type JsonValue } from './values.js';

/** A decoded protobuf message: proto-loader fills every field (defaults: true). */
export type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** 'UPDATE_STATUS_APPLIED' -> 'APPLIED'. */
function enumName<T extends string>(value: string, prefix: string): T {
  return (value.startsWith(prefix) ? value.slice(prefix.length) : value) as T;
}

export function updateOutcome(raw: Raw): UpdateOutcome {
  return {
    updateId: raw.updateId,
    flow: raw.flow,
    op: raw.op,
    status: enumName<UpdateStatus>(raw.status, 'UPDATE_STATUS_'),
    errorType: raw.errorType,
    errorMessage: raw.errorMessage,
    version: raw.version,
  };
}

export function updateEvent(raw: Raw): UpdateEvent {
  const event: UpdateEvent = {
    eventId: raw.eventId,
    updateId: raw.updateId,
    flow: raw.flow,
    op: raw.op,
    status: enumName<UpdateStatus>(raw.status, 'UPDATE_STATUS_'),
    version: raw.version,
    errorType: raw.errorType,
    errorMessage: raw.errorMessage,
    enqueuedAtMs: raw.enqueuedAtMs,
    atMs: raw.atMs,
    attempt: raw.attempt,
  };
  if (raw.state) {
    event.state = fromStruct(raw.state as DecodedStruct);
    event.stateVersion = raw.stateVersion;
  }
  return event;
}

export function componentInfo(raw: Raw): ComponentInfo {
  return {
    name: raw.name,
    params: fromStruct(raw.params as DecodedStruct),
    cacheTtl: raw.cacheTtl,
    flows: (raw.flows as Raw[]).map((flow) => ({
      key: flow.key,
      serveOp: flow.serveOp,
      serveIsGenerator: flow.serveIsGenerator,
      updateOps: (flow.updateOps as Raw[]).map((op) => ({
        name: op.name,
        discardPolicy: enumName(op.discardPolicy, 'DISCARD_POLICY_'),
        discardAfter: op.discardAfter,
        batchSize: op.batchSize,
      })),
    })),
  };
}

export function value(raw: unknown): JsonValue {
  return fromValue(raw as DecodedValue | null);
}
