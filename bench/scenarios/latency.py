"""Latency of one sequential client: Run over gRPC, and `inst.run` in-process.

Ours (Run, cache miss) beside the bare grpc.aio server (the limit) and beside
Motion's in-process `instance.run`; our in-process `inst.run` beside Motion's.
"""

from __future__ import annotations

from bench.env import Env, run_motion_task
from bench.inprocess import inprocess_latency
from bench.report import Figure
from bench.scenarios._common import OURS, FigureSpec, Scenario, Side, figures, grpc_load, interleave

NAME = "latency"

SPECS = [
    FigureSpec(
        "Run p50, 1 client",
        "ms",
        "p50_ms",
        "echo",
        target="<= 1.3x (stretch 1.15x)",
        note="cache miss: props differ every call",
    ),
    FigureSpec("Run p99, 1 client", "ms", "p99_ms", "echo"),
    FigureSpec(
        "Run p50 vs Motion in-process run",
        "ms",
        "p50_ms",
        "motion",
        target="< 1x",
        note="ours over gRPC from another process; Motion's call stays inside one process",
    ),
]
INPROCESS_SPECS = [
    FigureSpec("in-process inst.run p50", "ms", "p50_ms", "motion", target="<= 0.4x"),
    FigureSpec("in-process inst.run p99", "ms", "p99_ms", "motion"),
]


def run(env: Env) -> list[Figure]:
    calls = env.profile.inprocess_calls
    motion = Side("Motion 0.1.132 in-process", lambda: run_motion_task(env, "inprocess", calls=calls))
    grpc_sides = {
        OURS: Side("motion-grpc", grpc_load(env, env.motion_grpc, clients=1)),
        "echo": Side("bare grpc.aio", grpc_load(env, env.echo, clients=1)),
        "motion": motion,
    }
    inprocess_sides = {
        OURS: Side(
            "motion-grpc in-process", lambda: inprocess_latency(env.redis_url(), env.unique("inproc"), calls)
        ),
        "motion": motion,
    }
    interleave(env.profile.rounds, {**grpc_sides, "inprocess": inprocess_sides[OURS]})
    return figures(NAME, SPECS, grpc_sides) + figures(NAME, INPROCESS_SPECS, inprocess_sides)


SCENARIO = Scenario(NAME, "sequential Run and in-process run latency, cache miss", run)
