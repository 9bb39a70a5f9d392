"""Typed operations on the Redis layout of keys.py, through the scripts of scripts.py.

Every Redis failure leaves this module as StoreUnavailableError (UNAVAILABLE),
so callers never see a redis-py exception.
"""

from __future__ import annotations

import functools
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
from redis.cluster import RedisCluster

from motion_grpc.errors import InternalError, StoreUnavailableError
from motion_grpc.store import scripts
from motion_grpc.store.keys import InstanceKeys, index_key, pending_key, wake_channel

T = TypeVar("T")

DEFAULT_EVENTS_MAXLEN = 10_000
DEFAULT_MAX_QUEUE = 100_000
#: Update events kept per instance, for every process that builds a Store (server, workers,
#: in-process instances, `motion-grpc migrate`), so they all trim the same stream alike.
EVENTS_RETENTION_ENV = "MOTION_EVENTS_RETENTION"


def events_retention_from_env() -> int:
    """MOTION_EVENTS_RETENTION, else DEFAULT_EVENTS_MAXLEN; ValueError naming the variable when bad."""
    text = os.environ.get(EVENTS_RETENTION_ENV, "").strip()
    if not text:
        return DEFAULT_EVENTS_MAXLEN
    try:
        retention = int(text)
    except ValueError:
        retention = 0
    if retention < 1:
        raise ValueError(f"{EVENTS_RETENTION_ENV} must be a whole number >= 1, not {text[:40]!r}")
    return retention


def now_ms() -> int:
    return int(time.time() * 1000)


@contextmanager
def store_errors() -> Iterator[None]:
    """Map redis-py failures to StoreUnavailableError in exactly one place."""
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise StoreUnavailableError(f"Redis is unavailable: {exc}") from exc
    except redis.exceptions.BusyLoadingError as exc:  # pragma: no cover - subclass of ConnectionError
        raise StoreUnavailableError("Redis is loading its data; retry shortly") from exc
    except redis.exceptions.RedisError as exc:
        raise InternalError(f"Redis error: {exc}") from exc


