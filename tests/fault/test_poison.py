"""An update op that kills the process running it ends FAILED; the queue behind it moves on.

A retried update runs in a process apart from the server's (server.isolation), so such an op
ends one replica at most; with --update-processes it ends update worker processes only.
"""

from __future__ import annotations

import pathlib
import time
from dataclasses import dataclass

import pytest

from motion_grpc import MotionClient
from motion_grpc.store import RedisServer
from motion_grpc.store.records import Event
from tests.fault.support import (
    APPLIED,
    COMPONENT,
    FAILED,
    RUNNING,
    events,
    read_marks,
    replica,
    wait_for_mark,
)
from tests.helpers import ServerProcess, assert_eventually, unique

pytestmark = pytest.mark.fault

MAX_ATTEMPTS = 3  # the engine's default (update processes retry in place)
POISON_AT = 3


def _supervise_until(replicas: list[ServerProcess], done: object, timeout: float) -> int:
    """Restart replicas that died until `done()` is true; how many restarts it took."""
    restarts = 0
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the poison update did not end in time"
        for server in replicas:
            if server.process is not None and server.process.poll() is not None:
                server.stop()
                server.launch()  # it may take up the poison update and die before it listens
                restarts += 1
        time.sleep(0.05)
    return restarts


def test_op_killing_its_server_ends_one_replica_and_fails_alone(tmp_path: pathlib.Path) -> None:
    marks = tmp_path / "marks"
    instance_id = unique("poison")
    with RedisServer(tmp_path / "redis", appendonly=False) as redis_server:
        replicas = [replica(redis_server.url, marks) for _ in range(2)]
        try:
            for server in replicas:
                server.start()
            with MotionClient(replicas[0].target) as client:
                handle = client.instance(COMPONENT, instance_id)
                ids = []
                for i in range(10):
                    props = {"i": i, "poison": True, "sleep": 0.3} if i == POISON_AT else {"i": i}
                    ids += handle.run_outcome("append", props).update_ids
            poison_id = ids[POISON_AT]

            def poison_ended() -> bool:
                return any(
                    e.update_id == poison_id and e.status == FAILED
                    for e in events(redis_server.url, instance_id)
                )

            restarts = _supervise_until(replicas, poison_ended, timeout=60)
            with MotionClient(replicas[0].target) as client:
                client.wait_ready(30)
                handle = client.instance(COMPONENT, instance_id)
                flushed = handle.flush(timeout=30)
                items = handle.get_state(["items"])["items"]
            history = [e for e in events(redis_server.url, instance_id) if e.update_id == poison_id]
            alive = [s for s in replicas if s.process is not None and s.process.poll() is None]
        finally:
            for server in replicas:
                server.kill()

    assert items == [i for i in range(10) if i != POISON_AT]
    assert flushed.version == 1 + 9
    assert [e.attempt for e in history if e.status == RUNNING] == [1, 2]
    failed = [e for e in history if e.status == FAILED]
    assert [(e.error_type, e.attempt) for e in failed] == [("ProcessExited", 2)]
    assert "is not tried again" in failed[0].error_message
    # The first attempt ended the replica running it; the retry ended only its isolated process.
    poison_runs = [pid for pid, i in read_marks(marks) if i == POISON_AT]
    assert len(poison_runs) == 2
    assert restarts == 1
    assert len(alive) == 2
    replica_pids = {s.process.pid for s in replicas if s.process is not None}
    assert poison_runs[1] not in replica_pids


@dataclass
class _Histories:
    events: dict[str, list[Event]]
    items: dict[str, list[int]]

    def __getitem__(self, instance_id: str) -> list[Event]:
        return self.events[instance_id]


def _replica_dies_with_in_hand(
    redis_url: str, marks: pathlib.Path, in_hand: dict[str, float], poisoned: str
) -> _Histories:
    """On one replica, start an update of each instance of `in_hand` (its op sleeping that long), then
    one on `poisoned` (item 0) that kills the replica; on another, flush them all and read them."""
    with replica(redis_url, marks) as first, replica(redis_url, marks) as second:
        with MotionClient(first.target) as client:
            for i, (instance_id, sleep) in enumerate(in_hand.items(), 1):
                client.instance(COMPONENT, instance_id).run("append", {"i": i, "sleep": sleep})
                wait_for_mark(marks, i)
            client.instance(COMPONENT, poisoned).run("append", {"i": 0, "sleep": 1.0, "poison": True})
        assert first.process is not None
        first.process.wait(30)  # the poison op ended it, the others in hand
        instances = [*in_hand, poisoned]
        with MotionClient(second.target) as client:
            for instance_id in instances:
                flushed = client.instance(COMPONENT, instance_id).flush(timeout=90)
                assert instance_id == poisoned or flushed.failed == []
            items = {i: client.instance(COMPONENT, i).get_state(["items"])["items"] for i in instances}
        assert second.process is not None and second.process.poll() is None
    return _Histories({i: events(redis_url, i) for i in instances}, items)


