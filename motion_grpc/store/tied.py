"""Child processes that get SIGTERM when their parent dies, even by SIGKILL.

The request is the Linux parent-death signal (prctl PR_SET_PDEATHSIG). It is
not made in a preexec_fn: with one, CPython forks instead of vforking, and a
fork runs gRPC's fork handlers in a process with live channels, which stall
every call in flight and can leave a poller on a closed descriptor. Instead
this file, run as a tiny program (no site packages, no motion_grpc import),
makes the request and execs the real command; the setting survives exec, and
the child keeps the pid Popen reported.

Linux sends the signal when the *thread* that started the child ends, not the
process: start tied children from a thread that lives as long as they should.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

#: prctl option asking the kernel to signal a child when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Exit status of a child whose parent died before the request was in place.
ORPHANED = 1
#: Files the child creates are its own (umask 077): the embedded Redis's data holds every state.
PRIVATE_UMASK = 0o077


def tied_command(argv: Sequence[str]) -> list[str]:
    """`argv`, run so that it gets SIGTERM when this process dies (unchanged where Linux is not)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), str(os.getpid()), *argv]


def popen_tied(argv: Sequence[str], **options: Any) -> subprocess.Popen[Any]:
    """Popen for a child that gets SIGTERM when this process dies, with private files."""
    return subprocess.Popen(tied_command(argv), umask=PRIVATE_UMASK, **options)


def _exec_tied(parent: int, argv: list[str]) -> None:
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    if prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it died before the request was in place: nobody waits for us
        os._exit(ORPHANED)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    _exec_tied(int(sys.argv[1]), sys.argv[2:])
