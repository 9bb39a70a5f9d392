"""Prometheus metrics of a live `motion-grpc serve --metrics-port`: they move after runs, and carry
no instance id."""

from __future__ import annotations

import os
import pathlib
import signal
import time
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from motion_grpc import MotionClient
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.errors import MotionError, UpdateFailedError
from motion_grpc.store import RedisServer
from tests.helpers import ServerProcess, assert_eventually, clean_env, free_port, unique
from tests.processes import ProcessInfo, children_of


@pytest.fixture(scope="module")
def metrics_server(redis_url: str) -> Iterator[tuple[ServerProcess, int]]:
    port = free_port()
    with ServerProcess(redis_url=redis_url, args=["--metrics-port", str(port)]) as process:
        yield process, port


@pytest.fixture(scope="module")
def motion(metrics_server: tuple[ServerProcess, int]) -> Iterator[MotionClient]:
    with MotionClient(metrics_server[0].target) as client:
        client.wait_ready()
        yield client


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and labels.items() <= found.labels.items():
                total += found.value
    return total


def test_a_run_moves_rpc_op_and_update_metrics(
    motion: MotionClient, metrics_server: tuple[ServerProcess, int]
) -> None:
    port = metrics_server[1]
    before = scrape(port)
    instance_id = unique("metrics")
    handle = motion.instance("Ledger", instance_id)
    handle.run("append", props={"i": 1}, flush_update=True)
    after = assert_eventually(
        lambda: _moved(port, before, "motion_updates_applied_total", component="Ledger")
    )
    for name, labels in [
        ("motion_rpc_duration_seconds_count", {"method": "Run", "code": "OK"}),
        ("motion_op_duration_seconds_count", {"kind": "serve", "component": "Ledger", "flow": "append",
                                              "op": "ledger_size", "outcome": "ok"}),
        ("motion_op_duration_seconds_count", {"kind": "update", "component": "Ledger",
                                              "op": "ledger_append"}),
        ("motion_update_lag_seconds_count", {"component": "Ledger", "flow": "append", "op": "ledger_append"}),
    ]:  # fmt: skip
        assert sample(after, name, **labels) > sample(before, name, **labels), (name, labels)
    assert instance_id not in after


def test_failed_updates_count_by_error_type_and_errors_by_status(
    motion: MotionClient, metrics_server: tuple[ServerProcess, int]
) -> None:
    port = metrics_server[1]
    before = scrape(port)
    handle = motion.instance("Faulty", unique("metrics"))
    with pytest.raises(UpdateFailedError):
        handle.run("go", props={"fail_update": True}, flush_update=True)
    with pytest.raises(MotionError) as caught:
        handle.run("no-such-flow")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    failed = {"component": "Faulty", "flow": "go", "op": "faulty_update", "error_type": "KeyError"}
    assert_eventually(lambda: _moved(port, before, "motion_updates_failed_total", **failed))
    assert_eventually(
        lambda: _moved(port, before, "motion_rpc_duration_seconds_count", method="Run", code="NOT_FOUND")
    )


def test_a_call_its_caller_cancelled_counts_as_cancelled_not_unknown(
    motion: MotionClient, metrics_server: tuple[ServerProcess, int]
) -> None:
    port = metrics_server[1]
    before = scrape(port)
    handle = motion.instance("InitOnce", unique("cancelled"))  # its init_state takes 0.3 s
    call = motion.stub.Run.future(pb.RunRequest(instance=handle.ref, flow="who"), timeout=10)
    time.sleep(0.1)
    call.cancel()
    assert_eventually(
        lambda: _moved(port, before, "motion_rpc_duration_seconds_count", method="Run", code="CANCELLED")
    )
    assert sample(scrape(port), "motion_rpc_duration_seconds_count", method="Run", code="UNKNOWN") == sample(
        before, "motion_rpc_duration_seconds_count", method="Run", code="UNKNOWN"
    )


def test_queue_depth_counts_updates_waiting(
    motion: MotionClient, metrics_server: tuple[ServerProcess, int], tmp_path: pathlib.Path
) -> None:
    port = metrics_server[1]
    instance_id = unique("metrics")
    handle = motion.instance("Slow", instance_id)
    gate = tmp_path / "gate"  # holds the first update, so the other two wait behind it until it opens
    for _ in range(3):
        handle.run("bump", props={"gate": str(gate)})
    waiting = assert_eventually(
        lambda: sample(scrape(port), "motion_update_queue_depth", component="Slow") >= 2
    )
    assert waiting
    gate.touch()
    handle.flush()
    assert_eventually(lambda: sample(scrape(port), "motion_update_queue_depth", component="Slow") == 0)
    assert instance_id not in scrape(port)


def _moved(port: int, before: str, name: str, **labels: str) -> str | None:
    text = scrape(port)
    return text if sample(text, name, **labels) > sample(before, name, **labels) else None


def _families(text: str) -> list[str]:
    return [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]


def _update_worker(server: ServerProcess) -> ProcessInfo:
    assert server.process is not None
    pid = server.process.pid

    def found() -> ProcessInfo:
        workers = [info for info in children_of(pid) if "multiprocessing.spawn" in info.command]
        assert len(workers) == 1, workers
        return workers[0]

    return assert_eventually(found, timeout=30)


def test_updates_applied_in_update_processes_are_counted_on_the_server_endpoint(
    tmp_path: pathlib.Path,
) -> None:
    """With --update-processes, the workers' update metrics join the server's on one endpoint; a worker
    that dies keeps its counts; the files they record into are gone once the server stopped.

    On a Redis of its own: a server of another test would apply some of these updates."""
    port = free_port()
    args = ["--update-processes", "1", "--metrics-port", str(port)]
    ledger = {"component": "Ledger", "flow": "append", "op": "ledger_append"}
    files = tmp_path / "tmp"
    files.mkdir()
    redis = RedisServer(tmp_path / "redis", appendonly=False)
    server = ServerProcess(redis_url=redis.url, args=args, env=clean_env(TMPDIR=str(files)))
    with redis, server, MotionClient(server.target) as client:
        handle = client.instance("Ledger", unique("workers"))
        for i in range(3):
            handle.run("append", props={"i": i}, flush_update=True)
        text = scrape(port)
        assert sample(text, "motion_updates_applied_total", **ledger) == 3
        assert sample(text, "motion_op_duration_seconds_count", kind="update", **ledger) == 3
        assert sample(text, "motion_rpc_duration_seconds_count", method="Run", code="OK") == 3
        assert len(_families(text)) == len(set(_families(text))), "a metric exported twice"
        assert list(files.iterdir()) != []  # the workers' files

        worker = _update_worker(server)
        os.kill(worker.pid, signal.SIGKILL)
        assert_eventually(lambda: _update_worker(server).pid != worker.pid, timeout=30)
        handle.run("append", props={"i": 3}, flush_update=True)
        assert_eventually(lambda: sample(scrape(port), "motion_updates_applied_total", **ledger) == 4)
    assert list(files.iterdir()) == []
