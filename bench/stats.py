"""The one latency-measurement helper every scenario uses, and summaries of samples.

Standard library only: `bench.motion_side` imports it inside Motion's own venv.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class LatencySummary:
    """Latency percentiles of one batch of samples, in seconds."""

    count: int
    p50: float
    p99: float
    mean: float

    def as_ms(self) -> dict[str, float]:
        return {"p50_ms": self.p50 * 1e3, "p99_ms": self.p99 * 1e3, "mean_ms": self.mean * 1e3}


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation, so p99 is a latency that really happened)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = math.ceil(fraction * len(ordered))
    return ordered[max(0, min(len(ordered), rank) - 1)]


class Recorder:
    """Collects call latencies: `with recorder.measure(): call()` works in sync and async code."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    @contextmanager
    def measure(self) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.samples.append(time.perf_counter() - start)

    def add(self, seconds: float) -> None:
        """Record a latency measured elsewhere (e.g. across processes with wall-clock stamps)."""
        self.samples.append(seconds)

    def summary(self) -> LatencySummary:
        return summarize(self.samples)


def summarize(samples: list[float]) -> LatencySummary:
    return LatencySummary(
        count=len(samples),
        p50=percentile(samples, 0.50),
        p99=percentile(samples, 0.99),
        mean=statistics.fmean(samples),
    )


def time_calls(call: Callable[[int], object], calls: int, warmup: int = 0) -> Recorder:
    """Call `call(i)` back to back: `warmup` times unrecorded, then `calls` times recorded."""
    for i in range(warmup):
        call(i)
    recorder = Recorder()
    for i in range(warmup, warmup + calls):
        with recorder.measure():
            call(i)
    return recorder


def median(values: list[float]) -> float:
    return float(statistics.median(values))
