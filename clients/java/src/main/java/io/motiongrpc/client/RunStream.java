package io.motiongrpc.client;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import io.motiongrpc.client.Instance.RunOutcome;
import io.motiongrpc.v1.RunRequest;
import io.motiongrpc.v1.RunStreamResponse;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * A RunStream call in progress: the items of a generator serve op, as it yields them. Iterating
 * blocks for the next item and throws {@link MotionException} when the call fails; {@link #close}
 * cancels the call (use try-with-resources).
 */
public final class RunStream implements Iterator<Object>, Iterable<Object>, AutoCloseable {
  private final Context.CancellableContext context = Context.current().withCancellation();
  private final OpenCalls openCalls;
  private final Iterator<RunStreamResponse> messages;
  private final OpenCalls.Call registration = this::endByClose;
  private volatile boolean endedByClose;
  private Object next;
  private boolean ready;
  private RunOutcome outcome;

  RunStream(Stubs stubs, RunRequest request) {
    openCalls = stubs.openCalls();
    if (!openCalls.add(registration)) throw OpenCalls.closedError();
    Context previous = context.attach();
    try {
      messages = Stubs.call(() -> stubs.blocking().runStream(request));
    } catch (RuntimeException e) {
      openCalls.remove(registration);
      throw e;
    } finally {
      context.detach(previous);
    }
  }

  /**
   * Whether an item is there; blocks until one arrives or the stream ends. Throws {@link
   * MotionException} when the call fails (CANCELLED once its client is closed).
   */
  @Override
  public boolean hasNext() {
    if (endedByClose) throw OpenCalls.closedError();
    try {
      while (!ready && outcome == null) {
        boolean more = Stubs.call(messages::hasNext);
        if (endedByClose) throw OpenCalls.closedError();
        if (!more) {
          throw new MotionException(Status.INTERNAL.withDescription("RunStream ended without its done message")
              .asRuntimeException());
        }
        RunStreamResponse message = messages.next();
        if (message.getDone()) outcome = outcome(message);
        if (message.hasItem()) {
          next = Values.fromValue(message.getItem());
          ready = true;
        }
      }
      if (!ready) {
        Stubs.call(messages::hasNext); // reads the end of the call, which releases it
        openCalls.remove(registration);
      }
      return ready;
    } catch (RuntimeException e) {
      openCalls.remove(registration);
      if (endedByClose) throw OpenCalls.closedError();
      throw e;
    }
  }

  @Override
  public Object next() {
    if (!hasNext()) throw new NoSuchElementException();
    ready = false;
    return next;
  }

  /** This stream, for a for-each loop; it can be iterated once. */
  @Override
  public Iterator<Object> iterator() {
    return this;
  }

  /** The version, update ids and (with FLUSH_UPDATE) outcomes of the final message; null before the end. */
  public RunOutcome outcome() {
    return outcome;
  }

  /** Cancels the call if it is still running. */
  @Override
  public void close() {
    context.cancel(null);
    openCalls.remove(registration);
  }

  /** The client was closed: cancels the call, and makes every later read throw CANCELLED. */
  private void endByClose() {
    endedByClose = true;
    context.cancel(null);
  }

  private static RunOutcome outcome(RunStreamResponse done) {
    return new RunOutcome(null, done.getVersion(), false, done.getUpdateIdsList(), done.getUpdateOutcomesList(),
        done.getDeduplicated());
  }

  static Cancellable observe(Stubs stubs, RunRequest request, StreamObserver<Object> observer) {
    Forwarder<RunRequest, RunStreamResponse> forwarder = new Forwarder<>(stubs.openCalls(), observer, message ->
        message.hasItem() ? Values.fromValue(message.getItem()) : null);
    return forwarder.start(() -> stubs.async().runStream(request, forwarder));
  }

  /**
   * Forwards a call's messages, converted (null: nothing to forward), and its end to an observer.
   * Once the client is closed nothing more reaches the observer: close delivers its onError
   * (CANCELLED) itself, after any callback in progress, and cancels the call.
   */
  static final class Forwarder<Req, Resp> implements ClientResponseObserver<Req, Resp>, Cancellable, OpenCalls.Call {
    private final OpenCalls openCalls;
    private final StreamObserver<Object> observer;
    private final java.util.function.Function<Resp, Object> convert;
    private volatile ClientCallStreamObserver<Req> call;
    private boolean started; // guarded by this
    private boolean ended; // guarded by this: the observer had its last callback

    @SuppressWarnings("unchecked")
    <T> Forwarder(
        OpenCalls openCalls, StreamObserver<T> observer, java.util.function.Function<Resp, T> convert) {
      this.openCalls = openCalls;
      this.observer = (StreamObserver<Object>) observer;
      this.convert = (java.util.function.Function<Resp, Object>) convert;
    }

    /** Starts the call with startCall (which gives it this forwarder), unless the client is closed. */
    Forwarder<Req, Resp> start(Runnable startCall) {
      if (!openCalls.add(this)) {
        endByClose();
        return this;
      }
      startCall.run();
      boolean cancel;
      synchronized (this) {
        started = true;
        cancel = ended && call != null; // closed while starting
      }
      if (cancel) call.cancel("the client was closed", null);
      return this;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<Req> requestStream) {
      call = requestStream;
    }

    @Override
    public void onNext(Resp message) {
      synchronized (this) {
        if (ended) return;
        Object converted = convert.apply(message);
        if (converted != null) observer.onNext(converted);
      }
    }

    @Override
    public void onError(Throwable failure) {
      synchronized (this) {
        if (ended) return;
        ended = true;
        observer.onError(MotionException.of(failure));
      }
      openCalls.remove(this);
    }

    @Override
    public void onCompleted() {
      synchronized (this) {
        if (ended) return;
        ended = true;
        observer.onCompleted();
      }
      openCalls.remove(this);
    }

    @Override
    public void cancel() {
      ClientCallStreamObserver<Req> started = call;
      if (started != null) started.cancel("cancelled by the client", null);
    }

    @Override
    public void endByClose() {
      boolean cancel;
      synchronized (this) {
        if (!ended) {
          ended = true;
          observer.onError(OpenCalls.closedError());
        }
        cancel = started && call != null;
      }
      if (cancel) call.cancel("the client was closed", null);
    }
  }
}
