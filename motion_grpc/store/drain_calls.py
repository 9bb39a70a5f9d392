"""The store's calls that drain an instance's queue: take, commit, leases, the pending set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from motion_grpc.errors import MotionError
from motion_grpc.store import protocol
from motion_grpc.store.keys import InstanceKeys, pending_key, wake_channel
from motion_grpc.store.records import (
    CommitRecord,
    EnqueueRequest,
    EnqueueResult,
    Taken,
    commit_args,
    enqueue_result,
    mapped_async,
    mapped_error,
    now_ms,
    take_args,
    taken_reply,
    text,
)
from motion_grpc.store.script_calls import COMMIT, ENQUEUE, RELEASE, RENEW, TAKE, UNCOUNT


class TakeAfterEnqueueError(Exception):
    """The take that rode along with an enqueue failed (`error`), the enqueue having landed
    (`enqueued`): its run is answered as enqueued, and its entries wait for another drain."""

    def __init__(self, enqueued: EnqueueResult, error: MotionError) -> None:
        super().__init__(str(error))
        self.enqueued = enqueued
        self.error = error


class DrainCalls:
    """Mixed into Store: what a drain asks of Redis, one round trip each."""

    client: Any
    #: Commands on different slots never share a pipeline where their order matters.
    cluster: bool
    events_maxlen: int
    #: Names the store's engine in meta.committer (see scripts.ENQUEUE).
    engine_id: str

    @mapped_async
    async def take(
        self, keys: InstanceKeys, token: str, ttl_ms: int, policies: Sequence[Any], may_acquire: bool,
        group_max: int = 1,
    ) -> Taken:  # fmt: skip
        """Take (or keep) the lease and start the next entry, batch or group: see scripts.TAKE."""
        args = take_args(token, ttl_ms, self.events_maxlen, policies, may_acquire, group_max)
        return taken_reply(await TAKE(self.client, *self._take_input(keys, args)))

    @property
    def opens_with_enqueue(self) -> bool:
        """Whether a drain's first take can ride along with an enqueue (cluster pipelines refuse EVALSHA)."""
        return not self.cluster

    @mapped_async
    async def enqueue_then_take(
        self, request: EnqueueRequest, token: str, ttl_ms: int, policies: Sequence[Any], group_max: int
    ) -> tuple[EnqueueResult, Taken]:
        """`enqueue`, then `take` (which may acquire the lease), in one round trip: an idle
        instance's drain starts with the run's entries in hand. Not on a cluster."""
        keys = request.keys
        take = take_args(token, ttl_ms, self.events_maxlen, policies, True, group_max)
        pipe = self.client.pipeline(transaction=False)
        ENQUEUE.queue(pipe, request.script_keys, request.args)
        TAKE.queue(pipe, *self._take_input(keys, take))
        enqueued, taken = await pipe.execute(raise_on_error=False)
        if isinstance(enqueued, redis.exceptions.NoScriptError):  # so the take ran before it: both again
            enqueued = await ENQUEUE(self.client, request.script_keys, request.args)
            taken = await TAKE(self.client, *self._take_input(keys, take))
        elif isinstance(taken, redis.exceptions.NoScriptError):
            taken = await TAKE(self.client, *self._take_input(keys, take))
        if isinstance(enqueued, Exception):
            raise enqueued
        if isinstance(taken, Exception):  # the run's entries are queued: only the drain did not start
            raise TakeAfterEnqueueError(enqueue_result(enqueued), mapped_error(taken)) from taken
        return enqueue_result(enqueued), taken_reply(taken)

    @property
    def take_settles_pending(self) -> bool:
        """Whether a take that finds the queue empty takes the instance out of the pending set
        itself (see scripts.TAKE); on a cluster, where that set is in another slot, it does not."""
        return not self.cluster

    def _take_input(self, keys: InstanceKeys, args: list[Any]) -> tuple[list[str], list[Any]]:
        """TAKE's keys and arguments: with the pending set to settle, when the take may settle it."""
        if not self.take_settles_pending:
            return _take_keys(keys), args
        return [*_take_keys(keys), pending_key(keys.component)], [*args, keys.instance_id]

    @mapped_async
    async def settle_pending(self, keys: InstanceKeys) -> bool:
        """After the queue was found empty, drop the instance from the pending set.

        True when an entry arrived meanwhile (the instance is then kept): removing
        first and looking at the queue second means an enqueue is never missed.
        """
        if self.cluster:  # two slots: the order must hold, so two round trips
            await self.client.zrem(pending_key(keys.component), keys.instance_id)
            length = await self.client.xlen(keys.updates)
        else:
            pipe = self.client.pipeline(transaction=False)
            pipe.zrem(pending_key(keys.component), keys.instance_id)
            pipe.xlen(keys.updates)
            _, length = await pipe.execute()
        if length:
            await self.client.zadd(pending_key(keys.component), {keys.instance_id: now_ms()}, nx=True)
        return bool(length)

    @mapped_async
    async def commit(
        self, keys: InstanceKeys, token: str, expected_version: int, patch: dict[str, bytes],
        records: Sequence[CommitRecord],
    ) -> int:  # fmt: skip
        """Commit a state patch and the outcome of entries at the head of the queue.

        Returns the new version, or a negative protocol.* code when the commit
        was refused (lease lost, version moved, entry already gone).
        """
        args = commit_args(token, expected_version, self.events_maxlen, self.engine_id, patch, records)
        return int(await COMMIT(self.client, _commit_keys(keys), args))

    @mapped_async
    async def commit_then_take(
        self, keys: InstanceKeys, token: str, expected_version: int, patch: dict[str, bytes],
        records: Sequence[CommitRecord], ttl_ms: int, policies: Sequence[Any], group_max: int = 1,
    ) -> tuple[int, Taken | None]:  # fmt: skip
        """`commit`, then `take` under the lease already held, in one round trip.

        The take does something only if the commit went through; the Taken is
        None when it did not run (take again, if at all, on its own).
        """
        commit = commit_args(token, expected_version, self.events_maxlen, self.engine_id, patch, records)
        if self.cluster:  # cluster pipelines refuse EVALSHA
            return int(await COMMIT(self.client, _commit_keys(keys), commit)), None
        take = take_args(token, ttl_ms, self.events_maxlen, policies, False, group_max, records[-1].entry.id)
        pipe = self.client.pipeline(transaction=False)
        COMMIT.queue(pipe, _commit_keys(keys), commit)
        TAKE.queue(pipe, *self._take_input(keys, take))
        committed, taken = await pipe.execute(raise_on_error=False)
        if isinstance(committed, redis.exceptions.NoScriptError):  # so the take found no commit
            return int(await COMMIT(self.client, _commit_keys(keys), commit)), None
        for reply in (committed, taken):
            if isinstance(reply, Exception) and not isinstance(reply, redis.exceptions.NoScriptError):
                raise reply
        if isinstance(taken, Exception) or int(taken[0]) == protocol.NOT_COMMITTED:
            return int(committed), None
        return int(committed), taken_reply(taken)

    # -- leases and scheduling --------------------------------------------------

    @mapped_async
    async def renew(self, leases: Sequence[tuple[str, str]], ttl_ms: int) -> list[bool]:
        """Extend leases still held ((key, token) pairs); which ones were."""
        replies = None
        if leases and not self.cluster:  # cluster pipelines refuse EVALSHA
            pipe = self.client.pipeline(transaction=False)
            for key, token in leases:
                RENEW.queue(pipe, [key], [token, ttl_ms])
            replies = await pipe.execute(raise_on_error=False)
            replies = _raise_unless_noscript(replies)
        if replies is None:  # one by one, each loading the script if Redis lost it
            replies = [await RENEW(self.client, [key], [token, ttl_ms]) for key, token in leases]
        return [bool(reply) for reply in replies]

    @mapped_async
    async def release(self, lease_key: str, token: str) -> None:
        await RELEASE(self.client, [lease_key], [token])

    @mapped_async
    async def uncount_attempts(self, keys: InstanceKeys, token: str, entry_ids: Sequence[str]) -> None:
        """Take back the attempt the last take counted for each entry (lease holder only)."""
        await UNCOUNT(self.client, [keys.lease, keys.attempts], [token, *entry_ids])

    @mapped_async
    async def pending_instances(self, component: str, count: int = protocol.SWEEP_PAGE) -> list[str]:
        raw = await self.client.zrange(pending_key(component), 0, count - 1)
        return [text(item) for item in raw]

    @mapped_async
    async def publish_wake(self, keys: InstanceKeys) -> None:
        """Tell the engines hosting this component that the instance's queue is up for grabs."""
        await self.client.publish(wake_channel(keys.component), keys.instance_id)

    @mapped_async
    async def lease_ttls(self, keys_list: Sequence[InstanceKeys]) -> list[int]:
        """Milliseconds each instance's lease has left: 0 when free (-1 when it never expires)."""
        pipe = self.client.pipeline(transaction=False)
        for keys in keys_list:
            pipe.pttl(keys.lease)
        return [max(int(ttl), 0) if int(ttl) != -1 else -1 for ttl in await pipe.execute()]


def _take_keys(keys: InstanceKeys) -> list[str]:
    return [keys.lease, keys.updates, keys.attempts, keys.events, keys.meta]


def _commit_keys(keys: InstanceKeys) -> list[str]:
    return [keys.meta, keys.state, keys.updates, keys.events, keys.lease, keys.cache, keys.attempts]


def _raise_unless_noscript(replies: list[Any]) -> list[Any] | None:
    """A pipeline's replies; None when a script was missing (nothing of it ran: send again)."""
    if any(isinstance(reply, redis.exceptions.NoScriptError) for reply in replies):
        return None
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies
