"""A spawned process that applies retried updates for the serving process, and the handle on it.

The child is our own process, spawned with the app's paths; requests (the
taken entries) and replies (the records and the encoded state patch) cross a
private pipe. It runs an AsyncEngine that drains nothing itself; the serving
process keeps the lease and commits what comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from motion_grpc.engine import AsyncEngine
from motion_grpc.engine.applying import Applied
from motion_grpc.engine.draining import DrainBackoffError, ProcessExitedError
from motion_grpc.engine.ops import describe_error
from motion_grpc.engine.options import EngineSettings
from motion_grpc.store import RedisSettings
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import CommitRecord, Taken

log = logging.getLogger(__name__)

#: Seconds before a retry when the process could not start or apply (it is tried again).
RETRY_SECONDS = 1.0
#: Seconds a child whose server is gone may take to wind down before it exits anyway.
ORPHAN_GRACE_SECONDS = 5.0
#: Seconds a child may take to import the apps and say it is ready, before it is killed.
START_SECONDS = 120.0

#: What a child is spawned with: the app paths to import, Redis, the engine's settings.
Spawn = tuple[tuple[str, ...], RedisSettings, EngineSettings]


@dataclass(frozen=True)
class _Request:
    number: int
    component: str
    instance_id: str
    taken: Taken


@dataclass(frozen=True)
class _Reply:
    number: int
    records: list[CommitRecord]
    patch: dict[str, bytes]
    error: str = ""  # the apply could not be done (state unreadable, ...): nothing to commit


#: What a child sends once its apps are imported and it can take requests.
_READY = "ready"


def stopping_error() -> DrainBackoffError:
    return not_tried("the server is stopping: retried elsewhere or later")


def not_tried(reason: str) -> DrainBackoffError:
    """Try the entries later, their attempt not counted: nothing of theirs went wrong."""
    return DrainBackoffError(RETRY_SECONDS, reason, counted=False)


class RetryProcess:
    """A spawned child, its end of the pipe, and the applies it has in hand."""

    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self._connection = connection
        self._loop = asyncio.get_running_loop()
        self._pending: dict[int, asyncio.Future[_Reply]] = {}
        self._ready: asyncio.Future[None] = self._loop.create_future()
        self._sending = threading.Lock()  # requests go out from worker threads
        self.alive = True
        self._stopping = False  # asked to exit: what it has in hand is not its ops' doing
        threading.Thread(target=self._read, name=f"{process.name}-replies", daemon=True).start()

    @classmethod
    async def start(cls, name: str, spawn: Spawn) -> RetryProcess:
        context = multiprocessing.get_context("spawn")  # a process that made gRPC objects must not fork
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(target=run_child, args=(*spawn, theirs), name=name, daemon=True)
        await asyncio.to_thread(process.start)
        theirs.close()  # the child has its copy: once it is gone, reads here end
        child = cls(process, ours)
        try:
            await asyncio.wait_for(child._ready, START_SECONDS)
        except BaseException as exc:  # it died, hung importing the apps, or its caller gave up
            process.kill()
            if isinstance(exc, (ProcessExitedError, asyncio.TimeoutError)):
                raise not_tried(
                    f"the process for retried updates did not start: {exc or 'timed out'}"
                ) from exc
            raise
        log.info("started process %s (%s) for retried updates", process.pid, name)
        return child

    @classmethod
    async def start_unless_closed(cls, name: str, spawn: Spawn, closed: Callable[[], bool]) -> RetryProcess:
        """A started child; DrainBackoffError (and the child stopped) if `closed()` turned true meanwhile."""
        child = await cls.start(name, spawn)
        if closed():  # closed while it started: it stops with nothing in hand
            await asyncio.to_thread(child.stop)
            raise stopping_error()
        return child

    @property
    def usable(self) -> bool:
        return self.alive and self.process.is_alive()

    async def apply(self, number: int, keys: InstanceKeys, taken: Taken) -> Applied:
        """The records and patch of `taken` applied in the child; ProcessExitedError if it dies."""
        reply = await self.submit(_Request(number, keys.component, keys.instance_id, taken))
        if reply.error:
            raise DrainBackoffError(RETRY_SECONDS, f"the retry could not be applied: {reply.error}")
        return Applied(reply.records, reply.patch)

    async def submit(self, request: _Request) -> _Reply:
        """The reply to `request`; ProcessExitedError if the process dies first."""
        if not self.alive:
            raise not_tried("the process for retried updates had just ended")
        future: asyncio.Future[_Reply] = self._loop.create_future()
        self._pending[request.number] = future
        try:  # on a thread: a request of megabytes waits for the child to read it, never the loop
            await asyncio.to_thread(self._send, request)
        except OSError:  # it died before taking it: not its op's doing
            self._pending.pop(request.number, None)
            raise not_tried("the process for retried updates ended") from None
        return await future

    def _send(self, message: _Request | None) -> None:
        with self._sending:
            self._connection.send(message)

    def stop(self) -> None:
        """Ask the process to exit (it has nothing in hand once the drains stopped); kill it if it
        does not (it ignores SIGTERM and SIGINT: the server decides when it stops). An apply
        still in hand then is retried later, not failed as ProcessExited."""
        self._stopping = True
        sender = threading.Thread(target=self._stop_quietly, daemon=True)  # a full pipe never blocks us
        sender.start()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        sender.join(1)
        self._connection.close()

    def _stop_quietly(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._send(None)

    def _read(self) -> None:
        while True:
            try:
                reply = self._connection.recv()
            except (EOFError, OSError):
                break
            self._call(self._resolve, reply)
        self.process.join(5)
        self._call(self._died, self.process.exitcode)

    def _call(self, *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(*args)  # type: ignore[arg-type]

    def _resolve(self, reply: _Reply | str) -> None:
        if isinstance(reply, str):
            if not self._ready.done():
                self._ready.set_result(None)
            return
        future = self._pending.pop(reply.number, None)
        if future is not None and not future.done():
            future.set_result(reply)

    def _died(self, exitcode: int | None) -> None:
        self.alive = False
        pending, self._pending = self._pending, {}
        if not self._ready.done():
            self._ready.set_exception(ProcessExitedError(exitcode, 0))
            self._ready.exception()  # retrieved: nobody may be waiting for it
        if pending:
            log.warning(
                "process %s for retried updates exited (%s) with %d update(s) in hand",
                self.process.pid, exitcode, len(pending),
            )  # fmt: skip
        for future in pending.values():
            if not future.done():
                future.set_exception(
                    stopping_error() if self._stopping else ProcessExitedError(exitcode, len(pending))
                )


def run_child(
    apps: Sequence[str], redis: RedisSettings, settings: EngineSettings, connection: Connection
) -> None:
    """Body of a child process: apply the requests the server sends until it says stop or is gone."""
    from motion_grpc.server.loader import load_components

    for signum in (signal.SIGINT, signal.SIGTERM):  # the server decides when its children stop: a
        signal.signal(signum, signal.SIG_IGN)  # group-wide SIGTERM would end a retry as ProcessExited
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(processName)s: %(message)s")
    components = load_components(apps)
    applying_only = dataclasses.replace(settings, process_updates=False)  # it drains nothing itself
    asyncio.run(_apply_requests(AsyncEngine(redis, components, applying_only), connection))


async def _apply_requests(engine: AsyncEngine, connection: Connection) -> None:
    await engine.start()
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    def take(request: _Request) -> None:
        task = loop.create_task(_apply_one(engine, request, connection))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def read() -> None:
        while True:
            try:
                request = connection.recv()
            except (EOFError, OSError):  # the server is gone, even by SIGKILL: do not outlive it
                _exit_after(ORPHAN_GRACE_SECONDS)
                break
            if request is None:
                break
            loop.call_soon_threadsafe(take, request)
        loop.call_soon_threadsafe(stopped.set)

    threading.Thread(target=read, name="motion-retry-requests", daemon=True).start()
    connection.send(_READY)
    try:
        await stopped.wait()
        if tasks:
            await asyncio.wait(tasks, timeout=ORPHAN_GRACE_SECONDS)
    finally:
        await engine.close()


async def _apply_one(engine: AsyncEngine, request: _Request, connection: Connection) -> None:
    keys = InstanceKeys.of(request.component, request.instance_id)
    try:
        applied = await engine.apply_taken(keys, request.taken)
        reply = _Reply(request.number, applied.records, applied.patch)
    except Exception as exc:
        reply = _Reply(request.number, [], {}, describe_error(exc))
    with contextlib.suppress(OSError):
        connection.send(reply)


def _exit_after(seconds: float) -> None:
    deadline = threading.Timer(seconds, os._exit, (1,))
    deadline.daemon = True
    deadline.start()
