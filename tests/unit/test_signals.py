"""Waiters' wake-ups from the drain: none lost, and no look before the commit reached the target."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from motion_grpc.engine.signals import Signals
from motion_grpc.store.keys import InstanceKeys

KEYS = InstanceKeys.of("Component", "instance")


def _run(body: Coroutine[Any, Any, None]) -> None:
    asyncio.run(body)


def test_a_waiter_sleeps_through_commits_before_its_target_and_wakes_at_it() -> None:
    async def main() -> None:
        signals = Signals()
        subscription = signals.subscribe(KEYS)
        waiting = asyncio.ensure_future(subscription.wait_past((5, 0), 5.0))
        for entry in ("1-0", "3-2", "4-9"):
            signals.fire(KEYS, entry)
            await asyncio.sleep(0)
            assert not waiting.done()
        signals.fire(KEYS, "5-0")
        await asyncio.wait_for(waiting, 1.0)

    _run(main())


def test_commits_fired_while_the_waiter_was_not_running_are_not_lost() -> None:
    async def main() -> None:
        signals = Signals()
        subscription = signals.subscribe(KEYS)
        signals.fire(KEYS, "2-0")
        signals.fire(KEYS, "9-0")  # before the waiter ran at all: the furthest counts
        signals.fire(KEYS, "3-0")
        await asyncio.wait_for(subscription.wait_past((8, 1), 5.0), 1.0)

    _run(main())


def test_a_look_request_or_an_open_target_wakes_at_once_and_a_quiet_drain_times_out() -> None:
    async def main() -> None:
        signals = Signals()
        subscription = signals.subscribe(KEYS)
        signals.fire(KEYS)  # a take that discarded entries, or the drain stopped
        await asyncio.wait_for(subscription.wait_past((5, 0), 5.0), 1.0)
        signals.fire(KEYS, "1-0")
        await asyncio.wait_for(subscription.wait_past(None, 5.0), 1.0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await subscription.wait_past((5, 0), 0.05)
        assert loop.time() - started >= 0.04

    _run(main())


def test_unsubscribed_waiters_are_forgotten() -> None:
    async def main() -> None:
        signals = Signals()
        first, second = signals.subscribe(KEYS), signals.subscribe(KEYS)
        signals.unsubscribe(KEYS, first)
        signals.unsubscribe(KEYS, second)
        signals.fire(KEYS, "1-0")  # nobody left: nothing to do
        signals.fire_all()
        assert not signals._subscribed

    _run(main())
