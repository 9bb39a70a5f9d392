"""Waiting for queued updates to end, woken by the instance's event stream.

A blocking XREAD on the events stream wakes as soon as an update ends, in
this process or any other, so no waiter polls; the block bound only lets it
check its deadline. Waiters hold no thread: thousands can wait on one loop.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field

from motion_grpc.errors import DeadlineExceededError, NotFoundError
from motion_grpc.store import protocol
from motion_grpc.store.events import parse_event_id
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Event
from motion_grpc.store.store import Store

MAX_BLOCK_MS = 5000
TERMINAL = frozenset({protocol.APPLIED, protocol.FAILED, protocol.DISCARDED})
_NEWEST = (2**64, 2**64)
#: (lowest, highest) update id whose outcome a wait reports when it keeps failures only.
Span = tuple[tuple[int, int], tuple[int, int]]


def events_from(update_id: tuple[int, int]) -> str:
    """An events-stream id before the events of this update (they are appended no earlier)."""
    return f"{max(0, update_id[0] - 1)}-0"


@dataclass
class WaitResult:
    version: int
    outcomes: dict[str, Event] = field(default_factory=dict)


@dataclass(frozen=True)
class Wait:
    """What to wait for and what to report."""

    #: Id of the newest entry to wait for; None: every entry queued now.
    target: str | None
    #: Event id from which outcomes are collected.
    events_after: str
    #: time.monotonic() limit, or None to wait as long as it takes.
    deadline: float | None = None
    #: Entry ids whose outcomes to keep; None keeps FAILED and DISCARDED ones from `since` to target.
    wanted: Collection[str] | None = None
    since: tuple[int, int] = (0, 0)

    @property
    def span(self) -> Span:
        return self.since, _NEWEST if self.target is None else parse_event_id(self.target)


async def wait_for_updates(store: Store, keys: InstanceKeys, wait: Wait) -> WaitResult:
    """Block until every entry up to the wait's target has ended; collect the outcomes it asks for."""
    result = WaitResult(version=0)
    cursor = wait.events_after
    while True:
        done, newest, version = await store.flush_probe(keys, wait.target)
        if version is None:
            raise NotFoundError(
                f"instance {keys.instance_id!r} of {keys.component} was deleted while waiting"
            )
        if done:
            await _collect(store, keys, cursor, newest, wait, result)
            result.version = version
            return result
        block_ms = MAX_BLOCK_MS
        if wait.deadline is not None:
            remaining = wait.deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceededError("deadline passed before the queued updates were applied")
            block_ms = max(1, min(MAX_BLOCK_MS, int(remaining * 1000)))
        for event in await store.read_events(keys, cursor, block_ms):
            cursor = event.id
            _keep(event, wait, result)


async def _collect(
    store: Store, keys: InstanceKeys, cursor: str, newest: str, wait: Wait, result: WaitResult
) -> None:
    while parse_event_id(cursor) < parse_event_id(newest):
        events = await store.events_range(keys, cursor, protocol.EVENTS_PAGE)
        if not events:
            break
        for event in events:
            cursor = event.id
            _keep(event, wait, result)


def _keep(event: Event, wait: Wait, result: WaitResult) -> None:
    if event.status not in TERMINAL:
        return
    if wait.wanted is not None:
        if event.update_id in wait.wanted:
            result.outcomes[event.update_id] = event
        return
    low, high = wait.span
    if event.status != protocol.APPLIED and low <= parse_event_id(event.update_id) <= high:
        result.outcomes[event.update_id] = event
