"""How a settled grpc batch ends: its freeing step always runs, then its failure or cancellation arrives.

A stand-in for grpc's `execute_batch` (create the future, await it, then free
the batch) shows the order without a network: tests/integration/test_watch_leak.py
measures the memory this saves on a real server.
"""

from __future__ import annotations

import asyncio

import pytest

from motion_grpc.server.grpc_batches import SettlingFuture, _Settled


class _Batch:
    """execute_batch's shape: the future comes from loop.create_future, the batch is freed after the await."""

    def __init__(self) -> None:
        self.future: asyncio.Future[None] | None = None
        self.freed = False

    async def run(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future = loop.create_future()
        await self.future
        self.freed = True


async def _started(batch: _Batch) -> asyncio.Task[None]:
    loop = asyncio.get_running_loop()

    async def handler() -> None:
        await _Settled(batch.run(loop), loop)

    task = loop.create_task(handler())
    await asyncio.sleep(0)
    assert isinstance(batch.future, SettlingFuture)
    assert "create_future" not in vars(loop)  # shadowed only while the batch started
    return task


def test_a_failed_batch_is_freed_then_its_failure_raised() -> None:
    async def scenario() -> None:
        batch = _Batch()
        task = await _started(batch)
        assert batch.future is not None
        batch.future.set_exception(RuntimeError("Core failed the batch"))
        with pytest.raises(RuntimeError, match="Core failed the batch"):
            await task
        assert batch.freed

    asyncio.run(scenario())


def test_a_cancelled_handler_ends_once_its_batch_is_freed() -> None:
    async def scenario() -> None:
        batch = _Batch()
        task = await _started(batch)
        task.cancel()
        await asyncio.sleep(0)
        assert not task.done() and not batch.freed  # Core still owns the batch
        assert batch.future is not None
        batch.future.set_result(None)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert batch.freed

    asyncio.run(scenario())


def test_a_batch_that_succeeds_returns_normally() -> None:
    async def scenario() -> None:
        batch = _Batch()
        task = await _started(batch)
        assert batch.future is not None
        batch.future.set_result(None)
        await task
        assert batch.freed

    asyncio.run(scenario())
