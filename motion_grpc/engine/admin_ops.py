"""Reads and administration of instances: state, flushes, state writes, migrations, deletes, listing.

State writes and migrations travel through the instance's update queue as
admin entries, so they are serialized with the update ops, never in the middle
of one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from motion_grpc import codec
from motion_grpc.definition import ComponentDefinition
from motion_grpc.engine import admin
from motion_grpc.engine.applying import ADMIN_FLOW, MIGRATE_OP, STATE_TOO_LARGE, WRITE_STATE_OP
from motion_grpc.engine.instances import Instances
from motion_grpc.engine.ops import describe_error
from motion_grpc.engine.results import StateView
from motion_grpc.engine.serving import check_enqueue
from motion_grpc.engine.snapshots import Runtimes
from motion_grpc.engine.waiting import LocalDrains, Wait, WaitResult, wait_for_flush, wait_for_updates
from motion_grpc.errors import InvalidArgumentError, NotFoundError, OpError, Reason, ResourceExhaustedError
from motion_grpc.logs import excerpt
from motion_grpc.state import private_copy
from motion_grpc.store import protocol
from motion_grpc.store.events import parse_event_id
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import EnqueueRequest, EnqueueResult, QueuedEntry
from motion_grpc.store.store import Store


class Administration:
    """Everything about an instance besides running its flows."""

    def __init__(
        self,
        store: Store,
        runtimes: Runtimes,
        instances: Instances,
        enqueue: Callable[[EnqueueRequest], Awaitable[EnqueueResult]],
        local: LocalDrains | None = None,
    ) -> None:
        self._store = store
        self._runtimes = runtimes
        self._instances = instances
        self._enqueue = enqueue  # sends an enqueue and has its entries applied (see Serving)
        self._local = local

    async def get_state(
        self, component: ComponentDefinition, keys: InstanceKeys, names: Sequence[str] | None, copies: bool
    ) -> StateView:
        """The committed state (all keys or some) and its version; NOT_FOUND for a missing instance."""
        version = await self._store.version(keys)
        if version is None:
            raise NotFoundError(f"instance {excerpt(keys.instance_id)} of {component.name} does not exist")
        snapshot = await self._instances.snapshot_at(component, keys, version)
        if not names:
            names = list(snapshot.data)
        elif missing := [name for name in names if name not in snapshot.data]:
            raise NotFoundError(
                f"state of {component.name}/{excerpt(keys.instance_id)} has no key(s) {excerpt(missing)}",
                reason=Reason.STATE_KEY_NOT_FOUND,
            )
        chosen = {name: snapshot.data[name] for name in names}
        if not copies:
            return StateView(snapshot.version, chosen)
        # Copies: a caller in this process may change what it is given in place.
        if codec.is_large(chosen):  # copying it here would hold up every other call
            return StateView(snapshot.version, await asyncio.to_thread(_copies, chosen))
        return StateView(snapshot.version, _copies(chosen))

    async def flush(
        self,
        component: ComponentDefinition,
        keys: InstanceKeys,
        flow: str | None,
        deadline: float | None,
        since_id: str,
    ) -> WaitResult:
        """Wait until every update enqueued before the call (of one flow, or all) has ended.

        Outcomes: the updates that failed or were discarded among those pending,
        and among every update from `since_id` on, however early it ended.
        """
        since = parse_event_id(since_id, "since_update_id") if since_id else None
        return await wait_for_flush(self._store, keys, flow, since, deadline, self._local)

    async def write_state(
        self,
        component: ComponentDefinition,
        keys: InstanceKeys,
        patch: Mapping[str, Any],
        deadline: float | None,
    ) -> int:
        """Patch state keys, serialized with the update queue; returns the version it produced."""
        if not isinstance(patch, Mapping) or not all(isinstance(key, str) for key in patch):
            raise InvalidArgumentError("a state patch must be a dict with string keys")
        if codec.is_large(patch):  # encoding it here would hold up every other call
            payload = await asyncio.to_thread(_patch_payload, patch)
        else:
            payload = _patch_payload(patch)
        outcome = await self._queue_admin(component, keys, WRITE_STATE_OP, payload, deadline)
        if outcome.status == protocol.APPLIED:
            return outcome.version
        if outcome.error_type == STATE_TOO_LARGE:
            raise ResourceExhaustedError(outcome.message)
        raise InvalidArgumentError(outcome.message or "the state write failed")

    async def migrate(
        self,
        component: ComponentDefinition,
        keys: InstanceKeys,
        migrate: Callable[[dict[str, Any]], Mapping[str, Any]],
        deadline: float | None,
    ) -> int:
        """Apply `migrate(state) -> changed keys` to one instance, serialized with its updates.

        Returns the version the migration produced; OpError when the function raised
        or returned something other than a dict.
        """
        payload = admin.dumps_function(migrate)
        with admin.local_functions.holding(payload, migrate):
            outcome = await self._queue_admin(component, keys, MIGRATE_OP, payload, deadline)
        if outcome.status != protocol.APPLIED:
            raise OpError(outcome.message or "the migration failed", outcome.error_type or "Exception")
        return outcome.version

    async def _queue_admin(
        self,
        component: ComponentDefinition,
        keys: InstanceKeys,
        op: str,
        payload: bytes,
        deadline: float | None,
    ) -> _Outcome:
        if await self._store.version(keys) is None:
            raise NotFoundError(f"instance {excerpt(keys.instance_id)} of {component.name} does not exist")
        request = self._store.enqueue_request(keys, [QueuedEntry(ADMIN_FLOW, op, payload)])
        enqueued = await self._enqueue(request)
        check_enqueue(keys, enqueued.code, self._store.max_queue)
        last = enqueued.ids[-1]
        waited = await wait_for_updates(
            self._store, keys, Wait(last, enqueued.events_before, deadline, wanted={last}), self._local
        )
        event = waited.outcomes.get(last)
        if event is None:  # its event was trimmed away: it ended, the flush says how far
            return _Outcome(protocol.APPLIED, waited.version, "", "")
        return _Outcome(event.status, event.version, event.error_type, event.error_message)

    async def delete(self, keys: InstanceKeys) -> bool:
        """Remove an instance with its queue, events and cache; False when it did not exist.

        A worker running one of its updates at that moment loses its lease, so the
        commit of that update is refused; nothing of the instance comes back.
        """
        deleted = await self._store.delete_instance(keys)
        self._runtimes.forget(keys)
        return deleted

    async def list_instances(
        self, component: ComponentDefinition, page_size: int, token: str
    ) -> tuple[list[str], str]:
        return await admin.list_page(self._store, component.name, page_size, token)


class _Outcome:
    __slots__ = ("error_type", "message", "status", "version")

    def __init__(self, status: int, version: int, error_type: str, message: str) -> None:
        self.status, self.version, self.error_type, self.message = status, version, error_type, message


def _copies(state: Mapping[str, Any]) -> dict[str, Any]:
    return {name: private_copy(value) for name, value in state.items()}


def _patch_payload(patch: Mapping[str, Any]) -> bytes:
    """A state patch as its queue entry carries it; INVALID_ARGUMENT when it cannot be stored."""
    try:
        return codec.dumps(dict(patch))
    except Exception as exc:
        raise InvalidArgumentError(f"the state patch cannot be stored: {describe_error(exc)}") from exc
