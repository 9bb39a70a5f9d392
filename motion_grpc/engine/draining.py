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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from motion_grpc import codec
from motion_grpc.component import Component, DiscardPolicy, UpdateOp
from motion_grpc.engine import admin, failures
from motion_grpc.engine.leases import LeaseKeeper
from motion_grpc.engine.op_times import OpTimes
from motion_grpc.engine.ops import LoopThread, call_op, describe_error
from motion_grpc.engine.snapshots import InstanceRuntime, Runtimes, Snapshot
from motion_grpc.engine.state_codec import encode_patch, has_hooks
from motion_grpc.errors import FailedPreconditionError, MotionError, OpError
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
#: At most this many cheap update ops are applied together under one commit.
GROUP_MAX = 32
#: An update op is cheap (groupable) when it takes less than this on average.
FAST_OP_SECONDS = 0.002
_DISCARD_KINDS = {DiscardPolicy.NUM_NEW_UPDATES: 1, DiscardPolicy.SECONDS: 2}


_Policies = list[tuple[str, int, float, int, str]]


class LeaseLostError(Exception):
    """This worker's lease is gone: stop without committing anything more."""


class DrainBackoffError(Exception):
    """The instance cannot be worked on now (its state cannot be loaded): try again after `delay`.

    The attempt is counted (TAKE did), so an instance that never loads ends its
    head entry FAILED after max_attempts, and the worker stays cold meanwhile.
    """

    def __init__(self, delay: float, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


@dataclass
class _Holding:
    """Whether this drain holds the instance's lease (and so must hand it back)."""

    held: bool = False


@dataclass(frozen=True)
class DrainSettings:
    max_attempts: int = 3
    #: First wait before retrying an instance whose state could not be loaded; doubles per attempt.
    backoff: float = 0.5
    backoff_max: float = 30.0


class Drainer:
    """Drains the update queue of one instance at a time, as the lease holder."""

    def __init__(
        self,
        store: Store,
        components: Callable[[str], Component | None],
        runtimes: Runtimes,
        load_snapshot: Callable[[InstanceRuntime, Component], Snapshot],
        leases: LeaseKeeper,
        loop: LoopThread,
        stopping: threading.Event,
        settings: DrainSettings,
    ) -> None:
        self._store = store
        self._components = components
        self._runtimes = runtimes
        self._load_snapshot = load_snapshot
        self._leases = leases
        self._loop = loop
        self._stopping = stopping
        self._settings = settings
        self._op_times = OpTimes(FAST_OP_SECONDS)
        self._load_errors: dict[InstanceKeys, str] = {}  # why an instance's state last failed to load

    def drain(self, keys: InstanceKeys) -> None:
        """Apply every queued entry of an instance, unless another worker holds its lease.

        Raises DrainBackoffError (lease handed back) when the instance must wait before a retry.
        """
        component = self._components(keys.component)
        if component is None:
            return
        token = secrets.token_hex(16)
        lease = _Holding()
        try:
            self._drain_held(keys, component, token, lease)
        except LeaseLostError:
            lease.held = False
            log.warning("lease of %s/%s lost while draining", keys.component, keys.instance_id)
        except DrainBackoffError:
            if lease.held:  # handed back quietly: a wake-up now would only retry at once
                lease.held = False
                self._store.release(keys.lease, token)
            raise
        finally:
            self._leases.drop(keys.lease, token)
            if lease.held:
                self._hand_back(keys, token)

    def _drain_held(self, keys: InstanceKeys, component: Component, token: str, lease: _Holding) -> None:
        policies = self._policies_of(component)
        applied = False
        taken: Taken | None = None
        while taken is not None or not self._stopping.is_set():  # what is taken is in hand: apply it
            if taken is None:
                taken = self._store.take(
                    keys,
                    token,
                    self._leases.ttl_ms,
                    policies,
                    may_acquire=not lease.held,
                    group_max=GROUP_MAX,
                )
            if taken.code in (_TAKEN, _AGAIN) and not lease.held:
                lease.held = True
                self._leases.hold(keys.lease, token)
            if taken.code == _TAKEN:
                taken = self._apply(keys, component, token, taken, policies)
                applied = True
                continue
            if taken.code != _AGAIN:
                if taken.code == _HELD_ELSEWHERE and lease.held:
                    raise LeaseLostError
                lease.held = False  # idle or gone: the script released the lease
                # An instance stays in the pending set while it is busy; a drain that finds
                # nothing (a sweep's) takes it out, so a busy instance costs no extra trip.
                if taken.code == _HELD_ELSEWHERE or applied or not self._store.settle_pending(keys):
                    return
            taken = None

    def _hand_back(self, keys: InstanceKeys, token: str) -> None:
        """Release the lease of an instance left with queued entries (shutting down), and say so,
        so another process takes it over at once rather than at its next sweep."""
        self._store.release(keys.lease, token)
        try:
            self._store.publish_wake(keys)
        except MotionError as exc:
            log.debug("could not publish the hand-back of %s: %s", keys.instance_id, exc)

    def _policies_of(self, component: Component) -> _Policies:
        """What TAKE must know of the ops: discard policies, batch sizes, which are cheap enough to group."""
        policies = []
        for flow in component.flows():
            for op in flow.updates:
                key = f"{flow.key}\0{op.name}"
                kind = _DISCARD_KINDS.get(op.discard_policy, 0)
                groupable = (
                    not kind
                    and op.batch_size == 1
                    and not has_hooks(component)  # each op must see its state through load_state
                    and self._op_times.is_fast(component.name, key)
                )
                if kind or op.batch_size > 1 or groupable:
                    policies.append(
                        (key, kind, op.discard_after or 0.0, op.batch_size, "1" if groupable else "0")
                    )
        return policies

    def _apply(
        self, keys: InstanceKeys, component: Component, token: str, taken: Taken, policies: _Policies
    ) -> Taken | None:
        """Run the taken entries and commit them; the next take, when it rode along with the commit."""
        runtime = self._runtimes.get(keys)
        entries, attempts = taken.entries, taken.attempts
        if max(attempts) > self._settings.max_attempts:  # before anything else that could fail again
            reason = self._give_up_reason(keys, max(attempts) - 1)
            records = [_failed(e, "AttemptsExhausted", reason, a) for e, a in zip(entries, attempts)]
            return self._commit(keys, token, policies, runtime, taken.version, records)
        snapshot = self._snapshot_for(keys, component, runtime, taken)
        head = entries[0]
        op = None if head.flow == ADMIN_FLOW else _find_op(component, head)
        if op is not None and op.batch_size > 1:
            return self._apply_batch(keys, component, token, policies, runtime, snapshot, op, taken)
        return self._apply_each(keys, component, token, policies, runtime, snapshot, taken)

    def _apply_batch(
        self,
        keys: InstanceKeys,
        component: Component,
        token: str,
        policies: _Policies,
        runtime: InstanceRuntime,
        snapshot: Snapshot,
        op: UpdateOp,
        taken: Taken,
    ) -> Taken | None:
        """A batch op: one call with every entry's props, one version step."""
        entries, attempts = taken.entries, taken.attempts
        try:
            state = State(keys.instance_id, snapshot.data, snapshot.version)
            changes = self._run_op(component, op, state, entries)
            patch = encode_patch(component, snapshot.data, changes)
        except OpError as exc:
            records = [_failed(e, exc.error_type, exc.message, a) for e, a in zip(entries, attempts)]
            return self._commit(keys, token, policies, runtime, snapshot.version, records)
        first = entries[0]  # the version step comes first, so every batched event shows the version after it
        records = [
            CommitRecord(e, scripts.APPLIED, a, changed=bool(changes) and e is first)
            for e, a in zip(entries, attempts)
        ]
        return self._commit(keys, token, policies, runtime, snapshot.version, records, patch, changes)

    def _apply_each(
        self,
        keys: InstanceKeys,
        component: Component,
        token: str,
        policies: _Policies,
        runtime: InstanceRuntime,
        snapshot: Snapshot,
        taken: Taken,
    ) -> Taken | None:
        """Entries one after the other, each seeing the state the previous ones left; one commit."""
        data, version = snapshot.data, snapshot.version
        patch: dict[str, bytes] = {}
        changed: dict[str, Any] = {}
        records: list[CommitRecord] = []
        for entry, attempt in zip(taken.entries, taken.attempts):
            try:
                changes = self._changes_of(component, keys.instance_id, entry, data, version)
                encoded = encode_patch(component, data, changes)
            except OpError as exc:
                records.append(_failed(entry, exc.error_type, exc.message, attempt))
                continue
            if changes:
                data, version = {**data, **changes}, version + 1
                patch.update(encoded)
                changed.update(changes)
            records.append(CommitRecord(entry, scripts.APPLIED, attempt, changed=bool(changes)))
        return self._commit(keys, token, policies, runtime, snapshot.version, records, patch, changed)

    def _snapshot_for(
        self, keys: InstanceKeys, component: Component, runtime: InstanceRuntime, taken: Taken
    ) -> Snapshot:
        """The state the taken entries apply to; DrainBackoffError when it cannot be loaded."""
        snapshot = runtime.snapshot
        if snapshot is not None and snapshot.version == taken.version:
            return snapshot
        try:
            snapshot = self._load_snapshot(runtime, component)
        except FailedPreconditionError as exc:
            self._load_errors[keys] = exc.message
            if len(self._load_errors) > 10_000:
                self._load_errors.pop(next(iter(self._load_errors)))
            attempt = max(taken.attempts)
            delay = min(self._settings.backoff_max, self._settings.backoff * 2 ** max(0, attempt - 1))
            raise DrainBackoffError(delay, exc.message) from exc
        self._load_errors.pop(keys, None)
        return snapshot

    def _give_up_reason(self, keys: InstanceKeys, attempts: int) -> str:
        cause = self._load_errors.pop(keys, None)
        if cause is not None:
            return f"gave up after {attempts} attempts: the instance's state could not be loaded ({cause})"
        return f"gave up after {attempts} attempts that did not finish (worker crashed?)"

    def _changes_of(
        self, component: Component, instance_id: str, entry: Entry, data: Mapping[str, Any], version: int
    ) -> dict[str, Any]:
        if entry.flow == ADMIN_FLOW:
            return _admin_changes(entry, component, data, self._loop)
        op = _find_op(component, entry)
        if op is None:
            raise OpError(
                f"component {component.name} has no update op {entry.op!r} in flow {entry.flow!r}",
                "UnknownOp",
            )
        return self._run_op(component, op, State(instance_id, data, version), [entry])

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
        started = time.perf_counter()
        changes = call_op(what, op.func, (state, argument), self._loop)
        self._op_times.record(component.name, f"{entries[0].flow}\0{op.name}", time.perf_counter() - started)
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
        policies: _Policies,
        runtime: InstanceRuntime,
        base: int,
        records: Sequence[CommitRecord],
        patch: dict[str, bytes] | None = None,
        changes: Mapping[str, Any] | None = None,
    ) -> Taken | None:
        """Commit on top of version `base`, and unless shutting down take the next entries in the
        same round trip."""
        with runtime.committing():  # until the snapshot has caught up, nobody serves from it unchecked
            version, taken = self._send_commit(keys, token, base, patch or {}, records, policies)
            if version == scripts.LEASE_LOST:
                raise LeaseLostError
            if version < 0:
                # The entry was already committed, or the version moved under us: reload on the next take.
                log.warning("commit on %s/%s refused (%d)", keys.component, keys.instance_id, version)
                runtime.snapshot = None
                return taken
            if changes:
                self._fold(keys, runtime, base, version, changes)
        _log_failures(keys, records)
        return taken

    def _fold(
        self,
        keys: InstanceKeys,
        runtime: InstanceRuntime,
        base: int,
        version: int,
        changes: Mapping[str, Any],
    ) -> None:
        """Bring the snapshot to the committed version without reading Redis, when that is exact."""
        component = self._components(keys.component)
        if component is not None and has_hooks(component):
            runtime.snapshot = None  # ops see state through load_state: the next reader loads it
        else:
            runtime.advance(base, version, changes)

    def _send_commit(
        self,
        keys: InstanceKeys,
        token: str,
        base: int,
        patch: dict[str, bytes],
        records: Sequence[CommitRecord],
        policies: _Policies,
    ) -> tuple[int, Taken | None]:
        if self._stopping.is_set():  # a shutdown takes nothing more: no attempt is spent on it
            return self._store.commit(keys, token, base, patch, records), None
        return self._store.commit_then_take(
            keys, token, base, patch, records, self._leases.ttl_ms, policies, GROUP_MAX
        )


def _log_failures(keys: InstanceKeys, records: Sequence[CommitRecord]) -> None:
    for record in records:
        if record.status == scripts.FAILED:
            entry = record.entry
            flow = "(admin)" if entry.flow == ADMIN_FLOW else entry.flow
            failures.update_failed(keys.component, flow, entry.op, record.error_type, record.error_message)


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
