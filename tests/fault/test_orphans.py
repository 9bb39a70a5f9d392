"""A process killed with SIGKILL takes its helpers with it: update workers, resource tracker, embedded Redis.

SIGKILL gives a server no chance to stop its children, so each child has to
notice the death of its parent itself. These tests kill a server (or an
in-process user of the embedded Redis) and wait for each of its helper
processes to be gone; a later server on the same data directory still finds
the state.
"""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence

import pytest
import redis

from motion_grpc import MotionClient
from motion_grpc.store import RedisServer
from tests.helpers import ServerProcess, assert_eventually, clean_env, unique
from tests.processes import ProcessInfo, children_of, is_running, kill_all

pytestmark = pytest.mark.fault

#: What the command line of each helper process contains.
ROLES = {
    "update worker": "multiprocessing.spawn",
    "resource tracker": "multiprocessing.resource_tracker",
    "redis-server": "redis-server",
}
GONE_WITHIN = 20.0

# Starts the embedded Redis from a thread that then ends, waits until the kernel has
# removed that thread, prints the URL and waits to be killed.
IN_PROCESS_USER = """
import os, sys, threading
from motion_grpc.store.embedded import embedded_settings
found = []
def start():
    found.append((threading.get_native_id(), embedded_settings(sys.argv[1]).url))
thread = threading.Thread(target=start)
thread.start()
thread.join()
tid, url = found[0]
while os.path.exists(f"/proc/self/task/{tid}"):
    threading.Event().wait(0.01)
print(url, flush=True)
sys.stdin.read()
"""


def helpers_of(pid: int, roles: Sequence[str]) -> dict[str, ProcessInfo]:
    """The child processes of `pid` in these roles, once each has started."""

    def by_role() -> dict[str, ProcessInfo]:
        children = children_of(pid)
        found = {role: [c for c in children if ROLES[role] in c.command] for role in roles}
        assert all(len(matches) == 1 for matches in found.values()), (found, children)
        return {role: matches[0] for role, matches in found.items()}

    return assert_eventually(by_role, timeout=GONE_WITHIN)


def assert_all_gone(helpers: dict[str, ProcessInfo]) -> None:
    for role, info in helpers.items():
        try:
            assert_eventually(lambda info=info: not is_running(info), timeout=GONE_WITHIN)  # type: ignore[misc]
        except AssertionError:
            raise AssertionError(f"the {role} outlived its parent: {info}") from None


@pytest.fixture
def started() -> Iterator[list[ProcessInfo]]:
    """Helper processes a test found; killed at its end if the test failed to see them go."""
    found: list[ProcessInfo] = []
    yield found
    kill_all(found)


def serve_embedded(data_dir: pathlib.Path) -> ServerProcess:
    args = ["--update-processes", "1", "--data-dir", str(data_dir)]
    return ServerProcess(args=args, cwd=str(data_dir.parent))


def test_sigkill_with_embedded_redis(tmp_path: pathlib.Path, started: list[ProcessInfo]) -> None:
    data_dir = tmp_path / "data"
    instance_id = unique("orphan")
    server = serve_embedded(data_dir)
    try:
        server.start()
        with MotionClient(server.target) as client:
            assert client.instance("Ledger", instance_id).run("append", {"i": 7}, flush_update=True) == 0
        assert server.process is not None
        helpers = helpers_of(server.process.pid, list(ROLES))
        started += helpers.values()
        server.kill()
        assert_all_gone(helpers)
    finally:
        server.kill()
    with serve_embedded(data_dir) as again, MotionClient(again.target) as client:
        handle = client.instance("Ledger", instance_id)
        assert handle.get_state() == {"items": [7]}  # from the append-only file
        handle.run("append", {"i": 8}, flush_update=True)
        assert handle.get_state() == {"items": [7, 8]}


def test_sigkill_with_external_redis(tmp_path: pathlib.Path, started: list[ProcessInfo]) -> None:
    with RedisServer(tmp_path / "redis", appendonly=False) as redis_server:
        server = ServerProcess(redis_url=redis_server.url, args=["--update-processes", "1"])
        try:
            server.start()
            assert server.process is not None
            helpers = helpers_of(server.process.pid, ["update worker", "resource tracker"])
            started += helpers.values()
            server.kill()
            assert_all_gone(helpers)
        finally:
            server.kill()
        assert redis_server.process is not None and redis_server.process.poll() is None  # not ours to stop


def test_embedded_redis_of_an_in_process_user(tmp_path: pathlib.Path, started: list[ProcessInfo]) -> None:
    """Started from a thread that has ended, it serves on, and goes when its process is SIGKILLed."""
    command = [sys.executable, "-c", IN_PROCESS_USER, str(tmp_path / "data")]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=clean_env(), text=True
    ) as user:
        try:
            assert user.stdout is not None
            url = user.stdout.readline().strip()
            helpers = helpers_of(user.pid, ["redis-server"])
            started += helpers.values()
            client = redis.Redis.from_url(url)
            try:
                # A signal sent before this ping is handled before Redis answers it, and Redis logs it.
                assert client.ping()
            finally:
                client.close()
            log = (tmp_path / "data" / "redis.log").read_text()
            assert "scheduling shutdown" not in log, "the end of the thread that started Redis stopped it"
            user.send_signal(signal.SIGKILL)
            user.wait()
            assert_all_gone(helpers)
        finally:
            user.kill()
