// Node.js client for motion-grpc: the motion.v1 API over @grpc/grpc-js.

export type { CallOptions } from './calls.js';
export { MotionClient, PROTO_DIR, defaultServiceConfig, type ClientOptions, type TlsOptions } from './client.js';
export { ERROR_TYPE_METADATA_KEY, MotionError, UpdateFailedError, decodeErrorInfo, type ErrorInfo } from './errors.js';
export { Instance, RunStream, Watch, type InstanceOptions, type RunOptions, type WatchOptions } from './instance.js';
export type * from './types.js';
export { fromStruct, fromValue, toStruct, toValue, type JsonObject, type JsonValue } from './values.js';
export { status } from '@grpc/grpc-js';
