"""In-process runs served in the caller's own thread, as Motion serves them.

A blocking `inst.run` calls a sync serve op in the calling thread, as Motion
does, so what the op keeps per thread (a thread-local, a sqlite3 connection
made in that thread) works as it did there; the caller's thread waits for the
answer in any case, so it costs no concurrency.

- A cheap op (timed under `fast_op_seconds`) runs right there on this
  process's snapshot, and its enqueue (fenced on the snapshot's version, as
  on the loop's fast path) goes over a blocking Redis connection of the
  caller's: one round trip, no thread hop. The loop's drain is then told,
  without waiting for it. A snapshot found stale (or an op that failed on
  it) goes the checked way: the op runs once more, on fresh state, as on the
  loop's fast path, and not a third time.
- Any other sync op (slow, untimed yet, or a run with flush_update or
  force_refresh) runs here too, on checked state: the loop reads the
  version (and the cache) first, the op runs in this thread, and the loop
  enqueues its updates (and waits for them with flush_update).

Everything else goes the engine's way, unchanged: a flow with no serve op, an
async or timed serve op (a timeout needs an engine thread to walk away from),
or a caller on the engine's own loop thread. On a Redis Cluster, which takes
no blocking enqueue, every sync op is served the checked way.
"""

from __future__ import annotations

import threading
from typing import Any

from motion_grpc.engine import failures
from motion_grpc.engine.engine import AsyncEngine
from motion_grpc.engine.ops import LoopThread
from motion_grpc.engine.results import RunResult
from motion_grpc.engine.run_payload import encode_run
from motion_grpc.engine.serve_call import ServeCall
from motion_grpc.engine.serve_ops import finish_serve, needs_loop
from motion_grpc.engine.serving import CacheHit, Served
from motion_grpc.errors import MotionError, OpError
from motion_grpc.store.connection import RedisSettings

#: Seconds a run waits out a commit of this process in flight on its instance (one Redis
#: round trip) before going the engine's way: a caller running one flow after another
#: meets the commit of its last run's update about every other time.
COMMIT_WAIT = 0.005


class CallerRuns:
    """Serves eligible runs in the calling thread; None tells the caller to go the engine's way."""

    def __init__(self, core: AsyncEngine, redis: RedisSettings, loop: LoopThread) -> None:
        self._core = core
        self._redis = redis
        self._loop = loop
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Close the blocking client; later runs go the engine's way (which refuses them, closed)."""
        with self._client_lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def run(self, call: ServeCall) -> RunResult | None:
        """The run served here; None when it must go the engine's way (then nothing was enqueued)."""
        if self._closed or self._loop.is_current() or not self._core.serving.ops.serves_here(call):
            return None
        try:
            return self._served_here(call)
        except OpError as exc:
            failures.serve_failed(f"serve of {call.component.name}/{call.flow.key}", exc)
            raise

    def _served_here(self, call: ServeCall) -> RunResult:
        options = call.options
        fast = not (options.flush_update or options.force_refresh or self._core.store.cluster)
        if fast:  # (a Redis Cluster takes no blocking enqueue: see Store.enqueue_blocking)
            served = self._fast(call)
            if served is not None:
                return served
        return self._checked_here(call)

    def _fast(self, call: ServeCall) -> RunResult | None:
        """A cheap op on this process's snapshot; None when it is to be served on checked state."""
        core = self._core
        serving = core.serving
        restarts = core.store.restarts
        snapshot = serving.fast_snapshot_here(call, COMMIT_WAIT)
        if snapshot is None:
            return None
        served_props = dict(call.props)  # what the serve op adds to them counts only if its result does
        known = serving.known_hit(call, snapshot)
        try:
            if known is not None:
                result = known.result
                served_props = served_props if known.props is None else known.props
            else:
                result = serving.ops.call_here(call, served_props, snapshot)
                if needs_loop(result):  # a plain function that returned a coroutine or async generator
                    result = self._loop.run(finish_serve(call, result))
            payload = encode_run(call, served_props, result, None if known is not None else snapshot.version)
        except MotionError:
            if self._loop.run(serving.snapshot_is_current(call, snapshot)):
                raise  # not an artefact of a stale snapshot: the op is not run again
            return None
        call.options.check_deadline()
        if core.store.restarts != restarts:  # Redis restarted meanwhile: it may have lost that state
            return None
        request = serving.fast_request(call, snapshot, payload, known is not None)
        enqueued = core.store.enqueue_blocking(request, self._client_here())
        outcome = serving.fast_outcome(call, snapshot, result, enqueued, known is not None)
        if outcome is None:  # stale: nothing was enqueued
            return None
        if isinstance(outcome, CacheHit):
            outcome = self._loop.run(serving.serve_cached(call, outcome))
        elif enqueued.ids:
            serving.wake_from_thread(self._loop.loop, call.keys)
        return outcome.run_result()

    def _checked_here(self, call: ServeCall) -> RunResult:
        """The run on checked state (never the snapshot again), its serve op called in this thread."""
        serving = self._core.serving
        served = self._served_checked_here(call)
        if call.options.flush_update:
            result: RunResult = self._loop.run(serving.complete(call.keys, served, call.options))
            return result
        return served.run_result()

    def _served_checked_here(self, call: ServeCall) -> Served:
        serving = self._core.serving
        while True:
            start = self._loop.run(self._core.checked_start(call))
            if isinstance(start, Served):  # a cache hit
                return start
            served_props = dict(call.props)
            result = serving.ops.call_here(call, served_props, start.snapshot)
            if needs_loop(result):  # a plain function that returned a coroutine or async generator
                result = self._loop.run(finish_serve(call, result))
            served: Served | None = self._loop.run(serving.checked_finish(call, start, served_props, result))
            if served is not None:
                return served

    def _client_here(self) -> Any:
        """The blocking client, made on first use (thread-safe; it waits for a free connection)."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._closed:
                    raise RuntimeError("this engine is closed")
                if self._client is None:
                    self._client = self._redis.caller_client()
                client = self._client
        return client


__all__ = ["CallerRuns"]
