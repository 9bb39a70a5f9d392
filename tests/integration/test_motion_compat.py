"""Motion's in-process API in full: code written for Motion runs with only its import changed.

Instances here are made the Motion way, `C(instance_id, ...)`, on the process's
shared engines, with MOTION_REDIS_URL pointing at the test Redis.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import pathlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from motion_grpc import Component, StateMigrator, clear_instance, get_instances, inspect_state
from motion_grpc.engine import Engine, EngineSettings
from motion_grpc.errors import NotFoundError
from motion_grpc.inprocess import close_engines
from motion_grpc.server.loader import AppLoadError, load_components
from motion_grpc.store import RedisSettings, scripts
from motion_grpc.store.events import parse_event_id
from tests.apps.process_updates import Pids
from tests.helpers import assert_eventually, unique
from tests.integration.conftest import events_of

# The module defines its Counter twice, as a notebook re-running a cell does (or two test
# modules of one session, each with its own Counter). Names are this module's own: servers
# of the session sweep the same Redis for the components they host.
Counter = Component("CompatCounter", cache_ttl=0)


@Counter.init_state
def counter_setup():  # type: ignore[no-untyped-def]
    return {"n": 0}


@Counter.serve("add")
def counter_read(state, props):  # type: ignore[no-untyped-def]
    return state["n"]


@Counter.update("add")
def counter_add(state, props):  # type: ignore[no-untyped-def]
    return {"n": state["n"] + props["by"]}


FirstCounter = Counter
Counter = Component("CompatCounter", cache_ttl=0)


@Counter.init_state
def counter_setup_again():  # type: ignore[no-untyped-def]
    return {"n": 100}


@Counter.serve("double")
def counter_before_doubling(state, props):  # type: ignore[no-untyped-def]
    return state["n"]


@Counter.update("double")
def counter_double(state, props):  # type: ignore[no-untyped-def]
    return {"n": state["n"] * 2}


@Counter.serve("peek")
def counter_peek(state, props):  # type: ignore[no-untyped-def]
    return state["n"]


Tally = Component("CompatTally", cache_ttl=0)


@Tally.init_state
def tally_setup():  # type: ignore[no-untyped-def]
    return {"items": []}


@Tally.serve("append")
def tally_count(state, props):  # type: ignore[no-untyped-def]
    return len(state["items"])


@Tally.update("append")
def tally_append(state, props):  # type: ignore[no-untyped-def]
    return {"items": [*state["items"], props["i"]]}


Slow = Component("CompatSlow", cache_ttl=0)


@Slow.init_state
def slow_setup():  # type: ignore[no-untyped-def]
    return {"done": 0}


@Slow.serve("work")
def slow_serve(state, props):  # type: ignore[no-untyped-def]
    return None


@Slow.update("work")
def slow_work(state, props):  # type: ignore[no-untyped-def]
    time.sleep(props["sleep"])
    return {"done": state["done"] + 1}


class Boom(Exception):
    """A user's own exception type."""


Faulty = Component("CompatFaulty", cache_ttl=0)


@Faulty.init_state
def faulty_setup(fail=False):  # type: ignore[no-untyped-def]
    if fail:
        raise Boom("init_state refused")
    return {}


@Faulty.serve("lookup")
def faulty_lookup(state, props):  # type: ignore[no-untyped-def]
    return {}["missing"]


@Faulty.serve("explode")
def faulty_explode(state, props):  # type: ignore[no-untyped-def]
    raise Boom("serve op refused")


@Faulty.serve("stream")
def faulty_stream(state, props):  # type: ignore[no-untyped-def]
    yield 1
    raise ValueError("second item refused")


@Faulty.serve("update_fails")
def faulty_serve_fine(state, props):  # type: ignore[no-untyped-def]
    return "served"


@Faulty.update("update_fails")
def faulty_update(state, props):  # type: ignore[no-untyped-def]
    raise ValueError("bad update")


@pytest.fixture(autouse=True)
def motion_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Motion's setup: the Redis comes from the environment; the shared engines go after each test."""
    monkeypatch.setenv("MOTION_REDIS_URL", redis_url)
    yield redis_url
    close_engines()


# -- item 3: a redefinition replaces the old definition ---------------------------------


def test_instances_made_after_a_redefinition_use_the_new_definition() -> None:
    old = FirstCounter(unique("ctr"))
    assert old.run("add", {"by": 2}, flush_update=True) == 0
    new = Counter(unique("ctr"))
    assert new.read_state("n") == 100
    assert new.run("double", {}, flush_update=True) == 100
    assert new.read_state("n") == 200
    with pytest.raises(KeyError):
        new.run("add", {"by": 1})


