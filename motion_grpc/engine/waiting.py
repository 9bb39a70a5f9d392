"""Waiting for queued updates to end, woken by this process's drain or by the events stream.

When this process drains the instance, its drain wakes the waiters after
each commit and when it stops, so a waiter holds no Redis connection while
it sleeps, and it looks again only once a commit reached its target.
Otherwise a blocking XREAD on the events stream wakes it as soon as an
update ends in any process. Either way no waiter polls: the block
bound only lets it check its deadline, and it looks at the queue again only
after an update ended. Waiters hold no thread: thousands can wait on one loop.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from motion_grpc.engine.signals import Signals
from motion_grpc.errors import DeadlineExceededError, NotFoundError
from motion_grpc.logs import excerpt
from motion_grpc.store import protocol
from motion_grpc.store.event_reads import FlushProbe
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


class LocalDrains(Protocol):
    """This process's drains, as a waiter sees them."""

    signals: Signals

    def draining(self, keys: InstanceKeys) -> bool:
        """This process is draining the instance, or will as soon as a drain is free."""
        ...


async def wait_for_updates(
    store: Store, keys: InstanceKeys, wait: Wait, local: LocalDrains | None = None
) -> WaitResult:
    """Block until every entry up to the wait's target has ended; collect the outcomes it asks for."""
    return await _wait(store, keys, wait, _Wakeup(local, keys), None)


async def wait_for_flush(
    store: Store,
    keys: InstanceKeys,
    flow: str | None,
    since: tuple[int, int] | None,
    deadline: float | None,
    local: LocalDrains | None = None,
) -> WaitResult:
    """Wait for every entry queued now (of one flow, or all); outcomes of those that did not
    apply, and of every update from `since` on."""
    wakeup = _Wakeup(local, keys)
    try:
        probe = await store.flush_start(keys, flow)
        if probe.version is None:
            raise NotFoundError(f"instance {excerpt(keys.instance_id)} of {keys.component} does not exist")
    except BaseException:
        wakeup.close()
        raise
    if since is None:
        wait = Wait(probe.target, probe.newest, deadline)
    else:
        wait = Wait(probe.target, events_from(since), deadline, since=since)
    return await _wait(store, keys, wait, wakeup, probe)


class _Wakeup:
    """A waiter's wake-ups from this process's drain of the instance, subscribed before its first look."""

    def __init__(self, local: LocalDrains | None, keys: InstanceKeys) -> None:
        self._local, self._keys = local, keys
        self._subscription = None if local is None else local.signals.subscribe(keys)

    @property
    def local(self) -> bool:
        """This process drains the instance: its drain will wake the waiter."""
        return self._local is not None and self._local.draining(self._keys)

    async def sleep(self, target: str | None, seconds: float) -> None:
        """Until the drain has ended `target` (any entry, with None) or asks for a look; at most `seconds`."""
        if self._subscription is not None:
            await self._subscription.wait_past(None if target is None else parse_event_id(target), seconds)

    def close(self) -> None:
        if self._local is not None and self._subscription is not None:
            self._local.signals.unsubscribe(self._keys, self._subscription)
            self._subscription = None


async def _wait(
    store: Store, keys: InstanceKeys, wait: Wait, wakeup: _Wakeup, probe: FlushProbe | None
) -> WaitResult:
    """Look, and until done sleep on this process's drain (when it drains the instance) or on
    the events stream (an update ending anywhere); look again only after an update ended."""
    result = WaitResult(version=0)
    cursor = wait.events_after
    try:
        while True:
            if probe is None:
                probe = await store.flush_probe(keys, wait.target, cursor)
            for event in probe.events:
                cursor = event.id
                _keep(event, wait, result)
            if probe.version is None:
                raise NotFoundError(
                    f"instance {excerpt(keys.instance_id)} of {keys.component} was deleted while waiting"
                )
            if probe.done:
                await _collect(store, keys, cursor, probe.newest, wait, result)
                result.version = probe.version
                return result
            seconds = _block_seconds(wait.deadline)
            if wakeup.local:
                await wakeup.sleep(wait.target, seconds)
            else:
                cursor = await _until_one_ends(store, keys, cursor, seconds, wait, result)
            probe = None
    finally:
        wakeup.close()


def _block_seconds(deadline: float | None) -> float:
    """How long one wait may block: until the deadline, at most MAX_BLOCK_MS."""
    if deadline is None:
        return MAX_BLOCK_MS / 1000
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceededError("deadline passed before the queued updates were applied")
    return min(MAX_BLOCK_MS / 1000, remaining)


async def _until_one_ends(
    store: Store, keys: InstanceKeys, cursor: str, seconds: float, wait: Wait, result: WaitResult
) -> str:
    """Read events (XREAD BLOCK) until one says an update ended, or `seconds` passed; the new cursor."""
    until = time.monotonic() + seconds
    while True:
        block_ms = max(1, int((until - time.monotonic()) * 1000))
        events = await store.read_events(keys, cursor, block_ms)
        for event in events:
            cursor = event.id
            _keep(event, wait, result)
        if not events or any(event.status in TERMINAL for event in events) or time.monotonic() >= until:
            return cursor


async def _collect(
    store: Store, keys: InstanceKeys, cursor: str, newest: str, wait: Wait, result: WaitResult
) -> None:
    """The outcomes a wait reports, from the events between `cursor` and `newest`."""
    if wait.wanted is not None:
        await _collect_wanted(store, keys, cursor, newest, wait.wanted, result)
        return
    while parse_event_id(cursor) < parse_event_id(newest):
        events = await store.events_range(keys, cursor, protocol.EVENTS_PAGE)
        if not events:
            break
        for event in events:
            cursor = event.id
            _keep(event, wait, result)


async def _collect_wanted(
    store: Store, keys: InstanceKeys, cursor: str, newest: str, wanted: Collection[str], result: WaitResult
) -> None:
    """The outcomes of the wanted entries, read from the newest event back: they ended last, so
    a run waiting behind a long backlog reads a page, not every event of the backlog."""
    missing = {update_id for update_id in wanted if update_id not in result.outcomes}
    high = newest
    while missing and parse_event_id(cursor) < parse_event_id(newest):
        events = await store.events_back(keys, high, cursor, protocol.EVENTS_PAGE)
        for event in events:
            if event.status in TERMINAL and event.update_id in missing:
                result.outcomes[event.update_id] = event
                missing.discard(event.update_id)
        if len(events) < protocol.EVENTS_PAGE:
            return
        high = f"({events[-1].id}"


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
