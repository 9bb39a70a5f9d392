package io.motiongrpc.client;

import io.motiongrpc.v1.InstanceRef;
import io.motiongrpc.v1.WatchUpdatesRequest;
import java.util.List;

/**
 * What a watch receives: {@code WatchOptions.fromNow()}, or {@code WatchOptions.after(lastEventId)}
 * to resume, then {@code .withFlows("add")}, {@code .withIncludeState()}, {@code
 * .withCreateIfMissing()}.
 *
 * @param after resume after this event id; "" from now on, "0-0" from the oldest retained event
 * @param flows only events of these flows; empty means every flow
 * @param includeState send the committed state with APPLIED events
 * @param createIfMissing create the instance rather than failing with NOT_FOUND
 */
public record WatchOptions(String after, List<String> flows, boolean includeState, boolean createIfMissing) {
  /** Events from now on. */
  public static WatchOptions fromNow() {
    return after("");
  }

  /** Events after this event id (a {@link Watch#lastEventId()}). */
  public static WatchOptions after(String eventId) {
    return new WatchOptions(eventId, List.of(), false, false);
  }

  /** Only events of these flows. */
  public WatchOptions withFlows(String... flows) {
    return new WatchOptions(after, List.of(flows), includeState, createIfMissing);
  }

  /** With the committed state on APPLIED events. */
  public WatchOptions withIncludeState() {
    return new WatchOptions(after, flows, true, createIfMissing);
  }

  /** Creating the instance when it does not exist. */
  public WatchOptions withCreateIfMissing() {
    return new WatchOptions(after, flows, includeState, true);
  }

  WatchUpdatesRequest request(InstanceRef ref) {
    return WatchUpdatesRequest.newBuilder()
        .setInstance(ref)
        .setAfterEventId(after == null ? "" : after)
        .addAllFlows(flows == null ? List.of() : flows)
        .setIncludeState(includeState)
        .setCreateIfMissing(createIfMissing)
        .build();
  }
}
