"""One auto-pipelined Redis connection: the commands of one event-loop tick leave in one write.

A model-call workload keeps thousands of calls in flight on one event loop,
each making a few Redis round trips. redis.asyncio spends more CPU on each of
them (a pool checkout, a write and a read per command, timers per call) than
the rest of the serve path. Here concurrent callers share one connection:
each command is packed by hiredis and buffered, the buffer is written once
per loop tick, and replies are handed to callers in order (Redis answers a
connection's commands in the order it received them).

Only for commands that return at once: blocking reads (XREAD BLOCK) and
pub/sub stay on a redis.asyncio client of their own, and Redis Cluster on
redis.asyncio's cluster client (see `RedisSettings`). Failures are
redis-py's exceptions, so `store_errors` maps them as for redis.asyncio.
"""

from __future__ import annotations

import asyncio
import collections
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import hiredis
import redis.exceptions
from redis.connection import parse_url

Parser = Callable[[Any], Any]

#: Idle blocking-read connections kept for reuse; more are closed when their read ends.
MAX_IDLE = 1024

#: Reply-error prefixes that have a redis-py exception of their own.
_ERRORS: Mapping[str, type[redis.exceptions.RedisError]] = {
    "NOSCRIPT": redis.exceptions.NoScriptError,
    "LOADING": redis.exceptions.BusyLoadingError,
    "READONLY": redis.exceptions.ReadOnlyError,
    "MASTERDOWN": redis.exceptions.MasterDownError,
    "OOM": redis.exceptions.OutOfMemoryError,
    "NOAUTH": redis.exceptions.AuthenticationError,
    "WRONGPASS": redis.exceptions.AuthenticationError,
    "NOPERM": redis.exceptions.NoPermissionError,
    "EXECABORT": redis.exceptions.ExecAbortError,
}


def reply_error(reply: hiredis.ReplyError) -> redis.exceptions.RedisError:
    """The redis-py exception for an error reply."""
    message = str(reply)
    return _ERRORS.get(message.split(" ", 1)[0], redis.exceptions.ResponseError)(message)


class _Waiter:
    """A caller waiting for the replies of the commands it sent together."""

    __slots__ = ("deadline", "expected", "future", "replies")

    def __init__(self, future: asyncio.Future[Any], expected: int, deadline: float) -> None:
        self.future = future
        self.expected = expected
        self.replies: list[Any] = []
        self.deadline = deadline


