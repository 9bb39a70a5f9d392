"""The engine under ops that exit, state that cannot be loaded, and reads right after a flush."""

from __future__ import annotations

import logging
import pathlib
import signal
from collections.abc import Callable, Iterator

import grpc
import pytest
import redis

from motion_grpc import MotionClient, codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.engine import Engine, RunOptions
from motion_grpc.errors import OpError
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisSettings, scripts
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import QueuedEntry
from tests.helpers import ROOT, ServerProcess, assert_eventually, unique
from tests.integration.conftest import events_of

FLUSHED = RunOptions(flush_update=True)
HARDENING_APP = str(pathlib.Path(ROOT) / "tests" / "apps" / "hardening.py")


@pytest.fixture
def make_engine(redis_url: str) -> Iterator[Callable[[], Engine]]:
    engines: list[Engine] = []

    def make() -> Engine:
        engine = Engine(RedisSettings(redis_url), load_components([HARDENING_APP]))
        engines.append(engine.start())
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture(scope="module")
def hardening_server(redis_url: str) -> Iterator[ServerProcess]:
    with ServerProcess(apps=[HARDENING_APP], redis_url=redis_url) as process:
        yield process


@pytest.fixture(scope="module")
def hardening_client(hardening_server: ServerProcess) -> Iterator[MotionClient]:
    with MotionClient(hardening_server.target) as client:
        client.wait_ready()
        yield client


def test_no_read_after_a_flushed_run_sees_the_state_before_it(make_engine: Callable[[], Engine]) -> None:
    engine = make_engine()
    for _ in range(20):  # the serve ops become "cheap" and take the snapshot path
        engine.run("Tally", unique("warm"), "get")
    stale = []
    for index in range(400):
        instance_id = f"{unique('fresh')}-{index}"
        engine.run("Tally", instance_id, "bump", None, FLUSHED)
        seen = engine.run("Tally", instance_id, "get").result
        if seen != 1:
            stale.append((instance_id, seen))
    assert stale == []


def test_no_read_after_a_flushed_run_sees_older_state_over_grpc(hardening_client: MotionClient) -> None:
    stale = []
    for index in range(300):
        instance = hardening_client.instance("Tally", f"{unique('remote')}-{index}")
        instance.run("bump", flush_update=True)
        seen = instance.run("get")
        if seen != 1:
            stale.append(seen)
    assert stale == []


def test_load_state_builds_every_snapshot_even_after_a_commit(make_engine: Callable[[], Engine]) -> None:
    engine = make_engine()
    instance_id = unique("pooled")
    sizes = [engine.run("Pooled", instance_id, "grow", None, FLUSHED).result for _ in range(5)]
    # Each serve sees the pool load_state built from the state it serves from: sizes 1, 2, 3, ...
    assert sizes == [1, 2, 3, 4, 5]
    engine.flush("Pooled", instance_id)
    state = engine.get_state("Pooled", instance_id).state
    assert state["size"] == 6 and state["pool"].size == 6


@pytest.mark.parametrize("flow", ["serve_exit", "serve_interrupt", "serve_async_exit"])
def test_a_serve_op_that_exits_fails_its_call_only(
    hardening_client: MotionClient, hardening_server: ServerProcess, flow: str
) -> None:
    instance = hardening_client.instance("Exits", unique("exit"))
    with pytest.raises(OpError) as info:
        instance.run(flow)
    assert info.value.error_type in ("SystemExit", "KeyboardInterrupt")
    assert hardening_server.process is not None and hardening_server.process.poll() is None
    assert instance.run("update", {"i": 1}, flush_update=True) is None
    assert instance.get_state(["applied"]) == {"applied": [1]}


def test_a_streaming_serve_op_that_exits_ends_its_stream_only(
    hardening_client: MotionClient, hardening_server: ServerProcess
) -> None:
    instance = hardening_client.instance("Exits", unique("stream"))
    items = []
    with pytest.raises(OpError) as info:
        for item in instance.stream("stream_exit"):
            items.append(item)
    assert items == ["first"] and info.value.error_type == "SystemExit"
    assert hardening_server.process is not None and hardening_server.process.poll() is None


