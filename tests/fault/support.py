"""Shared pieces of the fault tests: replicas of the fault app, marks, events read from Redis."""

from __future__ import annotations

import os
import pathlib
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis

from motion_grpc import MotionClient
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Event, parse_event
from tests.helpers import ROOT, ServerProcess, assert_eventually, clean_env

FAULT_APP = str(ROOT / "tests" / "apps" / "faultapp.py")
COMPONENT = "Journal"
LEASE_TTL = 1.0
RUNNING, APPLIED, FAILED = 2, 3, 4


def replica(
    redis_url: str, marks: pathlib.Path, *args: str, log: pathlib.Path | None = None
) -> ServerProcess:
    """A server hosting the fault app, with a short lease, logging op starts to `marks`."""
    env = clean_env(MOTION_FAULT_MARKS=str(marks), MOTION_LOG_LEVEL="WARNING")
    return ServerProcess(
        apps=[FAULT_APP], redis_url=redis_url, args=["--lease-ttl", str(LEASE_TTL), *args], env=env, log=log
    )


def read_marks(path: pathlib.Path) -> list[tuple[int, int]]:
    """(pid, i) of every op start so far."""
    if not path.exists():
        return []
    marks = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            marks.append((int(parts[0]), int(parts[1])))
    return marks


def wait_for_mark(path: pathlib.Path, i: int, timeout: float = 30.0) -> int:
    """Wait until the op of update `i` starts; the pid of the process running it."""
    return assert_eventually(
        lambda: next((pid for pid, seen in read_marks(path) if seen == i), 0), timeout=timeout, interval=0.002
    )


def events(redis_url: str, instance_id: str) -> list[Event]:
    """Every update-status event of an instance of the fault app, oldest first."""
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.xrange(InstanceKeys.of(COMPONENT, instance_id).events, "-", "+")
    finally:
        client.close()
    return [parse_event(raw_id, fields) for raw_id, fields in raw]


def process_of(replicas: Sequence[ServerProcess], pid: int) -> ServerProcess:
    found = [r for r in replicas if r.process is not None and r.process.pid == pid]
    assert found, f"pid {pid} is none of the replicas"
    return found[0]


@dataclass
class Enqueuer:
    """A thread running `count` appends through one replica, items base + n, in order."""

    target: str
    instance_id: str
    base: int
    count: int
    sleep: Callable[[int], float] = lambda n: 0.005
    acknowledged: list[int] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with MotionClient(self.target) as client:
                handle = client.instance(COMPONENT, self.instance_id)
                for n in range(self.count):
                    handle.run("append", {"i": self.base + n, "sleep": self.sleep(n)}, timeout=10)
                    self.acknowledged.append(self.base + n)
        except BaseException as exc:
            self.errors.append(exc)


def check_exactly_once_in_order(items: list[int], bases: Sequence[int], count: int) -> None:
    """Every update applied once; each enqueuer's updates in its order."""
    assert len(items) == len(set(items)), "an update was applied twice"
    for base in bases:
        mine = [item for item in items if base <= item < base + count]
        assert mine == list(range(base, base + count))
    assert len(items) == count * len(bases)


def kill(pid: int, sig: int = signal.SIGKILL) -> float:
    """Send a signal; the wall-clock time it was sent."""
    sent = time.time()
    os.kill(pid, sig)
    return sent


def resumed_after(all_events: list[Event], since: float) -> float:
    """Seconds from `since` (wall clock) to the first update op started after it."""
    started = [e.at_ms for e in all_events if e.status == RUNNING and e.at_ms >= since * 1000]
    assert started, "no update op started after the kill"
    return min(started) / 1000 - since
