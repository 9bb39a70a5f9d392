"""What a served run writes to Redis: its queue entries and its serve cache entry.

Encoding them walks the props and the serve result (and the server's result
check encodes the result for its response as well). That is microseconds for
what model calls take and give, but about a microsecond per item: a result
or props of a million values would hold the event loop, and every call on
it, for a second or more. `encoded_run` does such large ones on a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from motion_grpc import codec
from motion_grpc.definition import Flow
from motion_grpc.engine.ops import describe_error
from motion_grpc.engine.runner import OpRunner
from motion_grpc.engine.serve_cache import cached_answer
from motion_grpc.engine.serve_call import ServeCall
from motion_grpc.errors import OpError
from motion_grpc.observability import tracing
from motion_grpc.store.records import QueuedEntry, cache_value, now_ms

#: A serve cache entry: (field, value, ttl in seconds).
CacheEntry = tuple[str, bytes, float]


@dataclass(frozen=True)
class RunPayload:
    """A run's queue entries (one per update op of its flow) and its cache entry, if it makes one."""

    entries: list[QueuedEntry]
    cache: CacheEntry | None = None


def encode_run(
    call: ServeCall, served_props: dict[str, Any], result: Any, version: int | None, check: bool = True
) -> RunPayload:
    """The run's payload, its result checked first (`check`); a cache entry for a result computed
    from `version` (None: the run makes none)."""
    if check:
        call.check(result)
    entries = queue_entries(call.flow, served_props, result)
    cache = None if version is None else cache_entry(call, version, served_props, result)
    return RunPayload(entries, cache)


async def encoded_run(
    runner: OpRunner,
    call: ServeCall,
    served_props: dict[str, Any],
    result: Any,
    version: int | None,
    check: bool = True,
) -> RunPayload:
    """`encode_run`, on a thread when the result or the props queued with it are large."""
    if codec.is_large(result) or (call.flow.updates and codec.is_large(served_props)):
        return await runner.offload(encode_run, call, served_props, result, version, check)
    return encode_run(call, served_props, result, version, check)


def queue_entries(flow: Flow, props: dict[str, Any], result: Any) -> list[QueuedEntry]:
    """The queue entries of a run: one per update op of its flow, sharing one payload."""
    if not flow.updates:
        return []
    try:
        payload = tracing.carry(codec.dumps([props, result]))  # a list: JSON when both are JSON-like
    except Exception as exc:
        raise OpError(
            f"the props or serve result of flow {flow.key} cannot be queued for its update ops: "
            f"{describe_error(exc)}",
            "PicklingError",
        ) from exc
    return [QueuedEntry(flow.key, op.name, payload) for op in flow.updates]


def cache_entry(
    call: ServeCall, version: int, served_props: dict[str, Any], result: Any
) -> CacheEntry | None:
    """The serve cache's entry for a result computed from `version`, its serve op having left the
    props as `served_props`; None when not cached. A None result is never cached: as in Motion,
    whose cache reads None as a miss, the op runs again (it may have had nothing yet)."""
    if call.digest is None or result is None:
        return None
    ttl = call.component.cache_ttl
    try:
        answer = cached_answer(result, call.props, served_props)
        return call.digest, cache_value(version, now_ms() + int(ttl * 1000), answer), ttl
    except Exception:
        return None  # a result that cannot be pickled is served, just not cached


__all__ = ["CacheEntry", "RunPayload", "cache_entry", "encode_run", "encoded_run", "queue_entries"]
