"""The watch fan-out logic, without Redis: resume points, catch-up, bounded buffers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from motion_grpc.engine.watching import Subscription, resume_point
from motion_grpc.errors import InvalidArgumentError, OutOfRangeError, ResourceExhaustedError
from motion_grpc.store.events import StreamBounds, parse_event_id
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Event

KEYS = InstanceKeys.of("C", "i")


def event(ms: int, flow: str = "f") -> Event:
    return Event(f"{ms}-0", f"{ms}-0", flow, "op", 1, 1, ms, ms, 0, "", "")


class FakeLog:
    """History as XRANGE would answer it, with the oldest retained id."""

    def __init__(self, history: list[Event]) -> None:
        self.history = history

    async def page(self, keys: InstanceKeys, after: tuple[int, int], count: int) -> Any:
        newer = [e for e in self.history if parse_event_id(e.id) > after]
        first = parse_event_id(self.history[0].id) if self.history else None
        return newer[:count], first


class FakeFeed:
    keys = KEYS
    cursor = (0, 0)

    def remove(self, subscription: Subscription) -> None:
        pass


def test_resume_points() -> None:
    bounds = StreamBounds(True, (5, 0), (9, 0), None)
    assert resume_point("", bounds) == (9, 0)
    assert resume_point("0-0", bounds) == (0, 0)
    assert resume_point("7-0", bounds) == (7, 0)
    with pytest.raises(InvalidArgumentError):
        resume_point("10-0", bounds)  # newer than the newest event
    with pytest.raises(InvalidArgumentError):
        resume_point("x", bounds)
    empty = StreamBounds(True, None, None, 1_000)
    assert resume_point("", empty) == (0, 0)
    with pytest.raises(InvalidArgumentError):
        resume_point("2000-0", empty)  # past Redis' clock


def test_catch_up_then_live_without_gap_or_duplicate() -> None:
    async def main() -> list[str]:
        log = FakeLog([event(ms) for ms in range(1, 6)])
        subscription = Subscription(FakeFeed(), (2, 0), None, limit=100)  # type: ignore[arg-type]
        await subscription.start(log)  # type: ignore[arg-type]
        subscription.push([event(5), event(6)])  # the feed's view overlaps what catch-up reads
        seen = [e.id for e in await subscription.next_batch(log, 0.01)]  # type: ignore[arg-type]
        seen += [e.id for e in await subscription.next_batch(log, 0.01)]  # type: ignore[arg-type]
        assert await subscription.next_batch(log, 0.01) == []  # type: ignore[arg-type]
        return seen

    assert asyncio.run(main()) == ["3-0", "4-0", "5-0", "6-0"]


def test_out_of_range_when_the_resume_point_was_trimmed() -> None:
    async def main() -> None:
        log = FakeLog([event(ms) for ms in range(10, 20)])
        subscription = Subscription(FakeFeed(), (3, 0), None, limit=100)  # type: ignore[arg-type]
        with pytest.raises(OutOfRangeError, match="10-0"):
            await subscription.start(log)  # type: ignore[arg-type]

    asyncio.run(main())


def test_a_stalled_watcher_is_ended_with_bounded_memory() -> None:
    async def main() -> None:
        log = FakeLog([])
        subscription = Subscription(FakeFeed(), (0, 0), ["f"], limit=10)  # type: ignore[arg-type]
        await subscription.start(log)  # type: ignore[arg-type]
        for ms in range(1, 50):
            subscription.push([event(ms)])
        with pytest.raises(ResourceExhaustedError, match="after_event_id=0-0"):
            await subscription.next_batch(log, 0.01)  # type: ignore[arg-type]

    asyncio.run(main())


def test_flow_filter_still_advances_the_resume_point() -> None:
    async def main() -> tuple[list[str], tuple[int, int]]:
        log = FakeLog([event(1, "a"), event(2, "b"), event(3, "a")])
        subscription = Subscription(FakeFeed(), (0, 0), ["a"], limit=10)  # type: ignore[arg-type]
        await subscription.start(log)  # type: ignore[arg-type]
        batch = await subscription.next_batch(log, 0.01)  # type: ignore[arg-type]
        return [e.id for e in batch], subscription.position

    assert asyncio.run(main()) == (["1-0", "3-0"], (3, 0))
