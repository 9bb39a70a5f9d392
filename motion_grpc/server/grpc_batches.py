"""Every grpc.aio batch a server call starts is run to its end: a workaround for grpc/grpc#43360.

grpc.aio (grpcio 1.85.3 here; fixes are proposed in grpc/grpc#43361 and
#43409, not released) frees a batch's C operations (its `grpc_op` array, a
write's byte buffer) only when the coroutine awaiting the batch resumes
normally. Two things every streaming server sees skip that step and leak
about 290 bytes a batch natively, where tracemalloc does not look:

- a client cancels while a write is in flight: grpc cancels the handler task,
  which cancels the batch's future, and the batch is dropped;
- a write (or final status) completes on a call the client already closed:
  the batch fails, its future raises, and the batch is dropped.

A WatchUpdates client that cancels after one event while the next is being
sent hits one of the two about every other watch: the server's RSS grew
without bound under `make soak`.

`install()` wraps grpc's module-level `execute_batch` for server calls: the
batch's future records a failure instead of raising it and refuses to be
cancelled, so grpc always reaches the step that frees the batch; the failure
is raised, and a cancellation delivered, once it has (a cancelled handler
thus ends when Core completes its write, which Core does at once for a
cancelled call). Client calls keep grpc's own behaviour: callers time their
reads out with asyncio and expect that at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from grpc._cython import cygrpc  # type: ignore[attr-defined]  # no stubs for grpc internals

log = logging.getLogger(__name__)

_Batch = Callable[[Any, tuple[Any, ...], asyncio.AbstractEventLoop], Coroutine[Any, Any, None]]

#: grpc's own `execute_batch`, kept when `install()` replaces it.
_grpc_execute_batch: _Batch | None = None


class SettlingFuture(asyncio.Future[None]):
    """A batch's future that always completes with a result, so grpc frees the batch."""

    failure: BaseException | None = None

    def set_exception(self, exception: type | BaseException) -> None:
        self.failure = exception if isinstance(exception, BaseException) else exception()
        self.set_result(None)

    def cancel(self, msg: Any | None = None) -> bool:
        return False  # Core owns the batch until it completes; the awaiting task is told afterwards


class _Settled:
    """Awaits one batch coroutine to its end, then raises what it would have raised."""

    __slots__ = ("_batch", "_loop")

    def __init__(self, batch: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop) -> None:
        self._batch = batch
        self._loop = loop

    def __await__(self) -> Generator[Any, None, None]:
        waiting = self._start()
        cancelled: BaseException | None = None
        failure: BaseException | None = None
        while waiting is not None:
            try:
                yield waiting
            except asyncio.CancelledError as exc:  # the future refused it: let the batch finish first
                cancelled = exc
                if not waiting.done():
                    waiting._asyncio_future_blocking = True  # awaited again, as Future.__await__ does
                    continue
            except GeneratorExit:
                self._batch.close()
                raise
            failure = getattr(waiting, "failure", None)
            waiting = self._step()
        if cancelled is not None:
            raise cancelled
        if failure is not None:
            raise failure

    def _start(self) -> Any:
        """Run the batch up to its first await, its future created as a SettlingFuture."""
        loop: Any = self._loop
        loop.create_future = lambda: SettlingFuture(loop=self._loop)  # only while the batch starts
        try:
            return self._step()
        finally:
            del loop.create_future

    def _step(self) -> Any:
        """Resume the batch: the next future it waits on, or None once it has ended."""
        try:
            return self._batch.send(None)
        except StopIteration:
            return None


async def _execute_batch(call: Any, operations: tuple[Any, ...], loop: asyncio.AbstractEventLoop) -> None:
    assert _grpc_execute_batch is not None
    batch = _grpc_execute_batch(call, operations, loop)
    if isinstance(call, cygrpc.RPCState) and _can_shadow(loop):
        await _Settled(batch, loop)
    else:
        await batch


def _can_shadow(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether `create_future` can be shadowed on this loop for a moment.

    asyncio's own loops can; so can uvloop's through the subclass `loops` runs (a bare
    uvloop.Loop, a Cython class, has no instance attributes, so its batches go unguarded).
    """
    attributes = getattr(loop, "__dict__", None)
    return attributes is not None and "create_future" not in attributes


def install() -> bool:
    """Route grpc.aio's server batches through `_Settled` (idempotent); False if this grpc has no hook."""
    global _grpc_execute_batch
    current = getattr(cygrpc, "execute_batch", None)
    if current is _execute_batch:
        return True
    if current is None or not hasattr(cygrpc, "RPCState"):
        log.warning("this grpcio has no aio execute_batch to wrap: cancelled streams may leak memory")
        return False
    _grpc_execute_batch = current
    cygrpc.execute_batch = _execute_batch
    return True
