"""The store's reads of update events and queue heads: what flushes and watches wait on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from motion_grpc.store import protocol
from motion_grpc.store.events import parse_event_id
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Event, mapped_async, parse_event, text


@dataclass(frozen=True)
class FlushProbe:
    """One consistent look at an instance for a caller waiting on its queue."""

    #: Id of the newest entry waited for (None: nothing was queued).
    target: str | None
    #: Every entry up to `target` has ended.
    done: bool
    #: Id of the newest event ("0-0" when there is none).
    newest: str
    #: The state version; None when the instance does not exist.
    version: int | None
    #: Events after the caller's cursor (a page at most), oldest first.
    events: list[Event] = field(default_factory=list)


class EventReads:
    """Mixed into Store: reads of an instance's events and queue head, one round trip each."""

    #: For commands that return at once.
    client: Any
    #: For blocking reads (XREAD BLOCK).
    blocking_client: Any

    @mapped_async
    async def flush_start(self, keys: InstanceKeys, flow: str | None) -> FlushProbe:
        """What a flush waits for (the newest entry of one flow, or of any) and whether it has ended."""
        pipe = self.client.pipeline(transaction=True)
        if flow:
            pipe.hget(keys.meta, protocol.last_queued_field(flow))
        else:
            pipe.xrevrange(keys.updates, "+", "-", count=1)
        pipe.xrange(keys.updates, "-", "+", count=1)
        pipe.xrevrange(keys.events, "+", "-", count=1)
        pipe.hget(keys.meta, protocol.META_VERSION)
        newest_queued, head, newest, raw_version = await pipe.execute()
        if flow:
            target = None if newest_queued is None else text(newest_queued)
        else:
            target = text(newest_queued[0][0]) if newest_queued else None
        done = target is None or not head or parse_event_id(text(head[0][0])) > parse_event_id(target)
        return FlushProbe(target, done, _newest_id(newest), _version(raw_version))

    @mapped_async
    async def flush_probe(self, keys: InstanceKeys, target: str | None, after: str) -> FlushProbe:
        """Whether every entry up to target has ended, with the events after `after`, consistently."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xrange(keys.updates, "-", target or "+", count=1)
        pipe.xrevrange(keys.events, "+", "-", count=1)
        pipe.hget(keys.meta, protocol.META_VERSION)
        pipe.xrange(keys.events, f"({after}", "+", count=protocol.EVENTS_PAGE)
        head, newest, raw_version, raw_events = await pipe.execute()
        events = [parse_event(raw_id, fields) for raw_id, fields in raw_events]
        return FlushProbe(target, not head, _newest_id(newest), _version(raw_version), events)

    @mapped_async
    async def read_events(
        self, keys: InstanceKeys, after: str, block_ms: int, count: int = protocol.EVENTS_PAGE
    ) -> list[Event]:
        """Events after an id, waiting up to block_ms for the first one (XREAD BLOCK)."""
        reply = await self.blocking_client.xread({keys.events: after}, count=count, block=block_ms)
        if not reply:
            return []
        _, raw_events = reply[0]
        return [parse_event(raw_id, fields) for raw_id, fields in raw_events]

    @mapped_async
    async def events_range(self, keys: InstanceKeys, after: str, count: int) -> list[Event]:
        raw = await self.client.xrange(keys.events, f"({after}", "+", count=count)
        return [parse_event(raw_id, fields) for raw_id, fields in raw]

    @mapped_async
    async def events_back(self, keys: InstanceKeys, high: str, after: str, count: int) -> list[Event]:
        """Events from `high` (an XREVRANGE bound: an id, or "(" and an id) back to `after`
        (excluded), newest first."""
        raw = await self.client.xrevrange(keys.events, high, f"({after}", count=count)
        return [parse_event(raw_id, fields) for raw_id, fields in raw]


def _newest_id(newest: list[Any]) -> str:
    return text(newest[0][0]) if newest else "0-0"


def _version(raw: Any) -> int | None:
    return None if raw is None else int(raw)
