"""Watching update events: one Redis reader per watched instance, fanned out to every local watcher.

Everything here runs on one asyncio event loop (the gRPC server's) with a
redis.asyncio client, so a watch holds no thread. Per process and per
watched instance, a `_Feed` keeps one XREAD BLOCK going on the instance's
events stream and pushes each batch to its subscribers; a watch is then a
small object with a bounded buffer, so thousands of them cost little.

A subscription first catches up from its resume point with XRANGE pages
(checking on every page that the history it needs is still retained), then
takes the live events its feed pushed since it joined, skipping any it
already had: no gap, no duplicate. A subscriber whose live buffer overflows
is ended with RESOURCE_EXHAUSTED; it can resume from the last id it got.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from motion_grpc.errors import (
    InvalidArgumentError,
    MotionError,
    OutOfRangeError,
    ResourceExhaustedError,
    StoreUnavailableError,
    UnavailableError,
)
from motion_grpc.store import protocol
from motion_grpc.store.events import (
    ZERO,
    AsyncEventLog,
    EventId,
    StreamBounds,
    format_event_id,
    parse_event_id,
)
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Event

log = logging.getLogger(__name__)


#: Loads the state of an instance: (version, the state in whatever form the caller sends it).
StateLoader = Callable[[InstanceKeys], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True)
class WatchSettings:
    """Tuning of watches; see `motion-grpc serve --help`."""

    #: Seconds an idle watch waits before a Progress heartbeat.
    heartbeat: float = 10.0
    #: Live events buffered per watcher before it is ended with RESOURCE_EXHAUSTED.
    buffer: int = 10_000
    #: How long one XREAD blocks (below the blocking client's BLOCKING_SOCKET_TIMEOUT on a cluster).
    block_ms: int = 20_000


class Subscription:
    """One watcher of one instance: its catch-up from history, then its share of the live feed."""

    def __init__(self, feed: _Feed, after: EventId, flows: Collection[str] | None, limit: int) -> None:
        self.keys = feed.keys
        self._feed = feed
        self._flows = frozenset(flows) if flows else None
        self._limit = limit
        #: Every event up to here has been handed out (or filtered out).
        self.position = after
        self._catching_up = True
        self._early: list[Event] = []
        self._live: collections.deque[Event] = collections.deque()
        self._dropped = False
        self._wake = asyncio.Event()
        self._error: MotionError | None = None

    # -- fed by the feed (on the loop, no awaits) -------------------------------------

    def push(self, events: list[Event]) -> None:
        if self._error is not None:
            return
        self._live.extend(events)
        if len(self._live) > self._limit:
            self._live.clear()
            if self._catching_up:
                self._dropped = True  # catch-up reads these again from Redis: nothing is lost
                return
            self.fail(
                ResourceExhaustedError(
                    f"this watcher fell more than {self._limit} events behind; resume with "
                    f"after_event_id={format_event_id(self.position)}"
                )
            )
            return
        self._wake.set()

    def fail(self, error: MotionError) -> None:
        if self._error is None:
            self._error = error
            self._feed.remove(self)
        self._wake.set()

    # -- read by the watcher ---------------------------------------------------------------

    async def start(self, log_reader: AsyncEventLog) -> None:
        """Read the first page of history (and check it is still there) before any message is sent."""
        self._early = await self._catch_up_page(log_reader)

    async def next_batch(self, log_reader: AsyncEventLog, timeout: float) -> list[Event]:
        """The next events in order; [] once `timeout` seconds pass without any."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._error is not None:
                raise self._error
            batch = self._take_early() if self._early else await self._next_events(log_reader)
            batch = self._filter(batch)
            if batch:
                return batch
            if not self._catching_up and not self._live:
                self._wake.clear()
                self.position = max(self.position, self._feed.cursor)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), remaining)

    def close(self) -> None:
        self._feed.remove(self)

    async def state_at(self, version: int, loader: StateLoader) -> tuple[int, Any]:
        """The instance's state at `version` or later, shared with the other watchers of this process."""
        return await self._feed.state_at(version, loader)

    def _take_early(self) -> list[Event]:
        batch, self._early = self._early, []
        return batch

    async def _next_events(self, log_reader: AsyncEventLog) -> list[Event]:
        if self._catching_up:
            return await self._catch_up_page(log_reader)
        batch = list(self._live)
        self._live.clear()
        return [event for event in batch if parse_event_id(event.id) > self.position]

    async def _catch_up_page(self, log_reader: AsyncEventLog) -> list[Event]:
        self._dropped = False
        events, first = await log_reader.page(self.keys, self.position, protocol.EVENTS_PAGE)
        if first is not None and self.position != ZERO and self.position < first:
            raise OutOfRangeError(
                f"event {format_event_id(self.position)} of {self.keys.component}/{self.keys.instance_id} "
                f"is no longer retained; the oldest retained event is {format_event_id(first)}. "
                "Read the state again (GetState) and watch from there."
            )
        if len(events) < protocol.EVENTS_PAGE and not self._dropped:
            # History read to its end, which is past where the feed was when this joined; had the
            # live buffer been dropped meanwhile, its events might be newer than this page: read on.
            self._catching_up = False
        return events

    def _filter(self, events: list[Event]) -> list[Event]:
        if not events:
            return events
        self.position = max(self.position, parse_event_id(events[-1].id))
        if self._flows is None:
            return events
        return [event for event in events if event.flow in self._flows]


