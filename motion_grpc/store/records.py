"""What the store reads and writes, as typed records, and the argument lists of its scripts.

Every Redis failure leaves the store as StoreUnavailableError (UNAVAILABLE)
through `store_errors` / `mapped_async`, so callers never see a redis-py exception.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import redis

from motion_grpc.errors import InternalError, MotionError, ResourceExhaustedError, StoreUnavailableError
from motion_grpc.store import protocol
from motion_grpc.store.keys import InstanceKeys

T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_EVENTS_MAXLEN = 10_000
DEFAULT_MAX_QUEUE = 100_000
#: Update events kept per instance, for every process that builds a Store (server, workers,
#: in-process instances, `motion-grpc migrate`), so they all trim the same stream alike.
EVENTS_RETENTION_ENV = "MOTION_EVENTS_RETENTION"


def events_retention_from_env() -> int:
    """MOTION_EVENTS_RETENTION, else DEFAULT_EVENTS_MAXLEN; ValueError naming the variable when bad."""
    value = os.environ.get(EVENTS_RETENTION_ENV, "").strip()
    if not value:
        return DEFAULT_EVENTS_MAXLEN
    try:
        retention = int(value)
    except ValueError:
        retention = 0
    if retention < 1:
        raise ValueError(f"{EVENTS_RETENTION_ENV} must be a whole number >= 1, not {value[:40]!r}")
    return retention


def now_ms() -> int:
    return int(time.time() * 1000)


#: What store calls catch: redis-py's errors, and its cluster client's, which are not RedisErrors.
REDIS_FAILURES = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)
#: Failures to retry later: Redis is down or unreachable, or fails over (READONLY: the node became
#: a replica; MASTERDOWN: a replica lost its primary), or a cluster is down or moving a slot.
_TRANSIENT = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
)
#: The same, as the code of an error a script's redis.call met (see `_script_error_code`).
_TRANSIENT_CODES = frozenset({"READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"})
#: The cluster client's errors that are a wrong call, not an unreachable cluster.
_CLUSTER_MISUSE = (redis.exceptions.CrossSlotTransactionError, redis.exceptions.InvalidPipelineStack)


def mapped_error(exc: Exception) -> MotionError:
    """The error a redis-py failure leaves the store as: mapped in exactly one place."""
    code = _script_error_code(exc)
    if isinstance(exc, redis.exceptions.BusyLoadingError) or code == "LOADING":
        return StoreUnavailableError("Redis is loading its data; retry shortly")
    if isinstance(exc, redis.exceptions.OutOfMemoryError) or code == "OOM":
        return ResourceExhaustedError(f"Redis is out of memory (its maxmemory); retry later: {exc}")
    if (
        isinstance(exc, _TRANSIENT)
        or code in _TRANSIENT_CODES
        or (isinstance(exc, redis.exceptions.RedisClusterException) and not isinstance(exc, _CLUSTER_MISUSE))
    ):
        return StoreUnavailableError(f"Redis is unavailable: {exc}")
    return InternalError(f"Redis error: {exc}")


def _script_error_code(exc: Exception) -> str | None:
    """The code of the error a script's redis.call met, which Redis 6 wraps in a script error:
    `ERR Error running script (call to f_...): @user_script:3: @user_script: 3: -READONLY ...`
    (Redis 7 answers it with its own code, which the reply's exception type already says)."""
    message = str(exc)
    if not isinstance(exc, redis.exceptions.ResponseError) or not message.startswith(
        "ERR Error running script"
    ):
        return None
    inner = message.find(": -")
    return None if inner < 0 else message[inner + 3 :].split(" ", 1)[0]


@contextmanager
def store_errors() -> Iterator[None]:
    """Map redis-py failures (see `mapped_error`)."""
    try:
        yield
    except REDIS_FAILURES as exc:
        raise mapped_error(exc) from exc


def mapped_async(method: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Map the redis-py exceptions a coroutine method raises (see `mapped_error`); a try, not a
    context manager, as it wraps every store call."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except REDIS_FAILURES as exc:
            raise mapped_error(exc) from exc

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
class Discarded:
    """How many entries of one op a TAKE discarded, and why (protocol.SUPERSEDED or EXPIRED)."""

    flow: str
    op: str
    reason: str
    count: int


@dataclass(frozen=True)
class Taken:
    """What TAKE answered: protocol.TAKEN with the entries started, or another of TAKE's codes
    (IDLE, TAKE_AGAIN, NOT_LEASE_HOLDER, NO_INSTANCE); with what it discarded on the way."""

    code: int
    version: int = 0
    entries: list[Entry] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    discarded: list[Discarded] = field(default_factory=list)


@dataclass(frozen=True)
class EnqueueResult:
    """What an enqueue did: code 0, or protocol.NO_INSTANCE / QUEUE_FULL / STALE / CACHED (nothing
    written; with CACHED, `cached` holds the cache entry that answered), or DUPLICATE_REQUEST
    (nothing written: the run's request id was seen, and the rest is what its first call enqueued)."""

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


def enqueue_result(reply: Any) -> EnqueueResult:
    if isinstance(reply, int):
        return EnqueueResult(reply, "0-0", 0, [])
    if reply[0] == protocol.CACHED:
        return EnqueueResult(protocol.CACHED, "0-0", 0, [], cached=reply[1])
    if reply[0] == protocol.DUPLICATE_REQUEST:
        return _enqueued(protocol.DUPLICATE_REQUEST, reply[1:])
    return _enqueued(0, reply)


def _enqueued(code: int, reply: Any) -> EnqueueResult:
    """{events_before, version, entry id, ...} as an EnqueueResult."""
    return EnqueueResult(code, text(reply[0]), int(reply[1]), [text(item) for item in reply[2:]])


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


#: The TAKE replies that end with a discard tally (see scripts.TAKE).
_TALLIED = frozenset({protocol.TAKEN, protocol.IDLE, protocol.TAKE_AGAIN})


def taken_reply(reply: Any) -> Taken:
    """A TAKE reply: {code}, {0 or 2, tally...}, or {1, version, (id, flow, op, payload, enqueued_ms,
    seq, attempt)*, tally...}, where the tally is (flow, op, reason, count)* and the number of those."""
    code = int(reply[0])
    if code not in _TALLIED:
        return Taken(code)
    tally_start = len(reply) - 1 - 4 * int(reply[-1])
    discarded = [
        Discarded(text(flow), text(op), text(reason), int(count))
        for flow, op, reason, count in _rows(reply[tally_start:-1], 4)
    ]
    if code != protocol.TAKEN:
        return Taken(code, discarded=discarded)
    entries, attempts = [], []
    for raw_id, flow, op, payload, enqueued, seq, attempt in _rows(reply[2:tally_start], 7):
        entries.append(Entry(text(raw_id), text(flow), text(op), payload, int(enqueued), int(seq)))
        attempts.append(int(attempt))
    return Taken(code, int(reply[1]), entries, attempts, discarded)


def _rows(flat: Sequence[Any], width: int) -> Iterator[Sequence[Any]]:
    return (flat[at : at + width] for at in range(0, len(flat), width))


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_event(raw_id: Any, raw: dict[bytes, bytes]) -> Event:
    """An event as the scripts' add_event wrote it (field names: protocol.EVENT_FIELDS)."""
    fields = {text(name): text(value) for name, value in raw.items()}
    return Event(
        id=text(raw_id),
        update_id=fields[protocol.EVENT_UPDATE_ID],
        flow=fields[protocol.EVENT_FLOW],
        op=fields[protocol.EVENT_OP],
        status=int(fields[protocol.EVENT_STATUS]),
        version=int(fields[protocol.EVENT_VERSION]),
        enqueued_ms=int(fields[protocol.EVENT_ENQUEUED_MS]),
        at_ms=int(fields[protocol.EVENT_AT_MS]),
        attempt=int(fields[protocol.EVENT_ATTEMPT]),
        error_type=fields.get(protocol.EVENT_ERROR_TYPE, ""),
        error_message=fields.get(protocol.EVENT_ERROR_MESSAGE, ""),
    )


def take_args(
    token: str,
    ttl_ms: int,
    events_maxlen: int,
    policies: Sequence[Any],
    may_acquire: bool,
    group_max: int,
    after: str = protocol.UNSET,
) -> list[Any]:
    args: list[Any] = [
        token,
        ttl_ms,
        now_ms(),
        events_maxlen,
        protocol.flag(may_acquire),
        group_max,
        len(policies),
        after,
    ]
    for policy in policies:
        args += list(policy)
    return args


def commit_args(
    token: str,
    expected_version: int,
    events_maxlen: int,
    engine_id: str,
    patch: dict[str, bytes],
    records: Sequence[CommitRecord],
) -> list[Any]:
    args: list[Any] = [token, expected_version, now_ms(), events_maxlen, engine_id, len(patch)]
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
            protocol.flag(record.changed),
        ]
    return args
