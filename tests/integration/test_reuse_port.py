"""A second server on a busy port fails with "address in use"; sharing a port is asked for explicitly."""

from __future__ import annotations

import pathlib
import socket
import subprocess

from tests.helpers import ServerProcess, assert_eventually, clean_env


def _on_port(port: int, redis_url: str, *args: str, log: pathlib.Path | None = None) -> ServerProcess:
    """A server process on `port` (ServerProcess picks a free one otherwise)."""
    server = ServerProcess(redis_url=redis_url, args=["--update-workers", "1", *args], log=log)
    server.port = port
    server.target = f"127.0.0.1:{port}"
    server.command[server.command.index("--port") + 1] = str(port)
    return server


def test_a_second_server_on_a_busy_port_exits_with_address_in_use(redis_url: str) -> None:
    with ServerProcess(redis_url=redis_url, args=["--update-workers", "1"]) as first:
        second = _on_port(first.port, redis_url)
        done = subprocess.run(
            second.command, check=False, env=clean_env(), capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0
        assert "address in use" in done.stderr and str(first.port) in done.stderr
        assert "Traceback" not in done.stderr
        assert first.process is not None and first.process.poll() is None  # the first one serves on


def test_servers_started_with_reuse_port_share_it(redis_url: str, tmp_path: pathlib.Path) -> None:
    log = tmp_path / "second.log"
    with ServerProcess(redis_url=redis_url, args=["--update-workers", "1", "--reuse-port"]) as first:
        second = _on_port(first.port, redis_url, "--reuse-port", log=log).launch()
        try:
            assert_eventually(lambda: "motion-grpc serving" in log.read_text(), timeout=30)
            assert second.process is not None and second.process.poll() is None
        finally:
            assert second.stop() == 0


def test_a_taken_metrics_port_exits_with_what_to_change(redis_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics_port = taken.getsockname()[1]
        server = ServerProcess(
            redis_url=redis_url, args=["--metrics-port", str(metrics_port), "--update-processes", "1"]
        )
        done = subprocess.run(
            server.command, check=False, env=clean_env(), capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert (
        f"cannot serve metrics on 127.0.0.1:{metrics_port}" in done.stderr and "--metrics-port" in done.stderr
    )
    assert "Traceback" not in done.stderr and "never retrieved" not in done.stderr
