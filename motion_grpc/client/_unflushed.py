"""What a handle has run since its last flush, so the flush reports those updates' failures.

An update can fail within milliseconds of its Run, before the caller flushes;
the flush then asks the server for the outcomes from the first such update
on (FlushUpdatesRequest.since_update_id), not only of the ones still pending.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence


def _order(update_id: str) -> tuple[int, int]:
    ms, _, seq = update_id.partition("-")
    return int(ms), int(seq or 0)


class UnflushedUpdates:
    """The first update id of each flow's runs since that flow was last flushed."""

    def __init__(self) -> None:
        self._first: dict[str, str] = {}
        self._runs: dict[str, int] = {}  # runs recorded per flow, to see which ran during a flush
        self._lock = threading.Lock()

    def ran(self, flow: str, update_ids: Sequence[str]) -> None:
        if update_ids:
            with self._lock:
                self._first.setdefault(flow, update_ids[0])
                self._runs[flow] = self._runs.get(flow, 0) + 1

    def since(self, flow: str | None) -> tuple[str, dict[str, int]]:
        """The since_update_id for a flush of one flow (or all, with None), and a mark for `flushed`."""
        with self._lock:
            flows = [flow] if flow is not None else list(self._first)
            firsts = [self._first[name] for name in flows if name in self._first]
            mark = {name: self._runs[name] for name in flows if name in self._runs}
            return min(firsts, key=_order, default=""), mark

    def flushed(self, mark: dict[str, int]) -> None:
        """Forget the flows a successful flush covered, unless they ran again meanwhile (kept:
        their next flush may report an outcome twice, never miss one)."""
        with self._lock:
            for name, runs in mark.items():
                if self._runs.get(name) == runs:
                    self._first.pop(name, None)
                    self._runs.pop(name, None)
