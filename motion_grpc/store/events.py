"""Reading an instance's events stream with an asyncio client, for WatchUpdates.

The events stream is capped (XADD MAXLEN ~), so its oldest entries are
trimmed away in whole blocks as new ones arrive. Every read here goes through
`mapped_async`, so callers see StoreUnavailableError, never a redis-py error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from motion_grpc.errors import InvalidArgumentError
from motion_grpc.logs import excerpt
from motion_grpc.store import protocol
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Event, mapped_async, parse_event

_STREAM_ID = re.compile(r"(\d{1,20})-(\d{1,20})", re.ASCII)  # \d alone takes any script's digits
_MAX_ID_PART = 2**64 - 1

#: An event id as a comparable pair (milliseconds, sequence).
EventId = tuple[int, int]
ZERO: EventId = (0, 0)


def parse_event_id(text: str, what: str = "event id") -> EventId:
    """Parse a stream id "<ms>-<seq>" (ASCII digits); INVALID_ARGUMENT for anything else."""
    match = _STREAM_ID.fullmatch(text)
    if match is None:
        raise InvalidArgumentError(f"{what} {excerpt(text)} is malformed; expected '<ms>-<seq>' (e.g. 0-0)")
    ms, seq = int(match.group(1)), int(match.group(2))
    if ms > _MAX_ID_PART or seq > _MAX_ID_PART:
        raise InvalidArgumentError(f"{what} {excerpt(text)} is out of the stream id range")
    return ms, seq


def format_event_id(value: EventId) -> str:
    return f"{value[0]}-{value[1]}"


def _id(raw: Any) -> EventId:
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return parse_event_id(text)


@dataclass(frozen=True)
class StreamBounds:
    """What the events stream of an instance holds right now."""

    exists: bool
    first: EventId | None
    last: EventId | None
    #: Redis' clock, read only when the stream is empty (ids are made from it).
    redis_time_ms: int | None


class AsyncEventLog:
    """Async reads of events streams (one asyncio client: RedisSettings.blocking_client, used on one
    event loop)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def close(self) -> None:
        await self.client.aclose()

    @mapped_async
    async def bounds(self, keys: InstanceKeys) -> StreamBounds:
        """Whether the instance exists, and the oldest and newest retained event ids."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hexists(keys.meta, protocol.META_VERSION)
        pipe.xrange(keys.events, "-", "+", count=1)
        pipe.xrevrange(keys.events, "+", "-", count=1)
        exists, first, last = await pipe.execute()
        now_ms = None
        if not last:
            seconds, micros = await self.client.time()
            now_ms = int(seconds) * 1000 + int(micros) // 1000
        return StreamBounds(
            exists=bool(exists),
            first=_id(first[0][0]) if first else None,
            last=_id(last[0][0]) if last else None,
            redis_time_ms=now_ms,
        )

    @mapped_async
    async def latest(self, keys: InstanceKeys) -> EventId:
        newest = await self.client.xrevrange(keys.events, "+", "-", count=1)
        return _id(newest[0][0]) if newest else ZERO

    @mapped_async
    async def page(
        self, keys: InstanceKeys, after: EventId, count: int
    ) -> tuple[list[Event], EventId | None]:
        """Up to `count` events after an id, and the oldest retained id, read together."""
        pipe = self.client.pipeline(transaction=False)
        pipe.xrange(keys.events, f"({format_event_id(after)}", "+", count=count)
        pipe.xrange(keys.events, "-", "+", count=1)
        raw, first = await pipe.execute()
        events = [parse_event(raw_id, fields) for raw_id, fields in raw]
        return events, (_id(first[0][0]) if first else None)

    @mapped_async
    async def read(
        self, keys: InstanceKeys, after: EventId, block_ms: int, count: int = protocol.EVENTS_PAGE
    ) -> list[Event]:
        """Events after an id, waiting up to block_ms for the first one (XREAD BLOCK)."""
        reply = await self.client.xread({keys.events: format_event_id(after)}, count=count, block=block_ms)
        if not reply:
            return []
        _, raw_events = reply[0]
        return [parse_event(raw_id, fields) for raw_id, fields in raw_events]
