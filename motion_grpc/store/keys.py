"""Every Redis key motion-grpc uses is named here.

All keys of one instance share one hash tag, a digest of (component,
instance id), so any id is safe in a key and every multi-key script touches
a single Redis Cluster slot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

PREFIX = "motion"


def instance_tag(component: str, instance_id: str) -> str:
    digest = hashlib.blake2b(f"{component}\0{instance_id}".encode(), digest_size=12).hexdigest()
    return "{" + digest + "}"


@dataclass(frozen=True)
class InstanceKeys:
    """The keys of one instance."""

    component: str
    instance_id: str
    tag: str

    @classmethod
    def of(cls, component: str, instance_id: str) -> InstanceKeys:
        return cls(component, instance_id, instance_tag(component, instance_id))

    def _key(self, name: str) -> str:
        return f"{PREFIX}:{self.tag}:{name}"

    @property
    def state(self) -> str:
        """Hash: one field per state key, cloudpickle values."""
        return self._key("state")

    @property
    def meta(self) -> str:
        """Hash: version, last applied update id, identity, per-op sequence numbers."""
        return self._key("meta")

    @property
    def updates(self) -> str:
        """Stream: the durable FIFO of pending update entries."""
        return self._key("updates")

    @property
    def events(self) -> str:
        """Capped stream: update-status events."""
        return self._key("events")

    @property
    def lease(self) -> str:
        """String: token of the worker allowed to apply updates, with a TTL."""
        return self._key("lease")

    @property
    def init_lock(self) -> str:
        """String: token of the caller running init_state, with a TTL."""
        return self._key("init")

    @property
    def cache(self) -> str:
        """Hash: serve results of the current version, by (flow, props digest)."""
        return self._key("cache")

    @property
    def attempts(self) -> str:
        """Hash: how often each pending entry's op has been started."""
        return self._key("attempts")

    @property
    def gone(self) -> str:
        """String: the last version of a deleted instance, so a re-created one continues after it.

        Versions then never repeat for an (component, id) pair, so a snapshot or a
        cached answer of the deleted instance can never pass for one of its successor.
        """
        return self._key("gone")

    def request(self, request_id: str) -> str:
        """String, expiring after --request-id-ttl: what the run with this request id enqueued.

        One key per request id rather than a hash, so Redis expires each on its
        own. Request ids are validated to [A-Za-z0-9._:-]{1,128} before they get
        here. DeleteInstance leaves them to expire: a retry of a run made before
        the delete still enqueues nothing.
        """
        return self._key(f"rq:{request_id}")

    def all(self) -> tuple[str, ...]:
        return (
            self.state,
            self.meta,
            self.updates,
            self.events,
            self.lease,
            self.init_lock,
            self.cache,
            self.attempts,
        )


def pending_key(component: str) -> str:
    """Sorted set of instance ids of a component that may have queued updates."""
    return f"{PREFIX}:pending:{component}"


def wake_channel(component: str) -> str:
    """Pub/sub channel where instance ids of a component are published when their work is up for grabs."""
    return f"{WAKE_PREFIX}{component}"


WAKE_PREFIX = f"{PREFIX}:wake:"


def index_key(component: str) -> str:
    """Set of the instance ids of a component (for ListInstances)."""
    return f"{PREFIX}:instances:{component}"
