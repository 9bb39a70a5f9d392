"""Prometheus metrics of a live `motion-grpc serve --metrics-port`: they move after runs, and carry
no instance id."""

from __future__ import annotations

import pathlib
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from motion_grpc import MotionClient
from motion_grpc.errors import MotionError
from tests.helpers import ServerProcess, assert_eventually, free_port, unique


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
    handle.run("go", props={"fail_update": True}, flush_update=True)
    with pytest.raises(MotionError) as caught:
        handle.run("no-such-flow")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    failed = {"component": "Faulty", "flow": "go", "op": "faulty_update", "error_type": "KeyError"}
    assert_eventually(lambda: _moved(port, before, "motion_updates_failed_total", **failed))
    assert_eventually(
        lambda: _moved(port, before, "motion_rpc_duration_seconds_count", method="Run", code="NOT_FOUND")
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
