"""A replica SIGKILLed in the middle of an update op: the other one resumes, nothing lost or doubled."""

from __future__ import annotations

import pathlib

import pytest

from motion_grpc.store import RedisServer
from tests.fault.scenarios import sigkill_mid_update
from tests.fault.support import replica

pytestmark = pytest.mark.fault


def test_sigkill_mid_update_survivor_resumes_exactly_once(tmp_path: pathlib.Path) -> None:
    marks = tmp_path / "marks"
    with RedisServer(tmp_path / "redis", appendonly=False) as redis_server:
        replicas = [replica(redis_server.url, marks) for _ in range(2)]
        try:
            for server in replicas:
                server.start()
            recovery, _ = sigkill_mid_update(redis_server.url, replicas, marks)
            print(f"recovery after SIGKILL: {recovery:.3f}s")
        finally:
            for server in replicas:
                server.kill()
