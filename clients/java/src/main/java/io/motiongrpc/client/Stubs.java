package io.motiongrpc.client;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import io.grpc.StatusRuntimeException;
import io.motiongrpc.v1.MotionServiceGrpc;
import io.motiongrpc.v1.MotionServiceGrpc.MotionServiceBlockingStub;
import io.motiongrpc.v1.MotionServiceGrpc.MotionServiceFutureStub;
import io.motiongrpc.v1.MotionServiceGrpc.MotionServiceStub;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/** The three generated stubs of one channel, each with the same deadline per call. */
final class Stubs {
  private final io.grpc.Channel channel;
  private final Duration timeout;
  private final OpenCalls openCalls;

  Stubs(io.grpc.Channel channel, Duration timeout, OpenCalls openCalls) {
    this.channel = channel;
    this.timeout = timeout;
    this.openCalls = openCalls;
  }

  Stubs withTimeout(Duration timeout) {
    return new Stubs(channel, timeout, openCalls);
  }

  /** The client's streaming calls still open, which its close ends. */
  OpenCalls openCalls() {
    return openCalls;
  }

  MotionServiceBlockingStub blocking() {
    MotionServiceBlockingStub stub = MotionServiceGrpc.newBlockingStub(channel);
    return timeout == null ? stub : stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  MotionServiceFutureStub future() {
    MotionServiceFutureStub stub = MotionServiceGrpc.newFutureStub(channel);
    return timeout == null ? stub : stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  MotionServiceStub async() {
    MotionServiceStub stub = MotionServiceGrpc.newStub(channel);
    return timeout == null ? stub : stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Runs a blocking call, turning its failure into a MotionException. */
  static <T> T call(Supplier<T> rpc) {
    try {
      return rpc.get();
    } catch (StatusRuntimeException e) {
      throw new MotionException(e);
    }
  }

  /** A CompletableFuture of a gRPC future, failing with a MotionException; cancelling it cancels the call. */
  static <T> CompletableFuture<T> future(ListenableFuture<T> call) {
    CompletableFuture<T> result = new CompletableFuture<>() {
      @Override
      public boolean cancel(boolean mayInterruptIfRunning) {
        call.cancel(mayInterruptIfRunning);
        return super.cancel(mayInterruptIfRunning);
      }
    };
    Futures.addCallback(call, new FutureCallback<T>() {
      @Override
      public void onSuccess(T value) {
        result.complete(value);
      }

      @Override
      public void onFailure(Throwable failure) {
        result.completeExceptionally(MotionException.of(failure));
      }
    }, MoreExecutors.directExecutor());
    return result;
  }
}
