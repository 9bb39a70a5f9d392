"""The Node, Go and Java clients pass their own test suites against a live server.

Each suite lives in clients/<language>/ and reads the server's address from
MOTION_TARGET; each includes a runner of conformance/scenarios.json. A
language whose toolchain is missing, or whose dependencies clients/install.sh
has not fetched, is skipped (conftest.py says so at the end of the run); the
suites themselves run offline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from motion_grpc.store import RedisServer
from tests.helpers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "clients"
SUITE_TIMEOUT = 600.0
INSTALL_HINT = "run clients/install.sh"


@pytest.fixture(scope="module")
def motion_target() -> Iterator[str]:
    """host:port of a `motion-grpc serve examples/counter.py conformance/app.py` on its own Redis:
    the clients' own tests use the counter, their conformance runners the scenarios' app."""
    apps = [str(ROOT / "examples" / "counter.py"), str(ROOT / "conformance" / "app.py")]
    with (
        RedisServer(appendonly=False) as redis,
        ServerProcess(apps=apps, redis_url=redis.url) as server,
    ):
        yield server.target


def run_suite(command: list[str], cwd: Path, target: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one client's test command with MOTION_TARGET set."""
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, "MOTION_TARGET": target, **env},
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
        check=False,
    )


def assert_passed(result: subprocess.CompletedProcess[str], skip_marker: str | None = None) -> None:
    """The suite passed and, when its output marks skips, none skipped itself for want of a server."""
    output = f"$ {' '.join(result.args)}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    assert result.returncode == 0, output
    assert skip_marker is None or skip_marker not in result.stdout, output


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_node_client(motion_target: str) -> None:
    npm = require("npm")
    require("node")
    node_dir = CLIENTS / "node"
    if not (node_dir / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip(f"clients/node dependencies are not installed: {INSTALL_HINT}")
    assert_passed(run_suite([npm, "test"], node_dir, motion_target), "# SKIP")


@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_go_client(motion_target: str) -> None:
    go = require("go")
    go_dir = CLIENTS / "go"
    offline = {"GOPROXY": "off", "GOFLAGS": "-mod=readonly"}
    listed = run_suite([go, "list", "-deps", "-test", "./..."], go_dir, motion_target, **offline)
    if listed.returncode != 0:
        reason = listed.stderr.strip().splitlines()[-1:]
        pytest.skip(f"clients/go modules are not downloaded ({INSTALL_HINT}): {' '.join(reason)}")
    result = run_suite([go, "test", "-v", "-count=1", "./..."], go_dir, motion_target, **offline)
    assert_passed(result, "--- SKIP")


@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_java_client(motion_target: str) -> None:
    mvn = require("mvn")
    require("java")
    reports_dir = CLIENTS / "java" / "target" / "surefire-reports"
    shutil.rmtree(reports_dir, ignore_errors=True)  # so a stale report cannot pass for this run
    result = run_suite([mvn, "-o", "-B", "-q", "test"], CLIENTS / "java", motion_target)
    if result.returncode != 0 and "in offline mode" in result.stdout + result.stderr:
        pytest.skip(f"clients/java dependencies are not in the local Maven repository: {INSTALL_HINT}")
    assert_passed(result)  # quiet Maven prints no per-test lines: read surefire's report
    reports = list(reports_dir.glob("*.txt"))
    summary = "\n".join(report.read_text() for report in reports)
    assert "Tests run:" in summary and "Skipped: 0" in summary, summary
