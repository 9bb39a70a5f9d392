"""Update ops in worker processes: same guarantees, off the serving process.

These tests ask which process applied an update, so they run on a Redis of
their own: on the session's, another test's server (the session-scoped one)
sweeps for pending work too and may apply an update first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from motion_grpc import MotionClient
from motion_grpc.store.embedded import RedisServer
from tests.helpers import ServerProcess, unique


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("update-processes-redis")
    with RedisServer(data_dir, appendonly=False) as redis_server:
        yield redis_server.url


def test_updates_apply_in_order_in_worker_processes(redis_url: str) -> None:
    with (
        ServerProcess(redis_url=redis_url, args=["--update-processes", "2"]) as server,
        MotionClient(server.target) as client,
    ):
        handles = [client.instance("Ledger", unique("proc")) for _ in range(4)]
        for i in range(50):
            for handle in handles:
                handle.run("append", {"i": i})
        for handle in handles:
            assert handle.flush(timeout=60).version == 51
            assert handle.get_state()["items"] == list(range(50))
        pids = set()
        for _ in range(64):  # until both answered; all 64 on one of two processes: about 1 in 10**19
            handle = client.instance("Pids", unique("pid"))
            handle.run("where", flush_update=True)
            pids.add(handle.get_state()["pid"])
            if len(pids) == 2:
                break
        assert server.process is not None
        assert server.process.pid not in pids
        assert os.getpid() not in pids
        assert len(pids) == 2  # instances are spread over both worker processes


def _niceness(pid: int) -> int:
    """A process's nice value, from /proc (field 19 of its stat line)."""
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rpartition(")")[2].split()[16])


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
@pytest.mark.parametrize(("args", "lowered"), [([], 10), (["--update-niceness", "3"], 3)])
def test_update_processes_yield_the_cpu_to_serving(redis_url: str, args: list[str], lowered: int) -> None:
    with (
        ServerProcess(redis_url=redis_url, args=["--update-processes", "1", *args]) as server,
        MotionClient(server.target) as client,
    ):
        handle = client.instance("Pids", unique("nice"))
        handle.run("where", flush_update=True)
        worker = handle.get_state()["pid"]
        assert server.process is not None
        assert _niceness(worker) == _niceness(server.process.pid) + lowered
