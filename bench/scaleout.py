"""Aggregate update throughput of 1 vs 2 replicas draining 1,000 instances.

    .venv/bin/python -m bench.scaleout [--instances 1000] [--updates 10] [--sleep 0 0.005]

For each op duration (`--sleep`, seconds the update op sleeps, like a model
call) and each replica count, a fresh Redis is filled with `instances x
updates` queued updates (by an in-process engine that does not apply them),
then the replicas are started together and drain everything. Throughput is
the number of applied updates over the time from the first op start to the
last commit, both read from the instances' event streams.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from motion_grpc.engine import Engine, EngineSettings
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisServer, RedisSettings
from motion_grpc.store.embedded import free_port
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import parse_event

ROOT = pathlib.Path(__file__).resolve().parent.parent
APP = str(ROOT / "tests" / "apps" / "faultapp.py")
COMPONENT = "Journal"
RUNNING, APPLIED = 2, 3


def _fill(url: str, instances: int, updates: int, sleep: float) -> list[InstanceKeys]:
    engine = Engine(RedisSettings(url), load_components([APP]), EngineSettings(process_updates=False)).start()
    ids = [f"bench-{n}" for n in range(instances)]

    def fill_one(instance_id: str) -> None:
        for i in range(updates):
            engine.run(COMPONENT, instance_id, "append", {"i": i, "sleep": sleep})

    try:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(fill_one, ids))
    finally:
        engine.close()
    return [InstanceKeys.of(COMPONENT, instance_id) for instance_id in ids]


def _start_replicas(url: str, count: int, workers: int) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOTION_")}
    env["MOTION_LOG_LEVEL"] = "WARNING"
    motion = str(pathlib.Path(sys.executable).parent / "motion-grpc")
    processes = []
    for _ in range(count):
        port = free_port()
        command = [
            motion,
            "serve",
            APP,
            "--port",
            str(port),
            "--redis",
            url,
            "--update-workers",
            str(workers),
        ]
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL))
    return processes


def _drained(client: object, keys: list[InstanceKeys]) -> bool:
    pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
    for instance in keys:
        pipe.xlen(instance.updates)
    return not any(pipe.execute())


def _span(client: object, keys: list[InstanceKeys]) -> tuple[int, float]:
    """(applied updates, seconds from the first op start to the last commit)."""
    pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
    for instance in keys:
        pipe.xrange(instance.events, "-", "+")
    first, last, applied = float("inf"), 0.0, 0
    for raw in pipe.execute():
        for raw_id, fields in raw:
            event = parse_event(raw_id, fields)
            if event.status == RUNNING:
                first = min(first, event.at_ms / 1000)
            elif event.status == APPLIED:
                last = max(last, event.at_ms / 1000)
                applied += 1
    return applied, last - first


def measure(replicas: int, instances: int, updates: int, sleep: float, workers: int) -> float:
    with RedisServer(tempfile.mkdtemp(prefix="motion-scaleout-"), appendonly=False) as redis_server:
        keys = _fill(redis_server.url, instances, updates, sleep)
        client = RedisSettings(redis_server.url).client()
        processes = _start_replicas(redis_server.url, replicas, workers)
        try:
            deadline = time.monotonic() + 600
            while not _drained(client, keys):
                if time.monotonic() > deadline:
                    raise TimeoutError("the replicas did not drain the queues")
                time.sleep(0.1)
            applied, seconds = _span(client, keys)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)
            client.close()
    assert applied == instances * updates, (applied, instances * updates)
    return applied / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=10, help="queued updates per instance")
    parser.add_argument("--sleep", type=float, nargs="+", default=[0.0, 0.005], help="op durations (s)")
    parser.add_argument("--workers", type=int, default=4, help="update workers per replica")
    args = parser.parse_args()
    print(f"{args.instances} instances x {args.updates} updates, {args.workers} update workers per replica")
    for sleep in args.sleep:
        rates = {n: measure(n, args.instances, args.updates, sleep, args.workers) for n in (1, 2)}
        print(
            f"op {sleep * 1000:.0f} ms: 1 replica {rates[1]:,.0f} updates/s, "
            f"2 replicas {rates[2]:,.0f} updates/s (x{rates[2] / rates[1]:.2f})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
