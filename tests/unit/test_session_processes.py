"""The end-of-session check finds what the tests left running, orphans included, and nothing else."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.helpers import assert_eventually
from tests.processes import (
    SESSION_MARK_VARIABLE,
    ProcessInfo,
    is_running,
    kill_all,
    left_running,
    process_info,
)

# Starts `sleep` in the background and exits at once: the sleep is adopted by init, as a
# server's helpers are when the server is SIGKILLed.
ORPHAN = "sleep 60 </dev/null >/dev/null 2>&1 & echo $!"


@pytest.fixture
def orphans() -> Iterator[list[ProcessInfo]]:
    """Orphans a test makes; killed at its end."""
    made: list[ProcessInfo] = []
    yield made
    kill_all(made)


def orphan(made: list[ProcessInfo], env: dict[str, str]) -> ProcessInfo:
    output = subprocess.run(["sh", "-c", ORPHAN], env=env, capture_output=True, text=True, check=True).stdout
    info = process_info(int(output))
    assert info is not None and info.ppid != os.getpid()
    made.append(info)
    return info


def test_an_orphan_the_session_started_is_left_running(orphans: list[ProcessInfo]) -> None:
    mark = os.environ[SESSION_MARK_VARIABLE]
    leaked = orphan(orphans, dict(os.environ))
    assert leaked.pid in {info.pid for info in left_running(mark, grace=0)}
    kill_all([leaked])
    assert_eventually(lambda: not is_running(leaked))
    assert leaked.pid not in {info.pid for info in left_running(mark, grace=0)}


def test_a_process_of_another_session_is_not_ours(orphans: list[ProcessInfo]) -> None:
    mark = os.environ[SESSION_MARK_VARIABLE]
    env = {key: value for key, value in os.environ.items() if key != SESSION_MARK_VARIABLE}
    foreign = orphan(orphans, env)
    assert foreign.pid not in {info.pid for info in left_running(mark, grace=0)}


def test_a_child_still_running_is_left_running() -> None:
    mark = os.environ[SESSION_MARK_VARIABLE]
    env = {key: value for key, value in os.environ.items() if key != SESSION_MARK_VARIABLE}
    with subprocess.Popen(["sleep", "60"], env=env) as child:  # no mark, yet below this process
        try:
            assert child.pid in {info.pid for info in left_running(mark, grace=0)}
        finally:
            child.kill()
