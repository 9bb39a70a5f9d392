"""A worker paused past its lease (SIGSTOP ... SIGCONT) cannot commit over the new holder's work."""

from __future__ import annotations

import pathlib
import signal

import pytest

from motion_grpc import MotionClient
from motion_grpc.store import RedisServer
from tests.fault.support import COMPONENT, LEASE_TTL, kill, process_of, replica, wait_for_mark
from tests.helpers import ServerProcess, assert_eventually, unique

pytestmark = pytest.mark.fault

COUNT = 40
PAUSED_AT = 10
PAUSED_SLEEP = 0.5  # the op the worker is paused in; it ends soon after SIGCONT


def _enqueue(target: str, instance_id: str, items: range) -> None:
    with MotionClient(target) as client:
        handle = client.instance(COMPONENT, instance_id)
        for i in items:
            handle.run("append", {"i": i, "sleep": PAUSED_SLEEP if i == PAUSED_AT else 0.005})


def _state(target: str, instance_id: str) -> tuple[int, list[int]]:
    with MotionClient(target) as client:
        handle = client.instance(COMPONENT, instance_id)
        flushed = handle.flush(timeout=30)
        return flushed.version, handle.get_state(["items"])["items"]


def test_paused_worker_cannot_commit_after_losing_its_lease(tmp_path: pathlib.Path) -> None:
    marks = tmp_path / "marks"
    instance_id = unique("paused")
    logs = [tmp_path / "replica-0.log", tmp_path / "replica-1.log"]
    with RedisServer(tmp_path / "redis", appendonly=False) as redis_server:
        replicas = [replica(redis_server.url, marks, log=log) for log in logs]
        try:
            for server in replicas:
                server.start()
            _enqueue(replicas[0].target, instance_id, range(COUNT))
            paused: ServerProcess = process_of(replicas, wait_for_mark(marks, PAUSED_AT))
            kill(paused.process.pid, signal.SIGSTOP)  # type: ignore[union-attr]
            survivor = next(r for r in replicas if r is not paused)
            # The survivor takes the lease once it expires, runs the paused op again and the rest.
            version, items = _state(survivor.target, instance_id)
            assert items == list(range(COUNT))
            assert version == 1 + COUNT

            kill(paused.process.pid, signal.SIGCONT)  # type: ignore[union-attr]
            paused_log = logs[replicas.index(paused)]
            # Its op ends and tries to commit the state it computed on top of version 1 + PAUSED_AT.
            assert_eventually(lambda: "lost while draining" in paused_log.read_text(), timeout=LEASE_TTL + 5)
            assert _state(survivor.target, instance_id) == (version, items)

            # The resumed replica goes on working, on top of the survivor's state.
            _enqueue(paused.target, instance_id, range(COUNT, COUNT + 5))
            assert _state(paused.target, instance_id) == (version + 5, list(range(COUNT + 5)))
        finally:
            for server in replicas:
                if server.process is not None:
                    kill(server.process.pid, signal.SIGCONT)
                server.kill()
