"""Serving a run: the serve op on the last committed state, then the enqueue of its update ops.

A cheap serve op (measured under `fast_op_seconds`) runs first on this
process's snapshot and its enqueue is fenced on the snapshot's version: one
Redis round trip in all, which also looks the serve cache up; a stale
snapshot makes it run again on fresh state. A slow one (a model call) reads
the version first, so it never runs twice. Results are cached under (flow,
canonical props hash, state version): a cached answer is never older than
the state it was computed from.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from motion_grpc.engine import failures
from motion_grpc.engine.instances import Instances
from motion_grpc.engine.options import RunOptions
from motion_grpc.engine.results import RunResult
from motion_grpc.engine.run_payload import RunPayload, encoded_run
from motion_grpc.engine.runner import OpRunner
from motion_grpc.engine.serve_cache import CacheHit, cache_hit
from motion_grpc.engine.serve_call import ServeCall
from motion_grpc.engine.serve_ops import ServeOps, what_serves
from motion_grpc.engine.snapshots import Runtimes, Snapshot
from motion_grpc.engine.streaming import ServeStream
from motion_grpc.engine.waiting import LocalDrains, Wait, wait_for_updates
from motion_grpc.errors import InvalidRequestIdError, MotionError, NotFoundError, OpError, QueueFullError
from motion_grpc.logs import excerpt
from motion_grpc.props import Props
from motion_grpc.state import State
from motion_grpc.store import protocol
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import (
    EnqueueRequest,
    EnqueueResult,
)
from motion_grpc.store.store import Store


@dataclass(frozen=True)
class CheckedStart:
    """Where a checked serve's op runs from: the checked snapshot, and Redis' restarts then."""

    snapshot: Snapshot
    restarts: int


@dataclass(frozen=True)
class Served:
    result: Any
    version: int
    cached: bool
    ids: list[str]
    events_before: str
    #: The run's request id was seen before: `version` and `ids` are the first call's.
    deduplicated: bool = False

    def run_result(self) -> RunResult:
        """The run's result, its updates not waited for."""
        return RunResult(self.result, self.version, self.cached, self.ids, [], self.deduplicated)

    @classmethod
    def of(cls, result: Any, version: int, cached: bool, enqueued: EnqueueResult) -> Served:
        """What was served, with what its enqueue did (or, for a repeated request id, once did)."""
        if enqueued.code == protocol.DUPLICATE_REQUEST:
            return cls(result, enqueued.version, cached, enqueued.ids, enqueued.events_before, True)
        return cls(result, version, cached, enqueued.ids, enqueued.events_before)


