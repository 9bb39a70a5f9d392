"""Cheap updates applied in groups: a drain that keeps finding a few new ones waits a moment, so
they are applied together; a backlog found before any op was timed is grouped all the same.

Real Redis, the engine in-process. The update ops stamp when they start; the
gaps between stamps show which entries were applied as one group.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from motion_grpc import Component
from motion_grpc.engine import Engine, EngineSettings, RunOptions
from motion_grpc.store import RedisSettings, scripts
from motion_grpc.store.keys import InstanceKeys
from tests.helpers import unique
from tests.integration.conftest import events_of

WAIT = 0.3  # update_group_wait of the engine under test: far above the gaps of one group
FLUSHED = RunOptions(flush_update=True)

Grouped = Component("Grouped", cache_ttl=0)
started: dict[str, list[tuple[int, float]]] = {}  # instance id -> (i, monotonic start) per update


@Grouped.init_state
def setup() -> dict[str, list[int]]:
    return {"applied": []}


@Grouped.serve("add")
def serve(state: object, props: object) -> None:
    return None


@Grouped.update("add")
def cheap(state: dict[str, list[int]], props: dict[str, int]) -> dict[str, list[int]]:
    started.setdefault(props["id"], []).append((props["i"], time.monotonic()))  # type: ignore[index]
    return {"applied": state["applied"] + [props["i"]]}


@Grouped.update("also")
def cheap_also(state: dict[str, list[int]], props: dict[str, int]) -> dict[str, list[int]]:
    return {"applied": state["applied"] + [props["i"]]}


@Grouped.update("slow")
def slow(state: dict[str, list[int]], props: dict[str, int]) -> dict[str, list[int]]:
    started.setdefault(props["id"], []).append((props["i"], time.monotonic()))  # type: ignore[index]
    time.sleep(0.01)  # above the 2 ms under which an update op counts as cheap
    return {"applied": state["applied"] + [props["i"]]}


@pytest.fixture
def engine(redis_url: str) -> Iterator[Engine]:
    engine = Engine(RedisSettings(redis_url), [Grouped], EngineSettings(update_group_wait=WAIT)).start()
    yield engine
    engine.close()


def _groups(stamps: list[tuple[int, float]]) -> list[list[int]]:
    """The updates' indexes, cut where one started more than WAIT / 2 after the one before."""
    groups: list[list[int]] = []
    last = None
    for i, at in stamps:
        if last is None or at - last > WAIT / 2:
            groups.append([])
        groups[-1].append(i)
        last = at
    return groups


def _warm(engine: Engine, instance_id: str, flow: str) -> None:
    """Flushed runs, one at a time: the op's time is measured, and each drain ends idle."""
    for i in range(-5, 0):
        engine.run("Grouped", instance_id, flow, {"id": instance_id, "i": i}, FLUSHED)
    started.pop(instance_id)


def test_cheap_updates_that_keep_coming_are_applied_in_a_few_groups_in_order(engine: Engine) -> None:
    instance_id = unique("grouped")
    _warm(engine, instance_id, "add")
    ran = time.monotonic()
    for i in range(10):
        engine.run("Grouped", instance_id, "add", {"id": instance_id, "i": i})
    engine.flush("Grouped", instance_id)
    stamps = started[instance_id]
    assert [i for i, _ in stamps] == list(range(10))
    assert stamps[0][1] - ran < WAIT / 2  # the drain woken from idle does not wait
    groups = _groups(stamps)
    assert groups[0][0] == 0 and 2 <= len(groups) <= 3, groups  # the rest waited, and went together
    assert engine.get_state("Grouped", instance_id).state["applied"] == [*range(-5, 0), *range(10)]