def test_a_server_still_refuses_two_definitions_of_one_name(redis_url: str, tmp_path: pathlib.Path) -> None:
    engine = Engine(RedisSettings(redis_url), [FirstCounter]).start()
    try:
        with pytest.raises(ValueError, match="another component named CompatCounter"):
            engine.add_component(Counter)
    finally:
        engine.close()
    apps = []
    for name in ("first", "second"):
        app = tmp_path / f"{name}_{unique('app').replace('-', '_')}.py"
        app.write_text("from motion_grpc import Component\nDup = Component('Dup')\n")
        apps.append(str(app))
    with pytest.raises(AppLoadError, match="two apps define a component named Dup"):
        load_components(apps)


# -- item 4: disable_update_task ----------------------------------------------------------


def test_disable_update_task_refuses_to_leave_updates_queued(redis_url: str) -> None:
    instance = Counter(unique("off"), disable_update_task=True)
    with pytest.raises(RuntimeError, match="disable_update_task"):
        instance.run("double", {})
    with pytest.raises(RuntimeError, match="disable_update_task"):
        instance.flush_update("double")
    assert instance.run("peek", {}) == 100  # a flow without update ops runs as usual
    assert instance.get_version() == 1  # nothing was enqueued, nothing applied
    assert [e.status for e in events_of(redis_url, "CompatCounter", instance.instance_id)] == []
    with pytest.raises(ValueError, match="flush_on_exit"):
        Counter(unique("off"), disable_update_task=True, flush_on_exit=True)


def test_disable_update_task_applies_flushed_updates_in_the_caller_after_those_queued_before(
    redis_url: str,
) -> None:
    """No update worker at all in this engine: only the caller can apply the queue, in order."""
    engine = Engine(RedisSettings(redis_url), settings=EngineSettings(process_updates=False))
    engine.start()
    try:
        instance_id = unique("fifo")
        queued = Tally(instance_id, engine=engine)
        for i in range(3):
            queued.run("append", {"i": i})
        here = Tally(instance_id, disable_update_task=True, engine=engine)
        assert here.run("append", {"i": 3}, flush_update=True, timeout=30) == 0
        assert here.read_state("items") == [0, 1, 2, 3]
        assert here.run_result("append", {"i": 4}, flush_update=True, timeout=30).version == 6
        queued.run("append", {"i": 5})
        queued.run("append", {"i": 6})
        # force_refresh: this thread applies what is queued before serving (there is nobody else).
        assert here.run("append", {"i": 7}, force_refresh=True, flush_update=True, timeout=10) == 7
        assert here.read_state("items") == list(range(8))
    finally:
        engine.close()


def test_100_concurrent_flushed_aruns_on_a_disable_update_task_instance(redis_url: str) -> None:
    """The process's own update threads may take the lease too: each run still ends with its update
    applied, every update is applied once, in enqueue order."""
    instance = Tally(unique("conc"), disable_update_task=True)

    async def main() -> list[int]:
        runs = [instance.arun("append", {"i": i}, flush_update=True, timeout=60) for i in range(100)]
        return await asyncio.gather(*runs)

    asyncio.run(main())
    assert sorted(instance.read_state("items")) == list(range(100))
    applied = [
        e for e in events_of(redis_url, "CompatTally", instance.instance_id) if e.status == scripts.APPLIED
    ]
    by_version = [e.update_id for e in sorted(applied, key=lambda e: e.version)]
    assert by_version == sorted(by_version, key=parse_event_id)


def test_a_caller_finding_the_lease_held_leaves_the_holder_its_lease(redis_url: str) -> None:
    """Two callers apply one instance's queue: the one that finds the lease held must not stop
    the holder's renewals. With a 1 s lease, a 1.5 s update still runs once."""
    settings = EngineSettings(process_updates=False, lease_ttl=1.0)
    engine = Engine(RedisSettings(redis_url), settings=settings).start()
    try:
        instance_id = unique("lease")
        first = Slow(instance_id, disable_update_task=True, engine=engine)
        second = Slow(instance_id, disable_update_task=True, engine=engine)
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(first.run, "work", {"sleep": 1.5}, flush_update=True, timeout=30)
            assert_eventually(lambda: _statuses(redis_url, instance_id).count(scripts.RUNNING) == 1)
            second.run("work", {"sleep": 0}, flush_update=True, timeout=30)
            slow.result(timeout=30)
        assert second.read_state("done") == 2
        running = [e for e in events_of(redis_url, "CompatSlow", instance_id) if e.status == scripts.RUNNING]
        assert [e.attempt for e in running] == [1, 1]
    finally:
        engine.close()


