package io.motiongrpc.client;

/** A call in progress that can be cancelled. */
@FunctionalInterface
public interface Cancellable {
  /** Cancels the call; a no-op once it has ended. */
  void cancel();
}
