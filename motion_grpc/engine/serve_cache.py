"""The serve cache as a run reads it: entries from Redis, and this process's copies of them.

A cheap serve op runs on this process's snapshot before its enqueue, which is
where the cache in Redis is looked up: on a hit the op would have run for
nothing (and its side effects, a counted mock among them, happened again).
So the process keeps a copy of each cache entry it writes or reads, and a
run whose snapshot is at the entry's version answers from the copy without
running the op. Its enqueue is fenced on that version as before, so the
answer is never older than the state, exactly as with the entry in Redis.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from motion_grpc import codec
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import now_ms, parse_cache_value

#: Copies kept per process and their bytes in all (past either, the oldest go first), and the
#: largest entry copied.
KNOWN_ENTRIES = 4096
KNOWN_BYTES = 16 * 1024 * 1024
KNOWN_ENTRY_BYTES = 64 * 1024


#: Starts a cached answer stored with the props its serve op left (they differ from those sent, and
#: the flow's update ops get them on a hit as on the run that computed it). Never the first byte of
#: what codec.dumps makes: JSON, a pickle (0x80) or a signed one (trust.SIGNED_TAG, 0x01).
SERVED_PROPS_TAG = b"\x02"


class CacheHit(NamedTuple):
    """A cached serve result, the version of the state it was computed from, and the props its
    serve op left when they differ from the props sent (None when they do not)."""

    version: int
    result: Any
    props: dict[str, Any] | None = None


def cached_answer(result: Any, sent: dict[str, Any], served: dict[str, Any]) -> bytes:
    """The stored form of a serve result, with the props as the serve op left them if it changed them."""
    if served == sent:
        return codec.dumps(result)
    return SERVED_PROPS_TAG + codec.dumps([served, result])


def cache_hit(cached: bytes | None, version: int | None) -> CacheHit | None:
    """An unexpired cache entry computed from this version (any, when None)."""
    parsed = None if cached is None else parse_cache_value(cached)
    if parsed is None:
        return None
    cached_version, expires, answer = parsed
    if (version is not None and cached_version != version) or expires <= now_ms():
        return None
    try:
        if not answer.startswith(SERVED_PROPS_TAG):
            return CacheHit(cached_version, codec.loads(answer))
        props, result = codec.loads(answer[len(SERVED_PROPS_TAG) :])
        return CacheHit(cached_version, result, dict(props))
    except Exception:  # not what a replica wrote (see motion_grpc.trust): computed afresh instead
        return None


class KnownResults:
    """This process's copies of serve cache entries, by instance and cache field (thread-safe)."""

    def __init__(
        self,
        max_entries: int = KNOWN_ENTRIES,
        max_bytes: int = KNOWN_BYTES,
        max_entry: int = KNOWN_ENTRY_BYTES,
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._max_entry = max_entry
        self._entries: dict[tuple[InstanceKeys, str], bytes] = {}
        self._bytes = 0
        self._lock = threading.Lock()  # runs in callers' threads add entries too

    def remember(self, keys: InstanceKeys, field: str, entry: bytes | None) -> None:
        """Keep a copy of a cache entry (as stored in Redis) written or read for an instance."""
        if entry is None or len(entry) > self._max_entry:
            return
        key = (keys, field)
        with self._lock:
            entries = self._entries
            replaced = entries.pop(key, None)
            entries[key] = entry
            self._bytes += len(entry) - (0 if replaced is None else len(replaced))
            while len(entries) > self._max_entries or self._bytes > self._max_bytes:
                self._bytes -= len(entries.pop(next(iter(entries))))

    def forget(self, keys: InstanceKeys) -> None:
        """Drop the copies of an instance's entries (its state in Redis was lost or deleted)."""
        with self._lock:
            for key in [key for key in self._entries if key[0] == keys]:
                self._bytes -= len(self._entries.pop(key))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def hit(self, keys: InstanceKeys, field: str | None, version: int) -> CacheHit | None:
        """The copied result computed from exactly this version, unless it expired."""
        if field is None:
            return None
        entry = self._entries.get((keys, field))
        return None if entry is None else cache_hit(entry, version)


__all__ = ["CacheHit", "KnownResults", "cache_hit", "cached_answer"]
