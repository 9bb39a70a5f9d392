"""Scheduling instances with queued updates onto a bounded number of concurrent drains.

Work is learned of in two ways: this process's own enqueues notify the
scheduler directly (pickup in microseconds), and a sweep of Redis's
pending-instance sets finds work that others left behind (a dead replica, an
in-process user that exited, an expired lease). An instance the sweep finds
leased is tried again the moment its lease is due to expire, so a dead
replica's instances resume about one lease TTL after its last renewal.

A run's enqueue that finds its instance idle here (no drain running or
waiting, a slot free) opens the drain itself: the drain's first take rides
along with the enqueue, so the drain starts with the run's entries in hand
and no round trip of its own to pick them up.

Each drain is a task on the event loop; an async update op holds no thread
while it waits on its model call, so `max_concurrent` drains (1,000 by
default) can all be waiting at once. Past the bound, instances wait their
turn in FIFO order, and a drain that has had its slot for FAIR_SHARE_SECONDS
turns it over at its next commit (from its second on) to the instance waiting
longest, going to the back of the line with the rest of its queue: a busy
instance, or one whose ops take minutes, cannot keep the others' updates
waiting until its queue is empty.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from motion_grpc.engine.draining import DrainBackoffError, Opening
from motion_grpc.engine.ops import stop_task
from motion_grpc.engine.signals import Signals
from motion_grpc.errors import InternalError, MotionError
from motion_grpc.logs import RateLimitedLog
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import EnqueueRequest, EnqueueResult
from motion_grpc.store.store import Store

log = logging.getLogger(__name__)
_limited = RateLimitedLog(log)

#: How long after a lease's expected expiry its instance is tried again (seconds).
EXPIRY_SLACK = 0.005
#: How soon an instance whose holder let go between a drain's take and its look at the lease is retried.
HOLDER_GONE_RETRY = 0.05
#: Drainer.drain: (instance, taking, opening, turn_over) -> whether another worker holds the lease.
DrainCall = Callable[[InstanceKeys, Callable[[], None], Opening | None, Callable[[], bool]], Awaitable[bool]]
#: Seconds a drain keeps its slot while other instances wait for one (it ends at the next commit after).
FAIR_SHARE_SECONDS = 0.1


class UpdateScheduler:
    """At most one drain per instance, at most `max_concurrent` drains in all."""

    def __init__(
        self,
        store: Store,
        drain: DrainCall,
        max_concurrent: int,
        sweep_interval: float,
        signals: Signals | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max concurrent updates must be >= 1")
        self._store = store
        self._enqueue_and_notify = waking(store, self.notify)  # an enqueue that opens no drain
        self._drain = drain
        self._max = max_concurrent
        self._sweep_interval = sweep_interval
        #: Fired when a drain stops (its drainer fires them after each commit): see engine/waiting.py.
        self.signals = signals or Signals()
        self._running: dict[InstanceKeys, asyncio.Task[None]] = {}
        #: Notified while draining, after the drain's last take: drain once more after it.
        self._again: set[InstanceKeys] = set()
        #: Drains that turned their slot over to a waiting instance: they go to the back of the line.
        self._turned_over: set[InstanceKeys] = set()
        self._waiting: collections.OrderedDict[InstanceKeys, None] = collections.OrderedDict()
        self._backoff: dict[InstanceKeys, float] = {}  # could not be worked on: not before (monotonic)
        self._timers: dict[InstanceKeys, asyncio.TimerHandle] = {}
        self._components: set[str] = set()
        self._stopping = False
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def hosted(self) -> list[str]:
        return sorted(self._components)

    def host(self, components: Iterable[str]) -> None:
        """Sweep for left-behind work of these components too."""
        self._components.update(components)

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop(), name="motion-sweep")

    def draining(self, keys: InstanceKeys) -> bool:
        """A drain of the instance runs here, or waits for a free slot (a waiter may sleep on it)."""
        return self._sweeper is not None and (keys in self._running or keys in self._waiting)

    def notify(self, keys: InstanceKeys) -> None:
        """An instance may have queued updates: drain it (once, even if notified often)."""
        if self._stopping:
            return
        if keys in self._running:
            self._again.add(keys)
        elif keys not in self._waiting and self._backoff.get(keys, 0.0) <= time.monotonic():
            self._waiting[keys] = None
            self._fill()

    async def enqueue(self, request: EnqueueRequest) -> EnqueueResult:
        """Send a run's enqueue and have its entries drained; an idle instance's drain is opened
        by it (its first take sent in the same round trip)."""
        keys = request.keys
        if not (request.has_entries and self._store.opens_with_enqueue and self._idle(keys)):
            return await self._enqueue_and_notify(request)
        opening = Opening(request, asyncio.get_running_loop().create_future())
        self._start(keys, opening)
        return await asyncio.shield(opening.enqueued)  # a cancelled run leaves the drain be

    def _idle(self, keys: InstanceKeys) -> bool:
        """Whether a drain of the instance could start here this moment."""
        return (
            self._sweeper is not None
            and not self._stopping
            and len(self._running) < self._max
            and keys not in self._running
            and keys not in self._waiting
            and self._backoff.get(keys, 0.0) <= time.monotonic()
        )

    async def close(self, timeout: float = 10.0) -> None:
        """Stop: drains finish the op in hand, commit it and hand their leases back."""
        self._stopping = True
        self._waiting.clear()
        self.signals.fire_all()  # none of those drains will run: their waiters look elsewhere
        for timer in self._timers.values():
            timer.cancel()
        if self._sweeper is not None:
            await stop_task(self._sweeper)
        running = list(self._running.values())
        if running:
            await asyncio.wait(running, timeout=timeout)

    def _fill(self) -> None:
        while self._waiting and len(self._running) < self._max:
            keys, _ = self._waiting.popitem(last=False)
            self._start(keys)

    def _start(self, keys: InstanceKeys, opening: Opening | None = None) -> None:
        self._running[keys] = asyncio.get_running_loop().create_task(self._run(keys, opening))

    async def _run(self, keys: InstanceKeys, opening: Opening | None) -> None:
        since = time.monotonic()  # when it got its slot
        try:
            while True:
                self._again.discard(keys)
                await self._drain_once(keys, opening, since)
                opening = None
                if (
                    keys not in self._again
                    or self._stopping
                    or keys in self._backoff
                    or keys in self._turned_over
                ):
                    return
        finally:
            del self._running[keys]
            self._again.discard(keys)
            self.signals.fire(keys)
            if keys in self._turned_over:
                self._turned_over.discard(keys)
                self.notify(keys)  # behind those waiting; a no-op when stopping
            if not self._stopping:
                self._fill()

    async def _drain_once(self, keys: InstanceKeys, opening: Opening | None, since: float) -> None:
        try:
            taking = functools.partial(self._again.discard, keys)
            turn_over = functools.partial(self._turn_over, keys, since)
            if await self._drain(keys, taking, opening, turn_over):
                await self._watch_holder(keys)
        except DrainBackoffError as exc:
            self._retry_later(keys, exc.delay, backoff=True)
            _limited.warning(
                f"backoff\0{keys.component}",
                "%s/%s cannot be worked on, retrying in %.1f s: %s",
                keys.component, keys.instance_id, exc.delay, exc.reason,
            )  # fmt: skip
        except MotionError as exc:
            _limited.warning(f"drain\0{keys.component}", "draining %s/%s failed: %s",
                             keys.component, keys.instance_id, exc)  # fmt: skip
        except asyncio.CancelledError:
            raise
        except BaseException:  # the scheduler outlives whatever one drain does
            log.exception("draining %s/%s crashed", keys.component, keys.instance_id)
        finally:
            if opening is not None:  # a drain that crashed before sending it: its run must not hang
                opening.fail(InternalError("the update drain failed before the enqueue was sent"))

    def _turn_over(self, keys: InstanceKeys, since: float) -> bool:
        """Whether a drain holding its slot since `since` should hand it to a waiting instance."""
        if self._waiting and time.monotonic() - since >= FAIR_SHARE_SECONDS:
            self._turned_over.add(keys)
            return True
        return False

    async def _watch_holder(self, keys: InstanceKeys) -> None:
        """Another worker holds the instance: try again the moment its lease is due to expire,
        so the instance resumes about one lease TTL after a holder dies, not a sweep later."""
        (ttl_ms,) = await self._store.lease_ttls([keys])
        if ttl_ms > 0:
            self._retry_later(keys, ttl_ms / 1000 + EXPIRY_SLACK)
        elif ttl_ms == 0:
            self._retry_later(keys, HOLDER_GONE_RETRY)  # let go meanwhile: look again shortly

    def _retry_later(self, keys: InstanceKeys, delay: float, backoff: bool = False) -> None:
        """Drain an instance again in `delay` seconds (and, with backoff, not before)."""
        if backoff:
            self._backoff[keys] = time.monotonic() + delay
        timer = self._timers.pop(keys, None)
        if timer is not None:
            timer.cancel()
        self._timers[keys] = asyncio.get_running_loop().call_later(delay, self._due, keys)

    def _due(self, keys: InstanceKeys) -> None:
        self._timers.pop(keys, None)
        self._backoff.pop(keys, None)
        self.notify(keys)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except MotionError as exc:
                log.debug("sweep failed: %s", exc)
            await asyncio.sleep(self._sweep_interval)

    async def sweep(self) -> None:
        """Schedule instances with pending updates and no lease holder; time those leased elsewhere."""
        for component in self.hosted:
            ids = await self._store.pending_instances(component)
            candidates = [
                keys
                for keys in (InstanceKeys.of(component, instance_id) for instance_id in ids)
                if keys not in self._running and keys not in self._waiting
                and keys not in self._backoff and keys not in self._timers
            ]  # fmt: skip
            if not candidates:
                continue
            for keys, ttl_ms in zip(candidates, await self._store.lease_ttls(candidates)):
                if ttl_ms == 0:
                    self.notify(keys)
                elif ttl_ms > 0:
                    self._retry_later(keys, ttl_ms / 1000 + EXPIRY_SLACK)


def waking(
    store: Store, wake: Callable[[InstanceKeys], None]
) -> Callable[[EnqueueRequest], Awaitable[EnqueueResult]]:
    """An enqueue that wakes whoever applies updates (this process's drains, update processes)
    once it landed."""

    async def enqueue(request: EnqueueRequest) -> EnqueueResult:
        enqueued = await store.enqueue(request)
        if enqueued.ids:
            wake(request.keys)
        return enqueued

    return enqueue
