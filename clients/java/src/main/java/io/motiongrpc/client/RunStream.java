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
  private final Iterator<RunStreamResponse> messages;
  private Object next;
  private boolean ready;
  private RunOutcome outcome;

  RunStream(Stubs stubs, RunRequest request) {
    Context previous = context.attach();
    try {
      messages = Stubs.call(() -> stubs.blocking().runStream(request));
    } finally {
      context.detach(previous);
    }
  }

  @Override
  public boolean hasNext() {
    while (!ready && outcome == null) {
      if (!Stubs.call(messages::hasNext)) {
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
    if (!ready) Stubs.call(messages::hasNext); // reads the end of the call, which releases it
    return ready;
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
  }

  private static RunOutcome outcome(RunStreamResponse done) {
    return new RunOutcome(null, done.getVersion(), false, done.getUpdateIdsList(), done.getUpdateOutcomesList(),
        done.getDeduplicated());
  }

  static Cancellable observe(Stubs stubs, RunRequest request, StreamObserver<Object> observer) {
    Forwarder<RunRequest, RunStreamResponse> forwarder = new Forwarder<>(observer, message ->
        message.hasItem() ? Values.fromValue(message.getItem()) : null);
    stubs.async().runStream(request, forwarder);
    return forwarder;
  }

  /** Forwards a call's messages, converted (null: nothing to forward), and its end to an observer. */
  static final class Forwarder<Req, Resp> implements ClientResponseObserver<Req, Resp>, Cancellable {
    private final StreamObserver<Object> observer;
    private final java.util.function.Function<Resp, Object> convert;
    private ClientCallStreamObserver<Req> call;

    @SuppressWarnings("unchecked")
    <T> Forwarder(StreamObserver<T> observer, java.util.function.Function<Resp, T> convert) {
      this.observer = (StreamObserver<Object>) observer;
      this.convert = (java.util.function.Function<Resp, Object>) convert;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<Req> requestStream) {
      call = requestStream;
    }

    @Override
    public void onNext(Resp message) {
      Object converted = convert.apply(message);
      if (converted != null) observer.onNext(converted);
    }

    @Override
    public void onError(Throwable failure) {
      observer.onError(MotionException.of(failure));
    }

    @Override
    public void onCompleted() {
      observer.onCompleted();
    }

    @Override
    public void cancel() {
      call.cancel("cancelled by the client", null);
    }
  }
}