def _mapped(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with store_errors():
            return method(*args, **kwargs)

    return wrapper


def mapped_async(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """The async equivalent of `_mapped`: redis.asyncio raises the same redis-py exceptions."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        with store_errors():
            return await method(*args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class Entry:
    """One queued update entry, as read from the updates stream."""

    id: str
    flow: str
    op: str
    payload: bytes
    enqueued_ms: int
    seq: int


@dataclass(frozen=True)
class Event:
    """One update-status event, as read from the events stream."""

    id: str
    update_id: str
    flow: str
    op: str
    status: int
    version: int
    enqueued_ms: int
    at_ms: int
    attempt: int
    error_type: str
    error_message: str


@dataclass(frozen=True)
class Taken:
    """What TAKE answered: 1 with the entries started; 0 idle, 2 again, -1 leased elsewhere, -3 gone."""

    code: int
    version: int = 0
    entries: list[Entry] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class EnqueueResult:
    """What an enqueue did: code 0, or scripts.NO_INSTANCE / QUEUE_FULL / STALE / CACHED (nothing
    written; with CACHED, `cached` holds the cache entry that answered)."""

    code: int
    events_before: str
    version: int
    ids: list[str]
    cached: bytes | None = None


@dataclass(frozen=True)
class EnqueueRequest:
    """An enqueue ready to send (see Store.enqueue_request)."""

    keys: InstanceKeys
    script_keys: list[str]
    args: list[Any]
    stamp: int
    has_entries: bool
    idle: bool


def _enqueued(reply: Any) -> EnqueueResult:
    if isinstance(reply, int):
        return EnqueueResult(reply, "0-0", 0, [])
    if reply[0] == scripts.CACHED:
        return EnqueueResult(scripts.CACHED, "0-0", 0, [], cached=reply[1])
    return EnqueueResult(0, _str(reply[0]), int(reply[1]), [_str(item) for item in reply[2:]])


def cache_value(version: int, expires_ms: int, result: bytes) -> bytes:
    """A cache entry as the enqueue script reads it: made from `version`, valid until `expires_ms`."""
    return b"%d:%d:" % (version, expires_ms) + result


def parse_cache_value(raw: bytes) -> tuple[int, int, bytes] | None:
    """(version, expires_ms, result) of a cache entry; None for one this version cannot read."""
    parts = raw.split(b":", 2)
    if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1]), parts[2]


@dataclass(frozen=True)
class QueuedEntry:
    flow: str
    op: str
    payload: bytes


@dataclass(frozen=True)
class CommitRecord:
    """How one entry ended, committed together with the state patch."""

    entry: Entry
    status: int
    attempt: int = 0
    error_type: str = ""
    error_message: str = ""
    changed: bool = False


def _taken(reply: Any) -> Taken:
    """A TAKE reply: {code} or {1, version, (id, flow, op, payload, enqueued_ms, seq, attempt)*}."""
    code = int(reply[0])
    if code != 1:
        return Taken(code)
    entries, attempts = [], []
    for at in range(2, len(reply), 7):
        raw_id, flow, op, payload, enqueued, seq, attempt = reply[at : at + 7]
        entries.append(Entry(_str(raw_id), _str(flow), _str(op), payload, int(enqueued), int(seq)))
        attempts.append(int(attempt))
    return Taken(code, int(reply[1]), entries, attempts)


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_event(raw_id: Any, fields: dict[bytes, bytes]) -> Event:
    return Event(
        id=_str(raw_id),
        update_id=fields[b"u"].decode(),
        flow=fields[b"f"].decode(),
        op=fields[b"o"].decode(),
        status=int(fields[b"s"]),
        version=int(fields[b"v"]),
        enqueued_ms=int(fields[b"q"]),
        at_ms=int(fields[b"t"]),
        attempt=int(fields[b"a"]),
        error_type=fields.get(b"et", b"").decode(),
        error_message=fields.get(b"em", b"").decode(),
    )


class Store:
    """The Redis side of instances: state, queue, events, leases, cache."""

    def __init__(
        self,
        client: Any,
        events_maxlen: int | None = None,
        max_queue: int = DEFAULT_MAX_QUEUE,
    ) -> None:
        self.client = client
        # On Redis Cluster, commands on different slots never share a pipeline where their
        # order matters: a cluster pipeline sends each node its part independently.
        self.cluster = isinstance(client, RedisCluster)
        #: Names this store's engine in meta.committer (see scripts.ENQUEUE).
        self.engine_id = secrets.token_hex(8)
        self.scripts = scripts.Scripts(client)
        # None: the one process-wide setting, so every process trims the events streams alike.
        self.events_maxlen = events_retention_from_env() if events_maxlen is None else events_maxlen
        self.max_queue = max_queue

    def close(self) -> None:
        self.client.close()

    @_mapped
    def ping(self) -> bool:
        return bool(self.client.ping())

    # -- instance life cycle ------------------------------------------------

    @_mapped
    def init_begin(self, keys: InstanceKeys, token: str, ttl_ms: int) -> int:
        return self.scripts.init_begin(keys, token, ttl_ms)

    @_mapped
    def init_commit(self, keys: InstanceKeys, token: str, fields: dict[str, bytes]) -> int:
        """Create the instance; its first version, or 0 (it exists) / -1 (init lock lost)."""
        version = self.scripts.init_commit(keys, token, now_ms(), fields)
        if version > 0:
            self.client.sadd(index_key(keys.component), keys.instance_id)
        return version

    @_mapped
    def delete_instance(self, keys: InstanceKeys) -> bool:
        """Remove every key of an instance and its index entries; False when it did not exist."""
        deleted = self.scripts.delete(keys) == 1
        # The index and pending set live in other slots: updated after the script, so a
        # listing may briefly still name a deleted instance (listings check existence).
        pipe = self.client.pipeline(transaction=False)
        pipe.srem(index_key(keys.component), keys.instance_id)
        pipe.zrem(pending_key(keys.component), keys.instance_id)
        pipe.execute()
        return deleted

    @_mapped
    def scan_instances(self, component: str, cursor: int, count: int) -> tuple[int, list[str]]:
        """One SSCAN step over a component's instance index: (next cursor, ids)."""
        next_cursor, raw = self.client.sscan(index_key(component), cursor, count=count)
        return int(next_cursor), [_str(item) for item in raw]

    @_mapped
    def existing(self, keys_list: Sequence[InstanceKeys]) -> list[bool]:
        """Which of these instances exist (have a version)."""
        pipe = self.client.pipeline(transaction=False)
        for keys in keys_list:
            pipe.hexists(keys.meta, "version")
        return [bool(found) for found in pipe.execute()]

    @_mapped
    def release_init(self, keys: InstanceKeys, token: str) -> None:
        self.scripts.release(keys.init_lock, token)

    @_mapped
    def version(self, keys: InstanceKeys) -> int | None:
        raw = self.client.hget(keys.meta, "version")
        return None if raw is None else int(raw)

    @_mapped
    def probe(self, keys: InstanceKeys, cache_field: str | None) -> tuple[int | None, bytes | None]:
        """The instance's version and, when asked, a cached serve result: one round trip."""
        if cache_field is None:
            raw = self.client.hget(keys.meta, "version")
            return (None if raw is None else int(raw)), None
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(keys.meta, "version")
        pipe.hget(keys.cache, cache_field)
        raw, cached = pipe.execute()
        return (None if raw is None else int(raw)), cached

    @_mapped
    def load(
        self, keys: InstanceKeys, cache_field: str | None = None
    ) -> tuple[int | None, dict[str, bytes], bytes | None]:
        """A consistent (version, raw state fields) snapshot, and the cache entry under
        `cache_field` when asked: one round trip."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hget(keys.meta, "version")
        pipe.hgetall(keys.state)
        if cache_field is not None:
            pipe.hget(keys.cache, cache_field)
        raw_version, raw_state, *cached = pipe.execute()
        state = {_str(name): value for name, value in raw_state.items()}
        version = None if raw_version is None else int(raw_version)
        return version, state, (cached[0] if cached else None)

    # -- queue ----------------------------------------------------------------

    @_mapped
    def enqueue(
        self,
        keys: InstanceKeys,
        entries: Sequence[QueuedEntry],
        cache: tuple[str, bytes, float] | None = None,
        expect_version: int | None = None,
        lookup: bool = False,
    ) -> EnqueueResult:
        """Append a run's entries and write its cache entry in one round trip.

        With `expect_version`, nothing is written unless the state is still at
        that version (the reply code is then scripts.STALE). With `lookup`, an
        entry already cached for the current version under the cache's field
        wins: nothing is written (code scripts.CACHED).
        """
        return self.send_enqueue(self.enqueue_request(keys, entries, cache, expect_version, lookup))

    def enqueue_request(
        self,
        keys: InstanceKeys,
        entries: Sequence[QueuedEntry],
        cache: tuple[str, bytes, float] | None = None,
        expect_version: int | None = None,
        lookup: bool = False,
    ) -> EnqueueRequest:
        """What `enqueue` sends, to send it later (from an event loop with `asend_enqueue`)."""
        stamp = now_ms()
        cache_field, cache_value, cache_ttl = cache if cache is not None else ("", b"", 0.0)
        args: list[Any] = [
            stamp,
            self.events_maxlen,
            self.max_queue,
            "" if expect_version is None else expect_version,
            self.engine_id,
            cache_field,
            cache_value,
            max(1, int(cache_ttl * 1000)),
            len(entries),
        ]
        for entry in entries:
            args += [entry.flow, entry.op, entry.payload]
        args += ["1" if lookup and cache is not None else "0", keys.instance_id]
        script_keys = [keys.meta, keys.updates, keys.events, keys.cache]
        if not self.cluster:
            script_keys.append(pending_key(keys.component))
        idle = not entries and cache is None and expect_version is None
        return EnqueueRequest(keys, script_keys, args, stamp, bool(entries), idle)

    @_mapped
    def send_enqueue(self, request: EnqueueRequest) -> EnqueueResult:
        if request.idle:
            return EnqueueResult(0, "0-0", 0, [])
        if self.cluster and request.has_entries:
            # Pending set first (another slot): an enqueuer dying in between leaves a harmless
            # extra hint (a drain finds nothing), never entries no sweep would find.
            keys = request.keys
            self.client.zadd(pending_key(keys.component), {keys.instance_id: request.stamp}, nx=True)
        return _enqueued(self.scripts.enqueue(request.script_keys, request.args))

    @mapped_async
    async def asend_enqueue(self, client: Any, request: EnqueueRequest) -> EnqueueResult:
        """`send_enqueue` on a redis.asyncio client (not on a cluster)."""
        if request.idle:
            return EnqueueResult(0, "0-0", 0, [])
        command = (self.scripts.enqueue_sha, len(request.script_keys), *request.script_keys, *request.args)
        try:
            reply = await client.evalsha(*command)
        except redis.exceptions.NoScriptError:  # Redis restarted or flushed its scripts: nothing ran
            await client.script_load(scripts.ENQUEUE)
            reply = await client.evalsha(*command)
        return _enqueued(reply)

    @_mapped
    def take(
        self,
        keys: InstanceKeys,
        token: str,
        ttl_ms: int,
        policies: Sequence[Any],
        may_acquire: bool,
        group_max: int = 1,
    ) -> Taken:
        """Take (or keep) the lease and start the next entry, batch or group: see scripts.TAKE."""
        args = self._take_args(token, ttl_ms, policies, may_acquire, group_max)
        return _taken(self.scripts.take(keys, args))

    @_mapped
    def settle_pending(self, keys: InstanceKeys) -> bool:
        """After the queue was found empty, drop the instance from the pending set.

        True when an entry arrived meanwhile (the instance is then kept): removing
        first and looking at the queue second means an enqueue is never missed.
        """
        if self.cluster:  # two slots: the order must hold, so two round trips
            self.client.zrem(pending_key(keys.component), keys.instance_id)
            length = self.client.xlen(keys.updates)
        else:
            pipe = self.client.pipeline(transaction=False)
            pipe.zrem(pending_key(keys.component), keys.instance_id)
            pipe.xlen(keys.updates)
            _, length = pipe.execute()
        if length:
            self.client.zadd(pending_key(keys.component), {keys.instance_id: now_ms()}, nx=True)
        return bool(length)

    @_mapped
    def commit(
        self,
        keys: InstanceKeys,
        token: str,
        expected_version: int,
        patch: dict[str, bytes],
        records: Sequence[CommitRecord],
    ) -> int:
        """Commit a state patch and the outcome of entries at the head of the queue.

        Returns the new version, or a negative scripts.* code when the commit
        was refused (lease lost, version moved, entry already gone).
        """
        return self.scripts.commit(keys, self._commit_args(token, expected_version, patch, records))

    @_mapped
    def commit_then_take(
        self,
        keys: InstanceKeys,
        token: str,
        expected_version: int,
        patch: dict[str, bytes],
        records: Sequence[CommitRecord],
        ttl_ms: int,
        policies: Sequence[Any],
        group_max: int = 1,
    ) -> tuple[int, Taken | None]:
        """`commit`, then `take` under the lease already held, in one round trip.

        The take does something only if the commit went through; the Taken is
        None when it did not run (take again, if at all, on its own).
        """
        commit_args = self._commit_args(token, expected_version, patch, records)
        if self.cluster:  # cluster pipelines refuse EVALSHA
            return self.scripts.commit(keys, commit_args), None
        take_args = self._take_args(token, ttl_ms, policies, False, group_max, records[-1].entry.id)
        pipe = self.client.pipeline(transaction=False)
        self.scripts.commit_in(pipe, keys, commit_args)
        self.scripts.take_in(pipe, keys, take_args)
        committed, taken = pipe.execute(raise_on_error=False)
        if isinstance(committed, redis.exceptions.NoScriptError):  # so the take found no commit
            return self.scripts.commit(keys, commit_args), None
        for reply in (committed, taken):
            if isinstance(reply, Exception) and not isinstance(reply, redis.exceptions.NoScriptError):
                raise reply
        if isinstance(taken, Exception) or int(taken[0]) == scripts.NOT_COMMITTED:
            return int(committed), None
        return int(committed), _taken(taken)

    def _take_args(
        self,
        token: str,
        ttl_ms: int,
        policies: Sequence[Any],
        may_acquire: bool,
        group_max: int,
        after: str = "",
    ) -> list[Any]:
        args: list[Any] = [
            token,
            ttl_ms,
            now_ms(),
            self.events_maxlen,
            "1" if may_acquire else "0",
            group_max,
            len(policies),
            after,
        ]
        for policy in policies:
            args += list(policy)
        return args

    def _commit_args(
        self, token: str, expected_version: int, patch: dict[str, bytes], records: Sequence[CommitRecord]
    ) -> list[Any]:
        args: list[Any] = [token, expected_version, now_ms(), self.events_maxlen, self.engine_id, len(patch)]
        for name, value in patch.items():
            args += [name, value]
        for record in records:
            entry = record.entry
            args += [
                entry.id,
                entry.flow,
                entry.op,
                record.status,
                entry.enqueued_ms,
                record.attempt,
                record.error_type,
                record.error_message,
                "1" if record.changed else "0",
            ]
        return args

    # -- leases -----------------------------------------------------------------

    @_mapped
    def renew(self, lease_key: str, token: str, ttl_ms: int) -> bool:
        return self.scripts.renew(lease_key, token, ttl_ms) == 1

    @_mapped
    def release(self, lease_key: str, token: str) -> None:
        self.scripts.release(lease_key, token)

    @_mapped
    def pending_instances(self, component: str, count: int) -> list[str]:
        raw = self.client.zrange(pending_key(component), 0, count - 1)
        return [_str(item) for item in raw]

    @_mapped
    def publish_wake(self, keys: InstanceKeys) -> None:
        """Tell the engines hosting this component that the instance's queue is up for grabs."""
        self.client.publish(wake_channel(keys.component), keys.instance_id)

    @_mapped
    def lease_ttls(self, keys_list: Sequence[InstanceKeys]) -> list[int]:
        """Milliseconds each instance's lease has left: 0 when free (-1 when it never expires)."""
        pipe = self.client.pipeline(transaction=False)
        for keys in keys_list:
            pipe.pttl(keys.lease)
        return [max(int(ttl), 0) if int(ttl) != -1 else -1 for ttl in pipe.execute()]

    # -- waiting and events ----------------------------------------------------------

    @_mapped
    def flush_probe(self, keys: InstanceKeys, target: str | None) -> tuple[bool, str, int | None]:
        """(every entry up to target is gone, newest event id, version), consistently."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xrange(keys.updates, "-", target or "+", count=1)
        pipe.xrevrange(keys.events, "+", "-", count=1)
        pipe.hget(keys.meta, "version")
        head, newest, raw_version = pipe.execute()
        newest_id = _str(newest[0][0]) if newest else "0-0"
        return not head, newest_id, (None if raw_version is None else int(raw_version))

    @_mapped
    def flush_target(self, keys: InstanceKeys, flow: str | None) -> str | None:
        """Id of the newest entry enqueued so far (by one flow, or any)."""
        if flow:
            raw = self.client.hget(keys.meta, f"lastq:{flow}")
            return None if raw is None else _str(raw)
        newest = self.client.xrevrange(keys.updates, "+", "-", count=1)
        return _str(newest[0][0]) if newest else None

    @_mapped
    def read_events(self, keys: InstanceKeys, after: str, block_ms: int, count: int = 500) -> list[Event]:
        """Events after an id, waiting up to block_ms for the first one."""
        reply = self.client.xread({keys.events: after}, count=count, block=block_ms)
        if not reply:
            return []
        _, raw_events = reply[0]
        return [parse_event(raw_id, fields) for raw_id, fields in raw_events]

    @_mapped
    def events_range(self, keys: InstanceKeys, after: str, count: int) -> list[Event]:
        raw = self.client.xrange(keys.events, f"({after}", "+", count=count)
        return [parse_event(raw_id, fields) for raw_id, fields in raw]
