"""Applying one instance's queued updates, in order, under its lease.

At-least-once execution, exactly-once effect: an op may run again after a
crash, but the commit script records the applied entry with the state
change, so its effect lands once.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from motion_grpc import codec
from motion_grpc.component import Component, DiscardPolicy, UpdateOp
from motion_grpc.engine.leases import LeaseKeeper
from motion_grpc.engine.ops import LoopThread, call_op, describe_error
from motion_grpc.engine.snapshots import InstanceRuntime, Runtimes, Snapshot
from motion_grpc.errors import MotionError, OpError
from motion_grpc.props import Props
from motion_grpc.state import State
from motion_grpc.store import scripts
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.store import CommitRecord, Entry, Store, now_ms

log = logging.getLogger(__name__)

READ_BATCH = 64
ADMIN_FLOW = "\x00admin"
WRITE_STATE_OP = "write_state"
MIGRATE_OP = "migrate"


class LeaseLostError(Exception):
    """This worker's lease is gone: stop without committing anything more."""


@dataclass(frozen=True)
class DrainSettings:
    max_attempts: int = 3


class Drainer:
    """Drains the update queue of one instance at a time, as the lease holder."""

    def __init__(
        self,
        store: Store,
        components: Callable[[str], Component | None],
        runtimes: Runtimes,
        load_snapshot: Callable[[InstanceRuntime, Component], Snapshot],
        encode_patch: Callable[[Component, Mapping[str, Any], Mapping[str, Any]], dict[str, bytes]],
        leases: LeaseKeeper,
        loop: LoopThread,
        stopping: threading.Event,
        settings: DrainSettings,
    ) -> None:
        self._store = store
        self._components = components
        self._runtimes = runtimes
        self._load_snapshot = load_snapshot
        self._encode_patch = encode_patch
        self._leases = leases
        self._loop = loop
        self._stopping = stopping
        self._settings = settings

    def drain(self, keys: InstanceKeys) -> None:
        """Apply every queued entry of an instance, if its lease can be had."""
        component = self._components(keys.component)
        if component is None:
            return
        token = secrets.token_hex(16)
        if not self._store.acquire_lease(keys, token, self._leases.ttl_ms):
            return  # another worker holds it and drains until the queue is empty
        self._leases.hold(keys.lease, token)
        released = False
        try:
            released = self._drain_held(keys, component, token)
        except LeaseLostError:
            released = True
            log.warning("lease of %s/%s lost while draining", keys.component, keys.instance_id)
        finally:
            self._leases.drop(keys.lease)
            if not released:
                self._store.release(keys.lease, token)

    def _drain_held(self, keys: InstanceKeys, component: Component, token: str) -> bool:
        runtime = self._runtimes.get(keys)
        snapshot = self._load_snapshot(runtime, component)
        while not self._stopping.is_set():
            entries = self._store.pending(keys, READ_BATCH)
            if not entries:
                if self._store.release_if_idle(keys, token) != 0:
                    return True
                continue
            while entries and not self._stopping.is_set():
                batch, entries = self._take_batch(component, entries)
                snapshot = self._apply(keys, component, token, runtime, snapshot, batch)
        return False

    def _take_batch(self, component: Component, entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
        op = _find_op(component, entries[0])
        size = op.batch_size if op is not None else 1
        count = 1
        while count < min(size, len(entries)) and _same_op(entries[count], entries[0]):
            count += 1
        return entries[:count], entries[count:]

    def _apply(
        self,
        keys: InstanceKeys,
        component: Component,
        token: str,
        runtime: InstanceRuntime,
        snapshot: Snapshot,
        batch: list[Entry],
    ) -> Snapshot:
        head = batch[0]
        op = _find_op(component, head)
        if head.flow == ADMIN_FLOW:
            return self._apply_admin(keys, component, token, runtime, snapshot, head)
        if op is None:
            reason = f"component {component.name} has no update op {head.op!r} in flow {head.flow!r}"
            return self._finish(keys, token, runtime, snapshot, [_failed(head, "UnknownOp", reason)])
        kept, discarded = self._discard(keys, op, batch)
        if discarded:
            snapshot = self._finish(keys, token, runtime, snapshot, discarded)
        if not kept:
            return snapshot
        attempts = self._store.begin(keys, token, kept)
        if attempts is None:
            raise LeaseLostError
        if max(attempts) > self._settings.max_attempts:
            reason = f"gave up after {max(attempts) - 1} attempts that did not finish (worker crashed?)"
            records = [_failed(e, "AttemptsExhausted", reason, a) for e, a in zip(kept, attempts)]
            return self._finish(keys, token, runtime, snapshot, records)
        state = State(keys.instance_id, snapshot.data, snapshot.version)
        try:
            changes = self._run_op(component, op, state, kept)
            patch = self._encode_patch(component, snapshot.data, changes)
        except OpError as exc:
            records = [_failed(e, exc.error_type, exc.message, a) for e, a in zip(kept, attempts)]
            return self._finish(keys, token, runtime, snapshot, records)
        records = [CommitRecord(e, scripts.APPLIED, a) for e, a in zip(kept, attempts)]
        return self._finish(keys, token, runtime, snapshot, records, patch, changes)

    def _run_op(
        self, component: Component, op: UpdateOp, state: State, entries: list[Entry]
    ) -> dict[str, Any]:
        props_list = []
        for entry in entries:
            try:
                props, serve_result = codec.loads(entry.payload)
            except Exception as exc:
                raise OpError(
                    f"update entry {entry.id} cannot be decoded: {describe_error(exc)}", "DecodeError"
                ) from exc
            props_list.append(Props(props, serve_result=serve_result))
        argument: Any = props_list if op.batch_size > 1 else props_list[0]
        what = f"update op {op.name} of {component.name}/{entries[0].flow}"
        changes = call_op(what, op.func, (state, argument), self._loop)
        if not isinstance(changes, Mapping):
            raise OpError(
                f"{what} returned {type(changes).__name__}; "
                "return a dict of the state keys to change ({} for none)",
                "TypeError",
            )
        bad = [key for key in changes if not isinstance(key, str)]
        if bad:
            raise OpError(f"{what} returned non-string state keys: {bad!r}", "TypeError")
        return dict(changes)

    def _discard(
        self, keys: InstanceKeys, op: UpdateOp, batch: list[Entry]
    ) -> tuple[list[Entry], list[CommitRecord]]:
        if op.discard_policy is DiscardPolicy.NONE or op.discard_after is None:
            return batch, []
        kept: list[Entry] = []
        discarded: list[CommitRecord] = []
        if op.discard_policy is DiscardPolicy.SECONDS:
            oldest_allowed = now_ms() - op.discard_after * 1000
            for entry in batch:
                if entry.enqueued_ms < oldest_allowed:
                    discarded.append(CommitRecord(entry, scripts.DISCARDED, 0, "expired", _expired(op)))
                else:
                    kept.append(entry)
            return kept, discarded
        latest = self._store.op_sequence(keys, batch[0].flow, op.name)
        for entry in batch:
            if latest - entry.seq >= op.discard_after:
                newer = latest - entry.seq
                reason = f"{newer} newer updates of {op.name} were queued (limit {op.discard_after:g})"
                discarded.append(CommitRecord(entry, scripts.DISCARDED, 0, "superseded", reason))
            else:
                kept.append(entry)
        return kept, discarded

    def _apply_admin(
        self,
        keys: InstanceKeys,
        component: Component,
        token: str,
        runtime: InstanceRuntime,
        snapshot: Snapshot,
        entry: Entry,
    ) -> Snapshot:
        attempts = self._store.begin(keys, token, [entry])
        if attempts is None:
            raise LeaseLostError
        try:
            changes = self._admin_changes(component, snapshot, entry)
            patch = self._encode_patch(component, snapshot.data, changes)
        except OpError as exc:
            record = _failed(entry, exc.error_type, exc.message, attempts[0])
            return self._finish(keys, token, runtime, snapshot, [record])
        except Exception as exc:
            record = _failed(
                entry, type(exc).__name__, f"state write failed: {describe_error(exc)}", attempts[0]
            )
            return self._finish(keys, token, runtime, snapshot, [record])
        record = CommitRecord(entry, scripts.APPLIED, attempts[0])
        return self._finish(keys, token, runtime, snapshot, [record], patch, changes)

    def _admin_changes(self, component: Component, snapshot: Snapshot, entry: Entry) -> dict[str, Any]:
        """The state patch of an admin entry: a WriteState patch, or what a migration returned."""
        if entry.op != MIGRATE_OP:
            return dict(codec.loads(entry.payload))
        what = f"migration of {component.name}"
        migrate = codec.loads(entry.payload)
        # The function gets a plain copy: it may change it in place and return it (as in Motion).
        changes = call_op(what, migrate, (dict(snapshot.data),), self._loop)
        if not isinstance(changes, Mapping) or not all(isinstance(key, str) for key in changes):
            raise OpError(
                f"{what} returned {type(changes).__name__}; return a dict with string keys", "TypeError"
            )
        return dict(changes)

    def _finish(
        self,
        keys: InstanceKeys,
        token: str,
        runtime: InstanceRuntime,
        snapshot: Snapshot,
        records: Sequence[CommitRecord],
        patch: dict[str, bytes] | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> Snapshot:
        version = self._store.commit(keys, token, snapshot.version, patch or {}, records)
        if version == scripts.LEASE_LOST:
            raise LeaseLostError
        if version < 0:
            # The entry was already committed, or the version moved under us: reload and go on.
            log.warning("commit on %s/%s refused (%d); reloading", keys.component, keys.instance_id, version)
            runtime.snapshot = None
            component = self._components(keys.component)
            assert component is not None
            return self._load_snapshot(runtime, component)
        if changes:
            runtime.advance(snapshot.version, version, changes)
            return runtime.snapshot or Snapshot(version, {**snapshot.data, **changes})
        return snapshot


def _find_op(component: Component, entry: Entry) -> UpdateOp | None:
    if entry.flow == ADMIN_FLOW:
        return None
    try:
        return component.flow(entry.flow).update_op(entry.op)
    except MotionError:
        return None


def _same_op(a: Entry, b: Entry) -> bool:
    return a.flow == b.flow and a.op == b.op


def _failed(entry: Entry, error_type: str, message: str, attempt: int = 0) -> CommitRecord:
    return CommitRecord(entry, scripts.FAILED, attempt, error_type, message)


def _expired(op: UpdateOp) -> str:
    return f"not started within {op.discard_after:g} s of being enqueued"
