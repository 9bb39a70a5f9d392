"""Redis unreachable: UNAVAILABLE at once, and the server recovers by itself."""

from __future__ import annotations

import pathlib
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from motion_grpc import MotionClient
from motion_grpc.errors import StoreUnavailableError
from motion_grpc.store import RedisServer
from tests.helpers import ServerProcess, assert_eventually, unique


def _health(target: str) -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service="motion.v1.MotionService"), timeout=2).status


def test_unavailable_while_redis_is_down_then_recovers(tmp_path: pathlib.Path) -> None:
    redis_server = RedisServer(tmp_path / "redis").start()
    try:
        with ServerProcess(redis_url=redis_server.url) as server, MotionClient(server.target) as client:
            handle = client.instance("Slow", unique("outage"))
            handle.run("bump", {}, flush_update=True)
            assert_eventually(lambda: _health(server.target) == health_pb2.HealthCheckResponse.SERVING)

            redis_server.stop()
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as info:
                handle.run("bump", {})
            assert time.monotonic() - started < 5.0
            assert info.value.code == grpc.StatusCode.UNAVAILABLE
            assert_eventually(lambda: _health(server.target) == health_pb2.HealthCheckResponse.NOT_SERVING)

            redis_server.start()
            assert_eventually(
                lambda: handle.run("bump", {}) is not None, timeout=20, retry_on=(StoreUnavailableError,)
            )
            assert_eventually(lambda: _health(server.target) == health_pb2.HealthCheckResponse.SERVING)
            assert handle.flush(timeout=30).version == 3
    finally:
        redis_server.cleanup()
