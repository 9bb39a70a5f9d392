"""The Node and Java clients over TLS and mTLS with API keys, against the real server (no proxy).

One `motion-grpc serve --tls-cert --tls-key --tls-client-ca --api-key-file` hosts
examples/counter.py; each client's TLS suite (clients/node/test/tls-server.test.js,
clients/java/.../TlsServerCheck.java) gets the certificate paths and keys in MOTION_TLS_* and
MOTION_*_KEY variables. A missing toolchain or dependency skips, as tests/conformance does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.test_clients import CLIENTS, INSTALL_HINT, ROOT, require
from tests.helpers import ServerProcess
from tests.security.conftest import Pki
from tests.security.support import ADMIN_KEY, CLIENT_KEY, secure_server

SUITE_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def tls_env(redis_url: str, pki: Pki, secrets_dir: Path) -> Iterator[dict[str, str]]:
    """A TLS server requiring client certificates and API keys; the variables the suites read."""
    args = [
        "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
        "--tls-client-ca", str(pki.ca), "--api-key-file", str(secrets_dir / "keys"),
    ]  # fmt: skip
    process = ServerProcess(apps=[str(ROOT / "examples" / "counter.py")], redis_url=redis_url, args=args)
    with secure_server(process, pki.channel_credentials(client=True)) as server:
        yield {
            "MOTION_TLS_TARGET": server.target,
            "MOTION_TLS_CA": str(pki.ca),
            "MOTION_TLS_CERT": str(pki.client_cert),
            "MOTION_TLS_KEY": str(pki.client_key),
            "MOTION_TLS_STRANGER_CERT": str(pki.stranger_cert),
            "MOTION_TLS_STRANGER_KEY": str(pki.stranger_key),
            "MOTION_ADMIN_KEY": ADMIN_KEY,
            "MOTION_CLIENT_KEY": CLIENT_KEY,
        }


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True,
        timeout=SUITE_TIMEOUT, check=False,
    )  # fmt: skip


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(result.args)}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"


def _tap_count(output: str, what: str) -> int:
    found = re.search(rf"^# {what} (\d+)$", output, re.MULTILINE)
    return int(found.group(1)) if found else -1


@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_node_client_over_tls_with_api_keys(tls_env: dict[str, str]) -> None:
    require("npm")
    node = require("node")
    node_dir = CLIENTS / "node"
    if not (node_dir / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip(f"clients/node dependencies are not installed: {INSTALL_HINT}")
    built = _run([node, "scripts/build.mjs"], node_dir, {})
    assert built.returncode == 0, _output(built)
    command = [node, "--test", "--test-reporter=tap", "test/tls-server.test.js"]
    result = _run(command, node_dir, tls_env)
    assert result.returncode == 0, _output(result)
    assert _tap_count(result.stdout, "pass") == 4 and _tap_count(result.stdout, "skipped") == 0, _output(
        result
    )


@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_java_client_over_tls_with_api_keys(tls_env: dict[str, str]) -> None:
    mvn = require("mvn")
    require("java")
    java_dir = CLIENTS / "java"
    report = java_dir / "target" / "surefire-reports" / "io.motiongrpc.client.TlsServerCheck.txt"
    shutil.rmtree(report.parent, ignore_errors=True)  # so a stale report cannot pass for this run
    command = [
        mvn,
        "-o",
        "-B",
        "-q",
        "test",
        "-Dtest=TlsServerCheck",
        "-Dsurefire.failIfNoSpecifiedTests=false",
    ]
    result = _run(command, java_dir, tls_env)
    if result.returncode != 0 and "in offline mode" in result.stdout + result.stderr:
        pytest.skip(f"clients/java dependencies are not in the local Maven repository: {INSTALL_HINT}")
    assert result.returncode == 0, _output(result)
    summary = report.read_text()
    assert "Tests run: 5, Failures: 0, Errors: 0, Skipped: 0" in summary, summary
