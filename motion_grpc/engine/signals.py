"""Wake-ups on the event loop for callers waiting on an instance this process drains.

A waiter subscribes before it first looks at Redis and stays subscribed
until it is done, so no wake-up is lost between two looks. The drain fires
the instance's subscriptions after each commit, naming the last entry the
commit ended, and with no entry (look again) after a take that discarded
entries and when it stops. A waiter whose target entry lies beyond the one
named sleeps on without a round trip to Redis: while a backlog drains, its
waiter no longer reads the events stream after every commit. Otherwise it
reads the truth from Redis.
"""

from __future__ import annotations

import asyncio

from motion_grpc.store.events import parse_event_id
from motion_grpc.store.keys import InstanceKeys


class Subscription:
    """One waiter's wake-ups: fired since it last woke, and the furthest entry ended meanwhile."""

    __slots__ = ("_ended", "_future", "_look")

    def __init__(self) -> None:
        self._future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._look = False
        self._ended: tuple[int, int] | None = None

    def fire(self, ended: tuple[int, int] | None) -> None:
        if ended is None:
            self._look = True
        elif self._ended is None or ended > self._ended:
            self._ended = ended
        if not self._future.done():
            self._future.set_result(None)

    async def wait_past(self, target: tuple[int, int] | None, seconds: float) -> None:
        """Return once the drain ended `target` (or anything, with None), or asked for a look, or
        after `seconds`."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while True:
            remaining = until - loop.time()
            if remaining <= 0:
                return
            await asyncio.wait((self._future,), timeout=remaining)
            if not self._future.done():
                return
            look, ended = self._look, self._ended
            self._future = loop.create_future()
            self._look, self._ended = False, None
            if look or target is None or (ended is not None and ended >= target):
                return


class Signals:
    """Subscriptions by instance, fired all at once."""

    def __init__(self) -> None:
        self._subscribed: dict[InstanceKeys, set[Subscription]] = {}

    def subscribe(self, keys: InstanceKeys) -> Subscription:
        subscription = Subscription()
        self._subscribed.setdefault(keys, set()).add(subscription)
        return subscription

    def unsubscribe(self, keys: InstanceKeys, subscription: Subscription) -> None:
        subscribed = self._subscribed.get(keys)
        if subscribed is not None:
            subscribed.discard(subscription)
            if not subscribed:
                del self._subscribed[keys]

    def fire(self, keys: InstanceKeys, ended: str | None = None) -> None:
        """Wake the instance's waiters: the entries up to `ended` have ended (None: look again)."""
        subscribed = self._subscribed.get(keys)
        if not subscribed:
            return
        position = None if ended is None else parse_event_id(ended)
        for subscription in subscribed:
            subscription.fire(position)

    def fire_all(self) -> None:
        for keys in list(self._subscribed):
            self.fire(keys)
