"""Update ops in worker processes, off the serving process.

A CPU-bound update op (a local model, a big summarization in Python) holds
the GIL of the process it runs in; in the serving process that shows up as
serve latency. With `--update-processes N`, updates run in N spawned
processes instead. The server tells them of new work over a pipe, routing an
instance always to the same process, so its snapshot stays warm there; each
worker process also sweeps Redis for work left behind, like any engine.

Workers run at a lower scheduling priority (`nice` +10 by default,
`--update-niceness`): on a core both want, the serving process is scheduled
first, so a CPU-bound update costs serve latency little; on an idle core an
update still runs at full speed.

Workers are started with the `spawn` method: a process that has created gRPC
objects must not fork. Each worker holds only the read end of its wake pipe,
so the pipe ends (EOF) when the server process is gone, even by SIGKILL: the
worker then finishes the op in hand and exits instead of outliving it. With
no worker left, the multiprocessing resource tracker sees its own pipe end
and exits too.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from motion_grpc.engine import Engine, EngineSettings
from motion_grpc.store import RedisSettings
from motion_grpc.store.keys import InstanceKeys

log = logging.getLogger(__name__)

MONITOR_SECONDS = 1.0
#: Seconds a worker whose server is gone may take to finish the op in hand before it exits anyway.
ORPHAN_GRACE_SECONDS = 15.0
#: How much update processes lower their scheduling priority (a nice increment, 0 to 19).
UPDATE_NICENESS = 10
#: A wake message: (component, instance id), or None to stop.
Wake = tuple[str, str] | None


@dataclass
class _Worker:
    """One worker process and the write end of its wake pipe (only the server holds it)."""

    process: BaseProcess
    wakes: Connection
    lock: threading.Lock = field(default_factory=threading.Lock)  # wakes come from many threads

    def send(self, wake: Wake) -> None:
        # OSError: the worker died; the monitor starts another, whose sweep finds the work.
        with self.lock, contextlib.suppress(OSError):
            self.wakes.send(wake)

    def close(self) -> None:
        with self.lock:
            self.wakes.close()


class UpdateProcesses:
    """A fixed set of update worker processes, restarted when one dies."""

    def __init__(
        self,
        apps: Sequence[str],
        redis: RedisSettings,
        processes: int,
        settings: EngineSettings,
        niceness: int = UPDATE_NICENESS,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError("update processes must be >= 1")
        if not 0 <= niceness <= 19:
            raise ValueError(f"update niceness must be 0 to 19, not {niceness}")
        if not apps:
            raise ValueError("update worker processes need the app paths to import")
        self._apps = tuple(apps)
        self._redis_url = redis.url
        self._settings = settings
        self._niceness = niceness
        self._on_exit = on_exit  # told the pid of a worker that exited, before it is replaced
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker | None] = [None] * processes
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="motion-update-processes", daemon=True)

    def start(self) -> UpdateProcesses:
        for index in range(len(self._workers)):
            self._spawn(index)
        self._monitor.start()
        return self

    def wake(self, keys: InstanceKeys) -> None:
        """Tell the process that owns this instance to drain it."""
        worker = self._workers[zlib.crc32(keys.tag.encode()) % len(self._workers)]
        if worker is not None:
            worker.send((keys.component, keys.instance_id))

    def stop(self, timeout: float = 15.0) -> None:
        """Workers finish the op in hand, hand their leases back and exit."""
        self._stopping.set()
        workers = [worker for worker in self._workers if worker is not None]
        for worker in workers:
            worker.send(None)
        for worker in workers:
            worker.process.join(timeout)
            if worker.process.is_alive():
                log.warning("update process %s did not stop in time; terminating it", worker.process.pid)
                worker.process.terminate()
                worker.process.join(5)
            worker.close()

    def _spawn(self, index: int) -> None:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=run_worker,
            args=(self._apps, self._redis_url, self._settings, receiver, self._niceness),
            name=f"motion-update-process-{index}",
            daemon=True,
        )
        process.start()
        receiver.close()  # the worker has its copy; without ours, writes to a dead worker fail at once
        previous, self._workers[index] = self._workers[index], _Worker(process, sender)
        if previous is not None:
            previous.close()

    def _watch(self) -> None:
        while not self._stopping.wait(MONITOR_SECONDS):
            for index, worker in enumerate(self._workers):
                if worker is None or worker.process.is_alive() or self._stopping.is_set():
                    continue
                log.warning(
                    "update process %s exited (%s); starting another",
                    worker.process.pid,
                    worker.process.exitcode,
                )
                if self._on_exit is not None and worker.process.pid is not None:
                    self._on_exit(worker.process.pid)
                self._spawn(index)


def run_worker(
    apps: Sequence[str],
    redis_url: str,
    settings: EngineSettings,
    wakes: Connection,
    niceness: int = UPDATE_NICENESS,
) -> None:
    """Body of one update worker process: an engine that only applies updates."""
    from motion_grpc.server.loader import load_components

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when its workers stop
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(processName)s: %(message)s")
    _lower_priority(niceness)
    engine = Engine(RedisSettings(url=redis_url), load_components(apps), settings).start()
    try:
        for component, instance_id in wakes_until_stop(wakes):
            engine.drain_soon(InstanceKeys.of(component, instance_id))
    finally:
        engine.close()


def _lower_priority(niceness: int) -> None:
    """Yield the CPU to the serving process when both want it (where the OS has `nice`)."""
    if niceness and hasattr(os, "nice"):
        try:
            os.nice(niceness)
        except OSError as exc:
            log.warning("could not lower this update process's priority: %s", exc)


def wakes_until_stop(wakes: Connection) -> Iterator[tuple[str, str]]:
    """The instances the server asks to drain, until it says stop or is gone.

    A server that is gone (SIGKILLed, it could not say stop) shows as the end
    of the pipe. The worker must not outlive it: it stops as if told to, and
    exits anyway once ORPHAN_GRACE_SECONDS have passed, should an op hang.
    """
    while True:
        try:
            wake: Wake = wakes.recv()
        except EOFError:
            log.warning("the server process is gone; this update process stops")
            deadline = threading.Timer(ORPHAN_GRACE_SECONDS, os._exit, (1,))
            deadline.daemon = True
            deadline.start()
            return
        if wake is None:
            return
        yield wake
