"""Tied children: the command itself runs under the pid Popen gave, with private files, and ends with
the process that started it, even when that one is SIGKILLed."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

import pytest

from motion_grpc.store import tied
from tests.helpers import assert_eventually
from tests.processes import is_running, process_info

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")

# Starts a tied `sleep`, prints its pid and waits to be killed.
STARTER = """
import sys
from motion_grpc.store.tied import popen_tied
child = popen_tied(["sleep", "60"])
print(child.pid, flush=True)
sys.stdin.read()
"""


def _status_field(pid: int, name: str) -> str:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split()[1]
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def test_the_command_runs_under_the_pid_popen_gave_with_private_files() -> None:
    child = tied.popen_tied(["sleep", "60"])
    try:
        info = assert_eventually(
            lambda: (found := process_info(child.pid)) and found.command == "sleep 60" and found
        )
        assert info.ppid == os.getpid()
        assert _status_field(child.pid, "Umask") == "0077"
    finally:
        child.kill()
        child.wait()


def test_a_child_ends_with_its_parent_even_a_sigkilled_one() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", STARTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as starter:
        assert starter.stdout is not None
        sleeper = process_info(int(starter.stdout.readline()))
        assert sleeper is not None and "sleep" in sleeper.command
        starter.send_signal(signal.SIGKILL)
    assert_eventually(lambda: not is_running(sleeper))


def test_a_child_whose_parent_died_before_the_request_exits() -> None:
    """The program checks that its parent is still the process that asked; a pid that is not
    its parent stands for one that died (the child would have been adopted)."""
    command = tied.tied_command(["sleep", "60"])
    command[command.index(str(os.getpid()))] = "1"
    done = subprocess.run(command, check=False, timeout=30)
    assert done.returncode == tied.ORPHANED
