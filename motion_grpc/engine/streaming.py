"""Streaming runs: a generator serve op's items as they are produced, then its updates' enqueue.

A sync generator advances on the serve threads, one `next()` at a time; an
async one on the event loop. Closing the stream closes the generator (its
`finally` runs) once any step in flight has ended, and enqueues nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from motion_grpc.engine import failures
from motion_grpc.engine.ops import describe_error, is_ops_own_failure, op_error, op_failed
from motion_grpc.engine.results import RunResult
from motion_grpc.engine.runner import OpRunner, call_sync
from motion_grpc.errors import MotionError

log = logging.getLogger(__name__)


class _End:
    def __repr__(self) -> str:
        return "END"


#: Returned by a step when the generator is exhausted.
END: Any = _End()


class ServeStream:
    """The items of one streaming run, then the enqueue of its update ops.

    Args:
        what: Names the serve op in error messages.
        produced: What the serve op returned: a generator, an async generator,
            or (for a plain op run through a stream) None with `done` set.
        version: The state version the serve op read.
        finish: Enqueues the update ops for the collected items.
        done: For a plain serve op: its already complete run result.
        timeout: Seconds the generator may take for each item (the serve op's timeout).
    """

    def __init__(
        self,
        what: str,
        produced: Any,
        version: int,
        runner: OpRunner,
        finish: Callable[[list[Any]], Awaitable[RunResult]],
        done: RunResult | None = None,
        timeout: float | None = None,
    ) -> None:
        self.what = what
        self.version = version
        self.items: list[Any] = []
        self._produced = produced
        self._runner = runner
        self._finish = finish
        self._result = done
        self._exhausted = done is not None
        self._timeout = timeout
        self._step: asyncio.Future[Any] | None = None
        self._closed = False
        #: A sync generator's next() is running on a thread (it may outlive its step's timeout):
        #: a close meanwhile is left to that thread, once next() returns.
        self._in_next = False
        self._next_lock = threading.Lock()

    @property
    def completed(self) -> RunResult | None:
        """The run result of a plain serve op (already enqueued), else None."""
        return self._result if self._produced is None else None

    @property
    def steps_here(self) -> bool:
        """Whether a caller outside the loop may take the items in its own thread, as Motion's `gen`
        does: a sync generator with no timeout (a timeout needs a thread to walk away from)."""
        return inspect.isgenerator(self._produced) and self._timeout is None

    def next_item_here(self) -> Any:
        """`next_item` in the calling thread (see `steps_here`)."""
        if self._exhausted or self._closed:
            return END
        return call_sync(self.what, self._next_sync, ())

    async def next_item(self) -> Any:
        """The next item, or END."""
        if self._exhausted or self._closed:
            return END
        step = self._anext if inspect.isasyncgen(self._produced) else self._next_sync
        self._step = asyncio.ensure_future(self._runner.call(self.what, step, (), self._timeout))
        return await asyncio.shield(self._step)  # a cancelled caller leaves the step to end by itself

    def _next_sync(self) -> Any:
        with self._next_lock:
            self._in_next = True
        try:
            return self._took(next(self._produced))
        except StopIteration:
            self._exhausted = True
            return END
        except BaseException as exc:
            raise self._failed(exc) from exc
        finally:
            with self._next_lock:
                self._in_next = False
                closed = self._closed
            if closed:  # closed while this ran (past its timeout, say): its finally runs now
                self._close_sync()

    async def _anext(self) -> Any:
        try:
            return self._took(await self._produced.__anext__())
        except StopAsyncIteration:
            self._exhausted = True
            return END
        except BaseException as exc:
            raise self._failed(exc) from exc

    def _took(self, item: Any) -> Any:
        self.items.append(item)
        return item

    def _failed(self, exc: BaseException) -> BaseException:
        """What the generator raised, as the op's failure (anything but a cancellation)."""
        self._exhausted = True
        if not is_ops_own_failure(exc):
            return exc
        error = op_error(self.what, exc)
        failures.serve_failed(self.what, error)
        return error

    async def finish(self) -> RunResult:
        """Enqueue the update ops with the items as serve_result; the engine's RunResult."""
        if self._result is None:
            self._result = await self._finish(list(self.items))
        return self._result

    async def close(self) -> None:
        """Close the generator (its `finally` runs) once the step in flight has ended."""
        if self._closed or self._produced is None:
            return
        with self._next_lock:
            self._closed = True
            if self._in_next:  # the thread running next() closes it when that returns
                return
        step = self._step
        if step is not None and not step.done():
            step.add_done_callback(lambda _: asyncio.ensure_future(self._close_now()))
            return
        await self._close_now()

    async def _close_now(self) -> None:
        produced = self._produced
        if not inspect.isasyncgen(produced):
            with contextlib.suppress(MotionError):  # the pool itself refused (closed)
                await self._runner.offload(self._close_sync)
            return
        try:
            await produced.aclose()
        except MotionError:
            pass
        except BaseException as exc:  # a generator's finally may raise anything: it is closed all the same
            if not op_failed(exc):
                raise
            log.warning("closing %s raised %s", self.what, describe_error(exc))

    def _close_sync(self) -> None:
        """Close a sync generator on the thread calling this; what its finally raises is logged."""
        try:
            self._produced.close()
        except BaseException as exc:
            if not op_failed(exc):
                raise
            log.warning("closing %s raised %s", self.what, describe_error(exc))
