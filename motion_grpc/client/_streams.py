"""Streaming calls of the Python clients: iterators over RunStream items and WatchUpdates events.

Each wrapper is an iterator (blocking) or async iterator over one gRPC call,
mapping status errors to motion_grpc.errors with the same table as unary
calls; what the messages said (update ids, resume point) is kept in its state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.client._messages import rpc_errors
from motion_grpc.client._stream_messages import RunStreamState, WatchEvent, WatchProgress, WatchState


class _CallIterator:
    """Cancels its call on close; a context manager."""

    _call: Any

    def cancel(self) -> None:
        """End the call; the server stops what it was doing for it."""
        self._call.cancel()

    close = cancel

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cancel()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cancel()


class _RunStreamResults:
    _state: RunStreamState

    @property
    def version(self) -> int:
        """The version the serve op read (with flush_update, after the end: the one its updates made)."""
        return self._state.version

    @property
    def done(self) -> bool:
        """True once the final message arrived (the update ops are enqueued)."""
        return self._state.done

    @property
    def update_ids(self) -> list[str]:
        """After the end: ids of the update entries this run enqueued."""
        return self._state.update_ids

    @property
    def update_outcomes(self) -> list[pb.UpdateOutcome]:
        """After the end, with flush_update: how each of this run's updates ended."""
        return self._state.update_outcomes


class RunStream(_RunStreamResults, _CallIterator, Iterator[Any]):
    """The items of a streaming run, as the serve op yields them.

    After the last item: `version`, `update_ids` (and with flush_update,
    `update_outcomes`). Stopping early (`cancel()`, or leaving a `with`
    block) closes the generator on the server and enqueues nothing.
    """

    def __init__(self, call: Any, state: RunStreamState) -> None:
        self._call = call
        self._state = state

    def __iter__(self) -> RunStream:
        return self

    def __next__(self) -> Any:
        while True:
            with rpc_errors:
                message = next(self._call)
            has_item, item = self._state.take(message)
            if has_item:
                return item


class AsyncRunStream(_RunStreamResults, _CallIterator, AsyncIterator[Any]):
    """RunStream for asyncio code: `async for item in handle.stream(...)`."""

    def __init__(self, call: Any, state: RunStreamState) -> None:
        self._call = call
        self._messages = call.__aiter__()
        self._state = state

    def __aiter__(self) -> AsyncRunStream:
        return self

    async def __anext__(self) -> Any:
        while True:
            with rpc_errors:
                message = await self._messages.__anext__()
            has_item, item = self._state.take(message)
            if has_item:
                return item


class _WatchResults:
    _state: WatchState

    @property
    def last_event_id(self) -> str:
        return self._state.last_event_id


class Watch(_WatchResults, _CallIterator, Iterator[Any]):
    """An instance's update events (and, with heartbeats, WatchProgress items).

    `last_event_id` is the resume point: pass it as `after` to a new watch to
    continue without gap or duplicate.
    """

    def __init__(self, call: Any, state: WatchState) -> None:
        self._call = call
        self._state = state

    @classmethod
    def ready(cls, call: Any, state: WatchState) -> Watch:
        """The watch over `call`, once the server has started it."""
        return cls(call, state).wait_ready()

    def wait_ready(self) -> Watch:
        """Block until the server has started the watch (its first message, a Progress)."""
        self._state.held = self._receive()
        return self

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> WatchEvent | WatchProgress:
        item = self._state.release()
        while item is None:
            item = self._receive()
        return item

    def _receive(self) -> WatchEvent | WatchProgress | None:
        with rpc_errors:
            message = next(self._call)
        return self._state.take(message)


class AsyncWatch(_WatchResults, _CallIterator, AsyncIterator[Any]):
    """Watch for asyncio code: `async for event in handle.watch(...)`."""

    def __init__(self, call: Any, state: WatchState) -> None:
        self._call = call
        self._messages = call.__aiter__()
        self._state = state

    @classmethod
    async def ready(cls, call: Any, state: WatchState) -> AsyncWatch:
        """The watch over `call`, once the server has started it."""
        return await cls(call, state).wait_ready()

    async def wait_ready(self) -> AsyncWatch:
        """Wait until the server has started the watch (its first message, a Progress)."""
        self._state.held = await self._receive()
        return self

    def __aiter__(self) -> AsyncWatch:
        return self

    async def __anext__(self) -> WatchEvent | WatchProgress:
        item = self._state.release()
        while item is None:
            item = await self._receive()
        return item

    async def _receive(self) -> WatchEvent | WatchProgress | None:
        with rpc_errors:
            message = await self._messages.__anext__()
        return self._state.take(message)
