"""The processes a test session started, read from /proc (Linux).

Tests start servers, update worker processes and redis-servers; a crash
test kills some of them on purpose. Every one of those carries the session's
mark in its environment (children inherit it), so the session can find what
it started even after a SIGKILL reparented it, and never touches the
processes of another session on the same machine.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import time
import uuid
from dataclasses import dataclass

#: Environment variable every process started by this test session inherits.
SESSION_MARK_VARIABLE = "MOTION_TEST_SESSION"
_PROC = pathlib.Path("/proc")
#: Process states of a process that has exited: a zombie awaiting its parent, or dead.
_ENDED = ("Z", "X")


@dataclass(frozen=True)
class ProcessInfo:
    """One process: `started` (clock ticks after boot) tells it from a later process given its pid."""

    pid: int
    ppid: int
    started: int
    state: str
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} (parent {self.ppid}): {self.command}"


def mark_session() -> str:
    """Put a fresh session mark in this process's environment, for every child to inherit."""
    mark = uuid.uuid4().hex
    os.environ[SESSION_MARK_VARIABLE] = mark
    return mark


def process_info(pid: int) -> ProcessInfo | None:
    """What /proc says of a pid; None when no such process exists (any more)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
        raw_command = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    # The name in parentheses may hold spaces and parentheses: split after the last one.
    fields = stat[stat.rindex(")") + 2 :].split()
    command = raw_command.replace(b"\0", b" ").decode(errors="replace").strip()
    return ProcessInfo(pid, int(fields[1]), int(fields[19]), fields[0], command)


def all_processes() -> list[ProcessInfo]:
    found = (process_info(int(entry.name)) for entry in _PROC.iterdir() if entry.name.isdigit())
    return [info for info in found if info is not None]


def children_of(pid: int) -> list[ProcessInfo]:
    return [info for info in all_processes() if info.ppid == pid and is_running(info)]


def descendants_of(pid: int) -> list[ProcessInfo]:
    """Every running process below `pid` in the process tree."""
    found: list[ProcessInfo] = []
    parents = {pid}
    for info in sorted(all_processes(), key=lambda info: info.started):  # parents start first
        if info.ppid in parents and is_running(info):
            found.append(info)
            parents.add(info.pid)
    return found


def is_running(info: ProcessInfo) -> bool:
    """Still the same process, and not a zombie (one that exited and awaits being reaped)."""
    now = process_info(info.pid)
    return now is not None and now.started == info.started and now.state not in _ENDED


def marked_with(mark: str) -> list[ProcessInfo]:
    """Running processes whose environment carries this session mark (other than this one)."""
    needle = f"{SESSION_MARK_VARIABLE}={mark}".encode()
    found = []
    for info in all_processes():
        try:
            environment = (_PROC / str(info.pid) / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or another user's
            continue
        if needle in environment and info.pid != os.getpid() and info.state not in _ENDED:
            found.append(info)
    return found


def left_running(mark: str, grace: float) -> list[ProcessInfo]:
    """What the session started that still runs after giving it `grace` seconds to finish exiting.

    Processes a test stopped may take a moment to go (a resource tracker
    exits once the last process holding its pipe has exited).
    """
    deadline = time.monotonic() + grace
    while (found := _started_and_running(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def _started_and_running(mark: str) -> list[ProcessInfo]:
    found = {info.pid: info for info in [*marked_with(mark), *descendants_of(os.getpid())]}
    return [info for info in found.values() if not _own_resource_tracker(info)]


def _own_resource_tracker(info: ProcessInfo) -> bool:
    """The tracker multiprocessing starts for this process: it ends when this process does."""
    return info.ppid == os.getpid() and "resource_tracker" in info.command


def kill_all(processes: list[ProcessInfo]) -> None:
    """SIGKILL each process, checking first that its pid was not given to another one."""
    for info in processes:
        if is_running(info):
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                os.kill(info.pid, signal.SIGKILL)