def test_retries_in_hand_when_the_isolated_process_dies_run_again_one_at_a_time(
    tmp_path: pathlib.Path,
) -> None:
    """Which retried op ended the shared process is not known: each runs again alone, and only
    the one that ends its process fails."""
    marks = tmp_path / "marks"
    innocent, poisoned = unique("innocent"), unique("poisoned")
    with RedisServer(tmp_path / "redis", appendonly=False) as redis_server:
        history = _replica_dies_with_in_hand(redis_server.url, marks, {innocent: 3.0}, poisoned)
    assert history.items[innocent] == [1]
    assert [e.attempt for e in history[innocent] if e.status == RUNNING] == [1, 2, 3]
    assert [(e.error_type, e.attempt) for e in history[poisoned] if e.status == FAILED] == [
        ("ProcessExited", 3)
    ]
    assert [i for _, i in read_marks(marks)].count(0) == 3


def test_a_retried_op_that_hangs_does_not_hold_up_other_instances_retries(tmp_path: pathlib.Path) -> None:
    """Third attempts each run in a process of their own: one that takes long (or hangs) runs
    while another instance's is applied, instead of ahead of it."""
    slow, quick, poisoned = unique("slow"), unique("quick"), unique("poisoned")
    with RedisServer(tmp_path / "redis", appendonly=False) as redis_server:
        history = _replica_dies_with_in_hand(
            redis_server.url, tmp_path / "marks", {slow: 8.0, quick: 2.0}, poisoned
        )

    def at(instance_id: str, status: int) -> int:
        (found,) = [e.at_ms for e in history[instance_id] if e.status == status and e.attempt == 3]
        return found

    # attempt 3 of each ran at once: each began before the other ended
    assert at(slow, RUNNING) < at(quick, APPLIED) < at(slow, APPLIED)
    assert at(quick, RUNNING) < at(slow, APPLIED)


def test_op_killing_its_update_process_fails_after_max_attempts(tmp_path: pathlib.Path) -> None:
    """With --update-processes, the op kills a worker process; the server restarts it and lives on."""
    marks = tmp_path / "marks"
    instance_id = unique("poison-proc")
    with (
        RedisServer(tmp_path / "redis", appendonly=False) as redis_server,
        replica(redis_server.url, marks, "--update-processes", "1") as server,
        MotionClient(server.target) as client,
    ):
        handle = client.instance(COMPONENT, instance_id)
        for i in range(5):
            handle.run("append", {"i": i, "poison": i == 1})
        flushed = handle.flush(timeout=60)
        assert handle.get_state(["items"])["items"] == [0, 2, 3, 4]
        history = [e for e in events(redis_server.url, instance_id) if e.status == FAILED]
        assert server.process is not None and server.process.poll() is None
    assert [(e.error_type, e.attempt) for e in history] == [("AttemptsExhausted", MAX_ATTEMPTS + 1)]
    assert flushed.failed != []


def test_a_retry_in_hand_when_its_server_stops_is_not_counted_as_an_attempt(tmp_path: pathlib.Path) -> None:
    """A second attempt still running in the retry process when its server stops is handed back,
    its attempt taken back: the next replica runs it as the same attempt, nothing is FAILED."""
    marks = tmp_path / "marks"
    instance_id = unique("stopped-retry")
    with RedisServer(tmp_path / "redis", appendonly=False) as redis_server:
        with replica(redis_server.url, marks) as first, replica(redis_server.url, marks) as second:
            with MotionClient(first.target) as client:
                client.instance(COMPONENT, instance_id).run("append", {"i": 1, "sleep": 18.0})
            wait_for_mark(marks, 1)
            first.kill()  # attempt 1 never finishes: the second replica retries it in its retry process
            assert_eventually(lambda: [i for _, i in read_marks(marks)].count(1) == 2, timeout=30)
            second.stop(timeout=40)  # it waits 10 s for the op in hand, then 5 s for the retry process
            statuses = [(e.status, e.attempt) for e in events(redis_server.url, instance_id)]
            assert FAILED not in [status for status, _ in statuses], statuses
        with replica(redis_server.url, marks) as third, MotionClient(third.target) as client:
            handle = client.instance(COMPONENT, instance_id)
            assert handle.flush(timeout=60).failed == []
            assert handle.get_state(["items"])["items"] == [1]
        history = events(redis_server.url, instance_id)
    assert [e.attempt for e in history if e.status == RUNNING] == [1, 2, 2]
    assert [e.status for e in history][-1] == APPLIED
