"""Instance runtimes: a serve that finds a commit of this process in flight waits it out."""

from __future__ import annotations

import asyncio

from motion_grpc.engine.snapshots import InstanceRuntime, Snapshot
from motion_grpc.store.keys import InstanceKeys


async def _served_after_commit() -> tuple[Snapshot | None, Snapshot | None, bool]:
    runtime = InstanceRuntime(InstanceKeys.of("C", "one"))
    runtime.snapshot = Snapshot(1, {"n": 1}, {"n": 1})
    with runtime.committing():
        waiter = asyncio.ensure_future(runtime.snapshot_after_commit())
        cancelled = asyncio.ensure_future(runtime.snapshot_after_commit())
        await asyncio.sleep(0.01)
        during = runtime.unchecked_snapshot()
        cancelled.cancel()  # one waiter giving up leaves the others waiting
        await asyncio.sleep(0)
        assert not waiter.done()
        runtime.snapshot = Snapshot(2, {"n": 2}, {"n": 1})  # the commit's fold, before it ends
    after = await asyncio.wait_for(waiter, 1.0)
    return during, after, cancelled.cancelled()


def test_a_serve_waits_for_the_commit_in_flight_and_gets_its_snapshot() -> None:
    during, after, cancelled = asyncio.run(_served_after_commit())
    assert during is None  # nobody serves unchecked from the snapshot a commit is replacing
    assert after is not None and after.version == 2
    assert cancelled


async def _without_commit() -> Snapshot | None:
    runtime = InstanceRuntime(InstanceKeys.of("C", "one"))
    runtime.snapshot = Snapshot(3, {}, {})
    return await asyncio.wait_for(runtime.snapshot_after_commit(), 1.0)


def test_without_a_commit_in_flight_the_snapshot_is_at_hand() -> None:
    snapshot = asyncio.run(_without_commit())
    assert snapshot is not None and snapshot.version == 3
