package io.motiongrpc.client;

import io.grpc.StatusRuntimeException;
import io.motiongrpc.v1.FlushUpdatesRequest;
import io.motiongrpc.v1.FlushUpdatesResponse;
import io.motiongrpc.v1.GetStateRequest;
import io.motiongrpc.v1.InstanceRef;
import io.motiongrpc.v1.MotionServiceGrpc.MotionServiceBlockingStub;
import io.motiongrpc.v1.RunRequest;
import io.motiongrpc.v1.RunResponse;
import io.motiongrpc.v1.UpdateOutcome;
import io.motiongrpc.v1.WriteStateRequest;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/** One instance of one component on the server. Calls throw {@link MotionException}. */
public final class Instance {
  /** Options of a run. */
  public enum RunOption {
    /** Recompute the serve result even when a cached one exists. */
    IGNORE_CACHE,
    /** Wait for every pending update of the instance before serving. */
    FORCE_REFRESH,
    /** Wait until this run's update ops have been applied. */
    FLUSH_UPDATE,
  }

  /** Everything a run answered. */
  public record RunOutcome(
      Object result, long version, boolean cached, List<String> updateIds, List<UpdateOutcome> updateOutcomes) {}

  /** The version after a flush and the awaited updates that failed or were discarded. */
  public record FlushOutcome(long version, List<UpdateOutcome> failed) {}

  private final MotionServiceBlockingStub stub;
  private final InstanceRef ref;
  private final Duration timeout;

  Instance(MotionServiceBlockingStub stub, String component, String instanceId) {
    this(stub, InstanceRef.newBuilder().setComponent(component).setInstanceId(instanceId).build(), null);
  }

  private Instance(MotionServiceBlockingStub stub, InstanceRef ref, Duration timeout) {
    this.stub = stub;
    this.ref = ref;
    this.timeout = timeout;
  }

  /** The same instance, with a deadline of timeout on every call. */
  public Instance withTimeout(Duration timeout) {
    return new Instance(stub, ref, timeout);
  }

  /** Runs a flow and returns the serve op's result. */
  public Object run(String flow, Map<String, ?> props, RunOption... options) {
    return runOutcome(flow, props, options).result();
  }

  /** Runs a flow; the result with its version, cache flag and update ids. */
  public RunOutcome runOutcome(String flow, Map<String, ?> props, RunOption... options) {
    RunRequest.Builder request = RunRequest.newBuilder().setInstance(ref).setFlow(flow).setProps(Values.toStruct(props));
    for (RunOption option : options) {
      switch (option) {
        case IGNORE_CACHE -> request.setIgnoreCache(true);
        case FORCE_REFRESH -> request.setForceRefresh(true);
        case FLUSH_UPDATE -> request.setFlushUpdate(true);
      }
    }
    RunResponse r = call(() -> stub().run(request.build()));
    return new RunOutcome(
        Values.fromValue(r.getResult()), r.getVersion(), r.getCached(), r.getUpdateIdsList(), r.getUpdateOutcomesList());
  }

  /** The committed state: every key, or the keys asked for. */
  public Map<String, Object> getState(String... keys) {
    GetStateRequest request = GetStateRequest.newBuilder().setInstance(ref).addAllKeys(List.of(keys)).build();
    return Values.fromStruct(call(() -> stub().getState(request)).getState());
  }

  /** The committed state version: 1 after init_state, plus one per applied update or write. */
  public long version() {
    GetStateRequest request = GetStateRequest.newBuilder().setInstance(ref).setVersionOnly(true).build();
    return call(() -> stub().getState(request)).getVersion();
  }

  /** Waits until every update enqueued so far by flow (or by every flow, when null) has ended. */
  public FlushOutcome flush(String flow) {
    FlushUpdatesRequest request =
        FlushUpdatesRequest.newBuilder().setInstance(ref).setFlow(flow == null ? "" : flow).build();
    FlushUpdatesResponse response = call(() -> stub().flushUpdates(request));
    return new FlushOutcome(response.getVersion(), response.getFailedList());
  }

  /** Patches state keys, serialized with the update queue; returns the new version. */
  public long writeState(Map<String, ?> patch) {
    WriteStateRequest request = WriteStateRequest.newBuilder().setInstance(ref).setPatch(Values.toStruct(patch)).build();
    return call(() -> stub().writeState(request)).getVersion();
  }

  private MotionServiceBlockingStub stub() {
    return timeout == null ? stub : stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  static <T> T call(Supplier<T> rpc) {
    try {
      return rpc.get();
    } catch (StatusRuntimeException e) {
      throw new MotionException(e);
    }
  }
}
