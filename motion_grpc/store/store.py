"""The Redis side of instances: state, queue, events, leases, cache.

Every method is one round trip (a script, a command or a pipeline) on a
redis.asyncio client, so thousands of calls can be in flight on one event
loop without a thread each. Scripts are sent by SHA and loaded again when
Redis has lost them (a restart, SCRIPT FLUSH). Every Redis failure leaves as
StoreUnavailableError (see store.store_errors).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.asyncio.cluster import RedisCluster

from motion_grpc.errors import MotionError
from motion_grpc.store import protocol, scripts
from motion_grpc.store.event_reads import EventReads
from motion_grpc.store.keys import InstanceKeys, index_key, pending_key, wake_channel
from motion_grpc.store.pipelined import PipelinedRedis
from motion_grpc.store.records import (
    DEFAULT_MAX_QUEUE,
    CommitRecord,
    EnqueueRequest,
    EnqueueResult,
    QueuedEntry,
    Taken,
    commit_args,
    enqueue_result,
    events_retention_from_env,
    mapped_async,
    mapped_error,
    now_ms,
    store_errors,
    take_args,
    taken_reply,
    text,
)


class _Script:
    """One Lua script, sent by SHA, loaded once more when Redis answers NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = scripts.sha1(source)

    async def __call__(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # nothing ran: load it and send it again
            await client.script_load(self.source)
            return await client.evalsha(self.sha, len(keys), *keys, *args)

    def call_blocking(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """`__call__` on a blocking (redis.Redis) client."""
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)

    def queue(self, pipe: Any, keys: Sequence[str], args: Sequence[Any]) -> None:
        """Queue the script by SHA on a pipeline; the caller handles a NoScriptError reply."""
        pipe.evalsha(self.sha, len(keys), *keys, *args)


_INIT_BEGIN = _Script(scripts.INIT_BEGIN)
_INIT_COMMIT = _Script(scripts.INIT_COMMIT)
_DELETE = _Script(scripts.DELETE)
_ENQUEUE = _Script(scripts.ENQUEUE)
_TAKE = _Script(scripts.TAKE)
_COMMIT = _Script(scripts.COMMIT)
_RENEW = _Script(scripts.RENEW)
_RELEASE = _Script(scripts.RELEASE)
_UNCOUNT = _Script(scripts.UNCOUNT)
_SCRIPTS = (_INIT_BEGIN, _INIT_COMMIT, _DELETE, _ENQUEUE, _TAKE, _COMMIT, _RENEW, _RELEASE, _UNCOUNT)


class TakeAfterEnqueueError(Exception):
    """The take that rode along with an enqueue failed (`error`), the enqueue having landed
    (`enqueued`): its run is answered as enqueued, and its entries wait for another drain."""

    def __init__(self, enqueued: EnqueueResult, error: MotionError) -> None:
        super().__init__(str(error))
        self.enqueued = enqueued
        self.error = error


class Store(EventReads):
    """Typed operations on one instance's keys, on a redis.asyncio client (one event loop)."""

    def __init__(
        self,
        client: Any,
        events_maxlen: int | None = None,
        max_queue: int = DEFAULT_MAX_QUEUE,
        blocking_client: Any = None,
    ) -> None:
        """Args:
        blocking_client: For blocking reads (XREAD BLOCK), which hold a connection while they
            wait: a client with a pool of its own, so waiters never starve other calls.
        """
        self.client = client
        self.blocking_client = blocking_client or client
        # On Redis Cluster, commands on different slots never share a pipeline where their
        # order matters: a cluster pipeline sends each node its part independently.
        self.cluster = isinstance(client, RedisCluster)
        #: The client when it is ours, which tells of Redis restarts (read on every serve).
        self._pipelined = client if isinstance(client, PipelinedRedis) else None
        #: Names this store's engine in meta.committer (see scripts.ENQUEUE).
        self.engine_id = secrets.token_hex(8)
        self.events_maxlen = events_retention_from_env() if events_maxlen is None else events_maxlen
        self.max_queue = max_queue

    @property
    def restarts(self) -> int:
        """Times Redis was found to be another process than before (always 0 on a cluster): a
        serve decided on state read before a change of it must not be enqueued."""
        return 0 if self._pipelined is None else self._pipelined.restarts

    def on_restart(self, callback: Callable[[], None]) -> None:
        """Call `callback` when Redis is found to be another process than before (it restarted or
        failed over, and may have lost data); not told on a cluster."""
        if self._pipelined is not None:
            self._pipelined.on_restart(callback)

    async def close(self) -> None:
        await self.client.aclose()
        if self.blocking_client is not self.client:
            await self.blocking_client.aclose()

    @mapped_async
    async def ping(self) -> bool:
        return bool(await self.client.ping())

    @mapped_async
    async def load_scripts(self) -> None:
        """Load every script ahead of its first call. Otherwise the first burst of calls of a
        script all meet NOSCRIPT and each loads it again (a call still does, should Redis lose it)."""
        for script in _SCRIPTS:
            await self.client.script_load(script.source)

    # -- instance life cycle ------------------------------------------------

    @mapped_async
    async def init_begin(self, keys: InstanceKeys, token: str, ttl_ms: int) -> int:
        """protocol.INIT_EXISTS, INIT_GRANTED (the caller runs init_state) or INIT_BUSY."""
        return int(await _INIT_BEGIN(self.client, [keys.meta, keys.init_lock], [token, ttl_ms]))

    @mapped_async
    async def init_commit(self, keys: InstanceKeys, token: str, fields: dict[str, bytes]) -> int:
        """Create the instance: its first version, or protocol.INIT_EXISTED, or NOT_LEASE_HOLDER
        (the init lock is no longer the caller's)."""
        args: list[Any] = [token, keys.component, keys.instance_id, now_ms()]
        for name, value in fields.items():
            args += [name, value]
        script_keys = [keys.meta, keys.state, keys.init_lock, keys.gone]
        version = int(await _INIT_COMMIT(self.client, script_keys, args))
        if version > 0:
            await self.client.sadd(index_key(keys.component), keys.instance_id)
        return version

    @mapped_async
    async def release_init(self, keys: InstanceKeys, token: str) -> None:
        await _RELEASE(self.client, [keys.init_lock], [token])

    @mapped_async
    async def delete_instance(self, keys: InstanceKeys) -> bool:
        """Remove every key of an instance and its index entries; False when it did not exist."""
        script_keys = [keys.meta, keys.state, keys.updates, keys.events, keys.lease, keys.init_lock,
                       keys.cache, keys.attempts, keys.gone]  # fmt: skip
        deleted = int(await _DELETE(self.client, script_keys, [])) == protocol.DELETED
        # The index and pending set live in other slots: updated after the script, so a
        # listing may briefly still name a deleted instance (listings check existence).
        pipe = self.client.pipeline(transaction=False)
        pipe.srem(index_key(keys.component), keys.instance_id)
        pipe.zrem(pending_key(keys.component), keys.instance_id)
        await pipe.execute()
        return deleted

    @mapped_async
    async def scan_instances(self, component: str, cursor: int, count: int) -> tuple[int, list[str]]:
        """One SSCAN step over a component's instance index: (next cursor, ids)."""
        next_cursor, raw = await self.client.sscan(index_key(component), cursor, count=count)
        return int(next_cursor), [text(item) for item in raw]

    @mapped_async
    async def existing(self, keys_list: Sequence[InstanceKeys]) -> list[bool]:
        """Which of these instances exist (have a version)."""
        pipe = self.client.pipeline(transaction=False)
        for keys in keys_list:
            pipe.hexists(keys.meta, protocol.META_VERSION)
        return [bool(found) for found in await pipe.execute()]

    # -- reading state --------------------------------------------------------

    @mapped_async
    async def version(self, keys: InstanceKeys) -> int | None:
        raw = await self.client.hget(keys.meta, protocol.META_VERSION)
        return None if raw is None else int(raw)

    @mapped_async
    async def probe(self, keys: InstanceKeys, cache_field: str | None) -> tuple[int | None, bytes | None]:
        """The instance's version and, when asked, a cached serve result: one round trip."""
        if cache_field is None:
            raw = await self.client.hget(keys.meta, protocol.META_VERSION)
            return (None if raw is None else int(raw)), None
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(keys.meta, protocol.META_VERSION)
        pipe.hget(keys.cache, cache_field)
        raw, cached = await pipe.execute()
        return (None if raw is None else int(raw)), cached

    @mapped_async
    async def load(
        self, keys: InstanceKeys, cache_field: str | None = None
    ) -> tuple[int | None, dict[str, bytes], bytes | None]:
        """A consistent (version, raw state fields) snapshot, and the cache entry under
        `cache_field` when asked: one round trip."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hget(keys.meta, protocol.META_VERSION)
        pipe.hgetall(keys.state)
        if cache_field is not None:
            pipe.hget(keys.cache, cache_field)
        raw_version, raw_state, *cached = await pipe.execute()
        state = {text(name): value for name, value in raw_state.items()}
        version = None if raw_version is None else int(raw_version)
        return version, state, (cached[0] if cached else None)

    # -- queue ----------------------------------------------------------------

    def enqueue_request(
        self,
        keys: InstanceKeys,
        entries: Sequence[QueuedEntry],
        cache: tuple[str, bytes, float] | None = None,
        expect_version: int | None = None,
        lookup: bool = False,
        request: tuple[str, int, str] | None = None,
        served_version: int | None = None,
    ) -> EnqueueRequest:
        """Append a run's entries and cache its result, if the version the serve read is still
        the newest (`expect_version`; protocol.STALE otherwise); see scripts.ENQUEUE.

        `request`: (request id, ttl ms, digest of the run's flow and props). `served_version`,
        the version the run reports, is what a repeat of its request id gets.
        """
        stamp = now_ms()
        cache_field, cached, cache_ttl = cache if cache is not None else (protocol.UNSET, b"", 0.0)
        args: list[Any] = [stamp, self.events_maxlen, self.max_queue,
                           protocol.UNSET if expect_version is None else expect_version, self.engine_id,
                           cache_field, cached, max(1, int(cache_ttl * 1000)), len(entries)]  # fmt: skip
        for entry in entries:
            args += [entry.flow, entry.op, entry.payload]
        no_request = (protocol.UNSET, protocol.UNSET, protocol.UNSET)
        request_id, request_ttl_ms, request_mark = request if request is not None else no_request
        served = protocol.UNSET if served_version is None else served_version
        args += [
            protocol.flag(lookup and cache is not None),
            keys.instance_id,
            request_ttl_ms,
            served,
            request_mark,
        ]
        script_keys = [keys.meta, keys.updates, keys.events, keys.cache]
        if request_id:
            script_keys.append(keys.request(request_id))
        if not self.cluster:
            script_keys.append(pending_key(keys.component))
        idle = not entries and cache is None and expect_version is None
        return EnqueueRequest(keys, script_keys, args, stamp, bool(entries), idle)

    @mapped_async
    async def enqueue(self, request: EnqueueRequest) -> EnqueueResult:
        if request.idle:
            return EnqueueResult(0, "0-0", 0, [])
        if self.cluster and request.has_entries:
            # Pending set first (another slot): an enqueuer dying in between leaves a harmless
            # extra hint (a drain finds nothing), never entries no sweep would find.
            keys = request.keys
            await self.client.zadd(pending_key(keys.component), {keys.instance_id: request.stamp}, nx=True)
        return enqueue_result(await _ENQUEUE(self.client, request.script_keys, request.args))

    def enqueue_blocking(self, request: EnqueueRequest, client: Any) -> EnqueueResult:
        """`enqueue` from a caller's own thread, on a blocking client of its own (not on a cluster)."""
        if self.cluster:
            raise ValueError("a blocking enqueue does not run on a cluster")  # callers check first
        if request.idle:
            return EnqueueResult(0, "0-0", 0, [])
        with store_errors():
            return enqueue_result(_ENQUEUE.call_blocking(client, request.script_keys, request.args))

    @mapped_async
    async def take(
        self, keys: InstanceKeys, token: str, ttl_ms: int, policies: Sequence[Any], may_acquire: bool,
        group_max: int = 1,
    ) -> Taken:  # fmt: skip
        """Take (or keep) the lease and start the next entry, batch or group: see scripts.TAKE."""
        args = take_args(token, ttl_ms, self.events_maxlen, policies, may_acquire, group_max)
        return taken_reply(await _TAKE(self.client, *self._take_input(keys, args)))

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
        _ENQUEUE.queue(pipe, request.script_keys, request.args)
        _TAKE.queue(pipe, *self._take_input(keys, take))
        enqueued, taken = await pipe.execute(raise_on_error=False)
        if isinstance(enqueued, redis.exceptions.NoScriptError):  # so the take ran before it: both again
            enqueued = await _ENQUEUE(self.client, request.script_keys, request.args)
            taken = await _TAKE(self.client, *self._take_input(keys, take))
        elif isinstance(taken, redis.exceptions.NoScriptError):
            taken = await _TAKE(self.client, *self._take_input(keys, take))
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
        return int(await _COMMIT(self.client, _commit_keys(keys), args))

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
            return int(await _COMMIT(self.client, _commit_keys(keys), commit)), None
        take = take_args(token, ttl_ms, self.events_maxlen, policies, False, group_max, records[-1].entry.id)
        pipe = self.client.pipeline(transaction=False)
        _COMMIT.queue(pipe, _commit_keys(keys), commit)
        _TAKE.queue(pipe, *self._take_input(keys, take))
        committed, taken = await pipe.execute(raise_on_error=False)
        if isinstance(committed, redis.exceptions.NoScriptError):  # so the take found no commit
            return int(await _COMMIT(self.client, _commit_keys(keys), commit)), None
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
                _RENEW.queue(pipe, [key], [token, ttl_ms])
            replies = await pipe.execute(raise_on_error=False)
            replies = _raise_unless_noscript(replies)
        if replies is None:  # one by one, each loading the script if Redis lost it
            replies = [await _RENEW(self.client, [key], [token, ttl_ms]) for key, token in leases]
        return [bool(reply) for reply in replies]

    @mapped_async
    async def release(self, lease_key: str, token: str) -> None:
        await _RELEASE(self.client, [lease_key], [token])

    @mapped_async
    async def uncount_attempts(self, keys: InstanceKeys, token: str, entry_ids: Sequence[str]) -> None:
        """Take back the attempt the last take counted for each entry (lease holder only)."""
        await _UNCOUNT(self.client, [keys.lease, keys.attempts], [token, *entry_ids])

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
