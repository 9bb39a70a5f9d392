"""The serve-result cache: keyed by flow, canonical props and state version; never older than the state."""

from __future__ import annotations

import pathlib
import time
from typing import Any

import pytest
import redis

from motion_grpc import Component, MotionClient
from motion_grpc.engine import Engine
from motion_grpc.instance import ComponentInstance
from motion_grpc.store import protocol
from motion_grpc.store.keys import InstanceKeys
from tests.helpers import unique


def test_same_props_at_the_same_version_hit(semantics_client: MotionClient) -> None:
    handle = semantics_client.instance("Cached", unique("hit"))
    first = handle.run_outcome("read", {"q": 1, "w": [1, 2]})
    again = handle.run_outcome("read", {"w": [1.0, 2], "q": 1.0})  # same props, other order and spelling
    assert (first.cached, again.cached) == (False, True)
    assert again.result == first.result and again.version == first.version
    other = handle.run_outcome("read", {"q": 2, "w": [1, 2]})
    assert not other.cached and other.result["token"] != first.result["token"]


def test_a_state_change_misses(semantics_client: MotionClient) -> None:
    handle = semantics_client.instance("Cached", unique("miss"))
    before = handle.run_outcome("read", {"q": 1})
    bumped = handle.run_outcome("bump", {}, flush_update=True)
    assert bumped.version == before.version + 1
    after = handle.run_outcome("read", {"q": 1})
    assert not after.cached
    assert after.result["n"] == 1 and after.version == bumped.version
    assert handle.run_outcome("read", {"q": 1}).result == after.result


def test_ignore_cache_recomputes(semantics_client: MotionClient) -> None:
    handle = semantics_client.instance("Cached", unique("ignore"))
    first = handle.run_outcome("read", {"q": 1})
    fresh = handle.run_outcome("read", {"q": 1}, ignore_cache=True)
    assert not fresh.cached and fresh.result["token"] != first.result["token"]
    assert fresh.version == first.version


def test_force_refresh_waits_for_pending_updates(
    semantics_client: MotionClient, tmp_path: pathlib.Path
) -> None:
    handle = semantics_client.instance("Cached", unique("refresh"))
    cached = handle.run_outcome("read", {"q": 1})
    gate = tmp_path / "gate"
    handle.run("bump", {"gate": str(gate)})  # held until the gate opens
    handle.run("bump", {})
    stale = handle.run_outcome("read", {"q": 1})
    assert stale.result["n"] == 0  # served at once from the last committed state
    gate.touch()
    refreshed = handle.run_outcome("read", {"q": 1}, force_refresh=True)
    assert refreshed.result["n"] == 2 and not refreshed.cached
    assert refreshed.version == cached.version + 2


def test_flush_update_returns_the_version_its_updates_produced(semantics_client: MotionClient) -> None:
    handle = semantics_client.instance("Cached", unique("flush"))
    outcome = handle.run_outcome("bump", {}, flush_update=True)
    assert outcome.result == 0 and outcome.version == 2
    assert [o.version for o in outcome.update_outcomes] == [2]
    assert handle.version == 2
    assert handle.run_outcome("read", {"q": 1}).version == 2


def test_a_cheap_op_hits_in_its_enqueue_round_trip(engine: Engine) -> None:
    """Cheap ops are served from the snapshot and the cache looked up as they enqueue: a hit still
    wins, and the update ops get the cached result and the props as the serve op left them."""
    component = engine.component("Cached")
    noted = component.flow("note").updates[0].func.__globals__["NOTED"]  # the app module as loaded
    instance = ComponentInstance(component, unique("cheap"), engine=engine)
    for i in range(5):  # the engine learns that the op is cheap
        instance.run_result("note", {"i": i})
    first = instance.run_result("note", {"q": 1}, flush_update=True)
    del noted[:]
    hit = instance.run_result("note", {"q": 1}, flush_update=True)
    assert (first.cached, hit.cached) == (False, True)
    assert hit.result == first.result and hit.version == first.version
    assert noted == [{"token": first.result["token"], "computed": True}]


@pytest.mark.parametrize("served_here", [True, False], ids=["caller-thread", "engine-loop"])
def test_a_hit_gives_the_update_ops_what_the_serve_op_added_to_the_props(
    engine: Engine, served_here: bool
) -> None:
    """As in Motion, which caches the props with the answer: an update op reading what the serve op
    added (retrieved documents, say) gets it on a hit too, from Redis or from this process's copy."""
    seen: list[tuple[str, Any, Any]] = []
    rag = Component(unique("Rag"))

    @rag.init_state
    def setup() -> dict[str, Any]:
        return {}

    @rag.serve("ask")
    def ask(state: Any, props: Any) -> str:
        props["retrieved"] = ["doc-" + props["q"]]
        props.pop("drop", None)
        return "answer:" + props["q"]

    @rag.update("ask")
    def remember(state: Any, props: Any) -> dict[str, Any]:
        seen.append((props["q"], props.get("retrieved"), props.get("drop")))
        return {}

    engine.add_component(rag)
    instance = ComponentInstance(rag, unique("rag"), engine=engine)
    options = {} if served_here else {"flush_update": True}  # flush_update goes the loop's way
    results = [instance.run_result("ask", {"q": "x", "drop": 1}, **options) for _ in range(4)]
    instance.flush_update("ask")
    assert [r.cached for r in results] == [False, True, True, True]
    assert seen == [("x", ["doc-x"], None)] * 4


