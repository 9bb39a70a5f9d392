// Node.js client for motion-grpc. The motion.v1 protos are loaded at run time
// from the repository's proto/ directory, so there is no generated code to drift.

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fromStruct, fromValue, toStruct } from './value.js';

export { fromStruct, fromValue, toStruct, toValue } from './value.js';

/** The trailing metadata key naming the exception type of a user op that raised. */
export const ERROR_TYPE_METADATA_KEY = 'motion-error-type';

const DEFAULT_PROTO_DIR = fileURLToPath(new URL('../../../proto', import.meta.url));

const LOADER_OPTIONS = {
  keepCase: false,
  longs: Number, // versions and timestamps stay far below 2^53
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

/** A failed call: the gRPC status code and details, and the user op's error type if any. */
export class MotionError extends Error {
  /**
   * @param {import('@grpc/grpc-js').ServiceError} error
   */
  constructor(error) {
    super(error.details || error.message);
    this.name = 'MotionError';
    /** @type {number} gRPC status code (grpc.status). */
    this.code = error.code;
    /** @type {string} */
    this.details = error.details;
    /** @type {string | undefined} Exception type of the user op, from `motion-error-type`. */
    this.errorType = error.metadata?.get(ERROR_TYPE_METADATA_KEY)[0]?.toString();
    this.metadata = error.metadata;
  }
}

/**
 * @typedef {object} CallOptions
 * @property {number} [timeout] Deadline of the call, in milliseconds from now.
 *
 * @typedef {CallOptions & {ignoreCache?: boolean, forceRefresh?: boolean, flushUpdate?: boolean}} RunOptions
 *
 * @typedef {object} UpdateOutcome
 * @property {string} updateId
 * @property {string} flow
 * @property {string} op
 * @property {string} status e.g. 'UPDATE_STATUS_APPLIED'
 * @property {string} errorType
 * @property {string} errorMessage
 * @property {number} version
 *
 * @typedef {object} RunOutcome
 * @property {unknown} result
 * @property {number} version
 * @property {boolean} cached
 * @property {string[]} updateIds
 * @property {UpdateOutcome[]} updateOutcomes
 *
 * @typedef {object} FlushOutcome
 * @property {number} version
 * @property {UpdateOutcome[]} failed
 */

/** A connection to a motion-grpc server. */
export class MotionClient {
  /**
   * @param {string} target e.g. 'localhost:50051'
   * @param {object} [options]
   * @param {import('@grpc/grpc-js').ChannelCredentials} [options.credentials] default: insecure
   * @param {object} [options.channelOptions] grpc-js channel options
   * @param {string} [options.protoDir] directory holding motion/v1/motion.proto
   */
  constructor(target, { credentials, channelOptions, protoDir = DEFAULT_PROTO_DIR } = {}) {
    const definition = protoLoader.loadSync('motion/v1/motion.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir] });
    const { MotionService } = grpc.loadPackageDefinition(definition).motion.v1;
    this.stub = new MotionService(target, credentials ?? grpc.credentials.createInsecure(), channelOptions);
  }

  /**
   * A handle on one instance of one component (created on first use).
   * @param {string} component
   * @param {string} instanceId
   * @param {{initStateParams?: Record<string, unknown>}} [options]
   */
  instance(component, instanceId, options = {}) {
    return new Instance(this, component, instanceId, options.initStateParams);
  }

  /** The hosted components, their flows and update ops. */
  async describe(options = {}) {
    const response = await this.call('DescribeComponents', {}, options);
    return response.components.map((c) => ({ ...c, params: fromStruct(c.params) }));
  }

  /**
   * Wait until the channel is connected.
   * @param {number} [timeout] milliseconds
   */
  ready(timeout = 10_000) {
    return new Promise((resolve, reject) => {
      this.stub.waitForReady(Date.now() + timeout, (error) => (error ? reject(error) : resolve()));
    });
  }

  close() {
    this.stub.close();
  }

  /** @internal Promise-returning unary call whose errors are MotionErrors. */
  call(method, request, { timeout } = {}) {
    const callOptions = timeout == null ? {} : { deadline: Date.now() + timeout };
    return new Promise((resolve, reject) => {
      this.stub[method](request, callOptions, (error, response) =>
        error ? reject(new MotionError(error)) : resolve(response));
    });
  }
}

/** One instance of one component on the server. */
export class Instance {
  /** @param {MotionClient} client */
  constructor(client, component, instanceId, initStateParams) {
    this.client = client;
    this.component = component;
    this.instanceId = instanceId;
    this.ref = { component, instanceId };
    this.initStateParams = initStateParams;
  }

  /**
   * Run a flow and return the serve op's result.
   * @param {string} flow
   * @param {Record<string, unknown>} [props]
   * @param {RunOptions} [options]
   */
  async run(flow, props, options = {}) {
    return (await this.runOutcome(flow, props, options)).result;
  }

  /**
   * Run a flow; the result with its version, cache flag and update ids.
   * @param {string} flow
   * @param {Record<string, unknown>} [props]
   * @param {RunOptions} [options]
   * @returns {Promise<RunOutcome>}
   */
  async runOutcome(flow, props, { ignoreCache, forceRefresh, flushUpdate, ...options } = {}) {
    const request = {
      instance: this.ref,
      flow,
      props: toStruct(props),
      ignoreCache: Boolean(ignoreCache),
      forceRefresh: Boolean(forceRefresh),
      flushUpdate: Boolean(flushUpdate),
    };
    if (this.initStateParams) request.initStateParams = toStruct(this.initStateParams);
    const r = await this.client.call('Run', request, options);
    return { result: fromValue(r.result), version: r.version, cached: r.cached, updateIds: r.updateIds, updateOutcomes: r.updateOutcomes };
  }

  /**
   * The committed state: every key, or the keys asked for.
   * @param {string[]} [keys]
   * @param {CallOptions} [options]
   * @returns {Promise<Record<string, unknown>>}
   */
  async getState(keys = [], options = {}) {
    const response = await this.client.call('GetState', { instance: this.ref, keys }, options);
    return fromStruct(response.state);
  }

  /**
   * The committed state version (1 after init_state, +1 per applied update or write).
   * @param {CallOptions} [options]
   * @returns {Promise<number>}
   */
  async version(options = {}) {
    const response = await this.client.call('GetState', { instance: this.ref, versionOnly: true }, options);
    return response.version;
  }

  /**
   * Wait until every update enqueued so far (of one flow, or all) has ended.
   * @param {string} [flow]
   * @param {CallOptions} [options]
   * @returns {Promise<FlushOutcome>}
   */
  async flush(flow = '', options = {}) {
    const response = await this.client.call('FlushUpdates', { instance: this.ref, flow }, options);
    return { version: response.version, failed: response.failed };
  }

  /**
   * Patch state keys, serialized with the update queue; returns the new version.
   * @param {Record<string, unknown>} patch
   * @param {CallOptions} [options]
   * @returns {Promise<number>}
   */
  async writeState(patch, options = {}) {
    const response = await this.client.call('WriteState', { instance: this.ref, patch: toStruct(patch) }, options);
    return response.version;
  }
}
