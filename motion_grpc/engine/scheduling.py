"""A bounded pool of update workers; an instance is drained by at most one of them.

Work is learned of in two ways: this process's own enqueues notify the pool
directly (pickup in microseconds), and a sweep of Redis's pending-instance
sets finds work that others left behind (a dead replica, an in-process user
that exited, an expired lease). An instance the sweep finds leased is
tried again the moment its lease is due to expire, so a dead replica's
instances resume about one lease TTL after its last renewal, not a sweep
interval later.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable

from motion_grpc.engine.draining import DrainBackoffError
from motion_grpc.engine.wakeups import WakeListener
from motion_grpc.errors import MotionError
from motion_grpc.logs import RateLimitedLog
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.store import Store

log = logging.getLogger(__name__)
_limited = RateLimitedLog(log)

SWEEP_BATCH = 1000
#: How long after a lease's expected expiry its instance is tried again (seconds).
EXPIRY_SLACK = 0.005


class UpdateScheduler:
    """Schedules instances with pending updates onto a fixed set of worker threads."""

    def __init__(
        self,
        store: Store,
        drain: Callable[[InstanceKeys], None],
        workers: int,
        sweep_interval: float,
        stopping: threading.Event,
    ) -> None:
        if workers < 1:
            raise ValueError("update workers must be >= 1")
        self._store = store
        self._drain = drain
        self._workers = workers
        self._sweep_interval = sweep_interval
        self._stopping = stopping
        self._queue: queue.SimpleQueue[InstanceKeys | None] = queue.SimpleQueue()
        self._scheduled: set[InstanceKeys] = set()
        self._again: set[InstanceKeys] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._components: set[str] = set()
        self._expiring: dict[InstanceKeys, float] = {}  # leased elsewhere: retry at (monotonic)
        self._backoff: dict[InstanceKeys, float] = {}  # could not be worked on: not before (monotonic)

    def start(self) -> None:
        for index in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"motion-update-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        sweeper = threading.Thread(target=self._sweep_loop, name="motion-sweep", daemon=True)
        sweeper.start()
        self._threads.append(sweeper)
        wakeups = WakeListener(self._store, self._hosted, self.notify, self._stopping)
        wakeups.start()
        self._threads.append(wakeups.thread)

    def _hosted(self) -> list[str]:
        with self._lock:
            return sorted(self._components)

    def host(self, components: Iterable[str]) -> None:
        """Sweep for left-behind work of these components too."""
        with self._lock:
            self._components.update(components)

    def notify(self, keys: InstanceKeys) -> None:
        """An instance may have pending updates: drain it (once, even if notified often)."""
        with self._lock:
            if keys in self._scheduled:
                self._again.add(keys)
                return
            if self._backoff.get(keys, 0.0) > time.monotonic():
                return  # its retry is already timed
            self._scheduled.add(keys)
        self._queue.put(keys)

    def close(self, timeout: float = 10.0) -> None:
        """Stop: workers finish the op in hand, commit it and hand their leases back."""
        self._stopping.set()
        for _ in range(self._workers):
            self._queue.put(None)
        deadline = time.monotonic() + timeout  # one bound for all, not one per thread
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        while True:
            keys = self._queue.get()
            if keys is None:
                return
            try:
                self._drain(keys)
            except DrainBackoffError as exc:
                self._retry_later(keys, exc.delay)
                _limited.warning(
                    f"backoff\0{keys.component}",
                    "%s/%s cannot be worked on, retrying in %.1f s: %s",
                    keys.component,
                    keys.instance_id,
                    exc.delay,
                    exc.reason,
                )
            except MotionError as exc:
                _limited.warning(f"drain\0{keys.component}", "draining %s/%s failed: %s", *_named(keys), exc)
            except BaseException:  # a worker thread outlives whatever one drain does
                log.exception("draining %s/%s crashed", keys.component, keys.instance_id)
            self._done(keys)

    def _retry_later(self, keys: InstanceKeys, delay: float) -> None:
        """Leave an instance alone for `delay` seconds, then drain it again."""
        at = time.monotonic() + delay
        with self._lock:
            self._backoff[keys] = at
            self._expiring[keys] = at
            self._again.discard(keys)

    def _done(self, keys: InstanceKeys) -> None:
        with self._lock:
            if keys in self._again and not self._stopping.is_set():
                self._again.discard(keys)
                self._queue.put(keys)
                return
            self._again.discard(keys)
            self._scheduled.discard(keys)

    def _sweep_loop(self) -> None:
        next_sweep = 0.0
        while not self._stopping.is_set():
            if time.monotonic() >= next_sweep:
                try:
                    self.sweep()
                except MotionError as exc:
                    log.debug("sweep failed: %s", exc)
                next_sweep = time.monotonic() + self._sweep_interval
            wake_at = min([next_sweep, *self._retry_expired()])
            self._stopping.wait(max(0.0, wake_at - time.monotonic()))

    def _retry_expired(self) -> list[float]:
        """Notify instances whose lease should have expired by now; the times of the others."""
        now = time.monotonic()
        with self._lock:
            due = [keys for keys, at in self._expiring.items() if at <= now]
            for keys in due:
                del self._expiring[keys]
                self._backoff.pop(keys, None)
            later = list(self._expiring.values())
        for keys in due:
            self.notify(keys)
        return later

    def sweep(self) -> None:
        """Schedule instances with pending updates and no lease holder."""
        with self._lock:
            components = sorted(self._components)
        for component in components:
            ids = self._store.pending_instances(component, SWEEP_BATCH)
            candidates = [InstanceKeys.of(component, instance_id) for instance_id in ids]
            with self._lock:
                candidates = [
                    keys for keys in candidates if keys not in self._scheduled and keys not in self._backoff
                ]
            if not candidates:
                continue
            now = time.monotonic()
            for keys, ttl_ms in zip(candidates, self._store.lease_ttls(candidates)):
                if ttl_ms == 0:
                    self.notify(keys)
                elif ttl_ms > 0:
                    with self._lock:
                        self._expiring[keys] = now + ttl_ms / 1000 + EXPIRY_SLACK


def _named(keys: InstanceKeys) -> tuple[str, str]:
    return keys.component, keys.instance_id