class Serving:
    """The serve path of runs and streams; update ops are only enqueued here."""

    def __init__(
        self,
        store: Store,
        runtimes: Runtimes,
        instances: Instances,
        runner: OpRunner,
        enqueue: Callable[[EnqueueRequest], Awaitable[EnqueueResult]],
        wake: Callable[[InstanceKeys], None],
        fast_op_seconds: float,
        timeout: float | None,
        request_id_ttl: float = 24 * 3600.0,
        local: LocalDrains | None = None,
    ) -> None:
        self._store = store
        self._local = local
        self._runtimes = runtimes
        self._instances = instances
        self._runner = runner
        #: Sends a run's enqueue and has its entries applied (wakes a drain, or opens one).
        self._enqueue = enqueue
        self._wake = wake  # for what a caller's thread enqueued
        self._request_id_ttl_ms = max(1, int(request_id_ttl * 1000))
        self.ops = ServeOps(runner, fast_op_seconds, timeout)
        self._known = runtimes.known

    async def run(self, call: ServeCall) -> RunResult:
        try:
            served = await self._serve_fast(call) or await self._serve_checked(call)
        except OpError as exc:
            failures.serve_failed(f"serve of {call.component.name}/{call.flow.key}", exc)
            raise
        return await self.complete(call.keys, served, call.options)

    async def open_stream(self, call: ServeCall) -> ServeStream:
        """Start a streaming run: the serve op is called on a checked snapshot, its items pulled later.

        A plain (non-generator) serve op is run at once, as by `run`, and the
        stream holds its complete result. For a generator, the update ops are
        enqueued by `ServeStream.finish()` after the last item, never before.
        """
        serve = call.flow.serve
        if serve is None or not serve.is_generator:
            result = await self.run(call)
            return ServeStream("", None, result.version, self._runner, _finished(result), done=result)
        options = call.options
        version, _ = await self._instances.checked_version(
            call.component, call.keys, None, options.init_state_params, options.deadline
        )
        snapshot = await self._instances.snapshot_at(call.component, call.keys, version)
        what = what_serves(call)
        state = State(call.keys.instance_id, snapshot.data, snapshot.version, call.keys.component)
        timeout = self.ops.timeout_of(serve)
        produced = await self._runner.call(what, serve.func, (state, Props(call.props)), timeout)
        if not (inspect.isgenerator(produced) or inspect.isasyncgen(produced)):
            produced = iter([produced])  # a generator-declared op that returned a plain value
        finish = functools.partial(self._finish_stream, call, snapshot.version)
        return ServeStream(what, produced, snapshot.version, self._runner, finish, timeout=timeout)

    async def _finish_stream(self, call: ServeCall, version: int, items: list[Any]) -> RunResult:
        """After the last item: enqueue the update ops with the items as serve_result."""
        call.options.check_deadline()
        payload = await encoded_run(self._runner, call, call.props, items, None, check=False)
        enqueued = await self.enqueue(call, payload, version)
        return await self.complete(call.keys, Served.of(items, version, False, enqueued), call.options)

    async def complete(self, keys: InstanceKeys, served: Served, options: RunOptions) -> RunResult:
        """The run's result; with flush_update, once its updates have ended."""
        if not (options.flush_update and served.ids):
            return served.run_result()
        wait = Wait(served.ids[-1], served.events_before, options.deadline, wanted=set(served.ids))
        waited = await wait_for_updates(self._store, keys, wait, self._local)
        outcomes = [waited.outcomes[i] for i in served.ids if i in waited.outcomes]
        version = max([served.version] + [event.version for event in outcomes])
        return RunResult(served.result, version, served.cached, served.ids, outcomes, served.deduplicated)

    async def _serve_fast(self, call: ServeCall) -> Served | None:
        """A cheap op on the local snapshot, its enqueue fenced on the snapshot's version.

        None when the snapshot turns out stale (or there is none, or the op is
        slow): the caller then serves the checked way. Re-running a cheap op
        costs less than the round trip that checking first would cost every time.
        """
        restarts = self._store.restarts
        snapshot = await self.fast_snapshot(call)
        if snapshot is None:
            return None
        served_props = dict(call.props)  # what the serve op adds to them counts only if its result does
        known = self.known_hit(call, snapshot)
        try:
            if known is not None:
                result = known.result
                served_props = served_props if known.props is None else known.props
            else:
                result = await self.ops.call(call, served_props, snapshot)
            from_copy = known is not None
            version = None if from_copy else snapshot.version  # a copy of the entry: nothing to write
            payload = await encoded_run(self._runner, call, served_props, result, version)
        except MotionError:
            if await self.snapshot_is_current(call, snapshot):
                raise  # not an artefact of a stale snapshot: the op is not run again
            return None
        call.options.check_deadline()
        if self._store.restarts != restarts:  # Redis restarted meanwhile: it may have lost that state
            return None
        enqueued = await self._enqueue(self.fast_request(call, snapshot, payload, from_copy))
        outcome = self.fast_outcome(call, snapshot, result, enqueued, from_copy)
        if isinstance(outcome, CacheHit):
            return await self.serve_cached(call, outcome)
        return outcome

    async def snapshot_is_current(self, call: ServeCall, snapshot: Snapshot) -> bool:
        """Whether Redis is still at the snapshot's version (one round trip): a serve op that failed
        on it would fail the same on checked state, and its side effects must not happen twice."""
        try:
            version, _ = await self._store.probe(call.keys, None)
        except MotionError:  # cannot tell: the op's own error stands (a retry would run it again)
            return True
        return version == snapshot.version

    async def fast_snapshot(self, call: ServeCall) -> Snapshot | None:
        """The snapshot a cheap serve op may run on unchecked; None for a slow op, or none at hand.

        A commit of this process in flight (a caller running a flow again while
        the drain commits its last run) is waited out rather than checked around.
        """
        if not self._cheap(call):
            return None
        runtime = self._runtimes.get(call.keys)
        if runtime.committed_elsewhere and call.flow.serve is not None:
            return None
        if runtime.in_commit:
            return await runtime.snapshot_after_commit()
        return runtime.unchecked_snapshot()

    def fast_snapshot_here(self, call: ServeCall, commit_wait: float) -> Snapshot | None:
        """`fast_snapshot` from a caller's own thread: it only reads (the loop owns the snapshots).

        A commit of this process in flight (one Redis round trip) is waited out, up to
        `commit_wait` seconds, rather than going the loop's way.
        """
        if not self._cheap(call):
            return None
        runtime = self._runtimes.peek(call.keys)
        if runtime is None or runtime.committed_elsewhere:
            return None
        runtime.referenced = True  # (the snapshots' order of use belongs to the loop)
        until = time.monotonic() + commit_wait
        while runtime.in_commit and time.monotonic() < until:
            time.sleep(0)  # hands the GIL to the loop that is committing
        return runtime.unchecked_snapshot()

    def _cheap(self, call: ServeCall) -> bool:
        """Whether the flow's serve op may run on an unchecked snapshot: there is none; or it is fast
        and this process applies updates (else every commit is another's, and the op would run
        twice whenever one came after the snapshot)."""
        if call.flow.serve is None:
            return True
        return self._local is not None and self.ops.times.is_fast(call.component.name, call.flow.key)

    def known_hit(self, call: ServeCall, snapshot: Snapshot) -> CacheHit | None:
        """This process's copy of the cache entry for the run at the snapshot's version, if any."""
        return self._known.hit(call.keys, call.lookup, snapshot.version)

    def fast_request(
        self, call: ServeCall, snapshot: Snapshot, payload: RunPayload, known: bool
    ) -> EnqueueRequest:
        """The enqueue of a run served on `snapshot`, fenced on its version; `known`: its result is
        this process's copy of the cache entry (nothing to look up or write)."""
        self._remember(call, payload)
        return self._store.enqueue_request(
            call.keys,
            payload.entries,
            payload.cache,
            snapshot.version,
            call.lookup is not None and not known,
            self._request_of(call),
            served_version=snapshot.version,
        )

    def fast_outcome(
        self, call: ServeCall, snapshot: Snapshot, result: Any, enqueued: EnqueueResult, known: bool
    ) -> Served | CacheHit | None:
        """What a fenced enqueue decided: served; a cached result to answer instead (nothing was
        enqueued); or None, the snapshot being stale (serve the checked way). Wakes nobody."""
        if enqueued.code == protocol.CACHED:
            return self._hit(call, enqueued.cached, None)
        if enqueued.code in (protocol.STALE, protocol.NO_INSTANCE):
            runtime = self._runtimes.peek(call.keys)  # (from callers' threads too: never reorders)
            if runtime is not None and call.flow.serve is not None:
                runtime.committed_elsewhere = True
            return None
        check_enqueue(call.keys, enqueued.code, self._store.max_queue)
        return Served.of(result, snapshot.version, known, enqueued)

    def _remember(self, call: ServeCall, payload: RunPayload) -> None:
        """Keep a copy of the run's cache entry: computed from its version, it is right for it,
        written or not."""
        if payload.cache is not None:
            self._known.remember(call.keys, payload.cache[0], payload.cache[1])

    def _hit(self, call: ServeCall, cached: bytes | None, version: int | None) -> CacheHit | None:
        """A cache entry read from Redis, a copy of it kept here when it answers."""
        hit = cache_hit(cached, version)
        if hit is not None and call.digest is not None:
            self._known.remember(call.keys, call.digest, cached)
        return hit

    async def _serve_checked(self, call: ServeCall) -> Served:
        """Read the version (and the cache) first, then serve and enqueue."""
        while True:
            start = await self.checked_start(call)
            if isinstance(start, Served):
                return start
            served_props = dict(call.props)
            result = await self.ops.call(call, served_props, start.snapshot)
            served = await self.checked_finish(call, start, served_props, result)
            if served is not None:
                return served

    async def checked_start(self, call: ServeCall) -> Served | CheckedStart:
        """The first half of a checked serve: the run answered from the cache, or the checked
        snapshot its serve op is to run on (here, or in a caller's thread)."""
        options = call.options
        restarts = self._store.restarts
        version, cached = await self._instances.checked_version(
            call.component, call.keys, call.lookup, options.init_state_params, options.deadline
        )
        hit = self._hit(call, cached, version)
        if hit is not None:
            return await self.serve_cached(call, hit)
        return CheckedStart(await self._instances.snapshot_at(call.component, call.keys, version), restarts)

    async def checked_finish(
        self, call: ServeCall, start: CheckedStart, served_props: dict[str, Any], result: Any
    ) -> Served | None:
        """The second half: the serve op's result checked, cached and its updates enqueued; None
        when Redis restarted meanwhile (it may have lost that state: serve again)."""
        call.options.check_deadline()
        version = start.snapshot.version
        payload = await encoded_run(self._runner, call, served_props, result, version)
        if self._store.restarts != start.restarts:
            return None
        self._remember(call, payload)
        enqueued = await self.enqueue(call, payload, version)
        return Served.of(result, version, False, enqueued)

    async def serve_cached(self, call: ServeCall, hit: CacheHit) -> Served:
        """A cache hit: its result is the answer, and what the flow's update ops are given."""
        version, result, props = hit
        # (checked: cached for a caller that could take what this one cannot, a pickle)
        payload = await encoded_run(self._runner, call, call.props if props is None else props, result, None)
        enqueued = await self.enqueue(call, payload, version)
        return Served.of(result, version, True, enqueued)

    async def enqueue(self, call: ServeCall, payload: RunPayload, served_version: int) -> EnqueueResult:
        """Enqueue a run's update ops (and cache entry); `served_version` (the version the run
        reports) is what a repeat of its request id is answered with."""
        request = self._store.enqueue_request(
            call.keys,
            payload.entries,
            payload.cache,
            request=self._request_of(call),
            served_version=served_version,
        )
        enqueued = await self._enqueue(request)
        check_enqueue(call.keys, enqueued.code, self._store.max_queue)
        return enqueued

    def _request_of(self, call: ServeCall) -> tuple[str, int, str] | None:
        """The (request id, ttl, mark) an enqueue deduplicates on; None for a run without a request id."""
        request_id = call.options.request_id
        return (request_id, self._request_id_ttl_ms, call.mark) if request_id else None

    def wake_from_thread(self, loop: asyncio.AbstractEventLoop, keys: InstanceKeys) -> None:
        """Have the loop's drain pick up what a caller's thread enqueued."""
        loop.call_soon_threadsafe(self._wake, keys)


def check_enqueue(keys: InstanceKeys, code: int, max_queue: int) -> None:
    if code == protocol.REQUEST_REUSED:
        raise InvalidRequestIdError(
            f"this request_id was sent before with another flow or other props, to "
            f"{keys.component}/{excerpt(keys.instance_id)}; a retry must send what the first call sent, "
            "and every new run a request id of its own"
        )
    if code == protocol.QUEUE_FULL:
        raise QueueFullError(
            f"the update queue of {keys.component}/{keys.instance_id} holds its maximum of "
            f"{max_queue} entries; retry after FlushUpdates"
        )
    if code == protocol.NO_INSTANCE:
        raise NotFoundError(f"instance {keys.instance_id!r} of {keys.component} was deleted")


def _finished(result: RunResult) -> Callable[[list[Any]], Awaitable[RunResult]]:
    async def finish(items: list[Any]) -> RunResult:
        return result

    return finish


__all__ = ["CacheHit", "CheckedStart", "ServeCall", "Served", "Serving", "check_enqueue"]
