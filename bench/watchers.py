"""Run latency with and without thousands of open WatchUpdates streams on the same replica.

    .venv/bin/python -m bench.watchers [--watchers 2000] [--runs 2000] [--instances 2000]

Starts a Redis and one `motion-grpc serve bench/apps/trivial.py`, then
measures sequential Run p50/p99 from this process: first with no watch open,
then while a separate process holds N open watches (spread over
--instances other instances, so they are idle apart from heartbeats), then
with N watches on the very instance being run (every Run fans its 3 events
out to all N). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from motion_grpc import AsyncMotionClient, MotionClient
from motion_grpc.store import RedisServer
from motion_grpc.store.embedded import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "bench", "apps", "trivial.py")
MOTION_GRPC = os.path.join(os.path.dirname(sys.executable), "motion-grpc")
CHANNELS = 20  # watches are spread over several HTTP/2 connections, as many clients would


def measure(target: str, instance: str, runs: int) -> dict[str, float]:
    with MotionClient(target) as client:
        handle = client.instance("Trivial", instance)
        for _ in range(min(200, runs)):
            handle.run("add", {"value": 1})
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            handle.run("add", {"value": 1})
            samples.append(time.perf_counter() - started)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples) * 1000, 3),
        "p99_ms": round(samples[int(len(samples) * 0.99)] * 1000, 3),
    }


async def hold(target: str, count: int, instances: list[str]) -> None:
    """Open `count` watches round-robin over `instances`, say so, and keep them until stdin closes."""
    clients = [AsyncMotionClient(target) for _ in range(CHANNELS)]
    watches: list[Any] = []
    for start in range(0, count, 200):
        batch = range(start, min(count, start + 200))
        opened = await asyncio.gather(
            *(
                clients[i % CHANNELS]
                .instance("Trivial", instances[i % len(instances)])
                .watch(create_if_missing=True)
                for i in batch
            )
        )
        watches += opened

    async def drain(watch: Any) -> None:
        async for _ in watch:
            pass

    tasks = [asyncio.create_task(drain(watch)) for watch in watches]
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    for watch in watches:
        watch.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        await client.close()


def with_watchers(target: str, count: int, instances: list[str], run_instance: str, runs: int) -> Any:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.watchers",
            "--hold",
            target,
            "--watchers",
            str(count),
            "--instance-ids",
            ",".join(instances),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        opened_at = time.perf_counter()
        if holder.stdout.readline().strip() != "ready":
            raise RuntimeError("the watch holder failed")
        opened_s = round(time.perf_counter() - opened_at, 2)
        time.sleep(1.0)
        return opened_s, measure(target, run_instance, runs)
    finally:
        holder.stdin.close()
        holder.wait(60)
        holder.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--watchers", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument(
        "--instances", type=int, default=2000, help="distinct instances the idle watches watch"
    )
    parser.add_argument(
        "--hot-runs", type=int, default=200, help="runs while every watch watches the run's instance"
    )
    parser.add_argument("--hold", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--instance-ids", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold:
        asyncio.run(hold(args.hold, args.watchers, args.instance_ids.split(",")))
        return
    with RedisServer(appendonly=False) as redis:
        port = free_port()
        target = f"127.0.0.1:{port}"
        server = subprocess.Popen(
            [MOTION_GRPC, "serve", APP, "--port", str(port), "--redis", redis.url, "--log-level", "WARNING"]
        )
        try:
            MotionClient(target).wait_ready(30)
            report: dict[str, Any] = {"watchers": args.watchers, "runs": args.runs}
            report["no_watchers"] = measure(target, "run-0", args.runs)
            idle = [f"watched-{i}" for i in range(args.instances)]
            opened, report["idle_watchers"] = with_watchers(target, args.watchers, idle, "run-1", args.runs)
            report["idle_watchers"]["open_s"] = opened
            report["idle_watchers"]["instances"] = args.instances
            report["no_watchers_again"] = measure(target, "run-2", args.runs)
            print(json.dumps(report), file=sys.stderr, flush=True)
            opened, report["hot_watchers"] = with_watchers(
                target, args.watchers, ["run-3"], "run-3", args.hot_runs
            )
            report["hot_watchers"]["open_s"] = opened
            print(json.dumps(report, indent=2))
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
