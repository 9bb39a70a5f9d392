package io.motiongrpc.client;

import io.grpc.Status;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The streaming calls of one client still open (watches, RunStreams, their observed forms), so that
 * {@link MotionClient#close} can end them at once: nothing of theirs is delivered after it returns.
 */
final class OpenCalls {
  /** An open streaming call. */
  interface Call {
    /** Cancels the call and stops delivering its messages; idempotent. */
    void endByClose();
  }

  private final Set<Call> open = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;

  /** Registers call; false (and nothing registered) once the client is closed. */
  boolean add(Call call) {
    open.add(call);
    if (closed) {
      open.remove(call);
      return false;
    }
    return true;
  }

  void remove(Call call) {
    open.remove(call);
  }

  boolean closed() {
    return closed;
  }

  /** Marks the client closed and ends every call open. */
  void closeAll() {
    closed = true;
    for (Call call : open) {
      open.remove(call);
      call.endByClose();
    }
  }

  /** The error of a call the client's close ended. */
  static MotionException closedError() {
    return new MotionException(Status.CANCELLED.withDescription("the client was closed").asRuntimeException());
  }
}
