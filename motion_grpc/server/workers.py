"""Update ops in worker processes, off the serving process.

A CPU-bound update op (a local model, a big summarization in Python) holds
the GIL of the process it runs in; in the serving process that shows up as
serve latency. With `--update-processes N`, updates run in N spawned
processes instead. The server tells them of new work over a pipe, routing an
instance always to the same process, so its snapshot stays warm there; each
worker process also sweeps Redis for work left behind, like any engine.

Workers are started with the `spawn` method: a process that has created gRPC
objects must not fork.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import zlib
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from multiprocessing.queues import SimpleQueue
from typing import Any

from motion_grpc.engine import Engine, EngineSettings
from motion_grpc.store import RedisSettings, Store
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.store import DEFAULT_EVENTS_MAXLEN

log = logging.getLogger(__name__)

MONITOR_SECONDS = 1.0


class UpdateProcesses:
    """A fixed set of update worker processes, restarted when one dies."""

    def __init__(
        self,
        apps: Sequence[str],
        redis: RedisSettings,
        processes: int,
        settings: EngineSettings,
        events_retention: int = DEFAULT_EVENTS_MAXLEN,
    ) -> None:
        if processes < 1:
            raise ValueError("update processes must be >= 1")
        if not apps:
            raise ValueError("update worker processes need the app paths to import")
        self._apps = tuple(apps)
        self._redis_url = redis.url
        self._settings = settings
        self._events_retention = events_retention
        self._context = multiprocessing.get_context("spawn")
        self._queues: list[SimpleQueue[Any]] = [self._context.SimpleQueue() for _ in range(processes)]
        self._processes: list[BaseProcess | None] = [None] * processes
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="motion-update-processes", daemon=True)

    def start(self) -> UpdateProcesses:
        for index in range(len(self._queues)):
            self._spawn(index)
        self._monitor.start()
        return self

    def wake(self, keys: InstanceKeys) -> None:
        """Tell the process that owns this instance to drain it."""
        index = zlib.crc32(keys.tag.encode()) % len(self._queues)
        self._queues[index].put((keys.component, keys.instance_id))

    def stop(self, timeout: float = 15.0) -> None:
        """Workers finish the op in hand, hand their leases back and exit."""
        self._stopping.set()
        for queue in self._queues:
            queue.put(None)
        for process in self._processes:
            if process is None:
                continue
            process.join(timeout)
            if process.is_alive():
                log.warning("update process %s did not stop in time; terminating it", process.pid)
                process.terminate()
                process.join(5)

    def _spawn(self, index: int) -> None:
        process = self._context.Process(
            target=run_worker,
            args=(self._apps, self._redis_url, self._settings, self._events_retention, self._queues[index]),
            name=f"motion-update-process-{index}",
            daemon=True,
        )
        process.start()
        self._processes[index] = process

    def _watch(self) -> None:
        while not self._stopping.wait(MONITOR_SECONDS):
            for index, process in enumerate(self._processes):
                if process is not None and not process.is_alive() and not self._stopping.is_set():
                    log.warning(
                        "update process %s exited (%s); starting another", process.pid, process.exitcode
                    )
                    self._spawn(index)


def run_worker(
    apps: Sequence[str],
    redis_url: str,
    settings: EngineSettings,
    events_retention: int,
    queue: SimpleQueue[Any],
) -> None:
    """Body of one update worker process: an engine that only applies updates."""
    from motion_grpc.server.loader import load_components

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when its workers stop
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(processName)s: %(message)s")
    store = Store(RedisSettings(url=redis_url).client(), events_maxlen=events_retention)
    engine = Engine(store, load_components(apps), settings).start()
    try:
        while (item := queue.get()) is not None:
            component, instance_id = item
            engine.drain_soon(InstanceKeys.of(component, instance_id))
    finally:
        engine.close()
