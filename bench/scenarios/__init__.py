"""The scenario registry, in the order they run and appear in the report."""

from __future__ import annotations

from bench.scenarios import (
    cost,
    cpu_update,
    drain,
    freshness,
    ghz,
    latency,
    llm,
    pickup,
    processes,
    scale,
    shutdown,
    throughput,
    watchers,
)
from bench.scenarios._common import Scenario

SCENARIOS: dict[str, Scenario] = {
    module.SCENARIO.name: module.SCENARIO
    for module in (
        latency,
        throughput,
        processes,
        drain,
        pickup,
        freshness,
        cpu_update,
        ghz,
        watchers,
        scale,
        shutdown,
        llm,
        cost,
    )
}

__all__ = ["SCENARIOS", "Scenario"]
