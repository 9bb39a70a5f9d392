"""motion-grpc in-process (`inst.run`), measured in a process of its own ("spawn")."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from bench.stats import time_calls

WARMUP_CALLS = 50
TIMEOUT = 600.0


def _measure(redis_url: str, instance_id: str, calls: int) -> dict[str, float]:
    os.environ["MOTION_REDIS_URL"] = redis_url
    from bench.apps.trivial import Trivial

    instance = Trivial(instance_id)
    recorder = time_calls(lambda i: instance.run("add", props={"value": i}), calls, WARMUP_CALLS)
    instance.shutdown()
    return recorder.summary().as_ms()


def inprocess_latency(redis_url: str, instance_id: str, calls: int) -> dict[str, float]:
    """p50/p99/mean in ms of `calls` cache-missing `inst.run` calls on a fresh instance."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(_measure, redis_url, instance_id, calls).result(TIMEOUT)
