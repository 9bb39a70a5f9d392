// The connection: loads the shipped motion.v1 proto, sets up TLS, the API key
// and the published retry service config, and makes every call.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { callError, cancelOnAbort, prepareCall, type CallDefaults, type CallOptions } from './calls.js';
import { componentInfo, type Raw } from './decode.js';
import { MotionError } from './errors.js';
import { Instance, type InstanceOptions } from './instance.js';
import { MessageReader } from './stream.js';
import type { ComponentInfo, InstancePage } from './types.js';

/** The shipped protos: motion/v1/motion.proto and motion/v1/service_config.json. */
export const PROTO_DIR = fileURLToPath(new URL('../proto', import.meta.url));
const SERVICE = 'motion.v1.MotionService';

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number, // versions and timestamps stay far below 2^53
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let service: grpc.ServiceDefinition | undefined;

function motionService(): grpc.ServiceDefinition {
  service ??= protoLoader.loadSync('motion/v1/motion.proto', LOADER_OPTIONS)[SERVICE] as grpc.ServiceDefinition;
  return service;
}

/** The largest response a client takes unless its channelOptions say otherwise. */
export const MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

/** The retry policies motion-grpc publishes (proto/motion/v1/service_config.json). */
export function defaultServiceConfig(): object {
  return JSON.parse(readFileSync(`${PROTO_DIR}/motion/v1/service_config.json`, 'utf8')) as object;
}

/** TLS settings: PEM contents (not paths). `cert` and `key` together make it mTLS. */
export interface TlsOptions {
  /** CA certificates to trust; the system's roots when absent. */
  ca?: string | Buffer;
  /** Client certificate chain, for mTLS. */
  cert?: string | Buffer;
  /** Client private key, for mTLS. */
  key?: string | Buffer;
  /** The name the server's certificate must carry, when it differs from the target's host. */
  serverName?: string;
}

/** How to reach a server. */
export interface ClientOptions {
  /** TLS (`true`: the system's roots) or mTLS; plaintext when absent. Ignored when `credentials` is given. */
  tls?: boolean | TlsOptions;
  /** grpc-js channel credentials, for anything `tls` cannot say. */
  credentials?: grpc.ChannelCredentials;
  /** Sent on every call as `authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** A gRPC service config; the published retry policies by default, `null` for none. */
  serviceConfig?: object | null;
  /** Deadline of every call that sets none, in milliseconds. */
  defaultTimeoutMs?: number;
  /** More grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
}

/** A connection to a motion-grpc server. */
export class MotionClient {
  /** The underlying grpc-js client, for what this API does not cover. */
  readonly grpcClient: grpc.Client;
  private readonly defaults: CallDefaults;
  /** The calls started and not yet ended, which close() cancels. */
  private readonly inFlight = new Set<{ abort(failure: MotionError): void }>();

  /** @param target e.g. 'localhost:50051' */
  constructor(target: string, options: ClientOptions = {}) {
    if (options.apiKey !== undefined && !/^[\x21-\x7e]+$/.test(options.apiKey)) {
      throw new TypeError('apiKey must be printable ASCII without spaces');
    }
    // Above the server's --max-message-bytes (8 MiB by default): a large answer or state is never
    // refused here after its run took effect. The caller's channelOptions win.
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
      ...options.channelOptions,
    };
    const serviceConfig = options.serviceConfig === undefined ? defaultServiceConfig() : options.serviceConfig;
    if (serviceConfig !== null) channelOptions['grpc.service_config'] = JSON.stringify(serviceConfig);
    if (typeof options.tls === 'object' && options.tls.serverName !== undefined) {
      channelOptions['grpc.ssl_target_name_override'] = options.tls.serverName;
      channelOptions['grpc.default_authority'] = options.tls.serverName;
    }
    const credentials = options.credentials ?? channelCredentials(options.tls);
    this.grpcClient = new grpc.Client(target, credentials, channelOptions);
    this.defaults = { apiKey: options.apiKey, timeoutMs: options.defaultTimeoutMs };
  }

  /** A handle on one instance of one component (created on first use). */
  instance(component: string, instanceId: string, options: InstanceOptions = {}): Instance {
    return new Instance(this, component, instanceId, options);
  }

  /** The hosted components, their flows and update ops. */
  async describeComponents(options: CallOptions = {}): Promise<ComponentInfo[]> {
    const response = await this.unary('DescribeComponents', {}, options);
    return (response.components as Raw[]).map(componentInfo);
  }

