"""The end of a serving process: threads user code left running do not keep it alive.

A user op may start a thread that is not a daemon and outlives it (a client
library's worker, a `threading.Thread` never joined). Python waits for such
threads before it runs its exit handlers, so a server that had stopped serving
would sit there, its embedded Redis still running, until they end: maybe
never. Once the server has stopped gracefully, `leave` runs the exit handlers
itself and exits, naming the threads it did not wait for.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)


def leave(status: int) -> None:
    """Exit with `status` now if threads other than daemons are still running; else return."""
    lingering = [
        thread.name
        for thread in threading.enumerate()
        if thread is not threading.current_thread() and not thread.daemon and thread.is_alive()
    ]
    if not lingering:
        return
    log.warning(
        "exiting without waiting for %d thread(s) that user code left running: %s",
        len(lingering), ", ".join(lingering[:10]),
    )  # fmt: skip
    atexit._run_exitfuncs()  # what the interpreter runs at exit, after it waited for the threads
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)


__all__ = ["leave"]
