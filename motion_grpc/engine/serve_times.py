"""How long each flow's serve op takes, to choose how to serve it."""

from __future__ import annotations

import threading

_WEIGHT = 0.1


class ServeTimes:
    """A moving average of serve op durations per (component, flow).

    Cheap serve ops are served optimistically from the local snapshot (and run
    again in the rare case it was stale); slow ones, an LLM call typically,
    always check the version first, so they never run twice.
    """

    def __init__(self, fast_seconds: float) -> None:
        self._fast_seconds = fast_seconds
        self._averages: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def record(self, component: str, flow: str, seconds: float) -> None:
        key = (component, flow)
        with self._lock:
            average = self._averages.get(key)
            self._averages[key] = seconds if average is None else average + _WEIGHT * (seconds - average)

    def is_fast(self, component: str, flow: str) -> bool:
        average = self._averages.get((component, flow))
        return average is not None and average < self._fast_seconds
