"""An update op that kills its worker process on every attempt ends FAILED; the queue behind it moves on."""

from __future__ import annotations

import pathlib
import time

import pytest

from motion_grpc import MotionClient
from motion_grpc.store import RedisServer
from tests.fault.support import COMPONENT, FAILED, RUNNING, events, read_marks, replica
from tests.helpers import ServerProcess, unique

pytestmark = pytest.mark.fault

MAX_ATTEMPTS = 3  # the engine's default
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


def test_op_killing_its_worker_fails_after_max_attempts(tmp_path: pathlib.Path) -> None:
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
        finally:
            for server in replicas:
                server.kill()

    assert items == [i for i in range(10) if i != POISON_AT]
    assert flushed.version == 1 + 9
    started = [e.attempt for e in history if e.status == RUNNING]
    assert started[:MAX_ATTEMPTS] == list(range(1, MAX_ATTEMPTS + 1))
    failed = [e for e in history if e.status == FAILED]
    assert len(failed) == 1
    assert failed[0].error_type == "AttemptsExhausted"
    assert failed[0].attempt == MAX_ATTEMPTS + 1
    # Every attempt that ran the op killed a process; the replicas were restarted after each death.
    assert sum(1 for _, i in read_marks(marks) if i == POISON_AT) == MAX_ATTEMPTS
    assert restarts == MAX_ATTEMPTS


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
