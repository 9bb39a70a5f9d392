"""Keeps held leases alive while their holders work."""

from __future__ import annotations

import asyncio
import logging

from motion_grpc.engine.ops import stop_task
from motion_grpc.errors import MotionError
from motion_grpc.store.store import Store

log = logging.getLogger(__name__)


class LeaseKeeper:
    """One task renewing every held lease at a third of its TTL, in one pipelined round trip.

    A long update op (a model call of a minute) keeps its lease; a holder that
    is paused or cut off loses it, and the commit script then refuses its result.
    """

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self.ttl = ttl
        self.ttl_ms = max(1, int(ttl * 1000))
        self._held: dict[str, tuple[str, int]] = {}  # key -> (token, generation of the hold)
        self._generation = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="motion-leases")

    async def close(self) -> None:
        if self._task is not None:
            await stop_task(self._task)

    def hold(self, key: str, token: str) -> None:
        self._generation += 1
        self._held[key] = (token, self._generation)

    def drop(self, key: str, token: str) -> None:
        """Stop renewing `key` if held under `token` (a drain of this engine that found the lease
        held by another of its drains must not end that drain's renewals)."""
        current = self._held.get(key)
        if current is not None and current[0] == token:
            del self._held[key]

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            held = list(self._held.items())
            try:
                renewed = await self._store.renew([(key, token) for key, (token, _) in held], self.ttl_ms)
            except MotionError as exc:
                log.warning("could not renew %d leases: %s", len(held), exc)
                continue
            for (key, (_, generation)), still_held in zip(held, renewed):
                if not still_held:
                    self._forget(key, generation)

    def _forget(self, key: str, generation: int) -> None:
        """Stop renewing a lease that is gone, unless it was taken again since this renewal began.

        Gone is often normal (the holder released it and has not dropped it yet); a holder
        that really lost it learns so from its refused commit, and logs it there.
        """
        current = self._held.get(key)
        if current is not None and current[1] == generation:
            del self._held[key]
            log.debug("lease %s is no longer held", key)
