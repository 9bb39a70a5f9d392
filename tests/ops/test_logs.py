"""`--log-format json`: every log line of a live server is one JSON object; failed ops are logged
once each, without their props."""

from __future__ import annotations

import json
import pathlib

import pytest

from motion_grpc import MotionClient
from motion_grpc.errors import MotionError, UpdateFailedError
from tests.helpers import ServerProcess, assert_eventually, unique

SECRET = "props-value-that-must-not-be-logged"


def _records(log: pathlib.Path) -> list[dict[str, object]]:
    # Whole lines only: the server may be writing the last one while this reads.
    lines = log.read_text().split("\n")[:-1]
    # The one line printed on stdout for people ("motion-grpc serving ... on ...") is not a log line.
    return [json.loads(line) for line in lines if line and not line.startswith("motion-grpc serving")]


def test_json_log_lines_parse_and_leave_props_out(tmp_path: pathlib.Path, redis_url: str) -> None:
    log = tmp_path / "server.log"
    with (
        ServerProcess(redis_url=redis_url, args=["--log-format", "json"], log=log) as server,
        MotionClient(server.target) as motion,
    ):
        handle = motion.instance("Faulty", unique("logs"))
        with pytest.raises(UpdateFailedError):  # the run waited for its update, which failed
            handle.run("go", props={"fail_update": True, "secret": SECRET}, flush_update=True)
        with pytest.raises(MotionError):
            handle.run("go", props={"fail": "x", "secret": SECRET})
        failures = assert_eventually(
            lambda: [r for r in _records(log) if "failed" in str(r.get("message"))][1:] and _records(log)
        )
    records = _records(log)
    assert records, "the server logged nothing"
    assert {"time", "level", "logger", "message"} <= records[0].keys()
    failed = [r for r in failures if "failed" in str(r["message"])]
    assert any("update op faulty_update of Faulty/go failed: KeyError" in str(r["message"]) for r in failed)
    assert any(str(r["message"]).startswith("serve of Faulty/go failed") for r in failed)
    assert SECRET not in log.read_text()
