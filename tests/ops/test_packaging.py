"""Packaging: the sdist and wheel `python -m build` makes install into a clean virtual environment and
serve from there; the LICENSE matches pyproject; `make serve` says how to call it, each line once."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import venv
import zipfile
from collections.abc import Iterator

import grpc
import pytest

from tests.helpers import ROOT, assert_eventually, clean_env, free_port, popen_tied, unique


def isolated_env() -> dict[str, str]:
    """The environment without anything that would import motion_grpc from the source tree."""
    env = clean_env()
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    pytest.importorskip("build", reason="pip install build (make install adds it)")
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)]
    subprocess.run(command, check=True, capture_output=True, timeout=300, env=isolated_env())
    return out


@pytest.fixture(scope="module")
def installed(dist: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A fresh virtual environment with only the wheel (and what it depends on) installed."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    (wheel,) = dist.glob("*.whl")
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300, env=isolated_env())
    return env_dir


def test_license_matches_pyproject() -> None:
    license_field = re.search(r'^license = "(.*)"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    assert license_field is not None and license_field.group(1) == "Apache-2.0"
    assert (ROOT / "LICENSE").read_text().split()[:4] == ["Apache", "License", "Version", "2.0,"]


def test_sdist_and_wheel_carry_the_package_and_license(dist: pathlib.Path) -> None:
    (wheel,) = dist.glob("motion_grpc-0.1.0-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "motion_grpc/py.typed" in names
    assert "motion_grpc/_proto/motion/v1/motion_pb2.pyi" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    (sdist,) = dist.glob("motion_grpc-0.1.0.tar.gz")
    with tarfile.open(sdist) as archive:
        assert "motion_grpc-0.1.0/LICENSE" in archive.getnames()


@pytest.fixture
def served_from_wheel(installed: pathlib.Path, redis_url: str, tmp_path: pathlib.Path) -> Iterator[str]:
    """`motion-grpc serve` of the clean environment, run outside the source tree; its target."""
    app = tmp_path / "counter.py"
    app.write_text((ROOT / "examples" / "counter.py").read_text())
    target = f"127.0.0.1:{free_port()}"
    command = [str(installed / "bin" / "motion-grpc"), "serve", str(app), "--port", target.split(":")[1],
               "--redis", redis_url]  # fmt: skip
    process = popen_tied(command, cwd=tmp_path, env=isolated_env())
    try:
        with grpc.insecure_channel(target) as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
        yield target
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)


def test_the_wheel_installs_and_serves(
    installed: pathlib.Path, served_from_wheel: str, tmp_path: pathlib.Path
) -> None:
    where = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import motion_grpc; print(motion_grpc.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=isolated_env(),
    )  # fmt: skip
    assert where.stdout.startswith(str(installed))
    call = [str(installed / "bin" / "motion-grpc"), "call", "Counter", unique("wheel"), "add",
            "--props", '{"n": 2}', "--flush", "--json", "--target", served_from_wheel]  # fmt: skip
    answer = subprocess.run(
        call, capture_output=True, text=True, check=True, cwd=tmp_path, env=isolated_env()
    )
    assert json.loads(answer.stdout)["result"] == 2


def test_make_serve_says_how_to_call_it_once(redis_url: str) -> None:
    """The printed Python line works against the server make started; no line shows twice."""
    port = free_port()
    # -o: never (re)install from a test; the session already runs on the installed .venv.
    command = [
        "make",
        "-s",
        "-o",
        ".venv/.installed",
        "serve",
        f"PORT={port}",
        f"SERVE_ARGS=--redis {redis_url}",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    lines: list[str] = []
    try:
        assert process.stdout is not None
        while not any(line.startswith("motion-grpc serving") for line in lines):
            line = process.stdout.readline()
            assert line, f"make serve ended: {lines}"
            lines.append(line.rstrip("\n"))
        (python_line,) = [line.strip() for line in lines if "from motion_grpc import MotionClient" in line]
        result = subprocess.run(shlex.split(python_line), cwd=ROOT, capture_output=True, text=True,
                                check=True, env=clean_env())  # fmt: skip
        assert result.stdout.strip().isdigit()
        (grpcurl_line,) = [line.strip() for line in lines if line.strip().startswith("grpcurl -plaintext")]
        assert f"localhost:{port}" in grpcurl_line
        _run_grpcurl_line(grpcurl_line)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        rest, _ = process.communicate(timeout=20)
    lines += rest.splitlines()
    assert len(lines) == len(set(lines)), lines
    assert len([line for line in lines if "motion-grpc serving" in line]) == 1, lines
    assert_eventually(lambda: process.poll() is not None)


def _run_grpcurl_line(line: str) -> None:
    """Run the printed grpcurl line when grpcurl is installed (.ci/run installs it)."""
    gopath_bin = pathlib.Path(os.environ.get("GOPATH", pathlib.Path.home() / "go")) / "bin" / "grpcurl"
    grpcurl = shutil.which("grpcurl") or (str(gopath_bin) if gopath_bin.exists() else None)
    if grpcurl is None:
        return
    result = subprocess.run([grpcurl, *shlex.split(line)[1:]], cwd=ROOT, capture_output=True, text=True,
                            check=False, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "result" in json.loads(result.stdout)