def test_update_ops_that_exit_never_stop_the_update_workers(
    hardening_client: MotionClient, redis_url: str
) -> None:
    instance_id = unique("workers")
    instance = hardening_client.instance("Exits", instance_id)
    kinds = ["exit", "interrupt", "base"] * 3  # more than the server's update workers
    for index, kind in enumerate(kinds):
        instance.run("update", {"i": index, "kind": kind})
        instance.run("async_update", {"i": 100 + index, "kind": "exit"})
    instance.run("update", {"i": 99})
    flushed = instance.flush()
    assert instance.get_state(["applied"]) == {"applied": [99]}
    failed_types = [event.error_type for event in events_of(redis_url, "Exits", instance_id)
                    if event.status == scripts.FAILED]  # fmt: skip
    assert sorted(failed_types) == sorted(
        ["SystemExit", "KeyboardInterrupt", "BaseException"] * 3 + ["SystemExit"] * 9
    )
    assert flushed.version >= 2
    other = hardening_client.instance("Tally", unique("after"))
    other.run("bump", flush_update=True)
    assert other.get_state(["n"]) == {"n": 1}


def test_an_op_whose_own_call_to_another_service_fails_is_that_ops_failure(
    hardening_client: MotionClient, redis_url: str
) -> None:
    """A NotFoundError raised by an op is its failure: not this run's NOT_FOUND, and not a crash of
    the drain retried in other processes until it ends AttemptsExhausted."""
    instance_id = unique("service")
    instance = hardening_client.instance("Exits", instance_id)
    with pytest.raises(OpError) as info:
        instance.run("service_call")
    assert info.value.error_type == "NotFoundError"
    assert "serve op" in info.value.message and "Other/x not found" in info.value.message
    instance.run("update", {"i": 1, "kind": "service_call"})
    instance.run("update", {"i": 2})
    instance.flush()
    assert instance.get_state(["applied"]) == {"applied": [2]}
    failed = [event for event in events_of(redis_url, "Exits", instance_id) if event.status == scripts.FAILED]
    assert [(event.error_type, event.attempt) for event in failed] == [("NotFoundError", 1)]


@pytest.mark.parametrize(("flow", "answer"), [("linger", "left a thread"), ("linger_async", "left a call")])
def test_sigterm_ends_the_server_though_an_op_left_a_thread_running(
    redis_url: str, flow: str, answer: str
) -> None:
    """A thread that is no daemon, or a call on the loop's default executor, never returning."""
    with ServerProcess(apps=[HARDENING_APP], redis_url=redis_url) as server:
        with MotionClient(server.target) as client:
            assert client.instance("Exits", unique("linger")).run(flow) == answer
        assert server.stop(signal.SIGTERM, timeout=30) == 0


def test_an_instance_whose_state_cannot_be_loaded_fails_its_update_and_stays_cold(
    make_engine: Callable[[], Engine], redis_url: str
) -> None:
    engine = make_engine()
    instance_id = unique("undecodable")
    engine.run("Tally", instance_id, "bump", None, FLUSHED)
    keys = InstanceKeys.of("Tally", instance_id)
    raw = redis.Redis.from_url(redis_url)
    try:
        raw.hset(keys.state, "n", b"\x80\x05not a pickle")
        raw.hincrby(keys.meta, "version", 1)  # as if another process had committed it
        before = _commands(raw)
        entry = QueuedEntry("bump", "tally_bump", codec.dumps(({}, None)))
        update_id = engine.store.enqueue(engine.store.enqueue_request(keys, [entry])).ids[0]
        engine.drain_soon(keys)

        def failed() -> bool:
            ended = [e for e in events_of(redis_url, "Tally", instance_id) if e.update_id == update_id]
            return any(e.status == scripts.FAILED for e in ended)

        assert_eventually(failed, timeout=30)
        events = [e for e in events_of(redis_url, "Tally", instance_id) if e.update_id == update_id]
        final = events[-1]
        assert final.error_type == "AttemptsExhausted"
        assert "could not be loaded" in final.error_message and "cannot be decoded" in final.error_message
        assert len([e for e in events if e.status == scripts.RUNNING]) <= 4
        # This test polls the events about 50 times a second meanwhile; a hot retry loop sends
        # about 15,000 commands a second (115k in 8 s, measured before backoff existed).
        assert _commands(raw) - before < 3000
        healthy = unique("healthy")
        engine.run("Tally", healthy, "bump", None, FLUSHED)
        assert engine.get_state("Tally", healthy).state == {"n": 1}
    finally:
        raw.close()


