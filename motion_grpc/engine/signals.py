"""Wake-ups on the event loop for callers waiting on an instance this process drains.

A waiter arms a future before it looks at Redis, so a wake-up that comes
while it looks is not lost; the drain fires every armed future of the
instance after each commit and when it stops. A wake-up says only "look
again": the waiter reads the truth from Redis.
"""

from __future__ import annotations

import asyncio

from motion_grpc.store.keys import InstanceKeys


class Signals:
    """Armed futures by instance; fired all at once."""

    def __init__(self) -> None:
        self._armed: dict[InstanceKeys, set[asyncio.Future[None]]] = {}

    def arm(self, keys: InstanceKeys) -> asyncio.Future[None]:
        signal: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._armed.setdefault(keys, set()).add(signal)
        return signal

    def disarm(self, keys: InstanceKeys, signal: asyncio.Future[None]) -> None:
        armed = self._armed.get(keys)
        if armed is not None:
            armed.discard(signal)
            if not armed:
                del self._armed[keys]

    def fire(self, keys: InstanceKeys) -> None:
        for signal in self._armed.pop(keys, ()):
            if not signal.done():
                signal.set_result(None)

    def fire_all(self) -> None:
        for keys in list(self._armed):
            self.fire(keys)
