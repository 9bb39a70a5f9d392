"""Streaming runs: a generator serve op hands out its items as it yields them.

A `ServeStream` is opened once the serve op has been called on a checked
snapshot; its items are then pulled one at a time, by whoever drives it:

- a sync generator is advanced on a thread (`step` submits one `next()` to an
  executor, so no thread is held between items and a slow reader holds none);
- an async generator is advanced on the engine's LoopThread, the one loop
  where every async user op runs. Keeping user coroutines off the gRPC
  server's loop means a blocking call in one of them stalls other async ops,
  never the server's I/O, its watches or its heartbeats.

After the last item, `finish()` enqueues the update ops with the list of
items as serve_result. A generator that raised, or a stream closed before its
end, enqueues nothing. `close()` may be called at any time from any thread:
when an item is being produced at that moment, the generator is closed as
soon as that step ends (a running generator cannot be closed), so its
`finally` always runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from motion_grpc.engine import failures
from motion_grpc.engine.ops import LoopThread, describe_error, op_error, op_failed

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
        loop: The engine's LoopThread, for async generators.
        finish: Enqueues the update ops for the collected items.
        done: For a plain serve op: its already complete run result.
    """

    def __init__(
        self,
        what: str,
        produced: Any,
        version: int,
        loop: LoopThread,
        finish: Callable[[list[Any]], Any],
        done: Any = None,
    ) -> None:
        self.what = what
        self.version = version
        self.items: list[Any] = []
        self._produced = produced
        self._loop = loop
        self._finish = finish
        self._result = done
        self._exhausted = done is not None
        self._pending: concurrent.futures.Future[Any] | None = None
        self._closed = False
        self._lock = threading.Lock()

    @property
    def is_async(self) -> bool:
        return inspect.isasyncgen(self._produced)

    @property
    def completed(self) -> Any:
        """The run result of a plain serve op (already enqueued), else None."""
        return self._result if self._produced is None else None

    # -- pulling items -------------------------------------------------------------

    def next_item(self) -> Any:
        """The next item, or END; blocks the calling thread (never the LoopThread's)."""
        if self._exhausted:
            return END
        if self.is_async:
            return self._loop.run(self._anext())
        return self._next_sync()

    def step(self, executor: Executor) -> concurrent.futures.Future[Any]:
        """Produce the next item off the caller's thread: a future of the item, or of END."""
        if self._exhausted:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            future.set_result(END)
            return future
        if self.is_async:
            self._loop.ensure_started()
            future = asyncio.run_coroutine_threadsafe(self._anext(), self._loop.loop)
        else:
            future = executor.submit(self._next_sync)
        self._pending = future
        return future

    def _next_sync(self) -> Any:
        try:
            item = next(self._produced)
        except StopIteration:
            self._exhausted = True
            return END
        except BaseException as exc:
            self._exhausted = True
            if not op_failed(exc):
                raise
            error = op_error(self.what, exc)
            failures.serve_failed(self.what, error)
            raise error from exc
        self.items.append(item)
        return item

    async def _anext(self) -> Any:
        try:
            item = await self._produced.__anext__()
        except StopAsyncIteration:
            self._exhausted = True
            return END
        except BaseException as exc:
            self._exhausted = True
            if not op_failed(exc):
                raise
            error = op_error(self.what, exc)
            failures.serve_failed(self.what, error)
            raise error from exc
        self.items.append(item)
        return item

    # -- ending ----------------------------------------------------------------------

    def finish(self) -> Any:
        """Enqueue the update ops with the items as serve_result; the engine's RunResult."""
        if self._result is None:
            self._result = self._finish(list(self.items))
        return self._result

    def close(self, executor: Executor | None = None) -> None:
        """Close the generator (its `finally` runs), now or when the step in flight ends.

        With an executor, a sync generator is closed on it rather than on the
        calling thread (which may be an event loop).
        """
        with self._lock:
            if self._closed or self._produced is None:
                return
            self._closed = True
        pending = self._pending
        if pending is not None and not pending.done():
            pending.add_done_callback(lambda _: self._close_now(executor))
        else:
            self._close_now(executor)

    def _close_now(self, executor: Executor | None) -> None:
        produced = self._produced
        if inspect.isasyncgen(produced):
            self._loop.ensure_started()
            future = asyncio.run_coroutine_threadsafe(produced.aclose(), self._loop.loop)
            future.add_done_callback(_log_close_error)
            return
        if executor is not None:
            try:
                executor.submit(_close_sync, produced).add_done_callback(_log_close_error)
                return
            except RuntimeError:  # the executor is shut down: close here
                pass
        try:
            _close_sync(produced)
        except BaseException as exc:  # a generator's finally may raise anything: still closed
            log.warning("closing a serve generator raised %s", describe_error(exc))


def _close_sync(generator: Any) -> None:
    generator.close()


def _log_close_error(future: concurrent.futures.Future[Any]) -> None:
    if future.cancelled():
        return
    error = future.exception()
    if error is not None and not isinstance(error, RuntimeError):
        log.warning("closing a serve generator raised %s", describe_error(error))
