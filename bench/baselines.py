"""Installing what the baselines need, on first use; a failure makes that baseline "unavailable".

- Motion 0.1.132 goes into its own venv (bench/.motion-venv): it pins redis<5,
  cloudpickle<3 and psutil<6, which would break ours.
- ghz is built with `go install`.
- The HTTP load client (aiohttp) goes into our venv, from bench/requirements.txt.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

BENCH_DIR = pathlib.Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
MOTION_VENV = BENCH_DIR / ".motion-venv"
MOTION_REQUIREMENTS = BENCH_DIR / "motion-requirements.txt"
BENCH_REQUIREMENTS = BENCH_DIR / "requirements.txt"
GHZ_MODULE = "github.com/bojand/ghz/cmd/ghz@latest"
INSTALL_TIMEOUT = 900.0


class UnavailableError(Exception):
    """A baseline or prerequisite cannot be had; the message says why."""


def _run(command: list[str], what: str, timeout: float = INSTALL_TIMEOUT) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UnavailableError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise UnavailableError(f"{what} failed: {last}")
    return done.stdout


def motion_python() -> str:
    """The interpreter of the Motion venv, created and filled on first use."""
    python = MOTION_VENV / "bin" / "python"
    digest = hashlib.sha256(MOTION_REQUIREMENTS.read_bytes()).hexdigest()
    stamp = MOTION_VENV / ".installed"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return str(python)
    print(f"bench: installing Motion into {MOTION_VENV} (first run only)", flush=True)
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(MOTION_VENV)], "creating the Motion venv")
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(MOTION_REQUIREMENTS)], "pip install motion"
    )
    _run([str(python), "-c", "import motion, uvicorn, motion.server.application"], "importing motion")
    stamp.write_text(digest)
    return str(python)


def _gopath_bin() -> pathlib.Path | None:
    go = shutil.which("go")
    if go is None:
        return None
    gopath = _run([go, "env", "GOPATH"], "go env GOPATH", timeout=60).strip().split(os.pathsep)[0]
    return pathlib.Path(gopath) / "bin"


def ghz_binary() -> str:
    """Path of ghz, installed with `go install` when it is missing."""
    found = shutil.which("ghz")
    if found:
        return found
    gobin = _gopath_bin()
    if gobin is None:
        raise UnavailableError("ghz is not installed and there is no Go toolchain to build it")
    binary = gobin / "ghz"
    if not binary.exists():
        print(f"bench: go install {GHZ_MODULE} (first run only)", flush=True)
        _run(["go", "install", GHZ_MODULE], "go install ghz")
    return str(binary)


def ensure_client_packages() -> None:
    """Install bench/requirements.txt into our venv when one of them is missing."""
    if importlib.util.find_spec("aiohttp") is not None:
        return
    print("bench: installing bench/requirements.txt into the venv", flush=True)
    _run([sys.executable, "-m", "pip", "install", "--quiet", "-r", str(BENCH_REQUIREMENTS)], "pip install")
    importlib.invalidate_caches()
