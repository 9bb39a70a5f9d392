"""Queue depth, read from Redis at each scrape: the same cluster-wide figure on every replica.

Counting enqueues and commits per process cannot give a queue's depth when
several replicas and in-process users share it; Redis knows. Each scrape
reads, per hosted component, how many instances have queued updates (the
pending set) and sums the queue lengths of the first `scan` of them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from motion_grpc.logs import RateLimitedLog
from motion_grpc.store.keys import InstanceKeys, pending_key

log = logging.getLogger(__name__)
_limited = RateLimitedLog(log)

#: Pending instances whose queues are summed per scrape (pipelined XLENs).
SCAN = 1000


class QueueCollector(Collector):
    """motion_instances_with_updates and motion_update_queue_depth, by component."""

    def __init__(self, client: Any, components: Sequence[str], scan: int = SCAN) -> None:
        self._client = client
        self._components = list(components)
        self._scan = scan

    def collect(self) -> Iterator[GaugeMetricFamily]:
        instances = GaugeMetricFamily(
            "motion_instances_with_updates",
            "Instances with queued updates, cluster-wide (same on every replica: aggregate with max)",
            labels=["component"],
        )
        depth = GaugeMetricFamily(
            "motion_update_queue_depth",
            f"Queued update entries, cluster-wide, summed over at most {self._scan} instances per "
            "component (same on every replica: aggregate with max)",
            labels=["component"],
        )
        for component in self._components:
            try:
                pending, queued = self._read(component)
            except redis.exceptions.RedisError as exc:
                _limited.warning("queue-depth", "cannot read queue depth from Redis: %s", exc)
                continue
            instances.add_metric([component], pending)
            depth.add_metric([component], queued)
        yield instances
        yield depth

    def _read(self, component: str) -> tuple[int, int]:
        key = pending_key(component)
        pending = int(self._client.zcard(key))
        ids = self._client.zrange(key, 0, self._scan - 1)
        pipe = self._client.pipeline(transaction=False)
        for raw in ids:
            instance_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            pipe.xlen(InstanceKeys.of(component, instance_id).updates)
        return pending, sum(int(length) for length in pipe.execute())

    def close(self) -> None:
        self._client.close()


__all__ = ["QueueCollector"]
