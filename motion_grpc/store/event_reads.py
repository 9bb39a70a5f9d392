"""The store's reads of update events and queue heads: what flushes and watches wait on."""

from __future__ import annotations

from typing import Any

from motion_grpc.store import protocol
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Event, mapped_async, parse_event, text


class EventReads:
    """Mixed into Store: reads of an instance's events and queue head, one round trip each."""

    #: For commands that return at once.
    client: Any
    #: For blocking reads (XREAD BLOCK).
    blocking_client: Any

    @mapped_async
    async def flush_probe(self, keys: InstanceKeys, target: str | None) -> tuple[bool, str, int | None]:
        """(every entry up to target is gone, newest event id, version), consistently."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xrange(keys.updates, "-", target or "+", count=1)
        pipe.xrevrange(keys.events, "+", "-", count=1)
        pipe.hget(keys.meta, protocol.META_VERSION)
        head, newest, raw_version = await pipe.execute()
        newest_id = text(newest[0][0]) if newest else "0-0"
        return not head, newest_id, (None if raw_version is None else int(raw_version))

    @mapped_async
    async def flush_target(self, keys: InstanceKeys, flow: str | None) -> str | None:
        """Id of the newest entry enqueued so far (by one flow, or any)."""
        if flow:
            raw = await self.client.hget(keys.meta, protocol.last_queued_field(flow))
            return None if raw is None else text(raw)
        newest = await self.client.xrevrange(keys.updates, "+", "-", count=1)
        return text(newest[0][0]) if newest else None

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
