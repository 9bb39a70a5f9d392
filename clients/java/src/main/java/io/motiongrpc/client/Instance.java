package io.motiongrpc.client;

import io.motiongrpc.v1.DeleteInstanceRequest;
import io.motiongrpc.v1.FlushUpdatesRequest;
import io.motiongrpc.v1.FlushUpdatesResponse;
import io.motiongrpc.v1.GetStateRequest;
import io.motiongrpc.v1.InstanceRef;
import io.motiongrpc.v1.RunRequest;
import io.motiongrpc.v1.RunResponse;
import io.motiongrpc.v1.UpdateOutcome;
import io.motiongrpc.v1.UpdateStatus;
import io.motiongrpc.v1.WriteStateRequest;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;

/**
 * One instance of one component on the server. Blocking calls throw {@link MotionException};
 * the {@code ...Async} variants never block and complete exceptionally with one. Every run carries
 * a request id (a random UUID unless {@link RunOption#requestId} sets one), kept across the retries
 * of the default service config, so the server enqueues a retried run's updates once.
 */
public final class Instance {
  /** Everything a run answered. */
  public record RunOutcome(
      Object result,
      long version,
      boolean cached,
      List<String> updateIds,
      List<UpdateOutcome> updateOutcomes,
      boolean deduplicated) {}

  /** The version after a flush and the awaited updates that failed or were discarded. */
  public record FlushOutcome(long version, List<UpdateOutcome> failed) {}

  private final Stubs stubs;
  private final InstanceRef ref;

  Instance(Stubs stubs, String component, String instanceId) {
    this(stubs, InstanceRef.newBuilder().setComponent(component).setInstanceId(instanceId).build());
  }

  private Instance(Stubs stubs, InstanceRef ref) {
    this.stubs = stubs;
    this.ref = ref;
  }

  /** The same instance, with a deadline of timeout on every call (DEADLINE_EXCEEDED past it). */
  public Instance withTimeout(Duration timeout) {
    return new Instance(stubs.withTimeout(timeout), ref);
  }

  /** The component name. */
  public String component() {
    return ref.getComponent();
  }

  /** The instance id. */
  public String id() {
    return ref.getInstanceId();
  }

  /**
   * Runs a flow and returns the serve op's result. With {@link RunOption#FLUSH_UPDATE}, an update
   * the run waited for that FAILED (DISCARDED is no failure) throws a {@link MotionException} as a
   * failed op does: code UNKNOWN, reason OP_FAILED, {@code errorType()} the update op's exception
   * type, the details naming the op, flow and message (what the Python client's UpdateFailedError
   * says). {@link #runOutcome} and {@link #runAsync} report it in {@code updateOutcomes()} instead.
   */
  public Object run(String flow, Map<String, ?> props, RunOption... options) {
    RunOutcome outcome = runOutcome(flow, props, options);
    for (UpdateOutcome update : outcome.updateOutcomes()) {
      if (update.getStatus() == UpdateStatus.UPDATE_STATUS_FAILED) throw MotionException.updateFailed(update);
    }
    return outcome.result();
  }

  /**
   * Runs a flow; the result with its version, cache flag and update ids. It never throws for a
   * failed update: with FLUSH_UPDATE, {@code updateOutcomes()} says how each ended.
   */
  public RunOutcome runOutcome(String flow, Map<String, ?> props, RunOption... options) {
    RunRequest request = runRequest(flow, props, options);
    return outcome(Stubs.call(() -> stubs.blocking().run(request)));
  }

  /** {@link #runOutcome}, without blocking. */
  public CompletableFuture<RunOutcome> runAsync(String flow, Map<String, ?> props, RunOption... options) {
    RunRequest request = runRequest(flow, props, options);
    return Stubs.future(stubs.future().run(request)).thenApply(Instance::outcome);
  }

  /**
   * Runs a flow whose serve op is a generator and iterates over its items as they come (a plain
   * serve op gives one). Close the stream to cancel the call: before its end, the generator is
   * closed on the server and nothing is enqueued.
   */
  public RunStream runStream(String flow, Map<String, ?> props, RunOption... options) {
    return new RunStream(stubs, runRequest(flow, props, options));
  }

