"""The end of a serving process: threads user code left running do not keep it alive.

A user op may start a thread that is not a daemon and outlives it (a client
library's worker, a `threading.Thread` never joined, an async op's
`asyncio.to_thread` call that never returns). Python waits for such threads
before it runs its exit handlers, and `asyncio.run` waits for its default
executor's threads as it ends (with no bound before Python 3.12), so a server
that had stopped serving would sit there, its embedded Redis still running,
until they end: maybe never.

- `own_default_executor` gives the loop a default executor that is let go of,
  not waited for, once the server has stopped;
- `leave` then runs the exit handlers itself and exits, naming the threads it
  did not wait for.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

#: Seconds the exit handlers may take once `leave` has decided to exit (one may join a thread).
EXIT_HANDLERS_SECONDS = 10.0


@contextlib.contextmanager
def own_default_executor(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """The loop's default executor for the duration, shut down without waiting afterwards: the
    loop is handed a fresh one, which is what `asyncio.run` waits for as it ends."""
    executor = ThreadPoolExecutor(thread_name_prefix="asyncio-default")
    loop.set_default_executor(executor)
    try:
        yield
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1, thread_name_prefix="asyncio-end"))


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
    deadline = threading.Timer(EXIT_HANDLERS_SECONDS, os._exit, (status,))
    deadline.daemon = True
    deadline.start()
    atexit._run_exitfuncs()  # what the interpreter runs at exit, after it waited for the threads
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)


__all__ = ["leave", "own_default_executor"]
