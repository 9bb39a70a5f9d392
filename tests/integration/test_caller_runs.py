"""In-process runs of a sync serve op are served in the caller's own thread, as Motion serves them.

The enqueue then goes over a blocking connection of the caller's, fenced on the
snapshot's version; everything about the run stays as on the engine's loop
(order, exactly once, errors, a stale snapshot: tests/integration/test_inprocess.py).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from motion_grpc import Component
from motion_grpc.engine import Engine
from motion_grpc.instance import ComponentInstance
from motion_grpc.store import RedisSettings
from tests.helpers import unique

Ledger = Component("CallerLedger")
#: (instance id, thread ident) of every serve op call.
served_on: list[tuple[str, int]] = []


@Ledger.init_state
def setup() -> dict[str, Any]:
    return {"items": []}


@Ledger.serve("append")
def count(state: Any, props: Any) -> int:
    served_on.append((state.instance_id, threading.get_ident()))
    if props.get("fail"):
        raise KeyError("asked to fail")
    return len(state["items"])


@Ledger.update("append")
def append(state: Any, props: Any) -> dict[str, Any]:
    return {"items": [*state["items"], props["item"]]}


@Ledger.serve("ponder")
def ponder(state: Any, props: Any) -> int:
    time.sleep(0.02)  # a slow op: never served on an unchecked snapshot
    return count(state, props)


Ledger.update("ponder")(append)  # the same update as "append"


@Ledger.serve("words")
def words(state: Any, props: Any) -> Any:
    for word in props["words"]:
        served_on.append((state.instance_id, threading.get_ident()))
        if word == "fail":
            raise ValueError("asked to fail mid-stream")
        yield word


@Ledger.update("words")
def words_seen(state: Any, props: Any) -> dict[str, Any]:
    return {"items": [*state["items"], *props.serve_result]}


@Ledger.serve("later")
def later(state: Any, props: Any) -> Any:
    async def answer() -> int:
        return len(state["items"]) * 10

    return answer()  # a plain function whose result is a coroutine


@pytest.fixture
def engine(redis_url: str) -> Iterator[Engine]:
    running = Engine(RedisSettings(redis_url), [Ledger]).start()
    yield running
    running.close()


def _threads_of(instance_id: str) -> list[int]:
    return [thread for served_id, thread in served_on if served_id == instance_id]


def test_a_cheap_sync_serve_op_runs_in_the_callers_thread(engine: Engine) -> None:
    instance = ComponentInstance(Ledger, unique("here"), engine=engine)

    def run_then_flush(item: int) -> int:
        answer = instance.run("append", {"item": item})
        instance.flush_update("append")  # so no commit of this process is in flight at the next run
        return int(answer)

    answers = [run_then_flush(item) for item in range(3)]  # load the snapshot and time the op
    served_before = len(_threads_of(instance.instance_id))
    answers += [run_then_flush(item) for item in range(3, 8)]
    with ThreadPoolExecutor(1) as pool:
        other_thread = pool.submit(threading.get_ident).result()
        answers.append(pool.submit(run_then_flush, 8).result())
    assert answers == list(range(9))  # each on the last committed state
    served_here = _threads_of(instance.instance_id)[served_before:]
    assert served_here == [threading.get_ident()] * 5 + [other_thread]  # once each, in the caller's thread
    assert instance.read_state("items") == list(range(9))


def test_many_threads_at_once_lose_no_update_and_keep_each_ones_order(engine: Engine) -> None:
    instances = [ComponentInstance(Ledger, unique("crowd"), engine=engine) for _ in range(4)]
    for instance in instances:
        instance.run("append", {"item": "warm"}, flush_update=True)

    def caller(n: int) -> None:
        instance = instances[n % len(instances)]
        for step in range(25):
            instance.run("append", {"item": f"{n}:{step}"})

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(caller, range(32)))
    for number, instance in enumerate(instances):
        instance.flush_update("append")
        items = instance.read_state("items")[1:]
        callers = range(number, 32, len(instances))
        assert sorted(items) == sorted(f"{n}:{step}" for n in callers for step in range(25))
        for n in callers:  # one thread's runs enqueue one after the other: FIFO keeps them in order
            own = [item for item in items if item.startswith(f"{n}:")]
            assert own == [f"{n}:{step}" for step in range(25)]


def test_a_snapshot_made_stale_elsewhere_costs_one_more_serve_not_two(engine: Engine, redis_url: str) -> None:
    instance = ComponentInstance(Ledger, unique("stale"), engine=engine)
    for item in range(3):  # load the snapshot and time the op
        instance.run("append", {"item": item})
        instance.flush_update("append")
    other = Engine(RedisSettings(redis_url), [Ledger]).start()
    try:
        elsewhere = ComponentInstance(Ledger, instance.instance_id, engine=other)
        elsewhere.run("append", {"item": 3}, flush_update=True)
    finally:
        other.close()
    served_before = len(_threads_of(instance.instance_id))
    assert instance.run("append", {"item": 4}) == 4  # from the state the other engine committed
    # Once on this engine's stale snapshot, in the caller's thread; once more on checked state.
    assert len(_threads_of(instance.instance_id)) - served_before == 2
    instance.flush_update("append")
    assert instance.read_state("items") == [0, 1, 2, 3, 4]


def test_a_raising_op_raises_its_own_exception_and_enqueues_nothing(engine: Engine) -> None:
    instance = ComponentInstance(Ledger, unique("fails"), engine=engine)
    for item in range(3):
        instance.run("append", {"item": item}, flush_update=True)
    version = instance.get_version()
    with pytest.raises(KeyError, match="asked to fail"):
        instance.run("append", {"item": "no", "fail": True})
    assert instance.flush_update("append") == version
    assert instance.read_state("items") == [0, 1, 2]


def test_a_plain_op_returning_a_coroutine_is_awaited_on_the_loop(engine: Engine) -> None:
    instance = ComponentInstance(Ledger, unique("later"), engine=engine)
    instance.run("append", {"item": 1}, flush_update=True)
    assert [instance.run("later") for _ in range(4)] == [10] * 4


def test_every_sync_serve_op_runs_in_the_callers_thread_first_runs_slow_ops_and_flushes_too(
    engine: Engine,
) -> None:
    """What an op keeps per thread (a thread-local, a sqlite3 connection made in the caller's thread)
    works from the first run on, as in Motion; only the state it reads is checked first."""
    instance = ComponentInstance(Ledger, unique("every"), engine=engine)
    here = threading.get_ident()
    assert instance.run("append", {"item": 0}) == 0  # no snapshot yet, op not timed
    instance.flush_update()  # (a serve does not wait for updates: the next one answers after this)
    assert instance.run("ponder", {"item": 1}, flush_update=True) == 1
    assert instance.run("append", {"item": 2}, force_refresh=True) == 2
    instance.flush_update()
    with pytest.raises(KeyError, match="asked to fail"):
        instance.run("append", {"fail": True, "item": -1})
    assert instance.run("ponder", {"item": 3}) == 3
    instance.flush_update()
    assert instance.run("append", {"item": 4}, flush_update=True) == 4
    served = _threads_of(instance.instance_id)  # a run on a snapshot found stale serves once more
    assert set(served) == {here} and len(served) >= 6
    assert instance.read_state("items") == [0, 1, 2, 3, 4]


def test_a_sqlite_connection_made_in_the_callers_thread_serves_from_the_first_run(engine: Engine) -> None:
    connection = sqlite3.connect(":memory:")  # may only be used in this thread
    connection.execute("create table prices (amount int)")
    connection.execute("insert into prices values (40)")
    Priced = Component(unique("CallerPriced").replace("-", "_"), cache_ttl=0)

    @Priced.init_state
    def priced_setup() -> dict[str, int]:
        return {"n": 0}

    @Priced.serve("quote")
    def quote(state: Any, props: Any) -> int:
        return int(connection.execute("select amount from prices").fetchone()[0]) + state["n"]

    @Priced.update("quote")
    def bump(state: Any, props: Any) -> dict[str, int]:
        return {"n": state["n"] + 1}

    engine.add_component(Priced)
    instance = ComponentInstance(Priced, unique("priced"), engine=engine)
    answers = [instance.run("quote", flush_update=True) for _ in range(3)]
    assert answers == [40, 41, 42]
    connection.close()


def test_gen_takes_a_sync_generators_items_in_the_callers_thread(engine: Engine) -> None:
    instance = ComponentInstance(Ledger, unique("gen"), engine=engine)
    assert list(instance.gen("words", {"words": ["a", "b", "c"]}, flush_update=True)) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="mid-stream"):
        list(instance.gen("words", {"words": ["d", "fail"]}))
    assert set(_threads_of(instance.instance_id)) == {threading.get_ident()}
    assert len(_threads_of(instance.instance_id)) == 5
    assert instance.read_state("items") == ["a", "b", "c"]  # the failed stream enqueued nothing
