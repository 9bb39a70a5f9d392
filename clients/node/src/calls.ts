// One place that turns a call's options into gRPC deadlines, metadata and
// cancellation, and its failures into MotionErrors.

import { Metadata, status, type CallOptions as GrpcCallOptions, type ServiceError } from '@grpc/grpc-js';
import { MotionError } from './errors.js';

/** Options every call takes. */
export interface CallOptions {
  /** Deadline of the call, in milliseconds from now. */
  timeoutMs?: number;
  /** Deadline of the call, as a Date or epoch milliseconds (the earlier of the two wins). */
  deadline?: Date | number;
  /** Aborting it cancels the call; the call then rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Extra request metadata. */
  metadata?: Metadata;
}

/** What the client adds to every call. */
export interface CallDefaults {
  timeoutMs?: number;
  apiKey?: string;
}

/** The gRPC options and metadata of one call. */
export function prepareCall(options: CallOptions, defaults: CallDefaults): [Metadata, GrpcCallOptions] {
  const metadata = options.metadata?.clone() ?? new Metadata();
  if (defaults.apiKey !== undefined) metadata.set('authorization', `Bearer ${defaults.apiKey}`);
  const deadline = deadlineOf(options, defaults);
  return [metadata, deadline === undefined ? {} : { deadline }];
}

function deadlineOf(options: CallOptions, defaults: CallDefaults): number | undefined {
  const timeoutMs = options.timeoutMs ?? (options.deadline === undefined ? defaults.timeoutMs : undefined);
  const candidates: number[] = [];
  if (timeoutMs !== undefined) candidates.push(Date.now() + checkedTimeout(timeoutMs));
  if (options.deadline !== undefined) candidates.push(Number(options.deadline));
  return candidates.length === 0 ? undefined : Math.min(...candidates);
}

function checkedTimeout(timeoutMs: number): number {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new TypeError(`timeoutMs must be a finite number of milliseconds >= 0, not ${timeoutMs}`);
  }
  return timeoutMs;
}

/** A call in flight that can be cancelled. */
interface Cancellable {
  cancel(): void;
}

/**
 * Cancel `call` when `signal` aborts; returns the function that stops listening.
 * A signal already aborted cancels at once.
 */
export function cancelOnAbort(call: Cancellable, signal: AbortSignal | undefined): () => void {
  if (signal === undefined) return () => {};
  if (signal.aborted) {
    call.cancel();
    return () => {};
  }
  const onAbort = (): void => call.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/** The error a failed call rejects with: the signal's reason when it was aborted, else a MotionError. */
export function callError(error: ServiceError, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted && error.code === status.CANCELLED) return signal.reason;
  return new MotionError(error);
}
