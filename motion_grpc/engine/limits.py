"""Explicit bounds on work in flight: past a bound, a clear RESOURCE_EXHAUSTED, never an endless queue."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from types import TracebackType

from motion_grpc.errors import ResourceExhaustedError


class Limiter:
    """At most `limit` holders at once, and at most `queue` more waiting for their turn (FIFO).

    `async with limiter:` holds a slot. Every step is O(1): this runs once per
    call on the serving path.
    """

    def __init__(self, limit: int, queue: int, name: str) -> None:
        if limit < 1 or queue < 0:
            raise ValueError(f"{name} must be >= 1 (and its queue >= 0)")
        self._limit = limit
        self._queue = queue
        self._name = name
        #: Waiters in arrival order; a released slot passes to the first one still waiting.
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.in_flight = 0

    async def __aenter__(self) -> None:
        if self.in_flight < self._limit:
            self.in_flight += 1
            return
        if len(self._waiters) >= self._queue:
            raise ResourceExhaustedError(
                f"{self.in_flight} calls are in flight, the most this server takes at once "
                f"({self._name} {self._limit}, with {self._queue} more waiting); retry shortly"
            )
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # the releaser counted this holder in already
        except BaseException:
            if waiter.cancelled():
                with contextlib.suppress(ValueError):  # a release may have dropped it already
                    self._waiters.remove(waiter)
            else:  # handed a slot at the moment it was cancelled: pass it on
                self._release()
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: in_flight stays
                return
        self.in_flight -= 1
