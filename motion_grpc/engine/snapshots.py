"""Per-instance in-memory snapshots of committed state, bounded by an LRU (used on one event loop)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from motion_grpc.engine.serve_cache import KnownResults
from motion_grpc.store.keys import InstanceKeys


@dataclass(frozen=True)
class Snapshot:
    """Decoded state at one version. Never mutated: a commit builds a new one.

    `sizes` holds the encoded size of each stored field, so the size of the state in Redis
    after a patch (--max-state-bytes) is known without encoding or reading anything again.
    """

    version: int
    data: Mapping[str, Any]
    sizes: Mapping[str, int]

    @classmethod
    def stored(cls, version: int, data: Mapping[str, Any], fields: Mapping[str, bytes]) -> Snapshot:
        """The snapshot of `data`, whose stored (encoded) fields are `fields`."""
        return cls(version, data, field_sizes(fields))

    @property
    def stored_bytes(self) -> int:
        return sum(self.sizes.values())

    def stored_bytes_after(self, patch: Mapping[str, bytes]) -> int:
        """The encoded size of the state once `patch` is written over it."""
        return self.stored_bytes + sum(len(value) - self.sizes.get(name, 0) for name, value in patch.items())

    def patched(self, version: int, changes: Mapping[str, Any], patch: Mapping[str, bytes]) -> Snapshot:
        """The snapshot after `changes` were committed as the stored fields `patch`."""
        return Snapshot(version, {**self.data, **changes}, {**self.sizes, **field_sizes(patch)})


def field_sizes(fields: Mapping[str, bytes]) -> dict[str, int]:
    return {name: len(value) for name, value in fields.items()}


class SnapshotBytes:
    """The encoded bytes of the snapshots kept, least recently used first; past `limit`, the least
    recently used snapshots are dropped (never the one just kept).

    Callers' threads read snapshots without touching this order (it belongs to the loop): they
    mark the runtime `referenced`, and a referenced one is passed over once, as a clock passes
    over a page recently used, before it is dropped.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held: OrderedDict[InstanceRuntime, int] = OrderedDict()
        self.total = 0

    def kept(self, runtime: InstanceRuntime, size: int | None) -> None:
        """`runtime` now keeps a snapshot of `size` encoded bytes (None: none)."""
        self.total -= self._held.pop(runtime, 0)
        if size is None:
            return
        self._held[runtime] = size
        self.total += size
        passes = len(self._held)
        while self.total > self._limit and len(self._held) > 1:
            oldest, oldest_size = self._held.popitem(last=False)
            if oldest.referenced and passes > 0:  # used from a caller's thread since: a second chance
                oldest.referenced = False
                self._held[oldest] = oldest_size
                passes -= 1
                continue
            self.total -= oldest_size
            oldest.drop_snapshot()

    def used(self, runtime: InstanceRuntime) -> None:
        if runtime in self._held:
            self._held.move_to_end(runtime)