def test_op_failures_are_logged_once_each_without_values(
    make_engine: Callable[[], Engine], caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    instance_id = unique("logged")
    caplog.set_level(logging.WARNING, logger="motion_grpc.ops")
    with pytest.raises(OpError):
        engine.run("Exits", instance_id, "fail", {"secret": "s3cr3t-value"}, FLUSHED)
    outcome = engine.run("Exits", instance_id, "update", {"i": 1, "kind": "nothing"}, FLUSHED)
    assert outcome.outcomes[0].status == scripts.APPLIED
    lines = [r.getMessage() for r in caplog.records if r.name == "motion_grpc.ops"]
    assert any("serve of Exits/fail" in x and "ValueError: the serve op is broken" in x for x in lines)
    assert not any("s3cr3t-value" in line for line in lines)


def test_a_flood_of_failures_is_rate_limited(
    make_engine: Callable[[], Engine], caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    caplog.set_level(logging.WARNING, logger="motion_grpc.ops")
    instance_id = unique("flood")
    for _ in range(60):
        with pytest.raises(OpError):
            engine.run("Exits", instance_id, "fail")
    engine.run("Tally", instance_id, "bump")  # an update that fails on purpose follows
    for _ in range(30):
        engine.run("Exits", instance_id, "update", {"i": 0, "kind": "exit"})
    engine.flush("Exits", instance_id)
    lines = [r.getMessage() for r in caplog.records if r.name == "motion_grpc.ops"]
    serve_lines = [line for line in lines if "serve of Exits/fail" in line]
    update_lines = [line for line in lines if "update op exits_update of Exits/update" in line]
    assert 1 <= len(serve_lines) <= 10
    assert 1 <= len(update_lines) <= 10
    assert any("SystemExit" in line for line in update_lines)


def _commands(raw: redis.Redis) -> int:
    stats = raw.info("commandstats")
    return sum(int(value["calls"]) for value in stats.values())


def test_a_flush_after_a_run_reports_its_update_that_failed_at_once(
    hardening_client: MotionClient, redis_url: str
) -> None:
    instance_id = unique("quickfail")
    instance = hardening_client.instance("Exits", instance_id)
    update_id = instance.run_outcome("update", {"i": 0, "kind": "interrupt"}).update_ids[0]
    assert_eventually(
        lambda: any(e.status == scripts.FAILED for e in events_of(redis_url, "Exits", instance_id))
    )  # the update ended before the flush began
    flushed = instance.flush()
    assert [(o.update_id, o.error_type) for o in flushed.failed] == [(update_id, "KeyboardInterrupt")]
    assert instance.flush().failed == []  # reported once
    instance.run("update", {"i": 1})
    instance.run("async_update", {"i": 2, "kind": "exit"})
    assert [o.error_type for o in instance.flush("update").failed] == []
    assert [o.error_type for o in instance.flush("async_update").failed] == ["SystemExit"]


def test_a_malformed_since_update_id_is_refused(hardening_client: MotionClient) -> None:
    instance = hardening_client.instance("Tally", unique("since"))
    instance.run("get")
    request = pb.FlushUpdatesRequest(instance=instance.ref, since_update_id="yesterday")
    with pytest.raises(grpc.RpcError) as info:
        hardening_client.stub.FlushUpdates(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "since_update_id" in (info.value.details() or "")
