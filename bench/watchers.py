"""Idle WatchUpdates streams held open by client processes, for the `watchers` scenario.

    .venv/bin/python -m bench.watchers [--profile quick] [--rounds N]   # the scenario alone

The watches are spread over `processes` spawned processes, each with
`channels` channels of its own (separate HTTP/2 connections, as many clients
would have), round-robin over the given instances. A watch counts as open
once its first message (the Progress naming its resume point) arrived; when
they are let go, each process also reports how many had ended by themselves
meanwhile, so the caller knows they really stayed open while it measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from typing import Any

OPEN_BATCH = 100  # watches opened at once per process, so opening does not flood the server
OPEN_TIMEOUT = 300.0
CLOSE_TIMEOUT = 60.0
COMPONENT = "Trivial"


@dataclass
class HeldWatches:
    """What the holders reported: filled in as they open the watches, and when they let go."""

    requested: int
    opened: int = 0
    open_seconds: float = 0.0
    ended_early: int | None = None  # known once the holders let go

    @property
    def all_open_throughout(self) -> bool:
        return self.opened == self.requested and self.ended_early == 0


@contextlib.contextmanager
def holding(address: str, instance_ids: list[str], processes: int, channels: int) -> Iterator[HeldWatches]:
    """Open one watch per id (creating missing instances) from client processes; close them on exit."""
    shares = [instance_ids[slot::processes] for slot in range(processes)]
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    messages: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
    workers = [
        context.Process(target=_hold_process, args=(address, share, channels, stop, messages), daemon=True)
        for share in shares
        if share
    ]
    held = HeldWatches(len(instance_ids))
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    try:
        held.opened = sum(_expect(messages, workers, "open", OPEN_TIMEOUT))
        held.open_seconds = time.perf_counter() - started
        yield held
        stop.set()
        held.ended_early = sum(_expect(messages, workers, "closed", CLOSE_TIMEOUT))
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
                worker.join()


def _expect(
    messages: multiprocessing.Queue[tuple[str, Any]], workers: list[Any], kind: str, timeout: float
) -> list[int]:
    """One `kind` count per worker; an error, a dead worker or silence raises."""
    deadline = time.monotonic() + timeout
    counts: list[int] = []
    while len(counts) < len(workers):
        try:
            got, payload = messages.get(timeout=0.2)
        except queue.Empty:
            crashed = [worker.exitcode for worker in workers if worker.exitcode not in (None, 0)]
            if crashed or time.monotonic() > deadline:
                raise RuntimeError(f"watch holders did not report {kind!r} (exit codes {crashed})") from None
            continue
        if got == "error":
            raise RuntimeError(f"watch holder failed: {payload}")
        counts.append(int(payload))
    return counts


def _hold_process(
    address: str, instance_ids: list[str], channels: int, stop: Event, messages: multiprocessing.Queue[Any]
) -> None:
    try:
        asyncio.run(_hold(address, instance_ids, channels, stop, messages))
    except BaseException as exc:
        messages.put(("error", f"{type(exc).__name__}: {exc}"))


async def _hold(
    address: str, instance_ids: list[str], channels: int, stop: Event, messages: multiprocessing.Queue[Any]
) -> None:
    from motion_grpc import AsyncMotionClient

    # A local subchannel pool per client: each one really gets a connection of its own.
    clients = [
        AsyncMotionClient(address, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(channels)
    ]
    try:
        watches: list[Any] = []
        for start in range(0, len(instance_ids), OPEN_BATCH):
            batch = range(start, min(len(instance_ids), start + OPEN_BATCH))
            # watch() returns once the stream's first message (a Progress) has arrived.
            watches += await asyncio.gather(
                *(
                    clients[i % channels].instance(COMPONENT, instance_ids[i]).watch(create_if_missing=True)
                    for i in batch
                )
            )
        readers = [asyncio.create_task(_read(watch)) for watch in watches]
        messages.put(("open", len(watches)))
        await asyncio.to_thread(stop.wait)
        messages.put(("closed", sum(reader.done() for reader in readers)))
        for watch in watches:
            watch.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    finally:
        for client in clients:
            await client.close()


async def _read(watch: Any) -> None:
    """Take whatever the stream sends (heartbeats, if any) until it ends."""
    async for _ in watch:
        pass


def main() -> int:
    from bench.__main__ import main as bench_main

    return bench_main(["--only", "watchers", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
