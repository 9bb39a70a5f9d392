"""Calling user ops: sync ones in the calling thread, async ones on the engine's loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from motion_grpc.errors import MotionError, OpError

log = logging.getLogger(__name__)
T = TypeVar("T")


class LoopThread:
    """One long-lived event loop in a thread of its own, for callers outside it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="motion-engine-loop", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def ensure_started(self) -> None:
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True

    def is_current(self) -> bool:
        """Whether the caller runs on this loop's own thread."""
        return threading.current_thread() is self._thread

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the loop and wait for its result."""
        if self.is_current():
            coroutine.close()
            raise RuntimeError(
                "a blocking motion-grpc call was made on the engine's own event loop; "
                "in an async op, use the async API (arun, agen, ...)"
            )
        self.ensure_started()
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """Run a coroutine on the loop; a future to await from another event loop."""
        self.ensure_started()
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def close(self) -> None:
        if self._started:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()


async def stop_task(task: asyncio.Task[Any], timeout: float = 2.0) -> None:
    """Cancel a background task and wait (a bounded time) for it to end.

    Bounded because a client library may swallow a cancellation that lands in
    its own await (redis-py's pub/sub has been seen to): the task then ends at
    its next check of its owner's stop flag instead.
    """
    task.cancel()
    await asyncio.wait([task], timeout=timeout)


#: The most characters of an exception's message kept (events, logs, statuses): an op's
#: exception may quote its whole input.
MAX_ERROR_CHARS = 2000
#: The most characters of an exception type's name kept (it travels as a trailer).
MAX_ERROR_TYPE_CHARS = 200


def describe_error(exc: BaseException) -> str:
    """`Type: message`, the message cut to MAX_ERROR_CHARS and made storable (a lone surrogate,
    which neither Redis nor gRPC can carry as UTF-8, escaped)."""
    try:
        text = str(exc)
    except Exception:  # an exception whose __str__ raises
        text = "(its message could not be read)"
    if len(text) > MAX_ERROR_CHARS:
        text = f"{text[:MAX_ERROR_CHARS]}... ({len(text) - MAX_ERROR_CHARS} more characters cut)"
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def op_failed(exc: BaseException) -> bool:
    """Whether an exception from user code is that op's failure (and nothing more).

    `SystemExit`, `KeyboardInterrupt` and any other BaseException raised by an
    op end that op only, never a worker or the server; a cancellation is the
    caller's, not the op's, and keeps travelling.
    """
    return not isinstance(exc, (MotionError, asyncio.CancelledError))


def is_ops_own_failure(exc: BaseException) -> bool:
    """`op_failed` for an exception that can only have come from the op itself (nothing of the
    engine's ran inside the `try` but what already reported the op's failure): a MotionError too
    is then the op's failure, most often its own call to another component or service that failed,
    and never the engine's."""
    if isinstance(exc, OpError) and exc.raised_by_op:
        return False  # already made the op's failure (by a generator's step, say): kept as it is
    return not isinstance(exc, asyncio.CancelledError)


def op_error(what: str, exc: BaseException) -> OpError:
    """The OpError naming the op and the exception it raised (its cause, handed back in-process)."""
    log.debug("%s raised", what, exc_info=exc)
    error = OpError(f"{what} raised {describe_error(exc)}", type(exc).__name__[:MAX_ERROR_TYPE_CHARS])
    error.raised_by_op = True
    return error


async def guarded(what: str, coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Await an op's coroutine so that nothing it raises escapes as a BaseException.

    asyncio re-raises SystemExit and KeyboardInterrupt out of the event loop
    itself, which would stop every other op on it.
    """
    try:
        return await coroutine
    except BaseException as exc:
        if not is_ops_own_failure(exc):
            raise
        raise op_error(what, exc) from exc
