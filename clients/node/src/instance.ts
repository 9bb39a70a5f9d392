// One instance of one component: the data-plane calls, run streams and watches.

import { randomUUID } from 'node:crypto';
import type { CallOptions } from './calls.js';
import type { MotionClient } from './client.js';
import { updateEvent, updateOutcome, value, type Raw } from './decode.js';
import { UpdateFailedError } from './errors.js';
import type { MessageReader } from './stream.js';
import type { FlushOutcome, RunOutcome, UpdateOutcome, WatchItem } from './types.js';
import { fromStruct, toStruct, type JsonObject, type JsonValue } from './values.js';

/** Options of `client.instance(...)`. */
export interface InstanceOptions {
  /** Arguments for init_state, used only when a run creates the instance. */
  initStateParams?: Record<string, unknown>;
}

/** Options of run, runOutcome and runStream. */
export interface RunOptions extends CallOptions {
  /** Recompute the serve result even when a cached one exists. */
  ignoreCache?: boolean;
  /** Wait for the instance's pending updates before serving. */
  forceRefresh?: boolean;
  /** Answer once this run's updates are applied (the outcome then carries their version). */
  flushUpdate?: boolean;
  /** The run's id, kept across retries so its updates are enqueued once; a random UUID by default. */
  requestId?: string;
}

/** Options of watchUpdates. */
export interface WatchOptions extends CallOptions {
  /** Resume after this event id (a `lastEventId`); from now on when absent; '0-0' for the oldest retained event. */
  after?: string;
  /** Only events of these flows. */
  flows?: string[];
  /** Send the committed state with APPLIED events. */
  includeState?: boolean;
  /** Create the instance rather than fail with NOT_FOUND. */
  createIfMissing?: boolean;
}

/** One instance of one component on the server. */
export class Instance {
  readonly ref: { component: string; instanceId: string };

  constructor(
    readonly client: MotionClient,
    readonly component: string,
    readonly instanceId: string,
    private readonly options: InstanceOptions = {},
  ) {
    this.ref = { component, instanceId };
  }

  /**
   * Run a flow and return the serve op's result. With `flushUpdate`, an update it waited for
   * that FAILED rejects with an UpdateFailedError (reason OP_FAILED; DISCARDED is no failure):
   * `runOutcome` reports it among its `updateOutcomes` instead.
   */
  async run(flow: string, props?: Record<string, unknown>, options: RunOptions = {}): Promise<JsonValue> {
    const outcome = await this.runOutcome(flow, props, options);
    const failed = outcome.updateOutcomes.find((update) => update.status === 'FAILED');
    if (failed !== undefined) throw new UpdateFailedError(failed, outcome);
    return outcome.result;
  }

  /** Run a flow: the result with its version, cache flag, update ids and request id. */
  async runOutcome(flow: string, props?: Record<string, unknown>, options: RunOptions = {}): Promise<RunOutcome> {
    const request = this.runRequest(flow, props, options);
    const r = await this.client.unary('Run', request, options);
    return {
      result: value(r.result),
      version: r.version,
      cached: r.cached,
      updateIds: r.updateIds,
      updateOutcomes: (r.updateOutcomes as Raw[]).map(updateOutcome),
      requestId: request.requestId,
      deduplicated: r.deduplicated,
    };
  }

  /**
   * Run a flow whose serve op is a generator: iterate the items as they are
   * produced (`for await`); breaking out of the loop, `cancel()` or the signal
   * cancels the call, which closes the generator on the server and enqueues nothing.
   */
  runStream(flow: string, props?: Record<string, unknown>, options: RunOptions = {}): RunStream {
    const request = this.runRequest(flow, props, options);
    return new RunStream(this.client.serverStream('RunStream', request, options), request.requestId);
  }

  /** The committed state: every key, or the keys asked for. */
  async getState(keys: string[] = [], options: CallOptions = {}): Promise<JsonObject> {
    const response = await this.client.unary('GetState', { instance: this.ref, keys }, options);
    return fromStruct(response.state);
  }

  /** The committed state version (1 after init_state, +1 per applied update or write). */
  async version(options: CallOptions = {}): Promise<number> {
    const response = await this.client.unary('GetState', { instance: this.ref, versionOnly: true }, options);
    return response.version as number;
  }

