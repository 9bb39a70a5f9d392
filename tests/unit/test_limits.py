"""The serve limiter: a bound, a bounded FIFO queue behind it, and slots that survive cancellation."""

from __future__ import annotations

import asyncio

import pytest

from motion_grpc.engine.limits import Limiter
from motion_grpc.errors import ResourceExhaustedError


def test_holders_past_the_bound_wait_in_order_and_past_the_queue_are_refused() -> None:
    async def scenario() -> list[int]:
        limiter = Limiter(2, 2, "--max-concurrent-serves")
        release = asyncio.Event()
        order: list[int] = []

        async def hold(index: int) -> None:
            async with limiter:
                order.append(index)
                await release.wait()

        holders = [asyncio.ensure_future(hold(index)) for index in range(4)]
        await asyncio.sleep(0.01)
        assert (limiter.in_flight, order) == (2, [0, 1])
        with pytest.raises(ResourceExhaustedError, match="--max-concurrent-serves 2, with 2 more waiting"):
            await limiter.__aenter__()
        release.set()
        await asyncio.gather(*holders)
        assert limiter.in_flight == 0
        return order

    assert asyncio.run(scenario()) == [0, 1, 2, 3]


def test_a_cancelled_waiter_gives_up_its_place_and_never_leaks_a_slot() -> None:
    async def scenario() -> None:
        limiter = Limiter(1, 5, "--max-concurrent-serves")
        gate = asyncio.Event()

        async def hold() -> None:
            async with limiter:
                await gate.wait()

        first = asyncio.ensure_future(hold())
        waiting = [asyncio.ensure_future(hold()) for _ in range(3)]
        await asyncio.sleep(0.01)
        waiting[0].cancel()
        gate.set()
        waiting[1].cancel()  # may be cancelled just as the slot is handed to it
        results = await asyncio.gather(first, *waiting, return_exceptions=True)
        assert sum(isinstance(result, asyncio.CancelledError) for result in results) in (1, 2)
        assert limiter.in_flight == 0
        async with limiter:
            assert limiter.in_flight == 1

    asyncio.run(scenario())
