// What the client returns: plain objects in camelCase, numbers for versions.

import type { JsonObject, JsonValue } from './values.js';

/** The life cycle of one update entry. */
export type UpdateStatus = 'UNSPECIFIED' | 'QUEUED' | 'RUNNING' | 'APPLIED' | 'FAILED' | 'DISCARDED';

/** How one update entry ended. */
export interface UpdateOutcome {
  updateId: string;
  flow: string;
  op: string;
  status: UpdateStatus;
  /** FAILED: the exception type; DISCARDED: the reason ('expired', 'superseded'). */
  errorType: string;
  errorMessage: string;
  /** The state version after this update. */
  version: number;
}

/** A Run's answer. */
export interface RunOutcome {
  /** The serve op's result. */
  result: JsonValue;
  /** The state version the result was computed from (with flushUpdate: after this run's updates). */
  version: number;
  /** True when the result came from the serve cache. */
  cached: boolean;
  /** The update entries this run enqueued, one per update op. */
  updateIds: string[];
  /** With flushUpdate: how each of them ended. */
  updateOutcomes: UpdateOutcome[];
  /** The request id the run was sent with (a retry with it enqueues nothing twice). */
  requestId: string;
  /** True when the server had already seen requestId: nothing was enqueued, updateIds are the first call's. */
  deduplicated: boolean;
}

/** What FlushUpdates reports. */
export interface FlushOutcome {
  /** The state version once every awaited update ended. */
  version: number;
  /** The updates that ended FAILED or DISCARDED. */
  failed: UpdateOutcome[];
}

/** One status change of one update entry. */
export interface UpdateEvent {
  /** Monotonic per instance; pass it as `after` to resume a watch. */
  eventId: string;
  updateId: string;
  flow: string;
  op: string;
  status: UpdateStatus;
  version: number;
  errorType: string;
  errorMessage: string;
  enqueuedAtMs: number;
  atMs: number;
  attempt: number;
  /** APPLIED with includeState: the committed state at `stateVersion`. */
  state?: JsonObject;
  stateVersion?: number;
}

/** One item of a watch: an event, or a heartbeat saying how far the history goes. */
export type WatchItem =
  | { type: 'event'; event: UpdateEvent }
  | { type: 'progress'; latestEventId: string };

/** One hosted component. */
export interface ComponentInfo {
  name: string;
  params: JsonObject;
  /** Serve-result cache lifetime in seconds; 0 disables the cache. */
  cacheTtl: number;
  flows: FlowInfo[];
}

/** One flow of a component. */
export interface FlowInfo {
  key: string;
  serveOp: string;
  /** True when the serve op is a generator: read it with runStream. */
  serveIsGenerator: boolean;
  updateOps: UpdateOpInfo[];
}

/** One update op of a flow. */
export interface UpdateOpInfo {
  name: string;
  discardPolicy: 'UNSPECIFIED' | 'NONE' | 'NUM_NEW_UPDATES' | 'SECONDS';
  discardAfter: number;
  batchSize: number;
}

/** One page of instance ids. */
export interface InstancePage {
  instanceIds: string[];
  /** Pass as pageToken for the next page; '' on the last page. */
  nextPageToken: string;
}
