"""Measurements of Motion 0.1.132 itself; runs inside bench/.motion-venv, prints one JSON line.

    python -m bench.motion_side inprocess --calls 1000
    python -m bench.motion_side drain --updates 2000
    python -m bench.motion_side pickup --samples 30
    python -m bench.motion_side serve-http --port 8000 --api-key KEY
    python -m bench.motion_side llm --kind async --users 200 --prefix P --cap 20 --create-cap 20

Redis comes from MOTION_REDIS_HOST / MOTION_REDIS_PORT / MOTION_REDIS_DB, set
by the bench. Standard library, Motion and uvicorn only: our venv's packages
are not importable here.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.stats import Recorder, time_calls

WARMUP_CALLS = 50
PICKUP_IDLE = 0.02


def _instance(component: Any, prefix: str) -> Any:
    return component(f"{prefix}-{uuid.uuid4().hex[:12]}", logging_level="ERROR")


def inprocess(calls: int) -> dict[str, float]:
    """p50/p99 of `instance.run` on a cache miss (props differ every call)."""
    from bench.apps.motion_trivial import Trivial

    instance = _instance(Trivial, "inproc")
    recorder = time_calls(lambda i: instance.run("add", props={"value": i}), calls, WARMUP_CALLS)
    instance.shutdown()
    return recorder.summary().as_ms()


def drain(updates: int) -> dict[str, float]:
    """Enqueue `updates` runs on one instance, then time the backlog's drain (flush_update)."""
    from bench.apps.motion_trivial import Trivial

    instance = _instance(Trivial, "drain")
    started = time.perf_counter()
    for i in range(updates):
        instance.run("add", props={"value": 1, "i": i})
    enqueued = time.perf_counter()
    applied_at_enqueued = int(instance.read_state("value"))
    instance.flush_update("add")
    done = time.perf_counter()
    applied = int(instance.read_state("value"))
    instance.shutdown()
    return drain_figures(updates, applied, applied_at_enqueued, started, enqueued, done)


def drain_figures(
    updates: int, applied: int, applied_at_enqueued: int, started: float, enqueued: float, done: float
) -> dict[str, float]:
    """Drain rates from the timestamps of one drain round (shared with the motion-grpc side)."""
    if applied != updates:
        raise RuntimeError(f"flush returned with {applied} of {updates} updates applied")
    return {
        "backlog": updates - applied_at_enqueued,
        "backlog_per_s": (updates - applied_at_enqueued) / (done - enqueued),
        "end_to_end_per_s": updates / (done - started),
    }


def pickup(samples: int) -> dict[str, float]:
    """Enqueue-to-update-start while the worker is idle: the update op stores how long it waited."""
    from bench.apps.motion_trivial import Pickup

    instance = _instance(Pickup, "pickup")
    recorder = Recorder()
    for i in range(samples):
        time.sleep(PICKUP_IDLE)
        instance.run("stamp", props={"i": i})
        instance.flush_update("stamp")
        recorder.add(float(instance.read_state("waited")))
    instance.shutdown()
    return recorder.summary().as_ms()


def serve_http(port: int, api_key: str) -> None:
    """Motion's FastAPI Application for the trivial component, served by uvicorn."""
    import uvicorn
    from motion import Application

    from bench.apps.motion_trivial import Trivial

    app = Application(components=[Trivial], api_key=api_key).get_app()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def llm(args: argparse.Namespace) -> None:
    """The LLM-shaped users of bench/llm_users.py on Motion's instances; prints their Outcome and exits."""
    from bench.apps.motion_llm import LlmAsync, LlmSync
    from bench.llm_users import print_and_exit, run_instances

    component = LlmAsync if args.kind == "async" else LlmSync
    ids = [f"{args.prefix}-{user}" for user in range(args.users)]

    def make(instance_id: str) -> Any:
        return component(instance_id, logging_level="ERROR")

    print_and_exit(run_instances(make, args.kind, ids, args.cap, args.create_cap))


TASKS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "inprocess": lambda args: inprocess(args.calls),
    "drain": lambda args: drain(args.updates),
    "pickup": lambda args: pickup(args.samples),
    "serve-http": lambda args: serve_http(args.port, args.api_key),
    "llm": llm,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure Motion 0.1.132.")
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", default="bench")
    parser.add_argument("--kind", choices=("sync", "async"), default="async")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--prefix", default="llm")
    parser.add_argument("--cap", type=float, default=20.0, help="seconds the users may take once started")
    parser.add_argument("--create-cap", type=float, default=20.0, help="seconds creating instances may take")
    args = parser.parse_args()
    result = TASKS[args.task](args)
    if result is not None:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
