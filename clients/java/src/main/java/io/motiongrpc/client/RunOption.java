package io.motiongrpc.client;

import io.motiongrpc.v1.RunRequest;
import java.util.Map;

/** An option of a run: {@code counter.run("add", props, RunOption.FLUSH_UPDATE)}. */
@FunctionalInterface
public interface RunOption {
  /** Recompute the serve result even when a cached one exists. */
  RunOption IGNORE_CACHE = request -> request.setIgnoreCache(true);
  /** Wait for every pending update of the instance before serving. */
  RunOption FORCE_REFRESH = request -> request.setForceRefresh(true);
  /** Wait until this run's update ops have been applied. */
  RunOption FLUSH_UPDATE = request -> request.setFlushUpdate(true);

  /**
   * The run's request id, instead of the random UUID every run gets. The server enqueues the updates
   * of one request id once and answers a repeat with the first call's update ids: reuse an id to
   * retry a run yourself safely.
   */
  static RunOption requestId(String id) {
    return request -> request.setRequestId(id);
  }

  /** Arguments for init_state, used only when this run creates the instance. */
  static RunOption initStateParams(Map<String, ?> params) {
    return request -> request.setInitStateParams(Values.toStruct("init state params", params));
  }

  /** Sets the option on the request. */
  void applyTo(RunRequest.Builder request);
}
