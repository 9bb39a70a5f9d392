"""Scenarios of the issue not measured yet: reported as such, never with made-up numbers."""

from __future__ import annotations

from bench.env import Env
from bench.report import Figure, not_measured
from bench.scenarios._common import Scenario

NAME = "later"
NOT_WRITTEN = "bench scenario not written yet"
LATER = [
    "2,000 concurrent WatchUpdates watchers",
    "100,000 instances",
    "graceful shutdown under load",
]


def run(env: Env) -> list[Figure]:
    return [not_measured(NAME, name, "not yet measured", NOT_WRITTEN) for name in LATER]


SCENARIO = Scenario(NAME, "scenarios not measured yet", run)