class _Feed:
    """The one reader of one instance's events stream in this process."""

    def __init__(self, hub: WatchHub, keys: InstanceKeys) -> None:
        self.keys = keys
        self.cursor: EventId = ZERO
        self._hub = hub
        self._subscribers: set[Subscription] = set()
        self._stopped = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._run(), name=f"motion-watch-{keys.tag}")
        self._state: tuple[int, Any] | None = None
        self._state_loading: asyncio.Future[tuple[int, Any]] | None = None

    def add(self, subscriber: Subscription) -> None:
        self._subscribers.add(subscriber)

    def remove(self, subscriber: Subscription) -> None:
        self._subscribers.discard(subscriber)
        if not self._subscribers and self.ready.done() and not self._stopped:
            self._stopped = True
            self._hub.forget(self)
            self.task.cancel()

    def stop(self, error: MotionError) -> None:
        """End the feed and every watch on it with `error`."""
        self._stopped = True
        self._hub.forget(self)
        self.task.cancel()
        subscribers = list(self._subscribers)
        self._subscribers.clear()
        for subscriber in subscribers:
            subscriber.fail(error)

    async def _run(self) -> None:
        events_log = self._hub.events
        try:
            self.cursor = await events_log.latest(self.keys)
        except MotionError as exc:
            self._stopped = True
            self._hub.forget(self)
            self.ready.set_exception(exc)
            return
        self.ready.set_result(None)
        while not self._stopped:
            if not self._subscribers:  # every watcher left before the feed was ready
                self._stopped = True
                self._hub.forget(self)
                return
            try:
                events = await events_log.read(self.keys, self.cursor, self._hub.settings.block_ms)
            except MotionError as exc:
                self.stop(exc)
                return
            if events:
                self.cursor = parse_event_id(events[-1].id)
                for subscriber in list(self._subscribers):
                    subscriber.push(events)

    async def state_at(self, version: int, loader: StateLoader) -> tuple[int, Any]:
        """The state at `version` or later, loaded once for every watcher of this instance."""
        for _ in range(3):
            if self._state is not None and self._state[0] >= version:
                return self._state
            if self._state_loading is None:
                self._state_loading = asyncio.ensure_future(loader(self.keys))
            loading = self._state_loading
            try:
                loaded = await asyncio.shield(loading)  # a watcher that leaves must not cancel the read
            finally:
                if loading.done() and self._state_loading is loading:
                    self._state_loading = None
            if self._state is None or loaded[0] > self._state[0]:
                self._state = loaded
        if self._state is not None and self._state[0] >= version:
            return self._state
        raise StoreUnavailableError("the state read is older than the event; retry the watch")


class WatchHub:
    """The feeds of this process, by instance. Create and use it on one event loop."""

    def __init__(self, events: AsyncEventLog, settings: WatchSettings | None = None) -> None:
        self.events = events
        self.settings = settings or WatchSettings()
        self._feeds: dict[InstanceKeys, _Feed] = {}
        self._closed = False

    @property
    def feed_count(self) -> int:
        return len(self._feeds)

    async def bounds(self, keys: InstanceKeys) -> StreamBounds:
        return await self.events.bounds(keys)

    async def subscribe(
        self, keys: InstanceKeys, after: str, bounds: StreamBounds, flows: Collection[str] | None = None
    ) -> Subscription:
        """Start watching after an event id ("" = from now on, "0-0" = the whole retained history)."""
        if self._closed:
            raise UnavailableError("this server is shutting down; watch through another one")
        start = resume_point(after, bounds)
        feed = self._feeds.get(keys)
        if feed is None:
            feed = self._feeds[keys] = _Feed(self, keys)
        subscription = Subscription(feed, start, flows, self.settings.buffer)
        feed.add(subscription)  # before the feed is ready, so it does not stop for want of watchers
        try:
            await asyncio.shield(feed.ready)
            await subscription.start(self.events)
        except BaseException:
            subscription.close()
            raise
        return subscription

    def forget(self, feed: _Feed) -> None:
        if self._feeds.get(feed.keys) is feed:
            del self._feeds[feed.keys]

    async def close(self) -> None:
        """End every watch with UNAVAILABLE (clients resume elsewhere) and close the Redis client."""
        self._closed = True
        feeds = list(self._feeds.values())
        self._feeds.clear()
        for feed in feeds:
            feed.stop(UnavailableError("this server is shutting down; resume the watch elsewhere"))
        await asyncio.gather(*(feed.task for feed in feeds), return_exceptions=True)
        await self.events.close()


def resume_point(after: str, bounds: StreamBounds) -> EventId:
    """Where a watch starts: validated against what the events stream holds.

    INVALID_ARGUMENT for a malformed id or one past the newest event; an id
    older than the retained history is answered OUT_OF_RANGE by the first
    catch-up page (so the check and the read cannot race a trim).
    """
    if not after:
        return bounds.last or ZERO
    point = parse_event_id(after)
    newest = bounds.last
    if newest is not None and point > newest:
        raise InvalidArgumentError(
            f"event {after} is newer than the newest event {format_event_id(newest)}: "
            "pass an id this instance's watch returned"
        )
    if newest is None and bounds.redis_time_ms is not None and point[0] > bounds.redis_time_ms:
        raise InvalidArgumentError(f"event {after} lies in the future: pass an id a watch returned")
    return point
