"""Update ops in worker processes: same guarantees, off the serving process."""

from __future__ import annotations

import os

from motion_grpc import MotionClient
from tests.helpers import ServerProcess, unique


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