  /** Wait until every update enqueued so far (of one flow, or all) has ended; honours the deadline. */
  async flushUpdates(options: CallOptions & { flow?: string; sinceUpdateId?: string } = {}): Promise<FlushOutcome> {
    const { flow = '', sinceUpdateId = '', ...callOptions } = options;
    const request = { instance: this.ref, flow, sinceUpdateId };
    const response = await this.client.unary('FlushUpdates', request, callOptions);
    return { version: response.version, failed: (response.failed as Raw[]).map(updateOutcome) };
  }

  /**
   * The instance's update events (and heartbeats), as they happen. Await
   * `watch.ready` before running to be sure no event is missed.
   */
  watchUpdates(options: WatchOptions = {}): Watch {
    const { after = '', flows = [], includeState = false, createIfMissing = false, ...callOptions } = options;
    const request = { instance: this.ref, afterEventId: after, flows, includeState, createIfMissing };
    return new Watch(this.client.serverStream('WatchUpdates', request, callOptions), after);
  }

  /** Patch state keys, serialized with the update queue; returns the new version. */
  async writeState(patch: Record<string, unknown>, options: CallOptions = {}): Promise<number> {
    const response = await this.client.unary('WriteState', { instance: this.ref, patch: toStruct(patch, 'patch') }, options);
    return response.version as number;
  }

  /** Remove the instance: state, queued updates, events and cached results. False when it did not exist. */
  delete(options: CallOptions = {}): Promise<boolean> {
    return this.client.deleteInstance(this.component, this.instanceId, options);
  }

  private runRequest(flow: string, props: Record<string, unknown> | undefined, options: RunOptions) {
    const params = this.options.initStateParams;
    return {
      instance: this.ref,
      flow,
      props: toStruct(props, 'props'),
      ignoreCache: Boolean(options.ignoreCache),
      forceRefresh: Boolean(options.forceRefresh),
      flushUpdate: Boolean(options.flushUpdate),
      requestId: options.requestId ?? randomUUID(),
      initStateParams: params === undefined ? null : toStruct(params, 'initStateParams'),
    };
  }
}

/** The items of a generator serve op, then the run's update ids. */
export class RunStream implements AsyncIterable<JsonValue> {
  /** Set once the stream ended: the update entries this run enqueued. */
  updateIds: string[] | undefined;
  /** The state version the serve op read (with flushUpdate: after this run's updates). */
  version: number | undefined;
  /** With flushUpdate: how each of this run's updates ended. */
  updateOutcomes: UpdateOutcome[] | undefined;
  /** True when the server had already seen requestId. */
  deduplicated = false;

  constructor(
    private readonly reader: MessageReader<Raw>,
    /** The request id the run was sent with. */
    readonly requestId: string,
  ) {}

  /** Cancel the call: the generator is closed on the server and nothing is enqueued. */
  cancel(): void {
    this.reader.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<JsonValue> {
    try {
      for await (const message of this.reader) {
        this.version = message.version;
        if (message.item) yield value(message.item);
        if (message.done) {
          this.updateIds = message.updateIds;
          this.updateOutcomes = (message.updateOutcomes as Raw[]).map(updateOutcome);
          this.deduplicated = message.deduplicated;
        }
      }
    } finally {
      this.reader.cancel(); // a `break` out of the loop lands here; a no-op once the call ended
    }
  }
}

/** An open WatchUpdates call: events and heartbeats, and where to resume. */
export class Watch implements AsyncIterable<WatchItem> {
  /**
   * Resolves with the resume point once the server has answered (its first
   * message is sent when the watch is established): every event after it will
   * be seen. Rejects when the call fails before that.
   */
  readonly ready: Promise<string>;
  /** The id to resume from (`after`) with a new watch: the last event or heartbeat position received. */
  lastEventId: string;

  constructor(
    private readonly reader: MessageReader<Raw>,
    after: string,
  ) {
    this.lastEventId = after;
    this.ready = reader.first.then((message) => {
      if (message === undefined) throw new Error('the watch ended before the server answered');
      return message.progress ? (message.progress.latestEventId as string) : (message.event.eventId as string);
    });
    this.ready.catch(() => {}); // iteration reports the same failure
  }

  /** End the watch. */
  cancel(): void {
    this.reader.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<WatchItem> {
    try {
      for await (const message of this.reader) {
        if (message.event) {
          const event = updateEvent(message.event);
          this.lastEventId = event.eventId;
          yield { type: 'event', event };
        } else if (message.progress) {
          this.lastEventId = message.progress.latestEventId;
          yield { type: 'progress', latestEventId: message.progress.latestEventId };
        }
      }
    } finally {
      this.reader.cancel();
    }
  }
}