def _statuses(redis_url: str, instance_id: str) -> list[int]:
    return [e.status for e in events_of(redis_url, "CompatSlow", instance_id)]


@pytest.mark.parametrize("disable_update_task", [False, True])
def test_a_flushed_update_that_failed_is_a_runtime_error(disable_update_task: bool) -> None:
    instance = Faulty(unique("upd"), disable_update_task=disable_update_task)
    with pytest.raises(RuntimeError, match=r"faulty_update .* ValueError: bad update"):
        instance.run("update_fails", {}, flush_update=True, timeout=30)


def test_flush_on_exit_waits_for_the_updates_of_the_flows_run() -> None:
    with Slow(unique("exit"), flush_on_exit=True) as instance:
        instance.run("work", {"sleep": 0.3})
    assert instance.read_state("done") == 1


# -- item 4: update_task_type ---------------------------------------------------------------


def test_update_task_type_process_applies_updates_in_another_process() -> None:
    # Only "process" instances of this component here: a "thread" one would make this process's
    # update threads host it too, and their sweep may take an update before the worker is up.
    spawned = Pids(unique("pid"), update_task_type="process")
    assert spawned.run("record", {}, flush_update=True, timeout=60) == os.getpid()
    [worker] = spawned.read_state("pids")
    assert worker != os.getpid()
    spawned.run("record", {}, flush_update=True, timeout=30)
    assert spawned.read_state("pids") == [worker, worker]


def test_a_serve_op_runs_once_per_run_when_another_process_applies_the_updates() -> None:
    """As in Motion: each commit is the worker's, after this process's snapshot; the serve op
    (a charge, a counted model call) must not run on that snapshot first and again after."""
    from tests.apps.process_updates import SERVED as served

    spawned = Pids(unique("once"), update_task_type="process")
    spawned.run("record", {"i": 0}, flush_update=True, timeout=60)
    del served[:]
    for i in range(10):
        spawned.run("record", {"i": i})
        time.sleep(0.02)  # the worker commits meanwhile
    spawned.flush_update("record", timeout=30)
    assert served == list(range(10))


def test_update_task_type_is_thread_or_process() -> None:
    with pytest.raises(ValueError, match="update_task_type"):
        Tally(unique("type"), update_task_type="fiber")  # type: ignore[arg-type]
    local = Component("Local")

    @local.update("note")
    def note(state, props):  # type: ignore[no-untyped-def]
        return {}

    with pytest.raises(ValueError, match="top level"):
        local(unique("type"), update_task_type="process")


# -- item 4: Motion's instance utilities ------------------------------------------------------


def test_get_instances_inspect_state_and_clear_instance() -> None:
    instance = Counter(unique("util"))
    odd = Counter(f"{unique('util')}__with__underscores")
    instance.run("double", {}, flush_update=True)
    assert instance.instance_name == f"CompatCounter__{instance.instance_id}"
    assert {instance.instance_id, odd.instance_id} <= set(get_instances("CompatCounter"))
    assert dict(inspect_state(instance.instance_name)) == {"n": 200}
    assert dict(inspect_state(odd.instance_name)) == {"n": 100}
    assert clear_instance(instance.instance_name) is True
    assert instance.instance_id not in get_instances("CompatCounter")
    assert clear_instance(instance.instance_name) is False
    with pytest.raises(ValueError, match="does not exist"):
        inspect_state(instance.instance_name)
    for malformed in ("CompatCounter", "CompatCounter_x", ""):
        with pytest.raises(ValueError, match="Component__id"):
            clear_instance(malformed)
        with pytest.raises(ValueError, match="Component__id"):
            inspect_state(malformed)
    assert get_instances(unique("NoSuchComponent")) == []


# -- item 4: the errors Motion raises -----------------------------------------------------------


def test_the_exception_a_user_op_raised_reaches_the_caller_as_itself() -> None:
    instance = Faulty(unique("err"))
    with pytest.raises(KeyError) as missing:
        instance.run("lookup", {})
    assert type(missing.value) is KeyError and missing.value.args == ("missing",)
    with pytest.raises(Boom, match="serve op refused"):
        instance.run("explode", {})
    stream = instance.gen("stream", {})
    assert next(stream) == 1
    with pytest.raises(ValueError, match="second item refused") as refused:
        next(stream)
    assert type(refused.value) is ValueError
    with pytest.raises(Boom, match="init_state refused"):
        Faulty(unique("err"), init_state_params={"fail": True})

    async def agen_items() -> list[int]:
        return [item async for item in instance.agen("stream", {})]

    with pytest.raises(ValueError, match="second item refused"):
        asyncio.run(agen_items())


