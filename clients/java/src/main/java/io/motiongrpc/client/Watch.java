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
public final class Watch implements Iterator<Watch.Message>, Iterable<Watch.Message>, AutoCloseable {
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
  private final Iterator<WatchUpdatesResponse> messages;
  private String lastEventId;

  Watch(Stubs stubs, WatchUpdatesRequest request) {
    lastEventId = request.getAfterEventId();
    Context previous = context.attach();
    try {
      messages = Stubs.call(() -> stubs.blocking().watchUpdates(request));
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

  /** The next event or heartbeat; blocks until one arrives. */
  @Override
  public Message next() {
    try {
      if (!Stubs.call(messages::hasNext)) {
        throw new MotionException(Status.UNAVAILABLE.withDescription("the server ended the watch").asRuntimeException());
      }
      Message message = Message.of(messages.next());
      lastEventId = message.latestEventId();
      return message;
    } catch (RuntimeException e) {
      close();
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
  }

  static Cancellable observe(Stubs stubs, WatchUpdatesRequest request, StreamObserver<Message> observer) {
    RunStream.Forwarder<WatchUpdatesRequest, WatchUpdatesResponse> forwarder =
        new RunStream.Forwarder<>(observer, Message::of);
    stubs.async().watchUpdates(request, forwarder);
    return forwarder;
  }
}
