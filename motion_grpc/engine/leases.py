"""Keeps held leases alive while their holders work."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from motion_grpc.engine.ops import stop_task
from motion_grpc.errors import MotionError
from motion_grpc.store.store import Store

log = logging.getLogger(__name__)


@dataclass
class _Held:
    token: str
    generation: int  # of the hold: a renewal that finds the lease gone forgets only its own hold
    since: float  # time.monotonic() when its TTL was last set (sent, so never later than it was)


class LeaseKeeper:
    """One task renewing the held leases in one pipelined round trip, each before 5/16 of its TTL
    has passed since it was set: every eighth of the TTL it renews those set 3/16 of it ago or more.

    A long update op (a model call of a minute) keeps its lease, renewed every
    quarter of the TTL; a holder that is paused or cut off loses it, and the
    commit script then refuses its result. A drain that ends within 3/16 of the
    TTL (0.94 s at the default 5 s: most model calls) costs no renewal at all.
    """

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self.ttl = ttl
        self.ttl_ms = max(1, int(ttl * 1000))
        self._held: dict[str, _Held] = {}
        self._generation = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="motion-leases")

    async def close(self) -> None:
        if self._task is not None:
            await stop_task(self._task)

    def hold(self, key: str, token: str, since: float) -> None:
        """Keep `key` held under `token`; `since`: time.monotonic() as the call that set its TTL was sent."""
        self._generation += 1
        self._held[key] = _Held(token, self._generation, since)

    def drop(self, key: str, token: str) -> None:
        """Stop renewing `key` if held under `token` (a drain of this engine that found the lease
        held by another of its drains must not end that drain's renewals)."""
        current = self._held.get(key)
        if current is not None and current.token == token:
            del self._held[key]

    async def _run(self) -> None:
        tick = self.ttl / 8
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            due = [(key, held) for key, held in self._held.items() if now - held.since >= 1.5 * tick]
            if not due:
                continue
            try:
                renewed = await self._store.renew([(key, held.token) for key, held in due], self.ttl_ms)
            except MotionError as exc:
                log.warning("could not renew %d leases: %s", len(due), exc)
                continue
            for (key, held), still_held in zip(due, renewed):
                if still_held:
                    held.since = now
                else:
                    self._forget(key, held.generation)

    def _forget(self, key: str, generation: int) -> None:
        """Stop renewing a lease that is gone, unless it was taken again since this renewal began.

        Gone is often normal (the holder released it and has not dropped it yet); a holder
        that really lost it learns so from its refused commit, and logs it there.
        """
        current = self._held.get(key)
        if current is not None and current.generation == generation:
            del self._held[key]
            log.debug("lease %s is no longer held", key)
