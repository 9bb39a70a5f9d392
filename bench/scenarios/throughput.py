"""Closed-loop Run at 8 and 32 concurrent clients (client processes), beside the bare and the
durable-enqueue limits and, at 8 clients, beside Motion's FastAPI Application under uvicorn."""

from __future__ import annotations

from collections.abc import Mapping

from bench.env import Env
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
    http_load,
    limits,
    per_concurrency,
)

NAME = "throughput"
MOTION_CLIENTS = 8
THROUGHPUT_TARGET = ">= 0.6x"


def _specs(clients: int) -> list[FigureSpec]:
    specs = [
        FigureSpec(f"Run throughput, {clients} clients, vs bare limit", "req/s", "throughput", BARE),
        FigureSpec(
            f"Run throughput, {clients} clients, vs durable-enqueue limit",
            "req/s",
            "throughput",
            DURABLE,
            target=THROUGHPUT_TARGET,
        ),
        FigureSpec(f"Run p99, {clients} clients, vs durable-enqueue limit", "ms", "p99_ms", DURABLE),
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
    sides = {OURS: Side("motion-grpc", grpc_load(env, env.motion_grpc, clients)), **echo_sides(env, clients)}
    if clients == MOTION_CLIENTS:
        sides["motion"] = Side("Motion 0.1.132 FastAPI+uvicorn", http_load(env, clients))
    return sides


def clients_figures(clients: int, sides: Mapping[str, Side]) -> list[Figure]:
    """The rows of one concurrency: each limit is the server with the higher throughput in each round."""
    return figures(NAME, _specs(clients), {**sides, **limits(sides, "throughput", True)})


def run(env: Env) -> list[Figure]:
    return per_concurrency(env, _sides, clients_figures)


SCENARIO = Scenario(NAME, "Run throughput and tail latency under concurrent clients", run)
