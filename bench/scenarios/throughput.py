"""Closed-loop Run at 8 and 32 concurrent clients (client processes), beside the bare server
and, at 8 clients, beside Motion's FastAPI Application under uvicorn."""

from __future__ import annotations

from bench.env import Env
from bench.report import Figure
from bench.scenarios._common import (
    OURS,
    FigureSpec,
    Scenario,
    Side,
    figures,
    grpc_load,
    http_load,
    interleave,
)

NAME = "throughput"
MOTION_CLIENTS = 8


def _specs(clients: int) -> list[FigureSpec]:
    specs = [
        FigureSpec(f"Run throughput, {clients} clients", "req/s", "throughput", "echo", target=">= 0.8x"),
        FigureSpec(f"Run p99, {clients} clients", "ms", "p99_ms", "echo"),
    ]
    if clients == MOTION_CLIENTS:
        specs += [
            FigureSpec(
                f"Run throughput, {clients} clients vs Motion HTTP",
                "req/s",
                "throughput",
                "motion",
                target=">= 10x",
            ),
            FigureSpec(
                f"Run p50, {clients} clients vs Motion HTTP", "ms", "p50_ms", "motion", target="<= 0.1x"
            ),
        ]
    return specs


def _sides(env: Env, clients: int) -> dict[str, Side]:
    sides = {
        OURS: Side("motion-grpc", grpc_load(env, env.motion_grpc, clients)),
        "echo": Side("bare grpc.aio", grpc_load(env, env.echo, clients)),
    }
    if clients == MOTION_CLIENTS:
        sides["motion"] = Side("Motion 0.1.132 FastAPI+uvicorn", http_load(env, clients))
    return sides


def run(env: Env) -> list[Figure]:
    by_clients = {clients: _sides(env, clients) for clients in env.profile.concurrency}
    every_side = {
        f"{clients}/{key}": side for clients, sides in by_clients.items() for key, side in sides.items()
    }
    interleave(env.profile.rounds, every_side)
    return [
        figure for clients, sides in by_clients.items() for figure in figures(NAME, _specs(clients), sides)
    ]


SCENARIO = Scenario(NAME, "Run throughput and tail latency under concurrent clients", run)
