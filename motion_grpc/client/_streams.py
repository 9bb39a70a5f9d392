"""Streaming calls of the Python clients: RunStream items and WatchUpdates events.

Each wrapper is an iterator (sync) or async iterator over one gRPC call,
mapping status errors to motion_grpc.errors with the same table as unary
calls, and keeping what the last messages said (update ids, resume point).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any

import grpc

from motion_grpc import codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.client._messages import to_error, unpickle

_STATUS_PREFIX = "UPDATE_STATUS_"


@dataclass(frozen=True)
class WatchEvent:
    """One update-status event; pass `event_id` as `after` to resume a watch after it."""

    event_id: str
    update_id: str
    flow: str
    op: str
    #: QUEUED, RUNNING, APPLIED, FAILED or DISCARDED.
    status: str
    version: int
    error_type: str = ""
    error_message: str = ""
    enqueued_at_ms: int = 0
    at_ms: int = 0
    attempt: int = 0
    #: With include_state, on APPLIED events: the whole state, read at state_version.
    state: dict[str, Any] | None = None
    state_version: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WatchProgress:
    """A heartbeat: every event up to latest_event_id has been received (a gap-free resume point)."""

    latest_event_id: str


def watch_event(event: pb.UpdateEvent) -> WatchEvent:
    status = pb.UpdateStatus.Name(event.status).removeprefix(_STATUS_PREFIX)
    return WatchEvent(
        event_id=event.event_id,
        update_id=event.update_id,
        flow=event.flow,
        op=event.op,
        status=status,
        version=event.version,
        error_type=event.error_type,
        error_message=event.error_message,
        enqueued_at_ms=event.enqueued_at_ms,
        at_ms=event.at_ms,
        attempt=event.attempt,
        state=codec.from_struct(event.state) if event.HasField("state") else None,
        state_version=event.state_version,
    )


def watch_request(
    ref: pb.InstanceRef,
    after: str | None,
    flows: Sequence[str] | None,
    include_state: bool,
    create_if_missing: bool,
) -> pb.WatchUpdatesRequest:
    if isinstance(flows, str):
        flows = [flows]
    return pb.WatchUpdatesRequest(
        instance=ref,
        after_event_id=after or "",
        flows=list(flows or ()),
        include_state=include_state,
        create_if_missing=create_if_missing,
    )


@dataclass
class _RunStreamState:
    accept_pickle: bool
    version: int = 0
    done: bool = False
    update_ids: list[str] = field(default_factory=list)
    update_outcomes: list[pb.UpdateOutcome] = field(default_factory=list)

    def take(self, message: pb.RunStreamResponse) -> tuple[bool, Any]:
        """Absorb one message: (True, item) when it carries an item."""
        self.version = message.version
        if message.done:
            self.done = True
            self.update_ids = list(message.update_ids)
            self.update_outcomes = list(message.update_outcomes)
        if message.pickled_item:
            return True, unpickle(message.pickled_item, "a stream item", self.accept_pickle)
        if message.HasField("item"):
            return True, codec.from_value(message.item)
        return False, None


@dataclass
class _WatchState:
    heartbeats: bool
    last_event_id: str = ""

    def take(self, message: pb.WatchUpdatesResponse) -> WatchEvent | WatchProgress | None:
        """Absorb one message: what to hand out, or None for a heartbeat nobody asked for."""
        if message.HasField("event"):
            self.last_event_id = message.event.event_id
            return watch_event(message.event)
        self.last_event_id = message.progress.latest_event_id
        return WatchProgress(self.last_event_id) if self.heartbeats else None


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
    _state: _RunStreamState

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

    def __init__(self, call: Any, accept_pickle: bool) -> None:
        self._call = call
        self._state = _RunStreamState(accept_pickle)

    def __iter__(self) -> RunStream:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                message = next(self._call)
            except grpc.RpcError as exc:
                raise to_error(exc) from None
            has_item, item = self._state.take(message)
            if has_item:
                return item


class AsyncRunStream(_RunStreamResults, _CallIterator, AsyncIterator[Any]):
    """RunStream for asyncio code: `async for item in handle.stream(...)`."""

    def __init__(self, call: Any, accept_pickle: bool) -> None:
        self._call = call
        self._messages = call.__aiter__()
        self._state = _RunStreamState(accept_pickle)

    def __aiter__(self) -> AsyncRunStream:
        return self

    async def __anext__(self) -> Any:
        while True:
            try:
                message = await self._messages.__anext__()
            except grpc.RpcError as exc:
                raise to_error(exc) from None
            has_item, item = self._state.take(message)
            if has_item:
                return item


class Watch(_CallIterator, Iterator[Any]):
    """An instance's update events (and, with heartbeats, WatchProgress items).

    `last_event_id` is the resume point: pass it as `after` to a new watch to
    continue without gap or duplicate.
    """

    def __init__(self, call: Any, heartbeats: bool) -> None:
        self._call = call
        self._state = _WatchState(heartbeats)
        self._first: WatchEvent | WatchProgress | None = None

    @property
    def last_event_id(self) -> str:
        return self._state.last_event_id

    def wait_ready(self) -> Watch:
        """Block until the server has started the watch (its first message, a Progress)."""
        self._first = self._receive()
        return self

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> WatchEvent | WatchProgress:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        while True:
            item = self._receive()
            if item is not None:
                return item

    def _receive(self) -> WatchEvent | WatchProgress | None:
        try:
            message = next(self._call)
        except grpc.RpcError as exc:
            raise to_error(exc) from None
        return self._state.take(message)


class AsyncWatch(_CallIterator, AsyncIterator[Any]):
    """Watch for asyncio code: `async for event in handle.watch(...)`."""

    def __init__(self, call: Any, heartbeats: bool) -> None:
        self._call = call
        self._messages = call.__aiter__()
        self._state = _WatchState(heartbeats)
        self._first: WatchEvent | WatchProgress | None = None

    @property
    def last_event_id(self) -> str:
        return self._state.last_event_id

    async def wait_ready(self) -> AsyncWatch:
        """Wait until the server has started the watch (its first message, a Progress)."""
        self._first = await self._receive()
        return self

    def __aiter__(self) -> AsyncWatch:
        return self

    async def __anext__(self) -> WatchEvent | WatchProgress:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        while True:
            item = await self._receive()
            if item is not None:
                return item

    async def _receive(self) -> WatchEvent | WatchProgress | None:
        try:
            message = await self._messages.__anext__()
        except grpc.RpcError as exc:
            raise to_error(exc) from None
        return self._state.take(message)
