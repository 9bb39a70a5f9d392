"""A replica on every core: Run throughput of `serve --processes 2` beside one process.

Both sides get the same clients, each on a connection of its own (the kernel
spreads connections, not calls, over the processes sharing the port). On a
machine with 2 cores the load generator and Redis run on the same cores, so
the second process competes with them: see bench/README.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.env import Env
from bench.report import Figure
from bench.scenarios._common import OURS, FigureSpec, Scenario, Side, figures, grpc_load, per_concurrency

NAME = "processes"
PROCESSES = 2
ONE = "one"
NOTE = "one connection per client; clients, Redis and servers share the machine's cores"


def _specs(clients: int) -> list[FigureSpec]:
    return [
        FigureSpec(
            f"Run throughput, {clients} clients, {PROCESSES} processes vs 1",
            "req/s",
            "throughput",
            ONE,
            target="report",
            note=NOTE,
        ),
        FigureSpec(f"Run p99, {clients} clients, {PROCESSES} processes vs 1", "ms", "p99_ms", ONE),
    ]


def _sides(env: Env, clients: int) -> dict[str, Side]:
    def several() -> str:
        return env.motion_grpc(processes=PROCESSES)

    return {
        OURS: Side(
            f"motion-grpc --processes {PROCESSES}",
            grpc_load(env, several, clients, connection_per_client=True),
        ),
        ONE: Side(
            "motion-grpc, 1 process", grpc_load(env, env.motion_grpc, clients, connection_per_client=True)
        ),
    }


def clients_figures(clients: int, sides: Mapping[str, Side]) -> list[Figure]:
    return figures(NAME, _specs(clients), sides)


def run(env: Env) -> list[Figure]:
    return per_concurrency(env, _sides, clients_figures)


SCENARIO = Scenario(NAME, f"Run throughput with {PROCESSES} serving processes beside 1", run)
