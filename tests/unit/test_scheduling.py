"""The update scheduler: when an instance notified during its drain is drained once more."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis.asyncio

from motion_grpc.engine.draining import Opening
from motion_grpc.engine.scheduling import UpdateScheduler
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.store import Store

KEYS = InstanceKeys.of("C", "one")


async def _drains(redis_url: str, notify_after_take: bool) -> int:
    """Drains of one instance notified once: the drain is notified again before or after its take."""
    store = Store(redis.asyncio.Redis.from_url(redis_url))  # only a sweep would use it
    drains = 0

    async def drain(
        keys: InstanceKeys, taking: Callable[[], None], opening: Opening | None, turn_over: Callable[[], bool]
    ) -> bool:
        nonlocal drains
        drains += 1
        if drains == 1:
            if notify_after_take:
                taking()
                scheduler.notify(keys)  # an enqueue the take may have missed
            else:
                scheduler.notify(keys)  # an enqueue that landed before the take: it sees it
                taking()
        await asyncio.sleep(0)
        return False

    scheduler = UpdateScheduler(store, drain, max_concurrent=4, sweep_interval=60.0)
    try:
        scheduler.notify(KEYS)
        await asyncio.sleep(0.2)  # each drain takes a loop turn or two: all have run by then
        return drains
    finally:
        await scheduler.close()
        await store.client.aclose()


def test_a_notify_before_the_drains_take_needs_no_second_drain(redis_url: str) -> None:
    assert asyncio.run(_drains(redis_url, notify_after_take=False)) == 1


def test_a_notify_after_the_drains_take_drains_once_more(redis_url: str) -> None:
    assert asyncio.run(_drains(redis_url, notify_after_take=True)) == 2
