"""Latency of one sequential client: Run over gRPC, and `inst.run` in-process.

Ours (Run, cache miss) beside the two limits (the fastest bare echo server, and
the fastest echo server that also runs one enqueue script on Redis per call)
and beside Motion's in-process `instance.run`; our in-process `inst.run`
beside Motion's.
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.env import Env, run_motion_task
from bench.inprocess import inprocess_latency
from bench.report import Figure
from bench.scenarios._common import (
    BARE,
    DURABLE,
    OURS,
    FigureSpec,
    Scenario,
    Side,
    echo_sides,
    figures,
    grpc_load,
    interleave,
    limits,
)

NAME = "latency"
P50_TARGET = "<= 1.3x (stretch 1.15x)"
CACHE_MISS = "cache miss: props differ every call"

SPECS = [
    FigureSpec("Run p50, 1 client, vs bare limit", "ms", "p50_ms", BARE, note=CACHE_MISS),
    FigureSpec("Run p50, 1 client, vs durable-enqueue limit", "ms", "p50_ms", DURABLE, target=P50_TARGET),
    FigureSpec("Run p99, 1 client, vs bare limit", "ms", "p99_ms", BARE),
    FigureSpec("Run p99, 1 client, vs durable-enqueue limit", "ms", "p99_ms", DURABLE),
    FigureSpec(
        "Run p50 vs Motion in-process run",
        "ms",
        "p50_ms",
        "motion",
        target="< 1x",
        note="ours over gRPC from another process; Motion's call stays inside one process",
    ),
]
ASYNC_NOTE = (
    "component TrivialAsync: the same ops written `async def`, awaited on the server's loop; "
    "a sync op runs on a thread, a hand-off each way"
)
ASYNC_SPECS = [
    FigureSpec(
        "Run p50, 1 client, async def ops, vs durable-enqueue limit", "ms", "p50_ms", DURABLE, note=ASYNC_NOTE
    ),
    FigureSpec("Run p50, 1 client, async def ops vs sync ops", "ms", "p50_ms", "sync"),
]
INPROCESS_SPECS = [
    FigureSpec("in-process inst.run p50", "ms", "p50_ms", "motion", target="<= 0.35x"),
    FigureSpec("in-process inst.run p99", "ms", "p99_ms", "motion"),
]


def grpc_figures(ours: Side, echoes: Mapping[str, Side], motion: Side) -> list[Figure]:
    """The Run rows: each limit is the server with the lower p50 in each round."""
    return figures(NAME, SPECS, {OURS: ours, **limits(echoes, "p50_ms", False), "motion": motion})


def run(env: Env) -> list[Figure]:
    calls = env.profile.inprocess_calls
    motion = Side("Motion 0.1.132 in-process", lambda: run_motion_task(env, "inprocess", calls=calls))
    ours = Side("motion-grpc", grpc_load(env, env.motion_grpc, clients=1))
    ours_async = Side(
        "motion-grpc, async def ops", grpc_load(env, env.motion_grpc, clients=1, component="TrivialAsync")
    )
    echoes = echo_sides(env, clients=1)
    inprocess_sides = {
        OURS: Side(
            "motion-grpc in-process", lambda: inprocess_latency(env.redis_url(), env.unique("inproc"), calls)
        ),
        "motion": motion,
    }
    interleave(
        env.profile.rounds,
        {OURS: ours, "async": ours_async, **echoes, "motion": motion, "inprocess": inprocess_sides[OURS]},
    )
    async_sides = {OURS: ours_async, **limits(echoes, "p50_ms", False), "sync": ours}
    return (
        grpc_figures(ours, echoes, motion)
        + figures(NAME, ASYNC_SPECS, async_sides)
        + figures(NAME, INPROCESS_SPECS, inprocess_sides)
    )


SCENARIO = Scenario(NAME, "sequential Run and in-process run latency, cache miss", run)
