"""Running taken update entries on an instance's state: what the commit that follows must write.

Entries of a group are applied one after the other, each seeing the state the
previous ones left, and committed together; a batch op gets every entry's
props in one call. An op that fails (raises, returns no dict, runs past its
timeout) fails its own entry only.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from motion_grpc import codec
from motion_grpc.definition import ComponentDefinition, UpdateOp
from motion_grpc.engine import admin
from motion_grpc.engine.instances import Instances
from motion_grpc.engine.op_times import OpTimes
from motion_grpc.engine.ops import describe_error
from motion_grpc.engine.runner import OpRunner, OpTimeoutError, call_sync, failure_of
from motion_grpc.engine.snapshots import Snapshot
from motion_grpc.engine.state_codec import encode_patch, has_hooks
from motion_grpc.errors import MotionError, OpError
from motion_grpc.observability import tracing, update_op
from motion_grpc.props import Props
from motion_grpc.state import State
from motion_grpc.store import protocol
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import CommitRecord, Entry, Taken

ADMIN_FLOW = "\x00admin"
WRITE_STATE_OP = "write_state"
MIGRATE_OP = "migrate"
#: The error type of an update failed by --max-state-bytes.
STATE_TOO_LARGE = "StateTooLarge"


@dataclass
class Applied:
    """What a commit must write for the entries it ends."""

    records: list[CommitRecord] = field(default_factory=list)
    patch: dict[str, bytes] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)

    def add(
        self, entry: Entry, attempt: int, changes: dict[str, Any], encoded: dict[str, bytes], state: Snapshot
    ) -> Snapshot:
        """Record an applied entry; the state the next entry of the group sees."""
        self.records.append(CommitRecord(entry, protocol.APPLIED, attempt, changed=bool(changes)))
        if not changes:
            return state
        self.patch.update(encoded)
        self.changes.update(changes)
        return state.patched(state.version + 1, changes, encoded)

    def fail(self, entry: Entry, attempt: int, error: OpError | OpTimeoutError) -> None:
        self.records.append(failed(entry, *failure_of(error), attempt))


def failed(entry: Entry, error_type: str, message: str, attempt: int = 0) -> CommitRecord:
    return CommitRecord(entry, protocol.FAILED, attempt, error_type, message)


def check_state_size(state: Snapshot, patch: Mapping[str, bytes], limit: int) -> None:
    """Fail an update whose commit would grow the stored state past `limit` (one that shrinks an
    oversized state still passes, so a lowered limit never wedges an instance)."""
    size = state.stored_bytes_after(patch)
    if size > limit and size > state.stored_bytes:
        raise OpError(
            f"the update would make the state {size} bytes encoded, over the limit of {limit} bytes "
            "(--max-state-bytes, MOTION_MAX_STATE_BYTES); keep less in the state or raise the limit",
            STATE_TOO_LARGE,
        )


def find_op(component: ComponentDefinition, entry: Entry) -> UpdateOp | None:
    try:
        return component.flow(entry.flow).update_op(entry.op)
    except MotionError:
        return None


class Applier:
    """Runs update ops (and admin entries) for the drainer, timing them to pick the cheap ones."""

    def __init__(
        self,
        runner: OpRunner,
        instances: Instances,
        timeout: float | None,
        op_times: OpTimes,
        max_state_bytes: int,
    ) -> None:
        self._runner = runner
        self._instances = instances
        self._timeout = timeout
        self.op_times = op_times
        self._max_state_bytes = max_state_bytes

    async def apply(
        self, keys: InstanceKeys, component: ComponentDefinition, snapshot: Snapshot, taken: Taken
    ) -> Applied:
        head = taken.entries[0]
        op = None if head.flow == ADMIN_FLOW else find_op(component, head)
        if op is not None and op.batch_size > 1:
            return await self._apply_batch(keys, component, snapshot, op, taken)
        return await self._apply_each(keys, component, snapshot, taken)

    async def _apply_batch(
        self,
        keys: InstanceKeys,
        component: ComponentDefinition,
        snapshot: Snapshot,
        op: UpdateOp,
        taken: Taken,
    ) -> Applied:
        """A batch op: one call with every entry's props, one version step."""
        pairs = list(zip(taken.entries, taken.attempts))
        try:
            state = State(keys.instance_id, snapshot.data, snapshot.version, keys.component)
            changes = await self._run_op(component, op, state, taken.entries)
            patch = await self._instances.encode(component, snapshot.data, changes)
            check_state_size(snapshot, patch, self._max_state_bytes)
        except (OpError, OpTimeoutError) as exc:
            error_type, message = failure_of(exc)
            return Applied([failed(entry, error_type, message, attempt) for entry, attempt in pairs])
        first = taken.entries[
            0
        ]  # the version step comes first: every batched event shows the version after it
        records = [
            CommitRecord(e, protocol.APPLIED, a, changed=bool(changes) and e is first) for e, a in pairs
        ]
        return Applied(records, patch, changes)

    async def _apply_each(
        self, keys: InstanceKeys, component: ComponentDefinition, snapshot: Snapshot, taken: Taken
    ) -> Applied:
        """Entries one after the other, each seeing the state the previous ones left; one commit."""
        ops = None if self._timeout is not None else _sync_group(component, taken)
        if ops is not None:
            return await self._runner.offload(self._apply_sync_group, keys, component, snapshot, taken, ops)
        state, applied = snapshot, Applied()
        for entry, attempt in zip(taken.entries, taken.attempts):
            try:
                changes = await self._changes_of(
                    component, keys.instance_id, entry, state.data, state.version
                )
                encoded = await self._instances.encode(component, state.data, changes)
                check_state_size(state, encoded, self._max_state_bytes)
            except (OpError, OpTimeoutError) as exc:
                applied.fail(entry, attempt, exc)
                continue
            state = applied.add(entry, attempt, changes, encoded, state)
        return applied

    def _apply_sync_group(
        self,
        keys: InstanceKeys,
        component: ComponentDefinition,
        snapshot: Snapshot,
        taken: Taken,
        ops: list[UpdateOp],
    ) -> Applied:
        """A group of cheap sync ops (no hooks), all in one thread hop: a hop per op costs more
        than the ops themselves. Runs on the update threads, never on the loop."""
        state, applied = snapshot, Applied()
        for entry, attempt, op in zip(taken.entries, taken.attempts, ops):
            what = f"update op {op.name} of {component.name}/{entry.flow}"
            try:
                started = time.perf_counter()
                with update_op(component.name, entry.flow, op.name, entry.payload):
                    changes = call_sync(
                        what,
                        op.func,
                        (State(keys.instance_id, state.data, state.version, keys.component), _props(entry)),
                    )
                self.op_times.record(
                    component.name, f"{entry.flow}\0{op.name}", time.perf_counter() - started
                )
                changes = _changes_dict(what, changes)
                encoded = encode_patch(component, state.data, changes)
                check_state_size(state, encoded, self._max_state_bytes)
            except OpError as exc:
                applied.fail(entry, attempt, exc)
                continue
            state = applied.add(entry, attempt, changes, encoded, state)
        return applied

    async def _changes_of(
        self,
        component: ComponentDefinition,
        instance_id: str,
        entry: Entry,
        data: Mapping[str, Any],
        version: int,
    ) -> dict[str, Any]:
        if entry.flow == ADMIN_FLOW:
            return await self._admin_changes(entry, component, data)
        op = find_op(component, entry)
        if op is None:
            raise OpError(
                f"component {component.name} has no update op {entry.op!r} in flow {entry.flow!r}",
                "UnknownOp",
            )
        return await self._run_op(component, op, State(instance_id, data, version, component.name), [entry])

    async def _run_op(
        self, component: ComponentDefinition, op: UpdateOp, state: State, entries: list[Entry]
    ) -> dict[str, Any]:
        argument: Any = [_props(entry) for entry in entries]
        if op.batch_size == 1:
            argument = argument[0]
        what = f"update op {op.name} of {component.name}/{entries[0].flow}"
        timeout = op.timeout if op.timeout is not None else self._timeout
        with update_op(component.name, entries[0].flow, op.name, entries[0].payload):
            changes, seconds = await self._runner.timed_call(what, op.func, (state, argument), timeout)
        self.op_times.record(component.name, f"{entries[0].flow}\0{op.name}", seconds)
        return _changes_dict(what, changes)

    async def _admin_changes(
        self, entry: Entry, component: ComponentDefinition, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        if entry.op == MIGRATE_OP:
            what = f"migration of {component.name}"
            migrate = admin.load_function(what, entry.payload)
            # A plain copy: the function may change it in place and return it, as in Motion's examples.
            changes = await self._runner.call(what, migrate, (dict(data),), self._timeout)
            if not isinstance(changes, Mapping):  # an AssertionError, as Motion's own check is an assert
                raise OpError(f"{what}: the function must return a dict, not {type(changes).__name__}",
                              "AssertionError")  # fmt: skip
            return _changes_dict(what, changes)
        if entry.op != WRITE_STATE_OP:
            raise OpError(f"unknown admin operation {entry.op!r}", "UnknownOp")
        try:
            return dict(codec.loads(entry.payload))
        except Exception as exc:
            raise OpError(
                f"state write cannot be decoded: {describe_error(exc)}", type(exc).__name__
            ) from exc


def _sync_group(component: ComponentDefinition, taken: Taken) -> list[UpdateOp] | None:
    """The ops of a group of several entries when every one is a plain sync op without a timeout
    (a thread cannot be stopped, so an op with one is waited for alone), else None."""
    if len(taken.entries) < 2 or has_hooks(component):
        return None
    ops = [None if e.flow == ADMIN_FLOW else find_op(component, e) for e in taken.entries]
    if any(op is None or op.is_async or op.timeout is not None or inspect.iscoroutinefunction(op.func)
           for op in ops):  # fmt: skip
        return None
    return [op for op in ops if op is not None]


def _props(entry: Entry) -> Props:
    try:
        props, serve_result = codec.loads(tracing.strip(entry.payload))
    except Exception as exc:
        raise OpError(
            f"update entry {entry.id} cannot be decoded: {describe_error(exc)}", "DecodeError"
        ) from exc
    return Props(props, serve_result=serve_result)


def _changes_dict(what: str, changes: Any) -> dict[str, Any]:
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
