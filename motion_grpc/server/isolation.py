"""Retried updates in processes of their own, so an op that ends its process cannot end the server.

An update whose earlier attempt never finished was in a process that died:
SIGKILL, out of memory, or the op itself (`os._exit`, a crash in native
code). Run again in the serving process, an op of the last kind would end it
too, and then every replica that takes the instance over, each time taking
the updates of other instances in hand down with it. So the serving process
runs retries in spawned processes that only apply updates:

- second attempts share one process: a replica that died mid-drain leaves
  many, nearly all innocent, and they run side by side as before;
- later attempts each run in a fresh process that runs nothing else, so when
  it dies the entry that ended it is known, and fails (`ProcessExited`)
  rather than being tried again. Up to MAX_ALONE of them run at once; an
  instance that finds them all busy for SLOT_WAIT_SECONDS hands its lease
  back and tries again later, its attempt not counted, so ops that hang (with
  no update timeout) hold up their own instances, not the leases and update
  slots of the others.

The drainer of the serving process keeps the lease and commits what the
child sends back (server.retry_process).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable, Sequence

from motion_grpc.definition import ComponentDefinition
from motion_grpc.engine.applying import Applied
from motion_grpc.engine.draining import DrainBackoffError
from motion_grpc.engine.options import EngineSettings
from motion_grpc.server.retry_process import RetryProcess, Spawn, not_tried, stopping_error
from motion_grpc.store import RedisSettings
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Taken

#: Later attempts applied at once, each in a process of its own (the next ones wait their turn).
MAX_ALONE = 4
#: Seconds a later attempt waits for one of them before it backs off (see the module).
SLOT_WAIT_SECONDS = 1.0
#: Longest wait before trying again after a run of hand-backs for want of a process: they are not
#: counted as attempts, so they do not end by themselves; each waits twice as long as the one before.
HAND_BACK_MAX_SECONDS = 60.0


class _Streak:
    """Consecutive hand-backs of one kind (a process that would not start, every slot busy)."""

    def __init__(self) -> None:
        self._count = 0

    def failed(self, error: DrainBackoffError) -> DrainBackoffError:
        self._count += 1
        error.delay = min(HAND_BACK_MAX_SECONDS, error.delay * 2 ** min(self._count - 1, 16))
        return error

    def ended(self) -> None:
        self._count = 0


async def _start(name: str, spawn: Spawn, closed: Callable[[], bool], starts: _Streak) -> RetryProcess:
    """A started child; a DrainBackoffError waiting longer for each start in a row that failed."""
    try:
        child = await RetryProcess.start_unless_closed(name, spawn, closed)
    except DrainBackoffError as exc:
        raise starts.failed(exc) from exc.__cause__
    starts.ended()
    return child


class IsolatedUpdates:
    """The drainer's Isolation: retried entries applied in spawned processes (see the module)."""

    def __init__(self, apps: Sequence[str], redis: RedisSettings, settings: EngineSettings) -> None:
        if not apps:
            raise ValueError("isolated update processes need the app paths to import")
        spawn = (tuple(apps), redis, settings)
        starts = _Streak()  # both lanes start the same processes: one failing start is the other's
        self._shared = _SharedLane("motion-retries", spawn, starts)
        self._alone = _AloneLane("motion-retries-alone", spawn, starts)

    async def __call__(self, keys: InstanceKeys, component: ComponentDefinition, taken: Taken) -> Applied:
        if max(taken.attempts) <= 2:
            return await self._shared.apply(keys, taken)
        return await self._alone.apply(keys, taken)

    async def close(self) -> None:
        await asyncio.gather(self._shared.close(), self._alone.close())


class _SharedLane:
    """One child process for every second attempt (started when first needed, again after it died)."""

    def __init__(self, name: str, spawn: Spawn, starts: _Streak) -> None:
        self._name = name
        self._spawn = spawn
        self._starts = starts
        self._starting = asyncio.Lock()
        self._child: RetryProcess | None = None
        self._numbers = itertools.count()
        self._closed = False

    async def apply(self, keys: InstanceKeys, taken: Taken) -> Applied:
        child = await self._started()
        return await child.apply(next(self._numbers), keys, taken)

    async def _started(self) -> RetryProcess:
        async with self._starting:
            if self._closed:
                raise stopping_error()
            if self._child is None or not self._child.usable:
                self._child = await _start(self._name, self._spawn, lambda: self._closed, self._starts)
            return self._child

    async def close(self) -> None:
        """Stop the child (once the drains have stopped); a start under way is not waited for."""
        self._closed = True
        child, self._child = self._child, None
        if child is not None:
            await asyncio.to_thread(child.stop)


class _AloneLane:
    """Each later attempt in a fresh child that has run nothing else: a process reused after another
    op could die of that op's doing (a thread it left, memory it grew) and blame the next entry.
    Up to MAX_ALONE such children at once."""

    def __init__(self, name: str, spawn: Spawn, starts: _Streak) -> None:
        self._name = name
        self._spawn = spawn
        self._starts = starts
        self._busy = _Streak()
        self._slots = asyncio.Semaphore(MAX_ALONE)
        self._children: set[RetryProcess] = set()  # stopped on close
        self._numbers = itertools.count()
        self._closed = False

    async def apply(self, keys: InstanceKeys, taken: Taken) -> Applied:
        try:
            await asyncio.wait_for(self._slots.acquire(), SLOT_WAIT_SECONDS)
        except asyncio.TimeoutError:
            raise self._busy.failed(
                not_tried(f"all {MAX_ALONE} processes for retried updates are busy")
            ) from None
        self._busy.ended()
        try:
            return await self._apply(keys, taken)
        finally:
            self._slots.release()

    async def _apply(self, keys: InstanceKeys, taken: Taken) -> Applied:
        if self._closed:
            raise stopping_error()
        child = await _start(self._name, self._spawn, lambda: self._closed, self._starts)
        self._children.add(child)
        try:
            return await child.apply(next(self._numbers), keys, taken)
        except asyncio.CancelledError:
            child.process.kill()  # the drain gave up: the entry must not run on unseen
            raise
        finally:
            self._children.discard(child)
            if child.usable:  # it has nothing in hand
                threading.Thread(target=child.stop, name=f"{self._name}-stop", daemon=True).start()

    async def close(self) -> None:
        self._closed = True
        children, self._children = list(self._children), set()
        await asyncio.gather(*(asyncio.to_thread(child.stop) for child in children))
