"""A worker SIGKILLed in the middle of an update: the replica that resumes the instance counts a
lease takeover in its metrics and logs one JSON line saying so."""

from __future__ import annotations

import json
import pathlib

from motion_grpc import MotionClient
from tests.fault.support import COMPONENT, kill, process_of, replica, wait_for_mark
from tests.helpers import ServerProcess, assert_eventually, free_port, unique
from tests.ops.test_metrics import sample, scrape

TAKEOVERS = "motion_lease_takeovers_total"


def _takeover_lines(log: pathlib.Path) -> list[dict[str, object]]:
    whole_lines = log.read_text().split("\n")[:-1]  # the server may be writing the last one meanwhile
    records = [json.loads(line) for line in whole_lines if line.startswith("{")]
    return [r for r in records if r.get("event") == "lease_takeover"]


def test_a_killed_workers_instance_is_taken_over_counted_and_logged(
    tmp_path: pathlib.Path, redis_url: str
) -> None:
    marks = tmp_path / "marks"
    ports = [free_port(), free_port()]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    replicas = [
        replica(redis_url, marks, "--metrics-port", str(port), "--log-format", "json", log=log)
        for port, log in zip(ports, logs)
    ]
    instance_id = unique("takeover")
    try:
        for server in replicas:
            server.start()
        with MotionClient(replicas[0].target) as client:
            client.instance(COMPONENT, instance_id).run("append", {"i": 1, "sleep": 2.0})
        holder = process_of(replicas, wait_for_mark(marks, 1))
        kill(holder.process.pid)  # type: ignore[union-attr]
        holder.stop(timeout=10)
        survivor: ServerProcess = next(r for r in replicas if r is not holder)
        port, log = next((p, g) for p, g, r in zip(ports, logs, replicas) if r is survivor)
        with MotionClient(survivor.target) as client:
            handle = client.instance(COMPONENT, instance_id)
            assert handle.flush(timeout=30).failed == []
            assert handle.get_state(["items"])["items"] == [1]
        assert sample(scrape(port), TAKEOVERS, component=COMPONENT) >= 1
        [line] = assert_eventually(lambda: _takeover_lines(log))
        assert (line["component"], line["instance"], line["level"]) == (COMPONENT, instance_id, "WARNING")
        assert f"took over {COMPONENT}/{instance_id}" in str(line["message"])
    finally:
        for server in replicas:
            server.kill()
