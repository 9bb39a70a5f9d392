// Failed calls as one error class: the gRPC code, the reason the server gives
// in a google.rpc.Status detail (ErrorInfo), and a user op's exception type.

import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { RunOutcome, UpdateOutcome } from './types.js';

/** Trailing metadata key naming the exception type of a user op that raised. */
export const ERROR_TYPE_METADATA_KEY = 'motion-error-type';
/** Trailing metadata key carrying a serialized google.rpc.Status with details. */
export const STATUS_DETAILS_METADATA_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';
/** The ErrorInfo domain of motion-grpc's reasons. */
const DOMAIN = 'motion-grpc';

// The two google.rpc messages needed, declared here so no extra .proto ships.
const rpc = protobuf.Root.fromJSON({
  nested: {
    rpc: {
      nested: {
        Any: { fields: { typeUrl: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
        Status: {
          fields: {
            code: { type: 'int32', id: 1 },
            message: { type: 'string', id: 2 },
            details: { rule: 'repeated', type: 'Any', id: 3 },
          },
        },
        ErrorInfo: {
          fields: {
            reason: { type: 'string', id: 1 },
            domain: { type: 'string', id: 2 },
            metadata: { keyType: 'string', type: 'string', id: 3 } as protobuf.IField,
          },
        },
      },
    },
  },
});
const StatusType = rpc.lookupType('rpc.Status');
const ErrorInfoType = rpc.lookupType('rpc.ErrorInfo');

/** The google.rpc.ErrorInfo detail of a failed call. */
export interface ErrorInfo {
  /** e.g. 'FLOW_NOT_FOUND', 'QUEUE_FULL', 'OP_FAILED'. */
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

/** A failed call. */
export class MotionError extends Error {
  /** gRPC status code (`status` of @grpc/grpc-js). */
  readonly code: status;
  /** The server's message, saying what to fix. */
  readonly details: string;
  /** The ErrorInfo reason of the google.rpc.Status details; '' when the status carries none. */
  readonly reason: string;
  /** The whole ErrorInfo detail, when the server sent one. */
  readonly errorInfo: ErrorInfo | undefined;
  /** Exception type of the user op that raised (the `motion-error-type` trailer). */
  readonly errorType: string | undefined;
  /** Trailing metadata of the call. */
  readonly metadata: Metadata;

  /**
   * @param error the failed call's status
   * @param errorInfo its ErrorInfo; read from the `grpc-status-details-bin` trailer by default
   */
  constructor(error: Partial<ServiceError> & { code: status }, errorInfo?: ErrorInfo) {
    const details = error.details ?? error.message ?? '';
    super(details || `gRPC status ${status[error.code] ?? error.code}`);
    this.name = 'MotionError';
    this.code = error.code;
    this.details = details;
    this.metadata = error.metadata ?? new Metadata();
    this.errorInfo = errorInfo ?? decodeErrorInfo(this.metadata);
    this.reason = this.errorInfo?.reason ?? '';
    this.errorType = firstString(this.metadata, ERROR_TYPE_METADATA_KEY) ?? this.errorInfo?.metadata.error_type;
  }

  /** The code's name, e.g. 'NOT_FOUND'. */
  get codeName(): string {
    return status[this.code] ?? String(this.code);
  }
}

/**
 * A run with `flushUpdate` whose answer says an update it waited for FAILED (the run itself
 * took effect: `runOutcome` is its answer). Code UNKNOWN, reason OP_FAILED, `errorType` the
 * exception type of the update op, as the Python client's UpdateFailedError.
 */
export class UpdateFailedError extends MotionError {
  /** The failed update. */
  readonly outcome: UpdateOutcome;
  /** The run's whole answer: its result, version and every update outcome. */
  readonly runOutcome: RunOutcome;

  constructor(outcome: UpdateOutcome, runOutcome: RunOutcome) {
    const details = `update op ${outcome.op} of flow ${outcome.flow} failed: ${outcome.errorType}: ${outcome.errorMessage}`;
    super(
      { code: status.UNKNOWN, details },
      { reason: 'OP_FAILED', domain: DOMAIN, metadata: { error_type: outcome.errorType } },
    );
    this.name = 'UpdateFailedError';
    this.outcome = outcome;
    this.runOutcome = runOutcome;
  }
}

function firstString(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return value === undefined ? undefined : value.toString();
}

/** The ErrorInfo in a `grpc-status-details-bin` trailer; undefined when absent or unreadable. */
export function decodeErrorInfo(metadata: Metadata): ErrorInfo | undefined {
  const bytes = metadata.get(STATUS_DETAILS_METADATA_KEY)[0];
  if (!(bytes instanceof Uint8Array)) return undefined;
  try {
    const decoded = StatusType.toObject(StatusType.decode(bytes), { defaults: true }) as {
      details: { typeUrl: string; value: Uint8Array }[];
    };
    const detail = decoded.details.find((any) => any.typeUrl === ERROR_INFO_TYPE_URL);
    if (detail === undefined) return undefined;
    return ErrorInfoType.toObject(ErrorInfoType.decode(detail.value), { defaults: true }) as ErrorInfo;
  } catch {
    return undefined; // a malformed trailer must not hide the status itself
  }
}

/** Encode a google.rpc.Status carrying one ErrorInfo (what a server sends; used by tests). */
export function encodeStatusDetails(code: status, message: string, info: ErrorInfo): Buffer {
  const value = ErrorInfoType.encode(ErrorInfoType.fromObject(info)).finish();
  const details = [{ typeUrl: ERROR_INFO_TYPE_URL, value }];
  return Buffer.from(StatusType.encode(StatusType.fromObject({ code, message, details })).finish());
}
