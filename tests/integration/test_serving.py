"""The serve path: answers at once from committed state, never waiting for updates."""

from __future__ import annotations

import pathlib
import threading
import time

from motion_grpc import MotionClient
from tests.helpers import assert_eventually, unique


def test_serve_is_not_blocked_by_a_slow_update(client: MotionClient, tmp_path: pathlib.Path) -> None:
    handle = client.instance("Slow", unique("slow"))
    gate = tmp_path / "gate"
    assert handle.run("bump", {"gate": str(gate)}) == 0  # enqueues an update held until the gate opens
    assert_eventually(lambda: handle.version >= 1)
    started = time.monotonic()
    latencies = []
    while time.monotonic() - started < 1.5:
        t0 = time.perf_counter()
        value = handle.run("bump", {"sleep": 0})
        latencies.append(time.perf_counter() - t0)
        assert value == 0  # the held update has not committed: stale but immediate
    gate.touch()
    assert len(latencies) > 10
    # A serve that waited for the update would not return before the gate opens; on a loaded
    # 2-core CI machine a scheduling hiccup can cost a few hundred ms, so the bound per call is 1 s.
    assert max(latencies) < 1.0, max(latencies)
    assert sorted(latencies)[len(latencies) // 2] < 0.1, latencies
    assert handle.flush(timeout=30).version == 1 + len(latencies) + 1


def test_slow_update_of_one_instance_does_not_delay_another(
    client: MotionClient, tmp_path: pathlib.Path
) -> None:
    slow = client.instance("Slow", unique("slow"))
    fast = client.instance("Slow", unique("fast"))
    gate = tmp_path / "gate"
    slow.run("bump", {"gate": str(gate)})  # held until the gate opens
    # Delayed by the held update, this would end with DeadlineExceededError.
    assert fast.run_outcome("bump", {"sleep": 0}, flush_update=True, timeout=10).version == 2
    gate.touch()
    assert slow.flush(timeout=30).version == 2


def test_flush_honours_its_deadline(client: MotionClient, tmp_path: pathlib.Path) -> None:
    from motion_grpc.errors import DeadlineExceededError

    handle = client.instance("Slow", unique("deadline"))
    gate = tmp_path / "gate"
    handle.run("bump", {"gate": str(gate)})  # held until the gate opens
    t0 = time.perf_counter()
    try:
        handle.flush(timeout=0.3)
    except DeadlineExceededError:
        pass
    else:
        raise AssertionError("flush returned before the held update finished")
    # A flush ignoring its deadline would wait for the gate, which opens only after this.
    assert time.perf_counter() - t0 < 2.0
    gate.touch()
    assert handle.flush(timeout=30).version == 2


def test_concurrent_serves_of_one_instance(client: MotionClient) -> None:
    handle = client.instance("Slow", unique("conc"))
    handle.run("bump", {"sleep": 0}, flush_update=True)
    results: list[int] = []

    def serve() -> None:
        for _ in range(20):
            results.append(handle.run("bump", {"sleep": 0}))

    threads = [threading.Thread(target=serve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 80
    assert handle.flush(timeout=30).version == 2 + 80
