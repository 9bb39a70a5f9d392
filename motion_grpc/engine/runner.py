"""Running user code from the event loop: coroutines are awaited on it, everything else on threads.

Nothing user-written runs on the loop itself unless it is a coroutine: a sync
op that turns slow (a blocking model call) then holds one thread of a pool
sized for blocking I/O, never the loop that answers every other call.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from motion_grpc.engine.op_threads import CallTimedOut, OpThreads
from motion_grpc.engine.ops import guarded, is_ops_own_failure, op_error
from motion_grpc.errors import DeadlineExceededError, OpError, Reason

T = TypeVar("T")


class OpTimeoutError(DeadlineExceededError):
    """An op ran past its timeout (a sync op's thread finishes on its own; nothing waits for it)."""

    error_type = "Timeout"
    reason = Reason.OP_TIMEOUT


class OpRunner:
    """One thread pool for sync user code, and the rules for calling any user code."""

    def __init__(self, threads: int, name: str) -> None:
        self._threads = OpThreads(threads, name)

    def close(self) -> None:
        self._threads.close()

    async def call(
        self, what: str, func: Callable[..., Any], args: tuple[Any, ...], timeout: float | None
    ) -> Any:
        """The op's result; OpError for whatever it raised, OpTimeoutError past `timeout`."""
        result, _ = await self.timed_call(what, func, args, timeout)
        return result

    async def timed_call(
        self, what: str, func: Callable[..., Any], args: tuple[Any, ...], timeout: float | None
    ) -> tuple[Any, float]:
        """`call`, and the seconds the op itself took.

        A sync op is timed on its thread: the wait for a free thread and for the
        loop to take the result back are not the op's (under load they would
        make every cheap op look slow, and a slow op is served and applied the
        slower, careful way).
        """
        if inspect.iscoroutinefunction(func):
            started = time.perf_counter()
            result = await _within(what, guarded(what, func(*args)), timeout)
            return result, time.perf_counter() - started
        try:
            result, seconds = await self._threads.call(timeout, _timed_sync, what, func, args)
        except CallTimedOut:  # not a TimeoutError (or DeadlineExceededError) the op raised itself
            raise _timed_out(what, timeout) from None
        if inspect.iscoroutine(result):  # a plain function that returned a coroutine
            started = time.perf_counter()
            result = await _within(what, guarded(what, result), timeout)
            seconds += time.perf_counter() - started
        return result, seconds

    def offload(self, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run trusted code that blocks or runs user hooks (state codec, generators) on the pool."""
        return self._threads.submit(func, *args)


def _timed_sync(what: str, func: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = call_sync(what, func, args)
    return result, time.perf_counter() - started


def call_sync(what: str, func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    try:
        return func(*args)
    except BaseException as exc:
        if not is_ops_own_failure(exc):
            raise
        raise op_error(what, exc) from exc


async def _within(
    what: str, awaitable: Coroutine[Any, Any, T] | asyncio.Future[T], timeout: float | None
) -> T:
    if timeout is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise _timed_out(what, timeout) from None


def _timed_out(what: str, timeout: float | None) -> OpTimeoutError:
    return OpTimeoutError(f"{what} did not finish within its timeout of {timeout or 0:g} s")


def failure_of(exc: OpError | OpTimeoutError) -> tuple[str, str]:
    """(error type, message) of a failed op, as its FAILED event records them."""
    if isinstance(exc, OpTimeoutError):
        return OpTimeoutError.error_type, exc.message
    return exc.error_type, exc.message


__all__ = ["OpRunner", "OpTimeoutError", "call_sync", "failure_of"]
