"""Applying one instance's queued updates, in order, under its lease.

At-least-once execution, exactly-once effect: an op may run again after a
crash, but the commit script records the applied entry with the state
change, so its effect lands once. Each step is one script: TAKE (lease,
discards, RUNNING, attempt count) before an op, COMMIT after it.
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
from motion_grpc.engine import admin
from motion_grpc.engine.leases import LeaseKeeper
from motion_grpc.engine.ops import LoopThread, call_op, describe_error
from motion_grpc.engine.snapshots import InstanceRuntime, Runtimes, Snapshot
from motion_grpc.errors import MotionError, OpError
from motion_grpc.props import Props
from motion_grpc.state import State
from motion_grpc.store import scripts
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.store import CommitRecord, Entry, Store, Taken

log = logging.getLogger(__name__)

ADMIN_FLOW = "\x00admin"
WRITE_STATE_OP = "write_state"
MIGRATE_OP = "migrate"

_TAKEN, _IDLE, _AGAIN, _HELD_ELSEWHERE, _GONE = 1, 0, 2, -1, -3
_DISCARD_KINDS = {DiscardPolicy.NUM_NEW_UPDATES: 1, DiscardPolicy.SECONDS: 2}


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
        self._policies: dict[str, list[tuple[str, int, float, int]]] = {}

    def drain(self, keys: InstanceKeys) -> None:
        """Apply every queued entry of an instance, unless another worker holds its lease."""
        component = self._components(keys.component)
        if component is None:
            return
        token = secrets.token_hex(16)
        policies = self._policies_of(component)
        held = False
        try:
            while not self._stopping.is_set():
                taken = self._store.take(keys, token, self._leases.ttl_ms, policies, may_acquire=not held)
                if taken.code in (_TAKEN, _AGAIN) and not held:
                    held = True
                    self._leases.hold(keys.lease, token)
                if taken.code == _TAKEN:
                    self._apply(keys, component, token, taken)
                elif taken.code != _AGAIN:
                    if taken.code == _HELD_ELSEWHERE and held:
                        raise LeaseLostError
                    held = False  # idle or gone: the script released the lease
                    if taken.code == _HELD_ELSEWHERE or not self._store.settle_pending(keys):
                        return
        except LeaseLostError:
            held = False
            log.warning("lease of %s/%s lost while draining", keys.component, keys.instance_id)
        finally:
            self._leases.drop(keys.lease)
            if held:
                self._hand_back(keys, token)

    def _hand_back(self, keys: InstanceKeys, token: str) -> None:
        """Release the lease of an instance left with queued entries (shutting down), and say so,
        so another process takes it over at once rather than at its next sweep."""
        self._store.release(keys.lease, token)
        try:
            self._store.publish_wake(keys)
        except MotionError as exc:
            log.debug("could not publish the hand-back of %s: %s", keys.instance_id, exc)

    def _policies_of(self, component: Component) -> list[tuple[str, int, float, int]]:
        """The ops whose discard policy or batch size TAKE must know, as its arguments."""
        policies = self._policies.get(component.name)
        if policies is None:
            policies = []
            for flow in component.flows():
                for op in flow.updates:
                    kind = _DISCARD_KINDS.get(op.discard_policy, 0)
                    if kind or op.batch_size > 1:
                        policies.append(
                            (f"{flow.key}\0{op.name}", kind, op.discard_after or 0.0, op.batch_size)
                        )
            self._policies[component.name] = policies
        return policies

    def _apply(self, keys: InstanceKeys, component: Component, token: str, taken: Taken) -> None:
        runtime = self._runtimes.get(keys)
        snapshot = runtime.snapshot
        if snapshot is None or snapshot.version != taken.version:
            snapshot = self._load_snapshot(runtime, component)
        entries, attempts = taken.entries, taken.attempts
        head = entries[0]
        if max(attempts) > self._settings.max_attempts:
            reason = f"gave up after {max(attempts) - 1} attempts that did not finish (worker crashed?)"
            records = [_failed(e, "AttemptsExhausted", reason, a) for e, a in zip(entries, attempts)]
            self._commit(keys, token, runtime, snapshot, records)
            return
        op = None if head.flow == ADMIN_FLOW else _find_op(component, head)
        try:
            if head.flow == ADMIN_FLOW:
                changes = _admin_changes(head, component, snapshot.data, self._loop)
            elif op is None:
                raise OpError(
                    f"component {component.name} has no update op {head.op!r} in flow {head.flow!r}",
                    "UnknownOp",
                )
            else:
                changes = self._run_op(
                    component, op, State(keys.instance_id, snapshot.data, snapshot.version), entries
                )
            patch = self._encode_patch(component, snapshot.data, changes)
        except OpError as exc:
            records = [_failed(e, exc.error_type, exc.message, a) for e, a in zip(entries, attempts)]
            self._commit(keys, token, runtime, snapshot, records)
            return
        records = [CommitRecord(e, scripts.APPLIED, a) for e, a in zip(entries, attempts)]
        self._commit(keys, token, runtime, snapshot, records, patch, changes)

    def _run_op(
        self, component: Component, op: UpdateOp, state: State, entries: list[Entry]
    ) -> dict[str, Any]:
        props_list = []
        for entry in entries:
            try:
                props, serve_result = codec.loads(entry.payload)
            except Exception as exc:
                message = f"update entry {entry.id} cannot be decoded: {describe_error(exc)}"
                raise OpError(message, "DecodeError") from exc
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

    def _commit(
        self,
        keys: InstanceKeys,
        token: str,
        runtime: InstanceRuntime,
        snapshot: Snapshot,
        records: Sequence[CommitRecord],
        patch: dict[str, bytes] | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> None:
        version = self._store.commit(keys, token, snapshot.version, patch or {}, records)
        if version == scripts.LEASE_LOST:
            raise LeaseLostError
        if version < 0:
            # The entry was already committed, or the version moved under us: reload on the next take.
            log.warning("commit on %s/%s refused (%d)", keys.component, keys.instance_id, version)
            runtime.snapshot = None
        elif changes:
            runtime.advance(snapshot.version, version, changes)


def _admin_changes(
    entry: Entry, component: Component, data: Mapping[str, Any], loop: LoopThread
) -> dict[str, Any]:
    if entry.op == MIGRATE_OP:
        return admin.migration_changes(component, data, entry.payload, loop)
    if entry.op != WRITE_STATE_OP:
        raise OpError(f"unknown admin operation {entry.op!r}", "UnknownOp")
    try:
        return dict(codec.loads(entry.payload))
    except Exception as exc:
        raise OpError(f"state write cannot be decoded: {describe_error(exc)}", type(exc).__name__) from exc


def _find_op(component: Component, entry: Entry) -> UpdateOp | None:
    try:
        return component.flow(entry.flow).update_op(entry.op)
    except MotionError:
        return None


def _failed(entry: Entry, error_type: str, message: str, attempt: int = 0) -> CommitRecord:
    return CommitRecord(entry, scripts.FAILED, attempt, error_type, message)