def test_gen_of_a_plain_serve_op_yields_its_result_once_as_in_motion() -> None:
    instance = Tally(unique("gen"))
    assert list(instance.gen("append", {"i": "a"}, flush_update=True)) == [0]
    assert instance.read_state("items") == ["a"]  # its update applied before the item came

    async def agen_items() -> list[object]:
        return [item async for item in instance.agen("append", {"i": "b"}, flush_update=True)]

    assert asyncio.run(agen_items()) == [1]
    assert instance.read_state("items") == ["a", "b"]
    with pytest.raises(RuntimeError, match="bad update"):  # a flushed update that failed, as run says
        list(Faulty(unique("gen")).gen("update_fails", {}, flush_update=True))


def test_a_serve_op_reads_serve_result_as_none_as_in_motion() -> None:
    Echo = Component(unique("CompatEcho").replace("-", "_"), cache_ttl=0)

    @Echo.serve("ask")
    def ask(state, props):  # type: ignore[no-untyped-def]
        return ("served", props.serve_result)

    @Echo.update("ask")
    def remember(state, props):  # type: ignore[no-untyped-def]
        return {"seen": props.serve_result}

    instance = Echo(unique("echo"))
    assert instance.run("ask", {}, flush_update=True) == ("served", None)
    assert instance.read_state("seen") == ("served", None)


def test_an_async_op_makes_and_runs_another_component_as_in_motion() -> None:
    """`await Other(state.instance_id).arun(...)` inside an async op, as Motion's docs show: the
    instance is made and run on the engine's own loop, without blocking it."""
    Profile = Component(unique("CompatProfile").replace("-", "_"), cache_ttl=0)
    Bot = Component(unique("CompatBot").replace("-", "_"), cache_ttl=0)

    @Profile.init_state
    def profile_setup():  # type: ignore[no-untyped-def]
        return {"name": "ann", "hits": 0}

    @Profile.serve("hit")
    def profile_hit(state, props):  # type: ignore[no-untyped-def]
        return state["name"], state["hits"]

    @Profile.update("hit")
    def profile_count(state, props):  # type: ignore[no-untyped-def]
        return {"hits": state["hits"] + 1}

    @Bot.serve("greet")
    async def greet(state, props):  # type: ignore[no-untyped-def]
        name, hits = await Profile(state.instance_id).arun("hit", {}, flush_update=True)
        return f"hello {name} ({hits})"

    @Bot.update("greet")
    async def greeted(state, props):  # type: ignore[no-untyped-def]
        await Profile(state.instance_id).arun("hit", {})
        return {"greeted": props.serve_result}

    bot = Bot(unique("bot"))
    assert asyncio.run(bot.arun("greet", {}, flush_update=True)) == "hello ann (0)"
    assert bot.run("greet", {}, flush_update=True) == "hello ann (2)"
    assert bot.read_state("greeted") == "hello ann (2)"
    profile = Profile(bot.instance_id)
    profile.flush_update("hit")
    assert profile.read_state("hits") == 4