class _Connection(asyncio.Protocol):
    """The socket: a write buffer flushed once per loop tick, and a FIFO of waiters."""

    def __init__(self, loop: asyncio.AbstractEventLoop, reply_timeout: float) -> None:
        self._loop = loop
        self._reply_timeout = reply_timeout
        self._reader = hiredis.Reader()
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._buffer: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self.failure: Exception | None = None
        #: Done once the socket is closed.
        self.closed: asyncio.Future[None] = loop.create_future()

    @property
    def usable(self) -> bool:
        return self.failure is None and self._transport is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def send(self, packed: bytes, expected: int, wait: float = 0.0) -> asyncio.Future[Any]:
        """Queue packed commands; the future gets their replies (one reply, or a list of them).

        `wait`: seconds Redis may hold the reply back on purpose (a blocking read's block time).
        """
        future = self._loop.create_future()
        if self.failure is not None:  # closed meanwhile: fail at once rather than at the watchdog
            future.set_exception(self.failure)
            return future
        deadline = self._loop.time() + self._reply_timeout + wait
        self._waiters.append(_Waiter(future, expected, deadline))
        if not self._buffer:
            self._loop.call_soon(self._flush)
        self._buffer.append(packed)
        if self._watchdog is None:
            self._watchdog = self._loop.call_at(deadline, self._check_timeout)
        return future

    def _flush(self) -> None:
        if self._buffer and self._transport is not None and self.failure is None:
            self._transport.write(b"".join(self._buffer))
        self._buffer.clear()

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                self._deliver(reply)
        except (hiredis.ProtocolError, IndexError) as exc:
            self.abort(redis.exceptions.ConnectionError(f"Redis sent a reply out of protocol: {exc}"))

    def _deliver(self, reply: Any) -> None:
        waiter = self._waiters[0]
        waiter.replies.append(reply)
        if len(waiter.replies) < waiter.expected:
            return
        self._waiters.popleft()
        if not waiter.future.done():  # a cancelled caller's replies are dropped
            waiter.future.set_result(reply if waiter.expected == 1 else waiter.replies)

    def _check_timeout(self) -> None:
        self._watchdog = None
        if not self._waiters:
            return
        deadline = self._waiters[0].deadline
        if self._loop.time() >= deadline:
            self.abort(redis.exceptions.TimeoutError(f"no reply from Redis in {self._reply_timeout} s"))
        else:
            self._watchdog = self._loop.call_at(deadline, self._check_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.abort(redis.exceptions.ConnectionError(f"connection to Redis lost: {exc or 'closed by Redis'}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def abort(self, failure: Exception) -> None:
        """Fail every waiter and close: replies can no longer be matched to callers."""
        if self.failure is None:
            self.failure = failure
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(self.failure)
        self._buffer.clear()
        if self._transport is not None:
            self._transport.abort()


@dataclass(frozen=True)
class _Address:
    """Where and how to connect, from a redis://, rediss:// or unix:// URL."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: ssl.SSLContext | None = None

    @classmethod
    def of(cls, url: str) -> _Address:
        options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        tls = _tls_context(options) if url.startswith("rediss://") else None
        return cls(
            host=options.get("host", "localhost"), port=int(options.get("port", 6379)),
            path=options.get("path"), username=options.get("username"), password=options.get("password"),
            db=int(options.get("db", 0)), tls=tls,
        )  # fmt: skip

    def handshake(self) -> list[tuple[Any, ...]]:
        """The commands that set a new connection up."""
        commands: list[tuple[Any, ...]] = []
        if self.password is not None:
            credentials = (self.username, self.password) if self.username else (self.password,)
            commands.append(("AUTH", *credentials))
        if self.db:
            commands.append(("SELECT", self.db))
        return commands


def _tls_context(options: Mapping[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
    if options.get("ssl_certfile"):
        context.load_cert_chain(options["ssl_certfile"], options.get("ssl_keyfile"))
    if str(options.get("ssl_cert_reqs", "required")).lower() in ("none", "optional"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif str(options.get("ssl_check_hostname", "true")).lower() in ("false", "0", "no"):
        context.check_hostname = False
    return context


def _pairs(reply: list[Any]) -> dict[bytes, Any]:
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _entries(reply: list[Any]) -> list[tuple[bytes, dict[bytes, Any]]]:
    return [(entry_id, _pairs(fields or [])) for entry_id, fields in reply]


def _raw(reply: Any) -> Any:
    return reply


class _Commands:
    """The commands the store sends, with replies shaped as redis-py shapes them."""

    def _command(self, parse: Parser, *args: Any) -> Any:
        raise NotImplementedError

    def execute_command(self, *args: Any) -> Any:
        """Any command that returns at once; its reply as hiredis gives it."""
        return self._command(_raw, *args)

    def hget(self, key: str, field: str) -> Any:
        return self._command(_raw, "HGET", key, field)

    def hgetall(self, key: str) -> Any:
        return self._command(_pairs, "HGETALL", key)

    def hexists(self, key: str, field: str) -> Any:
        return self._command(bool, "HEXISTS", key, field)

    def sadd(self, key: str, *members: Any) -> Any:
        return self._command(_raw, "SADD", key, *members)

    def srem(self, key: str, *members: Any) -> Any:
        return self._command(_raw, "SREM", key, *members)

    def zadd(self, key: str, mapping: Mapping[str, float], nx: bool = False) -> Any:
        scored = [part for member, score in mapping.items() for part in (score, member)]
        return self._command(_raw, "ZADD", key, *(["NX"] if nx else []), *scored)

    def zrem(self, key: str, *members: Any) -> Any:
        return self._command(_raw, "ZREM", key, *members)

    def zrange(self, key: str, start: int, end: int) -> Any:
        return self._command(_raw, "ZRANGE", key, start, end)

    def sscan(self, key: str, cursor: int = 0, count: int | None = None) -> Any:
        extra = ["COUNT", count] if count is not None else []
        return self._command(lambda reply: (int(reply[0]), reply[1]), "SSCAN", key, cursor, *extra)

    def xlen(self, key: str) -> Any:
        return self._command(_raw, "XLEN", key)

    def xrange(self, key: str, min: str = "-", max: str = "+", count: int | None = None) -> Any:
        extra = ["COUNT", count] if count is not None else []
        return self._command(_entries, "XRANGE", key, min, max, *extra)

    def xrevrange(self, key: str, max: str = "+", min: str = "-", count: int | None = None) -> Any:
        extra = ["COUNT", count] if count is not None else []
        return self._command(_entries, "XREVRANGE", key, max, min, *extra)

    def pttl(self, key: str) -> Any:
        return self._command(_raw, "PTTL", key)

    def publish(self, channel: str, message: Any) -> Any:
        return self._command(_raw, "PUBLISH", channel, message)

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        return self._command(_raw, "EVALSHA", sha, numkeys, *keys_and_args)

    def script_load(self, source: str) -> Any:
        return self._command(lambda reply: reply.decode(), "SCRIPT", "LOAD", source)

    def ping(self) -> Any:
        return self._command(lambda reply: reply == b"PONG", "PING")

    def time(self) -> Any:
        return self._command(lambda reply: (int(reply[0]), int(reply[1])), "TIME")


class PipelinedRedis(_Commands):
    """The part of redis.asyncio.Redis the store uses, over one auto-pipelined connection.

    Use it on one event loop. A connection that fails fails the commands in
    flight on it (redis-py's ConnectionError or TimeoutError: they may or may
    not have run); the next command connects again. A blocking read (`xread`
    with `block`) holds a connection of its own while it waits: up to
    `max_blocking` at once, later ones wait their turn; idle ones are reused.
    """

    def __init__(
        self, url: str, connect_timeout: float = 1.0, reply_timeout: float = 5.0, max_blocking: int = 10_000
    ) -> None:
        self._address = _Address.of(url)
        self._connect_timeout = connect_timeout
        self._reply_timeout = reply_timeout
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._blocking_slots = asyncio.Semaphore(max_blocking)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()  # closed on aclose, even mid-read
        self._run_id: bytes | None = None  # of the Redis server the shared connection last reached
        self._restarted: list[Callable[[], None]] = []
        #: Times the shared connection found another Redis process than before (see on_restart).
        self.restarts = 0

    def on_restart(self, callback: Callable[[], None]) -> None:
        """Call `callback` when the shared connection, opened again, reaches another Redis process
        than before (its run_id changed: Redis restarted or failed over, and may have lost data)."""
        self._restarted.append(callback)

    async def _command(self, parse: Parser, *args: Any) -> Any:
        reply = await self.send(hiredis.pack_command(args), 1)
        if isinstance(reply, hiredis.ReplyError):
            raise reply_error(reply)
        return parse(reply)

    async def send(self, packed: bytes, expected: int) -> Any:
        """Send packed commands; their reply (or list of `expected` replies), errors as values."""
        connection = self._connection
        if connection is None or not connection.usable:
            connection = await self._connect()
        return await connection.send(packed, expected)

    def pipeline(self, transaction: bool = True) -> Pipeline:
        return Pipeline(self, transaction)

    async def xread(
        self, streams: Mapping[str, str], count: int | None = None, block: int | None = None
    ) -> Any:
        """XREAD as redis-py shapes it: [[stream, [(id, fields), ...]], ...], or [] when nothing came."""
        args: list[Any] = ["XREAD", *(["COUNT", count] if count is not None else [])]
        if block is not None:
            args += ["BLOCK", block]
        args += ["STREAMS", *streams.keys(), *streams.values()]
        if block is None:
            reply = await self._command(_raw, *args)
        else:
            reply = await self._blocking(hiredis.pack_command(tuple(args)), block / 1000)
        return [[name, _entries(entries)] for name, entries in reply or []]

    async def _blocking(self, packed: bytes, wait: float) -> Any:
        """One blocking command on a connection of its own."""
        async with self._blocking_slots:
            connection = self._idle_connection() or await self._dial()
            try:
                reply = await connection.send(packed, 1, wait)
            except BaseException:  # its reply can no longer be told from the next one's
                connection.abort(redis.exceptions.ConnectionError("blocking read abandoned"))
                raise
            if connection.usable and len(self._idle) < MAX_IDLE:
                self._idle.append(connection)
            else:
                connection.abort(redis.exceptions.ConnectionError("idle connection closed"))
        if isinstance(reply, hiredis.ReplyError):
            raise reply_error(reply)
        return reply

    def _idle_connection(self) -> _Connection | None:
        """An idle blocking-read connection still open (Redis may have closed some meanwhile)."""
        while self._idle:
            connection = self._idle.pop()
            if connection.usable:
                return connection
        return None

    async def _connect(self) -> _Connection:
        """The shared connection, opened if needed; concurrent callers share one attempt."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._dial_shared())
            self._connecting.add_done_callback(_observed)  # its callers may all be gone by then
        connecting = self._connecting
        try:
            self._connection = await asyncio.shield(connecting)
            return self._connection
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _dial_shared(self) -> _Connection:
        """A new shared connection. When it reaches another Redis process than before, the callers
        that waited for it fail (ConnectionError): what they send was decided on state that Redis
        may have lost; they are told like those whose connection broke, and the next calls go on."""
        connection = await self._dial()
        if self._restarted and await self._other_run_id(connection):
            self._connection = connection
            self.restarts += 1
            for callback in self._restarted:
                callback()
            raise redis.exceptions.ConnectionError(
                "Redis restarted or failed over (another run_id) and may have lost data; try again"
            )
        return connection

    async def _other_run_id(self, connection: _Connection) -> bool:
        """Whether `connection` reached another Redis process than the last one (INFO's run_id)."""
        command: tuple[Any, ...] = ("INFO", "server")
        reply = await connection.send(hiredis.pack_command(command), 1)
        if not isinstance(reply, bytes):  # INFO not allowed (ACL, renamed): nothing to compare
            return False
        found = re.search(rb"^run_id:(\w+)", reply, re.MULTILINE)
        run_id = found.group(1) if found else None
        if run_id is None or run_id == self._run_id:
            return False
        before, self._run_id = self._run_id, run_id
        return before is not None

    async def _dial(self) -> _Connection:
        """A new connection, set up (authenticated, on its database)."""
        loop = asyncio.get_running_loop()
        address = self._address
        made = lambda: _Connection(loop, self._reply_timeout)  # noqa: E731
        try:
            if address.path is not None:
                opening = loop.create_unix_connection(made, address.path)
            else:
                opening = loop.create_connection(made, address.host, address.port, ssl=address.tls)
            _, connection = await asyncio.wait_for(opening, self._connect_timeout)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            where = address.path or f"{address.host}:{address.port}"
            raise redis.exceptions.ConnectionError(f"cannot connect to Redis at {where}: {exc!r}") from exc
        for command in address.handshake():
            reply = await connection.send(hiredis.pack_command(command), 1)
            if isinstance(reply, hiredis.ReplyError):
                connection.abort(redis.exceptions.ConnectionError("handshake failed"))
                raise reply_error(reply)
        self._open.add(connection)
        connection.closed.add_done_callback(lambda _: self._open.discard(connection))
        return connection

    async def aclose(self) -> None:
        """Close the connections, and wait until their sockets are (a loop about to stop would not)."""
        failure = redis.exceptions.ConnectionError("client closed")
        connections = list(self._open)
        self._connection = None
        self._idle.clear()
        for connection in connections:
            connection.abort(failure)
        if connections:
            await asyncio.wait([c.closed for c in connections], timeout=self._connect_timeout)


class Pipeline(_Commands):
    """Commands sent together (in MULTI/EXEC when `transaction`), as redis-py's Pipeline."""

    def __init__(self, client: PipelinedRedis, transaction: bool) -> None:
        self._client = client
        self._transaction = transaction
        self._commands: list[tuple[Any, ...]] = []
        self._parsers: list[Parser] = []

    def _command(self, parse: Parser, *args: Any) -> Pipeline:
        self._commands.append(args)
        self._parsers.append(parse)
        return self

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        commands = self._commands
        if not commands:
            return []
        if self._transaction:
            commands = [("MULTI",), *commands, ("EXEC",)]
        replies = await self._client.send(b"".join(map(hiredis.pack_command, commands)), len(commands))
        if len(commands) == 1:
            replies = [replies]
        if self._transaction:
            replies = _exec_replies(replies)
        results: list[Any] = []
        for parse, reply in zip(self._parsers, replies, strict=True):
            if isinstance(reply, hiredis.ReplyError):
                error = reply_error(reply)
                if raise_on_error:
                    raise error
                results.append(error)
            else:
                results.append(parse(reply))
        return results


def _exec_replies(replies: Sequence[Any]) -> list[Any]:
    """The replies of the commands between MULTI and EXEC."""
    executed = replies[-1]
    if isinstance(executed, hiredis.ReplyError):  # EXECABORT: some command did not queue
        queued = [reply for reply in replies[1:-1] if isinstance(reply, hiredis.ReplyError)]
        raise reply_error(queued[0] if queued else executed)
    if executed is None:
        raise redis.exceptions.WatchError("transaction aborted")
    return list(executed)


def _observed(future: asyncio.Future[Any]) -> None:
    """Mark a shielded attempt's failure as seen: callers that stopped waiting are told otherwise."""
    if not future.cancelled():
        future.exception()