class InstanceRuntime:
    """What this process keeps about one instance between calls."""

    __slots__ = (
        "_budget",
        "_commits",
        "_landed",
        "_snapshot",
        "commits_started",
        "committed_elsewhere",
        "keys",
        "load_lock",
        "referenced",
    )

    def __init__(self, keys: InstanceKeys, budget: SnapshotBytes | None = None) -> None:
        self.keys = keys
        self._snapshot: Snapshot | None = None
        self._budget = budget
        #: Read from a caller's thread since the budget last passed it over (see SnapshotBytes).
        self.referenced = False
        self.load_lock = asyncio.Lock()
        self._commits = 0
        #: Commits of this process started so far: a read of Redis during which none started or
        #: was in flight saw every commit this process's snapshot reflects.
        self.commits_started = 0
        #: Another process committed it behind this one's snapshot once: serve ops then run on
        #: checked state only (once per run, as in Motion), not on the snapshot first.
        self.committed_elsewhere = False
        self._landed: asyncio.Future[None] | None = None  # resolved once no commit is in flight

    @property
    def snapshot(self) -> Snapshot | None:
        """The decoded state last known here (None: read it from Redis)."""
        return self._snapshot

    @snapshot.setter
    def snapshot(self, snapshot: Snapshot | None) -> None:
        self._snapshot = snapshot
        if self._budget is not None:
            self._budget.kept(self, None if snapshot is None else snapshot.stored_bytes)

    def drop_snapshot(self) -> None:
        """Forget the snapshot for want of memory (the budget has already let it go)."""
        self._snapshot = None

    def leave_budget(self) -> None:
        """This runtime is no longer kept (evicted, forgotten): its snapshot goes, and one a drain
        still holding it sets later counts against no budget."""
        self.snapshot = None
        self._budget = None

    @contextlib.contextmanager
    def committing(self) -> Iterator[None]:
        """Mark a commit of this process in flight, from before it is sent until the snapshot has
        caught up with it.

        Redis announces a commit (to flush waiters, in the events stream) before
        the committing drain updates the snapshot; a serve that starts in
        between must not answer from the snapshot it is about to replace.
        """
        self._commits += 1
        self.commits_started += 1
        try:
            yield
        finally:
            self._commits -= 1
            if not self._commits and self._landed is not None:
                landed, self._landed = self._landed, None
                if not landed.done():
                    landed.set_result(None)

    @property
    def in_commit(self) -> bool:
        """A commit of this process is in flight (see `committing`)."""
        return self._commits > 0

    def unchecked_snapshot(self) -> Snapshot | None:
        """The snapshot to serve from without checking its version first; None while a commit of
        this process is in flight (then the version must be checked in Redis)."""
        if self._commits:
            return None
        return self.snapshot

    async def snapshot_after_commit(self) -> Snapshot | None:
        """`unchecked_snapshot`, once the commits of this process in flight have landed.

        Such a commit is one Redis round trip already under way: waiting for it
        costs a caller less than a round trip of its own to check the version.
        None if commits keep coming (another started before this caller resumed).
        """
        if self._commits:
            if self._landed is None:
                self._landed = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._landed)  # a cancelled waiter leaves the others waiting
        return self.unchecked_snapshot()

    def current(self, version: int) -> Snapshot | None:
        """The snapshot if it is at exactly `version` (one ahead of what Redis said is read again:
        after Redis lost its data, versions start over below the snapshots of the lost state)."""
        snapshot = self.snapshot
        if snapshot is not None and snapshot.version == version:
            return snapshot
        return None

    def offer(self, snapshot: Snapshot) -> None:
        """Keep a snapshot unless a newer one is already known."""
        current = self.snapshot
        if current is None or snapshot.version > current.version:
            self.snapshot = snapshot

    def advance(
        self, expected: int, version: int, changes: Mapping[str, Any], patch: Mapping[str, bytes]
    ) -> None:
        """After a commit of `patch` on top of `expected`, derive the next snapshot without reading Redis."""
        current = self.snapshot
        if current is not None and current.version == expected:
            self.snapshot = current.patched(version, changes, patch)
        elif current is None or current.version < version:
            self.snapshot = None  # unknown base: the next reader loads from Redis


class Runtimes:
    """An LRU map of InstanceRuntime, so memory stays bounded with many instances, and this
    process's copies of serve cache entries."""

    def __init__(self, max_size: int, max_snapshot_bytes: int) -> None:
        self._items: OrderedDict[InstanceKeys, InstanceRuntime] = OrderedDict()
        self._max_size = max_size
        self.snapshot_bytes = SnapshotBytes(max_snapshot_bytes)
        self.known = KnownResults()

    def get(self, keys: InstanceKeys) -> InstanceRuntime:
        runtime = self._items.get(keys)
        if runtime is None:
            runtime = self._items[keys] = InstanceRuntime(keys, self.snapshot_bytes)
            if len(self._items) > self._max_size:
                _, evicted = self._items.popitem(last=False)
                evicted.leave_budget()
        else:
            self._items.move_to_end(keys)
            self.snapshot_bytes.used(runtime)
        return runtime

    def peek(self, keys: InstanceKeys) -> InstanceRuntime | None:
        """The runtime of an instance if there is one, changing nothing (safe from other threads)."""
        return self._items.get(keys)

    def forget(self, keys: InstanceKeys) -> None:
        runtime = self._items.pop(keys, None)
        if runtime is not None:
            runtime.leave_budget()
        self.known.forget(keys)

    def forget_states(self) -> None:
        """Drop every snapshot and cached answer (Redis may have lost the state they copy)."""
        for runtime in self._items.values():
            runtime.snapshot = None
        self.known.clear()

    def __len__(self) -> int:
        return len(self._items)