def test_a_cheap_op_is_not_run_again_for_an_answer_the_cache_holds(engine: Engine) -> None:
    """As in Motion, a hit does not call the op (a counted mock of a model, say); a new state does."""
    calls: list[int] = []
    counted = Component(unique("Counted"))

    @counted.init_state
    def setup() -> dict[str, int]:
        return {"n": 0}

    @counted.serve("ask")
    def ask(state: Any, props: Any) -> dict[str, Any]:
        calls.append(state["n"])
        return {"n": state["n"], "words": ["a", "b"]}

    @counted.update("ask")
    def bump(state: Any, props: Any) -> dict[str, int]:
        return {"n": state["n"] + 1} if props.get("bump") else {}

    engine.add_component(counted)
    instance = ComponentInstance(counted, unique("counted"), engine=engine)
    results = [instance.run_result("ask", {"q": 1}) for _ in range(6)]
    assert calls == [0]
    assert [result.cached for result in results] == [False] + [True] * 5
    results[1].result["words"].append("mutated by a caller")  # each answer is a copy of its own
    assert instance.run("ask", {"q": 1}) == {"n": 0, "words": ["a", "b"]}
    instance.run("ask", {"q": 2, "bump": True}, flush_update=True)
    assert calls == [0, 0]
    assert [instance.run("ask", {"q": 1}) for _ in range(3)] == [{"n": 1, "words": ["a", "b"]}] * 3
    assert calls == [0, 0, 1]
    assert instance.run_result("ask", {"q": 1}, ignore_cache=True).cached is False
    assert calls == [0, 0, 1, 1]
    instance.flush_update("ask")
    assert instance.read_state("n") == 1  # every run's update was enqueued and applied, hits too


def test_unhashable_props_are_served_uncached(engine: Engine) -> None:
    instance = ComponentInstance(engine.component("Cached"), unique("unhashable"), engine=engine)
    props = {"q": {1, 2}}  # a set has no canonical form here
    first = instance.run_result("read", props)
    second = instance.run_result("read", props)
    assert not first.cached and not second.cached
    assert first.result["token"] != second.result["token"]


def test_cache_ttl_expires_and_zero_disables(engine: Engine) -> None:
    ttl = 1.0  # the second read below comes well within it, even on a loaded machine
    short = Component(unique("ShortCache"), cache_ttl=ttl)
    never = Component(unique("NoCache"), cache_ttl=0)
    for component in (short, never):

        @component.serve("read")
        def read(state: object, props: object) -> float:
            return time.perf_counter()

        engine.add_component(component)
    instance = ComponentInstance(short, unique(), engine=engine)
    first = instance.run_result("read", {"q": 1})
    assert instance.run_result("read", {"q": 1}).cached
    time.sleep(ttl + 0.1)
    assert not instance.run_result("read", {"q": 1}).cached
    uncached = ComponentInstance(never, unique(), engine=engine)
    assert not any(uncached.run_result("read", {"q": 1}).cached for _ in range(3))
    assert first.version == 1


@pytest.mark.parametrize("ttl", [-1, -0.5])
def test_negative_cache_ttl_is_refused(ttl: float) -> None:
    with pytest.raises(ValueError, match="cache_ttl"):
        Component("Bad", cache_ttl=ttl)


def test_props_an_op_could_tell_apart_get_answers_of_their_own(engine: Engine) -> None:
    """A hit keyed on 10 must not answer 10.0 (as Motion, whose key is str(props))."""
    priced = Component(unique("Priced"))

    @priced.serve("quote")
    def quote(state: object, props: Any) -> str:
        return f"Price: ${props['amount']} ({type(props['amount']).__name__})"

    engine.add_component(priced)
    instance = ComponentInstance(priced, unique("priced"), engine=engine)
    amounts: list[Any] = [10, 10.0, [1, 2], (1, 2), 10]
    answers = [instance.run("quote", {"amount": amount}) for amount in amounts]
    assert answers == [
        "Price: $10 (int)",
        "Price: $10.0 (float)",
        "Price: $[1, 2] (list)",
        "Price: $(1, 2) (tuple)",
        "Price: $10 (int)",
    ]
    assert instance.run_result("quote", {"amount": 10.0}).cached


def test_a_none_answer_is_not_cached(engine: Engine) -> None:
    """As in Motion, whose cache reads None as a miss: the op runs again until it has an answer."""
    calls: list[int] = []
    pending = Component(unique("Pending"))

    @pending.serve("poll")
    def poll(state: object, props: object) -> str | None:
        calls.append(1)
        return None if len(calls) < 3 else "ready"

    engine.add_component(pending)
    instance = ComponentInstance(pending, unique("pending"), engine=engine)
    assert [instance.run("poll", {"q": 1}) for _ in range(5)] == [None, None, "ready", "ready", "ready"]
    assert len(calls) == 3


def test_an_instances_cache_holds_at_most_the_protocol_number_of_answers(
    engine: Engine, redis_url: str
) -> None:
    """A flow whose updates change nothing keeps its version, so every new props would add an
    answer to its cache, refreshing the whole hash's expiry: it is emptied at the cap instead."""
    still = Component(unique("Still"))

    @still.serve("ask")
    def ask(state: object, props: Any) -> int:
        return int(props["q"])

    @still.update("ask")
    def nothing(state: object, props: object) -> dict[str, Any]:
        return {}

    engine.add_component(still)
    instance = ComponentInstance(still, unique("still"), engine=engine)
    admin = redis.Redis.from_url(redis_url)
    cache = InstanceKeys.of(still.name, instance.instance_id).cache
    try:
        sizes = []
        for q in range(protocol.CACHE_MAX_ENTRIES + 50):
            assert instance.run("ask", {"q": q}) == q
            if q % 100 == 99:
                sizes.append(admin.hlen(cache))
        instance.flush_update("ask")
        assert max(sizes) <= protocol.CACHE_MAX_ENTRIES
        assert 0 < admin.hlen(cache) < protocol.CACHE_MAX_ENTRIES  # emptied once, filling again
    finally:
        admin.close()
