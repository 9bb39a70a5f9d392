package io.motiongrpc.client;

import io.grpc.Context;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.motiongrpc.v1.UpdateEvent;
import io.motiongrpc.v1.WatchUpdatesRequest;
import io.motiongrpc.v1.WatchUpdatesResponse;
import java.util.Iterator;

/**
 * A WatchUpdates call in progress. It exists once the server has confirmed the subscription (its
 * first Progress message), so the events of every run started after {@link Instance#watch}
 * returned are received: watch first, then run. Iterating blocks for the next event or heartbeat;
 * after a failure, resume with {@code WatchOptions.after(watch.lastEventId())}: nothing is skipped
 * or repeated. {@link #close} ends the call; an instance's {@code withTimeout} bounds the whole
 * watch.
 */
public final class Watch
    implements Iterator<Watch.Message>, Iterable<Watch.Message>, AutoCloseable {
  /**
   * An update event, or a heartbeat (event null) saying every event up to latestEventId has been
   * received.
   *
   * @param event the event; null for a heartbeat
   * @param latestEventId the event's id, or a heartbeat's gap-free resume point
   */
  public record Message(UpdateEvent event, String latestEventId) {
    /** True for a heartbeat (no event). */
    public boolean isHeartbeat() {
      return event == null;
    }

    static Message of(WatchUpdatesResponse response) {
      return response.hasEvent()
          ? new Message(response.getEvent(), response.getEvent().getEventId())
          : new Message(null, response.getProgress().getLatestEventId());
    }
  }

  private final Context.CancellableContext context = Context.current().withCancellation();
  private final OpenCalls openCalls;
  private final Iterator<WatchUpdatesResponse> messages;
  private final OpenCalls.Call registration = this::endByClose;
  private volatile boolean endedByClose;
  private String lastEventId;

  Watch(Stubs stubs, WatchUpdatesRequest request) {
    lastEventId = request.getAfterEventId();
    openCalls = stubs.openCalls();
    if (!openCalls.add(registration)) throw OpenCalls.closedError();
    Context previous = context.attach();
    try {
      messages = Stubs.call(() -> stubs.blocking().watchUpdates(request));
    } catch (RuntimeException e) {
      openCalls.remove(registration);
      throw e;
    } finally {
      context.detach(previous);
    }
    if (!next().isHeartbeat()) {
      close();
      throw new MotionException(Status.INTERNAL.withDescription("WatchUpdates did not open with a Progress message")
          .asRuntimeException());
    }
  }

  /** Always true: a watch ends only with an error (a MotionException from next) or close. */
  @Override
  public boolean hasNext() {
    return true;
  }

  /**
   * The next event or heartbeat; blocks until one arrives. Throws {@link MotionException} when the
   * call fails (CANCELLED once its client is closed).
   */
  @Override
  public Message next() {
    try {
      if (endedByClose) throw OpenCalls.closedError();
      boolean more = Stubs.call(messages::hasNext);
      if (endedByClose) throw OpenCalls.closedError(); // nothing is delivered after the client's close
      if (!more) {
        throw new MotionException(Status.UNAVAILABLE.withDescription("the server ended the watch").asRuntimeException());
      }
      Message message = Message.of(messages.next());
      lastEventId = message.latestEventId();
      return message;
    } catch (RuntimeException e) {
      close();
      if (endedByClose) throw OpenCalls.closedError();
      throw e;
    }
  }

  /** The next event, skipping heartbeats. */
  public UpdateEvent nextEvent() {
    Message message = next();
    while (message.isHeartbeat()) message = next();
    return message.event();
  }

  /** The gap-free resume point: the id of the last event or heartbeat position received. */
  public String lastEventId() {
    return lastEventId;
  }

  /** This watch, for a for-each loop over events and heartbeats. */
  @Override
  public Iterator<Message> iterator() {
    return this;
  }

  /** Ends the call. */
  @Override
  public void close() {
    context.cancel(null);
    openCalls.remove(registration);
  }

  /** The client was closed: ends the call, and makes every later read throw CANCELLED. */
  private void endByClose() {
    endedByClose = true;
    context.cancel(null);
  }

  static Cancellable observe(Stubs stubs, WatchUpdatesRequest request, StreamObserver<Message> observer) {
    RunStream.Forwarder<WatchUpdatesRequest, WatchUpdatesResponse> forwarder =
        new RunStream.Forwarder<>(stubs.openCalls(), observer, Message::of);
    return forwarder.start(() -> stubs.async().watchUpdates(request, forwarder));
  }
}