def test_slow_updates_never_wait(engine: Engine) -> None:
    instance_id = unique("slow")
    _warm(engine, instance_id, "slow")
    for i in range(5):
        engine.run("Grouped", instance_id, "slow", {"id": instance_id, "i": i})
    engine.flush("Grouped", instance_id)
    stamps = started[instance_id]
    assert [i for i, _ in stamps] == list(range(5))
    assert _groups(stamps) == [list(range(5))]  # one after the other, no wait between


def test_an_idle_instance_is_picked_up_at_once_each_time(engine: Engine) -> None:
    instance_id = unique("idle")
    _warm(engine, instance_id, "add")
    for i in range(3):
        time.sleep(0.05)  # the drain before has ended idle
        ran = time.monotonic()
        engine.run("Grouped", instance_id, "add", {"id": instance_id, "i": i}, FLUSHED)
        assert started[instance_id][-1][1] - ran < WAIT / 2


def _longest_start_run_of_a_backlog(redis_url: str, flows: tuple[str, ...]) -> int:
    """Queue 100 updates (the flows taking turns) with no drain, have a fresh engine (no op timed
    yet) apply them in order, and count the most RUNNING events in a row: entries started together."""
    instance_id = unique("backlog")
    settings = RedisSettings(redis_url)
    enqueuer = Engine(settings, [Grouped], EngineSettings(process_updates=False)).start()
    try:
        for i in range(100):
            enqueuer.run("Grouped", instance_id, flows[i % len(flows)], {"id": instance_id, "i": i})
    finally:
        enqueuer.close()
    fresh = Engine(settings, [Grouped], EngineSettings(update_group_wait=0.0)).start()
    try:
        fresh.flush("Grouped", instance_id)
        assert fresh.get_state("Grouped", instance_id).state["applied"] == list(range(100))
    finally:
        fresh.close()
    events = events_of(redis_url, "Grouped", instance_id)
    runs = "".join("R" if event.status == scripts.RUNNING else "." for event in events).split(".")
    return max(len(run) for run in runs)


def test_a_backlog_found_before_any_op_ran_here_is_still_applied_in_groups(redis_url: str) -> None:
    assert _longest_start_run_of_a_backlog(redis_url, ("add",)) > 1  # grouped, once the op was timed


def test_a_backlog_of_two_cheap_ops_taking_turns_is_applied_in_groups_holding_both(redis_url: str) -> None:
    """A group is the run of never-started entries of cheap ops, whichever op each one runs."""
    assert _longest_start_run_of_a_backlog(redis_url, ("add", "also")) > 2


def test_a_run_waiting_behind_a_backlog_looks_at_redis_once_it_is_through(
    engine: Engine, redis_url: str
) -> None:
    instance_id = unique("behind")
    _warm(engine, instance_id, "add")
    store = engine.core.store
    lease = InstanceKeys.of("Grouped", instance_id).lease
    looks: list[str] = []

    def counted(name: str) -> None:
        method = getattr(store, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            looks.append(name)
            return await method(*args, **kwargs)

        setattr(store, name, call)

    for name in ("flush_probe", "events_range", "events_back"):
        counted(name)
    held = redis.Redis.from_url(redis_url)
    try:
        assert held.set(lease, "test-pause", nx=True, px=30_000)  # the backlog piles up behind it
        for i in range(1200):  # 2,400 events (RUNNING, APPLIED): several pages of them
            engine.run("Grouped", instance_id, "add", {"id": instance_id, "i": i})
        held.delete(lease)
        last = engine.run("Grouped", instance_id, "add", {"id": instance_id, "i": 1200}, FLUSHED)
    finally:
        held.close()
    assert [(e.update_id, e.status) for e in last.outcomes] == [(last.update_ids[0], scripts.APPLIED)]
    assert engine.get_state("Grouped", instance_id).state["applied"][-1] == 1200
    # About 38 commits of 32 went by; the waiter looked when its own had, and read one page back.
    assert looks.count("flush_probe") <= 3, looks
    assert (looks.count("events_back"), looks.count("events_range")) == (1, 0), looks
