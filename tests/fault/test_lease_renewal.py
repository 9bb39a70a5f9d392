"""An update op running for several lease TTLs keeps its lease: no other replica takes over."""

from __future__ import annotations

import pathlib

import pytest

from motion_grpc import MotionClient
from motion_grpc.store import RedisServer
from tests.fault.support import APPLIED, COMPONENT, LEASE_TTL, RUNNING, events, replica

pytestmark = pytest.mark.fault


def test_long_op_keeps_its_lease(tmp_path: pathlib.Path) -> None:
    marks = tmp_path / "marks"
    with RedisServer(tmp_path / "redis", appendonly=False) as redis_server:
        replicas = [replica(redis_server.url, marks) for _ in range(2)]
        try:
            for server in replicas:
                server.start()
            with MotionClient(replicas[0].target) as client:
                handle = client.instance(COMPONENT, "long-op")
                handle.run("append", {"i": 0, "sleep": 3 * LEASE_TTL})
                handle.run("append", {"i": 1})
            with MotionClient(replicas[1].target) as client:
                handle = client.instance(COMPONENT, "long-op")
                flushed = handle.flush(timeout=30)
                assert handle.get_state(["items"])["items"] == [0, 1]
            history = events(redis_server.url, "long-op")
        finally:
            for server in replicas:
                server.kill()
    assert flushed.version == 3
    assert [e.attempt for e in history if e.status == RUNNING] == [1, 1]
    assert [e.attempt for e in history if e.status == APPLIED] == [1, 1]
