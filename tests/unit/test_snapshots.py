"""Instance runtimes: a serve that finds a commit of this process in flight waits it out."""

from __future__ import annotations

import asyncio

from motion_grpc.engine.snapshots import InstanceRuntime, Runtimes, Snapshot
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


def _sized(version: int, size: int) -> Snapshot:
    return Snapshot(version, {"blob": "x"}, {"blob": size})


def test_snapshots_past_the_byte_budget_drop_the_least_recently_used_first() -> None:
    runtimes = Runtimes(max_size=100, max_snapshot_bytes=1000)
    a, b, c = (runtimes.get(InstanceKeys.of("C", name)) for name in "abc")
    a.snapshot, b.snapshot = _sized(1, 400), _sized(1, 400)
    runtimes.get(a.keys)  # a is used again: b is now the least recently used
    c.snapshot = _sized(1, 400)
    assert (a.snapshot is not None, b.snapshot is None, c.snapshot is not None) == (True, True, True)
    assert runtimes.snapshot_bytes.total == 800
    c.snapshot = _sized(2, 5000)  # alone past the budget: kept, the others dropped
    assert (a.snapshot, c.snapshot and c.snapshot.version) == (None, 2)
    assert runtimes.snapshot_bytes.total == 5000
    runtimes.forget(c.keys)
    assert runtimes.snapshot_bytes.total == 0
    a.snapshot = _sized(3, 100)
    runtimes.forget_states()
    assert a.snapshot is None and runtimes.snapshot_bytes.total == 0


def test_a_snapshot_read_from_a_callers_thread_gets_a_second_chance_before_it_is_dropped() -> None:
    runtimes = Runtimes(max_size=100, max_snapshot_bytes=1000)
    a, b, c = (runtimes.get(InstanceKeys.of("C", name)) for name in "abc")
    a.snapshot, b.snapshot = _sized(1, 400), _sized(1, 400)
    a.referenced = True  # read by a caller's thread, which leaves the loop's order of use as it was
    c.snapshot = _sized(1, 400)
    assert (a.snapshot is not None, b.snapshot is None) == (True, True)
    assert not a.referenced  # passed over once: next time it goes, unless read again


def test_a_runtime_no_longer_kept_counts_against_no_budget() -> None:
    runtimes = Runtimes(max_size=1, max_snapshot_bytes=1000)
    first = runtimes.get(InstanceKeys.of("C", "first"))
    runtimes.get(InstanceKeys.of("C", "second"))  # evicts the first runtime (a drain may hold it)
    first.snapshot = _sized(1, 900)  # the drain's commit folds into the runtime it holds
    assert runtimes.snapshot_bytes.total == 0
