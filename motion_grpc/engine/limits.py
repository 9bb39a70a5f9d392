"""Explicit bounds on work in flight: past a bound, a clear RESOURCE_EXHAUSTED, never an endless queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from motion_grpc.errors import ResourceExhaustedError


class Limiter:
    """At most `limit` holders at once, and at most `queue` more waiting for their turn."""

    def __init__(self, limit: int, queue: int, name: str) -> None:
        if limit < 1 or queue < 0:
            raise ValueError(f"{name} must be >= 1 (and its queue >= 0)")
        self._semaphore = asyncio.Semaphore(limit)
        self._limit = limit
        self._queue = queue
        self._waiting = 0
        self._name = name
        self.in_flight = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore.locked() and self._waiting >= self._queue:
            raise ResourceExhaustedError(
                f"{self.in_flight} calls are in flight, the most this server takes at once "
                f"({self._name} {self._limit}, with {self._queue} more waiting); retry shortly"
            )
        self._waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self._waiting -= 1
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._semaphore.release()
