"""The in-process API, as in Motion, on the same engine and state as the server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from motion_grpc import Component, MotionClient
from motion_grpc.engine import Engine
from motion_grpc.instance import ComponentInstance
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisSettings
from tests.helpers import TEST_APP, ServerProcess, unique


@pytest.fixture
def engine(redis_url: str) -> Iterator[Engine]:
    running = Engine(RedisSettings(redis_url), load_components([TEST_APP])).start()
    yield running
    running.close()


def _ledger(engine: Engine) -> Component:
    return engine.component("Ledger")


def test_run_flush_read_write(engine: Engine) -> None:
    instance = ComponentInstance(_ledger(engine), unique("local"), engine=engine)
    assert instance.get_version() == 1
    for i in range(10):
        assert instance.run("append", {"i": i}) <= i
    assert instance.flush_update("append") == 11
    assert instance.read_state("items") == list(range(10))
    assert instance.read_state("missing", "default") == "default"
    assert instance.write_state({"items": []}) == 12
    assert instance.run("append", {"i": 7}, flush_update=True) == 0
    assert instance.read_state("items") == [7]


def test_arun(engine: Engine) -> None:
    instance = ComponentInstance(_ledger(engine), unique("async"), engine=engine)

    async def main() -> list[int]:
        return [await instance.arun("append", {"i": i}, flush_update=True) for i in range(3)]

    assert asyncio.run(main()) == [0, 1, 2]


def test_notebook_and_server_share_an_instance(engine: Engine, server: ServerProcess) -> None:
    instance_id = unique("shared")
    with ComponentInstance(_ledger(engine), instance_id, engine=engine) as instance:
        instance.run("append", {"i": 1}, flush_update=True)
    with MotionClient(server.target) as client:
        handle = client.instance("Ledger", instance_id)
        assert handle.run("append", {"i": 2}, flush_update=True) == 1
        assert handle.get_state() == {"items": [1, 2]}
    assert ComponentInstance(_ledger(engine), instance_id, engine=engine).read_state("items") == [1, 2]


def test_init_state_params_apply_on_creation_only(engine: Engine) -> None:
    c = Component("Params", cache_ttl=0)

    @c.init_state
    def setup(start=0):
        return {"n": start}

    @c.serve("get")
    def get(state, props):
        return state["n"]

    instance_id = unique("params")
    assert ComponentInstance(c, instance_id, init_state_params={"start": 5}, engine=engine).run("get") == 5
    again = ComponentInstance(c, instance_id, init_state_params={"start": 9}, engine=engine)
    assert again.run("get") == 5
    assert ComponentInstance(c, unique("params"), engine=engine).run("get") == 0


def test_a_snapshot_made_stale_elsewhere_is_never_served(redis_url: str) -> None:
    """Engine A serves cheap ops from its snapshot; a commit by engine B must still show at once."""
    engines = [Engine(RedisSettings(redis_url), load_components([TEST_APP])).start() for _ in range(2)]
    try:
        first, second = (engine.component("Ledger") for engine in engines)
        instance_id = unique("stale")
        here = ComponentInstance(first, instance_id, engine=engines[0])
        there = ComponentInstance(second, instance_id, engine=engines[1])
        for i in range(20):  # warms A's snapshot and marks the serve op as cheap
            here.run("append", {"i": i}, flush_update=True)
        for round_ in range(5):
            there.write_state({"items": [round_]})
            assert here.run("append", {"i": 99}) == 1  # len of B's freshly written list
            here.flush_update()
    finally:
        for engine in engines:
            engine.close()
