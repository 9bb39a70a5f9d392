"""Metrics of update worker processes (`--update-processes N`), on the serving process's endpoint.

The workers record into files: prometheus_client's multiprocess mode, which a
process takes when PROMETHEUS_MULTIPROC_DIR names a directory as it starts.
The serving process makes that directory before it starts its workers, and
at each scrape adds what they recorded to its own samples, sample by sample,
so one endpoint counts every update the replica applied. The serving
process's own metrics stay in memory: it had chosen before the variable was
set. A worker that exits keeps its counts (totals never go back); its gauges
are dropped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from motion_grpc.observability.metrics import REGISTRY

#: The variable prometheus_client reads as a process starts (see the module's doc).
DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_Labels = tuple[tuple[str, str], ...]


class WorkerMetrics:
    """The directory this process's update workers record into, and the view that adds them."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="motion-worker-metrics-")
        os.environ[DIRECTORY_VARIABLE] = self.directory  # inherited by the workers started next

    def process_ended(self, pid: int) -> None:
        """Drop the gauges of a worker that exited (a replacement records into files of its own)."""
        multiprocess.mark_process_dead(pid, self.directory)  # type: ignore[no-untyped-call]

    def registry(self) -> CollectorRegistry:
        """This process's metrics with the workers' added: what the endpoint serves."""
        registry = CollectorRegistry(auto_describe=False)
        workers = multiprocess.MultiProcessCollector(None, self.directory)  # type: ignore[no-untyped-call]
        registry.register(Combined([REGISTRY, workers]))
        return registry

    def close(self) -> None:
        """Once the workers have stopped: remove their files."""
        if os.environ.get(DIRECTORY_VARIABLE) == self.directory:
            del os.environ[DIRECTORY_VARIABLE]
        shutil.rmtree(self.directory, ignore_errors=True)


class Combined(Collector):
    """The samples of several collectors as one: a sample several of them have (same name and
    labels: a counter, a histogram bucket, a gauge summed over processes) is added up."""

    def __init__(self, sources: Iterable[Collector]) -> None:
        self._sources = list(sources)

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, _Labels], float]] = {}
        for source in self._sources:
            for family in source.collect():
                if family.name not in families:
                    families[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                    values[family.name] = {}
                found = values[family.name]
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    found[key] = found.get(key, 0.0) + sample.value
        for name, family in families.items():
            for (sample_name, labels), value in values[name].items():
                family.add_sample(sample_name, dict(labels), value)
            yield family
