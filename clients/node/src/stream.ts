// Server-streaming calls as async iterators: messages are buffered from the
// moment the call starts (so nothing is missed before the first next()),
// with backpressure, and leaving the loop early cancels the call.

import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { callError, cancelOnAbort } from './calls.js';

const HIGH_WATER_MARK = 64;

/** The messages of one server-streaming call. */
export class MessageReader<T> implements AsyncIterableIterator<T> {
  private readonly buffered: T[] = [];
  private ended = false;
  private failure: unknown = undefined;
  private cancelled = false;
  private wake: (() => void) | undefined;
  private readonly stopListening: () => void;
  private settleFirst: { resolve: (message: T | undefined) => void; reject: (error: unknown) => void } | undefined;
  /** Resolves with the first message, or undefined when the call ends without one; rejects when it fails first. */
  readonly first: Promise<T | undefined>;

  /**
   * @param onEnd called once, when the call has ended (however it ended)
   */
  constructor(
    private readonly call: ClientReadableStream<T>,
    signal: AbortSignal | undefined,
    private readonly onEnd: () => void = () => {},
  ) {
    this.first = new Promise((resolve, reject) => (this.settleFirst = { resolve, reject }));
    this.first.catch(() => {}); // its failure is also thrown by next(): not unhandled
    call.on('data', (message: T) => {
      this.settleFirst?.resolve(message);
      this.buffered.push(message);
      if (this.buffered.length >= HIGH_WATER_MARK) call.pause();
      this.notify();
    });
    call.on('end', () => this.finish(undefined));
    call.on('error', (error: ServiceError) => {
      this.finish(this.cancelled && !signal?.aborted ? undefined : callError(error, signal));
    });
    this.stopListening = cancelOnAbort(call, signal);
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      const message = this.buffered.shift();
      if (message !== undefined) {
        if (this.buffered.length < HIGH_WATER_MARK / 2) this.call.resume();
        return { value: message, done: false };
      }
      if (this.failure !== undefined) throw this.failure;
      if (this.ended) return { value: undefined, done: true };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Stop reading: cancels the call if it is still going (a `break` out of `for await` calls this). */
  async return(): Promise<IteratorResult<T>> {
    this.cancel();
    return { value: undefined, done: true };
  }

  /** Cancel the call; iteration ends after the messages already received are dropped. */
  cancel(): void {
    this.stop(undefined);
  }

  /** Cancel the call and drop what was received; iteration (and `first`, if pending) fails with `failure`. */
  abort(failure: unknown): void {
    this.stop(failure);
  }

  private stop(failure: unknown): void {
    if (!this.ended) {
      this.cancelled = true;
      this.call.cancel();
    }
    this.buffered.length = 0;
    this.finish(failure);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(failure: unknown): void {
    if (!this.ended) {
      this.ended = true;
      this.failure = failure;
      this.stopListening();
      if (failure === undefined) this.settleFirst?.resolve(undefined);
      else this.settleFirst?.reject(failure);
      this.onEnd();
    }
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
