"""Instances nobody targets: made at session start, their Redis keys digested, re-checked after each test.

Hostile calls on other instances must not touch them: neither their Redis
keys (state, meta, queue, events, cache, attempts) nor what GetState answers.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from motion_grpc import MotionClient
from motion_grpc.store.keys import InstanceKeys, index_key
from tests.property.strategies import COMPONENT

COUNT = 12


@dataclass(frozen=True)
class Snapshot:
    digest: str
    states: dict[str, tuple[dict[str, Any], int]]


class Bystanders:
    def __init__(self, client: MotionClient, redis_url: str) -> None:
        self.ids = [f"bystander-{index}-{uuid.uuid4().hex[:8]}" for index in range(COUNT)]
        self._client = client
        self._redis = redis.Redis.from_url(redis_url)
        self.baseline: Snapshot | None = None

    def create(self) -> Bystanders:
        for index, instance_id in enumerate(self.ids):
            handle = self._client.instance(COMPONENT, instance_id)
            for run in range(index % 3 + 1):
                handle.run("echo", {"run": run, "of": instance_id}, flush_update=True)
            handle.write_state({"note": f"bystander {index}", "nested": {"list": [index, "x"]}})
        self.baseline = self.snapshot()
        return self

    def snapshot(self) -> Snapshot:
        return Snapshot(self._digest(), {i: self._state(i) for i in self.ids})

    def _state(self, instance_id: str) -> tuple[dict[str, Any], int]:
        handle = self._client.instance(COMPONENT, instance_id)
        return handle.get_state(timeout=15), handle.version

    def _digest(self) -> str:
        """Every stored byte of every bystander (leases and init locks are transient, left out)."""
        pipe = self._redis.pipeline(transaction=False)
        for instance_id in self.ids:
            keys = InstanceKeys.of(COMPONENT, instance_id)
            for key in (keys.state, keys.meta, keys.updates, keys.events, keys.cache, keys.attempts):
                pipe.dump(key)
            pipe.dump(keys.gone)
            pipe.sismember(index_key(COMPONENT), instance_id)
        hasher = hashlib.sha256()
        for item in pipe.execute():
            hasher.update(repr(item).encode())
        return hasher.hexdigest()

    def changes(self) -> list[str]:
        """What differs from the baseline: the digest, or a bystander's state or version."""
        assert self.baseline is not None
        now = self.snapshot()
        before = self.baseline.states
        found = [f"{i}: {before[i]} became {now.states[i]}" for i in self.ids if now.states[i] != before[i]]
        if now.digest != self.baseline.digest:
            found.append("the digest of the bystanders' Redis keys changed")
        return found

    def close(self) -> None:
        self._redis.close()