  /**
   * {@link #runStream}, without blocking: items go to observer's onNext, then onCompleted (or
   * onError with a {@link MotionException}). The returned handle cancels the call.
   */
  public Cancellable runStream(
      String flow, Map<String, ?> props, io.grpc.stub.StreamObserver<Object> observer, RunOption... options) {
    return RunStream.observe(stubs, runRequest(flow, props, options), observer);
  }

  /** Subscribes to the instance's update events; returns once the server confirmed it. */
  public Watch watch(WatchOptions options) {
    return new Watch(stubs, options.request(ref));
  }

  /**
   * {@link #watch}, without blocking: every message goes to observer, the first one a heartbeat
   * that confirms the subscription (run after it to see the run's events).
   */
  public Cancellable watch(WatchOptions options, io.grpc.stub.StreamObserver<Watch.Message> observer) {
    return Watch.observe(stubs, options.request(ref), observer);
  }

  RunRequest runRequest(String flow, Map<String, ?> props, RunOption... options) {
    RunRequest.Builder request = RunRequest.newBuilder()
        .setInstance(ref)
        .setFlow(flow)
        .setProps(Values.toStruct("props", props))
        .setRequestId(UUID.randomUUID().toString());
    for (RunOption option : options) option.applyTo(request);
    return request.build();
  }

  private static RunOutcome outcome(RunResponse r) {
    return new RunOutcome(
        Values.fromValue(r.getResult()),
        r.getVersion(),
        r.getCached(),
        r.getUpdateIdsList(),
        r.getUpdateOutcomesList(),
        r.getDeduplicated());
  }

  /** The committed state: every key, or the keys asked for. */
  public Map<String, Object> getState(String... keys) {
    GetStateRequest request = GetStateRequest.newBuilder().setInstance(ref).addAllKeys(List.of(keys)).build();
    return Values.fromStruct(Stubs.call(() -> stubs.blocking().getState(request)).getState());
  }

  /** {@link #getState}, without blocking. */
  public CompletableFuture<Map<String, Object>> getStateAsync(String... keys) {
    GetStateRequest request = GetStateRequest.newBuilder().setInstance(ref).addAllKeys(List.of(keys)).build();
    return Stubs.future(stubs.future().getState(request)).thenApply(r -> Values.fromStruct(r.getState()));
  }

  /** The committed state version: 1 after init_state, plus one per applied update or write. */
  public long version() {
    GetStateRequest request = GetStateRequest.newBuilder().setInstance(ref).setVersionOnly(true).build();
    return Stubs.call(() -> stubs.blocking().getState(request)).getVersion();
  }

  /** Waits until every update enqueued so far by flow (or by every flow, when null) has ended. */
  public FlushOutcome flush(String flow) {
    FlushUpdatesRequest request = flushRequest(flow);
    FlushUpdatesResponse response = Stubs.call(() -> stubs.blocking().flushUpdates(request));
    return new FlushOutcome(response.getVersion(), response.getFailedList());
  }

  /** {@link #flush}, without blocking. */
  public CompletableFuture<FlushOutcome> flushAsync(String flow) {
    return Stubs.future(stubs.future().flushUpdates(flushRequest(flow)))
        .thenApply(r -> new FlushOutcome(r.getVersion(), r.getFailedList()));
  }

  private FlushUpdatesRequest flushRequest(String flow) {
    return FlushUpdatesRequest.newBuilder().setInstance(ref).setFlow(flow == null ? "" : flow).build();
  }

  /** Patches state keys, serialized with the update queue; returns the new version. */
  public long writeState(Map<String, ?> patch) {
    WriteStateRequest request =
        WriteStateRequest.newBuilder().setInstance(ref).setPatch(Values.toStruct("patch", patch)).build();
    return Stubs.call(() -> stubs.blocking().writeState(request)).getVersion();
  }

  /** Removes the instance (state, queued updates, events, cached results); false if it did not exist. */
  public boolean delete() {
    DeleteInstanceRequest request = DeleteInstanceRequest.newBuilder().setInstance(ref).build();
    return Stubs.call(() -> stubs.blocking().deleteInstance(request)).getDeleted();
  }
}
