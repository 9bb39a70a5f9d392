"""An op that changes the state it reads in place changes nothing others read or what is stored.

The process keeps one snapshot per instance and every op reads it: before,
`state["items"].append(x)` in a serve op changed that snapshot (GetState
showed it at an unchanged version) and the next update wrote it to Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from motion_grpc import Component
from motion_grpc.engine import Engine
from motion_grpc.instance import ComponentInstance
from motion_grpc.state import State, private_copy
from motion_grpc.store import RedisSettings
from tests.helpers import unique

Meddler = Component("StateMeddler", cache_ttl=0)


@Meddler.init_state
def setup() -> dict[str, Any]:
    return {"items": [], "meta": {"tags": ["a"]}, "pair": ([1], 2), "name": "m"}


@Meddler.serve("peek")
def peek(state: Any, props: Any) -> int:
    state["items"].append("by serve")
    state["meta"]["tags"].append("by serve")
    state["pair"][0].append("by serve")
    assert state["items"][-1] == "by serve"  # the op's own reads see its own copy
    return len(state["items"])


@Meddler.update("peek")
def quietly(state: Any, props: Any) -> dict[str, Any]:
    state["items"].append("by update")  # changed in place, not returned: not a change
    return {}


@Meddler.serve("add")
def count(state: Any, props: Any) -> int:
    return len(state["items"])


@Meddler.update("add")
def add(state: Any, props: Any) -> dict[str, Any]:
    items = state["items"]
    items.append(props["item"])
    return {"items": items}  # changed in place and returned: the change


@pytest.fixture
def engine(redis_url: str) -> Iterator[Engine]:
    running = Engine(RedisSettings(redis_url), [Meddler]).start()
    yield running
    running.close()


def test_changes_in_place_reach_neither_readers_nor_redis(engine: Engine, redis_url: str) -> None:
    instance = ComponentInstance(Meddler, unique("meddled"), engine=engine)
    assert [instance.run("peek", {}, flush_update=True) for _ in range(3)] == [1, 1, 1]
    assert instance.get_state() == {"items": [], "meta": {"tags": ["a"]}, "pair": ([1], 2), "name": "m"}
    assert instance.get_version() == 1
    instance.run("add", {"item": "x"}, flush_update=True)
    instance.run("add", {"item": "y"}, flush_update=True)
    assert instance.read_state("items") == ["x", "y"]
    fresh = Engine(RedisSettings(redis_url), [Meddler]).start()  # reads Redis, not this snapshot
    try:
        stored = ComponentInstance(Meddler, instance.instance_id, engine=fresh).get_state()
    finally:
        fresh.close()
    assert stored["items"] == ["x", "y"] and stored["meta"] == {"tags": ["a"]}


def test_what_read_state_returns_is_the_callers_own(engine: Engine) -> None:
    instance = ComponentInstance(Meddler, unique("reader"), engine=engine)
    instance.read_state("items").append("by caller")
    instance.get_state()["meta"]["tags"].append("by caller")
    assert instance.read_state("items") == [] and instance.read_state("meta") == {"tags": ["a"]}


def test_private_copies_copy_containers_and_share_the_rest() -> None:
    shared = object()
    value = {"l": [1, {"d": {2}}], "t": ([3],), "b": bytearray(b"x"), "o": shared, "s": "text"}
    copy = private_copy(value)
    assert copy == value and copy is not value
    assert copy["l"][1]["d"] is not value["l"][1]["d"] and copy["t"][0] is not value["t"][0]
    assert copy["b"] is not value["b"] and copy["o"] is shared and copy["s"] is value["s"]
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    assert private_copy(cyclic) is cyclic  # a cycle is shared rather than followed forever
    state = State("i", {"l": [1]}, 3)
    assert state["l"] is state["l"] and state["l"] is not value  # one copy per view and key
    assert state.to_dict() == {"l": [1]} and dict(state) == {"l": [1]}