def test_smaller_motion_behaviours() -> None:
    """`running`, write_state of nothing, init_state's and cache_ttl's error types, as in Motion."""
    Plain = Component(unique("CompatPlain").replace("-", "_"), cache_ttl=0)

    @Plain.init_state
    def plain_setup():  # type: ignore[no-untyped-def]
        return {"n": 1}

    @Plain.serve("prompt")
    def plain_prompt(state, props):  # type: ignore[no-untyped-def]
        return f"{state}", state.component_name

    @Plain.update("prompt")
    def plain_prompt_update(state, props):  # type: ignore[no-untyped-def]
        return {"seen": (str(state), state.component_name)}

    with Plain(unique("plain")) as instance:
        assert instance.running is True
        assert instance.run("prompt", flush_update=True) == ("{'n': 1}", Plain.name)
        assert instance.read_state("seen") == ("{'n': 1}", Plain.name)
        instance.write_state({"seen": None})
        assert instance.write_state(None) == instance.write_state({}) == instance.get_version() == 3  # type: ignore[arg-type]
        assert instance.read_state("n") == 1
    assert instance.running is False

    Listed = Component(unique("CompatListed").replace("-", "_"))

    @Listed.init_state
    def listed_setup():  # type: ignore[no-untyped-def]
        return ["x"]

    with pytest.raises(TypeError, match="must return a dict"):
        Listed(unique("listed"))
    with pytest.raises(ValueError, match="cache_ttl"):
        Component(unique("CompatTtl").replace("-", "_"), cache_ttl=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("from_loop", [False, True], ids=["run", "arun"])
def test_a_cheap_serve_op_that_raises_runs_once_as_in_motion(from_loop: bool) -> None:
    """A failure on current state is not retried on checked state: its side effects happen once."""
    calls: list[int] = []
    Charge = Component(unique("CompatCharge").replace("-", "_"), cache_ttl=0)

    @Charge.init_state
    def charge_setup():  # type: ignore[no-untyped-def]
        return {"n": 0}

    @Charge.serve("charge")
    def charge(state, props):  # type: ignore[no-untyped-def]
        calls.append(props["i"])
        if props.get("fail"):
            raise LookupError("card declined")
        return state["n"]

    instance = Charge(unique("charge"))

    def run(props: dict[str, object]) -> object:
        if from_loop:
            return asyncio.run(instance.arun("charge", props))
        return instance.run("charge", props)

    for i in range(5):  # the engine learns the op is cheap: it runs on the snapshot first
        run({"i": i})
    with pytest.raises(LookupError, match="card declined"):
        run({"i": 5, "fail": True})
    assert calls == [0, 1, 2, 3, 4, 5]


def test_motion_max_state_bytes_sets_the_in_process_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTION_MAX_STATE_BYTES", "2000")
    instance = Tally(unique("big"))
    with pytest.raises(RuntimeError, match="over the limit of 2000 bytes"):
        instance.run("append", {"i": "x" * 3000}, flush_update=True)
    instance.run("append", {"i": "x" * 500}, flush_update=True)  # under it
    assert len(instance.read_state("items")) == 1
    close_engines()
    monkeypatch.setenv("MOTION_MAX_STATE_BYTES", "lots")
    with pytest.raises(ValueError, match="MOTION_MAX_STATE_BYTES must be a whole number"):
        Tally(unique("big"))


#: What a tracing library keeps per request (a span, a request id).
TRACE: contextvars.ContextVar[str] = contextvars.ContextVar("trace", default="none")
Traced = Component("CompatTraced", cache_ttl=0)


@Traced.serve("ask")
def traced_ask(state, props):  # type: ignore[no-untyped-def]
    time.sleep(props.get("sleep", 0))  # slow: served on the engine's threads, not the caller's
    return TRACE.get()


@Traced.serve("aask")
async def traced_aask(state, props):  # type: ignore[no-untyped-def]
    return TRACE.get()


def test_serve_ops_see_the_callers_context_variables_as_in_motion() -> None:
    instance = Traced(unique("traced"))
    TRACE.set("request-1")
    assert [instance.run("ask", {"sleep": 0.06}) for _ in range(2)] == ["request-1"] * 2
    assert instance.run("ask", {}) == "request-1"
    assert instance.run("aask", {}) == "request-1"

    async def traced_call() -> list[str]:
        TRACE.set("request-2")
        return [await instance.arun("ask", {"sleep": 0.06}), await instance.arun("aask", {})]

    assert asyncio.run(traced_call()) == ["request-2", "request-2"]


@pytest.mark.parametrize("flow_key", ["nope", 42, ("a", "b"), ["unhashable"], ""])
def test_an_unknown_flow_is_a_key_error(flow_key: object) -> None:
    instance = Tally(unique("flow"))
    with pytest.raises(KeyError) as unknown:
        instance.run(flow_key, {})  # type: ignore[arg-type]
    assert isinstance(unknown.value, NotFoundError)  # and a motion-grpc error, NOT_FOUND over gRPC
    assert "flows: append" in str(unknown.value)
    with pytest.raises(KeyError):
        instance.flush_update(flow_key)  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        next(instance.gen(flow_key, {}))  # type: ignore[arg-type]


def test_a_state_patch_that_is_not_a_dict_is_a_type_error() -> None:
    instance = Tally(unique("patch"))
    for patch in ([("items", [])], "items", {1: "one"}):
        with pytest.raises(TypeError, match="dict with string keys"):
            instance.write_state(patch)  # type: ignore[arg-type]
    assert instance.write_state({"items": [7]}) == 2


def test_a_state_migrator_of_something_else_than_a_component_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Component"):
        StateMigrator("Tally", lambda state: state)  # type: ignore[arg-type]
