"""The server's memory, open descriptors and threads, sampled from /proc, and the verdicts on them.

Memory: the soak's load samples are cut in thirds; RSS "has stopped growing"
when the last third grew by no more than half of what the first third grew,
or by no more than MEMORY_NOISE. Each third's growth is measured between the
medians of its first and last quarter of samples, so one spike (a burst of
allocations, a new thread's malloc arena) does not decide. A leak proportional
to the work grows each third by the same amount and fails; a warm-up that
fills caches grows the first third only and passes. The absolute floor means
a short run (CI's 45 s: thirds of about 12 s) only catches fast leaks; a slow
one (under a megabyte a third) needs `make soak`'s 10 minutes or longer.

Descriptors and threads: counted at rest (no client connected, no call in
flight) three times: after a warm-up round of the load (the starting count),
after the first half of the main load, and after the second half once every
update is accounted for. The second half must add no more than FD_SLACK /
THREAD_SLACK or half of what the first half added, whichever is more.
Connection pools keep their high-water mark of idle connections (measured:
the server's Redis connections grow from 18 to about 29 over the first few
rounds of this load, then stay), so "back to the starting count" is judged
against a warm server; a leak per call or per watch grows by the same amount
in each half (thousands of calls) and fails.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import dataclass

MB = 1024 * 1024
MEMORY_NOISE = 1 * MB
#: Idle pooled connections at rest vary with the peak concurrency each half reached: by up to 7
#: between halves measured on a machine also busy with other work (27 -> 34). A leak per call
#: or per watch adds hundreds over a half.
FD_SLACK = 8
THREAD_SLACK = 1


@dataclass(frozen=True)
class Sample:
    at: float
    rss: int
    fds: int
    threads: int
    phase: str


def measure(pid: int) -> tuple[int, int, int]:
    """RSS in bytes, open descriptors and threads of a live process."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return int(fields["VmRSS"][0]) * 1024, fds, int(fields["Threads"][0])


class Sampler:
    """Samples a process every `interval` seconds in a thread, tagging each sample with the current phase."""

    def __init__(self, pid: int, interval: float) -> None:
        self._pid = pid
        self._interval = interval
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soak-sampler", daemon=True)
        self.samples: list[Sample] = []
        self.phase = "setup"

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def sample(self) -> Sample:
        rss, fds, threads = measure(self._pid)
        sample = Sample(time.monotonic() - self._started, rss, fds, threads, self.phase)
        self.samples.append(sample)
        return sample

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.sample()
            except (FileNotFoundError, ProcessLookupError):
                return  # the server is gone: the soak's liveness check says so

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def of_phase(self, phase: str) -> list[Sample]:
        return [sample for sample in self.samples if sample.phase == phase]


def _growth(samples: list[Sample]) -> float:
    edge = max(1, len(samples) // 4)
    return statistics.median(s.rss for s in samples[-edge:]) - statistics.median(
        s.rss for s in samples[:edge]
    )


def memory_verdict(load: list[Sample]) -> str | None:
    """Why RSS has not stopped growing over the load samples, or None when it has."""
    if len(load) < 9:
        return f"only {len(load)} samples under load: too few to judge memory"
    third = len(load) // 3
    first, last = _growth(load[:third]), _growth(load[-third:])
    if last <= max(MEMORY_NOISE, first / 2):
        return None
    return (
        f"RSS still grows: {last / MB:.1f} MB over the last third of the load, "
        f"{first / MB:.1f} MB over the first (allowed: max({MEMORY_NOISE / MB:.0f} MB, half the first))"
    )


def rest_verdict(what: str, counts: tuple[int, int, int], slack: int) -> str | None:
    """Why `what` (fds, threads) still grows between the three counts at rest, or None when it does not."""
    start, middle, end = counts
    if end - middle <= max(slack, (middle - start) / 2):
        return None
    return f"{what} at rest: {start} when warm, {middle} after half the load, {end} after all of it"


def rest_verdicts(rests: list[Sample]) -> list[str]:
    fds = rest_verdict("descriptors", (rests[0].fds, rests[1].fds, rests[2].fds), FD_SLACK)
    threads = rest_verdict("threads", (rests[0].threads, rests[1].threads, rests[2].threads), THREAD_SLACK)
    return [verdict for verdict in (fds, threads) if verdict]


def table(samples: list[Sample]) -> str:
    lines = [f"{'t (s)':>8} {'phase':>8} {'RSS (MB)':>9} {'fds':>5} {'threads':>7}"]
    lines += [f"{s.at:8.1f} {s.phase:>8} {s.rss / MB:9.1f} {s.fds:5d} {s.threads:7d}" for s in samples]
    return "\n".join(lines)
