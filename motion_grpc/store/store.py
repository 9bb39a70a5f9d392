"""The Redis side of instances: state, queue, events, leases, cache.

Every method is one round trip (a script, a command or a pipeline) on a
redis.asyncio client, so thousands of calls can be in flight on one event
loop without a thread each. Scripts are sent by SHA and loaded again when
Redis has lost them (script_calls). Every Redis failure leaves as
StoreUnavailableError (see store.store_errors). Here: instances' life cycle,
reads of state and the enqueue of runs; a drain's calls are in drain_calls,
flushes' and watches' reads in event_reads.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster

from motion_grpc.store import protocol, script_calls
from motion_grpc.store.drain_calls import DrainCalls
from motion_grpc.store.event_reads import EventReads
from motion_grpc.store.keys import InstanceKeys, index_key, pending_key
from motion_grpc.store.pipelined import PipelinedRedis
from motion_grpc.store.records import (
    DEFAULT_MAX_QUEUE,
    EnqueueRequest,
    EnqueueResult,
    QueuedEntry,
    enqueue_result,
    events_retention_from_env,
    mapped_async,
    now_ms,
    store_errors,
    text,
)


class Store(EventReads, DrainCalls):
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
        for script in script_calls.ALL:
            await self.client.script_load(script.source)

    # -- instance life cycle ------------------------------------------------

    @mapped_async
    async def init_begin(self, keys: InstanceKeys, token: str, ttl_ms: int) -> int:
        """protocol.INIT_EXISTS, INIT_GRANTED (the caller runs init_state) or INIT_BUSY."""
        return int(await script_calls.INIT_BEGIN(self.client, [keys.meta, keys.init_lock], [token, ttl_ms]))

    @mapped_async
    async def init_commit(self, keys: InstanceKeys, token: str, fields: dict[str, bytes]) -> int:
        """Create the instance: its first version, or protocol.INIT_EXISTED, or NOT_LEASE_HOLDER
        (the init lock is no longer the caller's)."""
        args: list[Any] = [token, keys.component, keys.instance_id, now_ms()]
        for name, value in fields.items():
            args += [name, value]
        script_keys = [keys.meta, keys.state, keys.init_lock, keys.gone]
        version = int(await script_calls.INIT_COMMIT(self.client, script_keys, args))
        if version > 0:
            await self.client.sadd(index_key(keys.component), keys.instance_id)
        return version

    @mapped_async
    async def release_init(self, keys: InstanceKeys, token: str) -> None:
        await script_calls.RELEASE(self.client, [keys.init_lock], [token])

    @mapped_async
    async def delete_instance(self, keys: InstanceKeys) -> bool:
        """Remove every key of an instance and its index entries; False when it did not exist."""
        script_keys = [keys.meta, keys.state, keys.updates, keys.events, keys.lease, keys.init_lock,
                       keys.cache, keys.attempts, keys.gone]  # fmt: skip
        deleted = int(await script_calls.DELETE(self.client, script_keys, [])) == protocol.DELETED
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
        return enqueue_result(await script_calls.ENQUEUE(self.client, request.script_keys, request.args))

    def enqueue_blocking(self, request: EnqueueRequest, client: Any) -> EnqueueResult:
        """`enqueue` from a caller's own thread, on a blocking client of its own (not on a cluster)."""
        if self.cluster:
            raise ValueError("a blocking enqueue does not run on a cluster")  # callers check first
        if request.idle:
            return EnqueueResult(0, "0-0", 0, [])
        with store_errors():
            reply = script_calls.ENQUEUE.call_blocking(client, request.script_keys, request.args)
            return enqueue_result(reply)
