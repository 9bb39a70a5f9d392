"""How long each op takes, to choose how to run it."""

from __future__ import annotations

import threading

_WEIGHT = 0.1


class OpTimes:
    """A moving average of op durations per (component, op key).

    Cheap serve ops are served optimistically from the local snapshot (and run
    again in the rare case it was stale); slow ones, an LLM call typically,
    always check the version first, so they never run twice. Cheap update ops
    are applied in groups with one commit; slow ones one by one, so each
    commits as soon as it is done.
    """

    def __init__(self, fast_seconds: float) -> None:
        self._fast_seconds = fast_seconds
        self._averages: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        #: Bumped whenever an op is timed for the first time or turns fast or slow, so what
        #: is derived from `timed` and `is_fast` can be kept until it changes.
        self.generation = 0

    def record(self, component: str, op: str, seconds: float) -> None:
        key = (component, op)
        with self._lock:
            average = self._averages.get(key)
            updated = seconds if average is None else average + _WEIGHT * (seconds - average)
            self._averages[key] = updated
            if average is None or (average < self._fast_seconds) != (updated < self._fast_seconds):
                self.generation += 1

    def timed(self, component: str, op: str) -> bool:
        """Whether the op has run here at least once."""
        return (component, op) in self._averages

    def is_fast(self, component: str, op: str) -> bool:
        average = self._averages.get((component, op))
        return average is not None and average < self._fast_seconds
