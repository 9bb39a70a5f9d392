"""State, version and queued updates survive a server restart, on embedded and external Redis."""

from __future__ import annotations

import pathlib
import signal

import pytest

from motion_grpc import MotionClient
from motion_grpc.store import RedisServer
from tests.helpers import ServerProcess, assert_eventually, unique


def _queue_slow_updates(target: str, instance_id: str, count: int) -> int:
    with MotionClient(target) as client:
        handle = client.instance("Slow", instance_id)
        for _ in range(count):
            handle.run("bump", {"sleep": 0.3})
        return handle.version


def _after_restart(target: str, instance_id: str, expected_version: int) -> None:
    with MotionClient(target) as client:
        handle = client.instance("Slow", instance_id)
        assert handle.version >= 1
        flushed = handle.flush(timeout=60)
        assert flushed.version == expected_version
        assert handle.get_state() == {"value": expected_version - 1}


def test_restart_on_embedded_redis(tmp_path: pathlib.Path) -> None:
    instance_id = unique("embedded")
    data_dir = str(tmp_path / "data")
    server = ServerProcess(args=["--data-dir", data_dir]).start()
    try:
        version_before = _queue_slow_updates(server.target, instance_id, 6)
        assert version_before < 7  # some updates were still queued when the server stopped
        assert server.stop(signal.SIGTERM) == 0
    finally:
        server.kill()
    assert (pathlib.Path(data_dir) / "appendonly.aof").exists()
    with ServerProcess(args=["--data-dir", data_dir]) as restarted:
        _after_restart(restarted.target, instance_id, 7)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL])
def test_restart_on_external_redis(tmp_path: pathlib.Path, stop_signal: int) -> None:
    instance_id = unique("external")
    with RedisServer(tmp_path / "redis") as redis_server:
        server = ServerProcess(redis_url=redis_server.url, args=["--lease-ttl", "1"]).start()
        try:
            _queue_slow_updates(server.target, instance_id, 6)
            server.stop(stop_signal)
        finally:
            server.kill()
        with ServerProcess(redis_url=redis_server.url, args=["--lease-ttl", "1"]) as restarted:
            _after_restart(restarted.target, instance_id, 7)


def test_graceful_stop_exits_promptly_with_idle_instances(redis_url: str) -> None:
    server = ServerProcess(redis_url=redis_url).start()
    try:
        with MotionClient(server.target) as client:
            for _ in range(5):
                client.instance("Slow", unique("idle")).run("bump", {}, flush_update=True)
        assert_eventually(lambda: server.process is not None and server.process.poll() is None)
        assert server.stop(signal.SIGTERM, timeout=10) == 0
    finally:
        server.kill()
