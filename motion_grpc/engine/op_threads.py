"""A thread pool that hands its results straight to the awaiting event loop.

`loop.run_in_executor` goes through concurrent.futures: a lock, a work item,
a Future with its condition, then a callback chained onto an asyncio future.
For a cheap sync op that is most of its cost (about 0.1 ms of CPU a call
here, against half that for a direct hand-off), paid on every serve and
every update of the serving path. Here a job is one queue put, and its end
is one `call_soon_threadsafe`.

Threads start on demand, one for each job that finds no idle thread, up to
`max_threads`, and end after IDLE_SECONDS without a job, so a burst of a
thousand sync model calls does not leave a thousand threads behind. They are
daemons: a user op that never returns cannot keep the process from exiting.

A call runs in a copy of its submitter's context (contextvars), as
`asyncio.to_thread` runs it: a tracing span or request id the caller set is
the op's too.

A call's timeout counts from when a thread starts it, never while it waits
for one. A call left running (past its timeout, or its caller gone) keeps
its thread until it returns, maybe never; the pool starts another in its
place, up to `max_threads` more, so ops that hang do not take the threads
every other instance's ops need.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Seconds a thread waits for a job before it ends.
IDLE_SECONDS = 60.0


class CallTimedOut(TimeoutError):
    """`OpThreads.call` ran past its timeout (not a TimeoutError the call itself raised)."""


class _Job:
    __slots__ = ("abandoned", "args", "context", "finished", "func", "future", "loop", "started")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        func: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        self.loop, self.future, self.func, self.args = loop, future, func, args
        self.context = contextvars.copy_context()
        self.started: float | None = None  # time.monotonic() when a thread took it
        self.abandoned = False  # left running: another thread was started in its place
        self.finished = False


class OpThreads:
    """Up to `max_threads` threads running blocking calls for asyncio callers."""

    def __init__(self, max_threads: int, name: str, idle_seconds: float = IDLE_SECONDS) -> None:
        if max_threads < 1:
            raise ValueError(f"{name} threads must be >= 1")
        self._max = max_threads
        self._name = name
        self._idle_seconds = idle_seconds
        self._numbers = itertools.count(1)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0  # threads waiting for a job and not yet promised one
        self._unclaimed = 0  # jobs put while no thread was idle or could start: the next to finish takes one
        self._abandoned = 0  # threads held by calls left running, each replaced (up to max_threads)
        self._closed = False

    @property
    def threads(self) -> int:
        """Threads running or waiting for a job (each ends after `idle_seconds` without one)."""
        return self._threads

    def submit(self, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`func(*args)` on a pool thread; the future is resolved on the calling loop.

        Cancelling the future before a thread picks the job up skips it; a
        call already running finishes on its own and its result is dropped.
        """
        future: asyncio.Future[T] = self._submit(func, args).future
        return future

    async def call(self, timeout: float | None, func: Callable[..., T], *args: Any) -> T:
        """`func(*args)` on a pool thread; CallTimedOut once it has run `timeout` seconds.

        The wait for a free thread does not count. A call that times out, or
        whose caller is cancelled, while it runs keeps its thread: another is
        started in its place.
        """
        job = self._submit(func, args)
        future: asyncio.Future[T] = job.future
        wait = timeout
        try:
            if timeout is None:
                return await future
            while True:
                done, _ = await asyncio.wait((future,), timeout=wait)
                if done:
                    return future.result()
                started = job.started
                wait = timeout if started is None else started + timeout - time.monotonic()
                if wait <= 0:
                    raise CallTimedOut
        except BaseException:
            if future.cancelled() or not future.done():  # (awaiting it, a cancelled caller cancels it)
                future.cancel()
                self._abandon(job)
            raise

    def _submit(self, func: Callable[..., Any], args: tuple[Any, ...]) -> _Job:
        loop = asyncio.get_running_loop()
        job = _Job(loop, loop.create_future(), func, args)
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self._name} threads are closed")
            if self._idle:
                self._idle -= 1
            elif self._threads < self._max + self._abandoned:
                self._start_thread()
            else:
                self._unclaimed += 1
        self._jobs.put(job)
        return job

    def _start_thread(self) -> None:
        """Start one more thread (the caller holds the lock): it takes a job that is, or will be, put."""
        self._threads += 1
        name = f"{self._name}_{next(self._numbers)}"
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _abandon(self, job: _Job) -> None:
        """A call left running: unless it has not started (then it is skipped), or has just returned,
        another thread may start in the place of the one it holds."""
        with self._lock:
            if job.started is None or job.finished or job.abandoned or self._abandoned >= self._max:
                return
            job.abandoned = True
            self._abandoned += 1
            held = self._abandoned
            if self._unclaimed:  # a job waits for a thread: this one's place goes to it now
                self._unclaimed -= 1
                self._start_thread()
        log.warning(
            "%d of the %s threads are held by calls left running (past their timeout, or their caller "
            "gone); a thread was started in place of one (at most %d are)",
            held, self._name, self._max,
        )  # fmt: skip

    def close(self) -> None:
        """Cancel the jobs no thread has started; threads end once their call in hand returns."""
        with self._lock:
            self._closed = True
            threads = self._threads
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                _call_on(job.loop, job.future.cancel)
        for _ in range(threads):
            self._jobs.put(None)

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_seconds)
            except queue.Empty:
                if self._retire():
                    return
                continue
            if job is None:
                return
            if not job.future.cancelled():
                job.started = time.monotonic()
                try:
                    result = job.context.run(job.func, *job.args)
                except BaseException as exc:
                    self._done(job)
                    _call_on(job.loop, _fail, job.future, exc)
                else:
                    self._done(job)
                    _call_on(job.loop, _succeed, job.future, result)
                    del result
            else:
                self._done(job)
            del job  # nothing of a finished call stays alive while this thread waits

    def _retire(self) -> bool:
        """End this idle thread, unless every idle thread is promised a job already put or coming."""
        with self._lock:
            if self._idle <= 0:
                return False
            self._idle -= 1
            self._threads -= 1
            return True

    def _done(self, job: _Job) -> None:
        """Count this thread idle before its result is handed over, so the next job finds it (or
        have it take a job that waits for a thread: then it is not idle); a thread that was replaced
        while its call ran is one of the pool's again."""
        with self._lock:
            if self._unclaimed:
                self._unclaimed -= 1
            else:
                self._idle += 1
            job.finished = True
            if job.abandoned:
                job.abandoned = False
                self._abandoned -= 1


def _call_on(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop was closed meanwhile: nobody awaits the result
        loop.call_soon_threadsafe(callback, *args)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, StopIteration):  # a Future refuses it (it would end the awaiting coroutine)
        exc = RuntimeError(f"StopIteration raised by a call run on a thread: {exc!r}")
    future.set_exception(exc)


__all__ = ["CallTimedOut", "OpThreads"]