  /** One page of a component's instance ids. */
  async listInstancesPage(
    component: string,
    options: CallOptions & { pageSize?: number; pageToken?: string } = {},
  ): Promise<InstancePage> {
    const { pageSize = 0, pageToken = '', ...callOptions } = options;
    const response = await this.unary('ListInstances', { component, pageSize, pageToken }, callOptions);
    return { instanceIds: response.instanceIds, nextPageToken: response.nextPageToken };
  }

  /** Every instance id of a component, fetching pages as the loop asks for them. */
  async *listInstances(component: string, options: CallOptions & { pageSize?: number } = {}): AsyncGenerator<string> {
    let pageToken = '';
    do {
      const page = await this.listInstancesPage(component, { ...options, pageToken });
      yield* page.instanceIds;
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
  }

  /** Remove an instance; false when it did not exist. */
  async deleteInstance(component: string, instanceId: string, options: CallOptions = {}): Promise<boolean> {
    const response = await this.unary('DeleteInstance', { instance: { component, instanceId } }, options);
    return response.deleted as boolean;
  }

  /** Wait until the channel is connected (by default for 10 s). */
  waitForReady(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    return new Promise((resolve, reject) =>
      this.grpcClient.waitForReady(deadline, (error) => (error ? reject(error) : resolve())),
    );
  }

  /**
   * Close the channel; calls in flight are cancelled: unary calls reject, and watches and run
   * streams end their iteration, with a MotionError CANCELLED ('the client was closed').
   */
  close(): void {
    const calls = [...this.inFlight];
    this.inFlight.clear();
    for (const call of calls) call.abort(new MotionError({ code: grpc.status.CANCELLED, details: 'the client was closed' }));
    this.grpcClient.close();
  }

  /** @internal A unary call whose failures are MotionErrors (or the signal's reason). */
  unary(method: string, request: object, options: CallOptions): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const args = this.callArguments(method, request, options); // throws before any call starts
      let stopListening = (): void => {};
      const entry = {
        abort: (failure: MotionError): void => {
          reject(failure); // first: the cancellation's own CANCELLED then changes nothing
          call.cancel();
        },
      };
      const call = this.grpcClient.makeUnaryRequest(...args, (error, response) => {
        stopListening();
        this.inFlight.delete(entry);
        if (error) reject(callError(error, options.signal));
        else resolve(response as Raw);
      });
      this.inFlight.add(entry);
      stopListening = cancelOnAbort(call, options.signal);
    });
  }

  /** @internal A server-streaming call, read as an async iterator. */
  serverStream(method: string, request: object, options: CallOptions): MessageReader<Raw> {
    const call = this.grpcClient.makeServerStreamRequest(...this.callArguments(method, request, options));
    const reader: MessageReader<Raw> = new MessageReader(call, options.signal, () => this.inFlight.delete(reader));
    this.inFlight.add(reader);
    return reader;
  }

  /**
   * What grpc-js needs to start a call of `method`: path, codecs, the request already
   * serialized, metadata and options. A request that cannot be serialized throws a TypeError
   * here, before any call exists (grpc-js would fail the call INTERNAL, but still open a stream
   * for it that keeps the connection, and so the process, alive after close()).
   */
  private callArguments(method: string, request: object, options: CallOptions) {
    const { path, requestSerialize, responseDeserialize } = motionService()[method];
    const [metadata, callOptions] = prepareCall(options, this.defaults);
    let bytes: Buffer;
    try {
      bytes = requestSerialize(request);
    } catch (error) {
      throw new TypeError(`cannot encode the ${method} request: ${(error as Error)?.message ?? error}`, { cause: error });
    }
    return [path, passBytes, responseDeserialize as (bytes: Buffer) => Raw, bytes, metadata, callOptions] as const;
  }
}

/** The serializer of a request serialized beforehand. */
const passBytes = (bytes: Buffer): Buffer => bytes;

function channelCredentials(tls: boolean | TlsOptions | undefined): grpc.ChannelCredentials {
  if (tls === undefined || tls === false) return grpc.credentials.createInsecure();
  if (tls === true) return grpc.credentials.createSsl();
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TypeError('tls.cert and tls.key go together (both for mTLS, neither for TLS)');
  }
  const pem = (value: string | Buffer | undefined): Buffer | null => (value === undefined ? null : Buffer.from(value));
  return grpc.credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
}
