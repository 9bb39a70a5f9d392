"""Creating instances (init_state once, cluster wide) and loading their state into snapshots."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from motion_grpc import codec
from motion_grpc.definition import ComponentDefinition
from motion_grpc.engine.leases import LeaseKeeper
from motion_grpc.engine.runner import OpRunner
from motion_grpc.engine.snapshots import InstanceRuntime, Runtimes, Snapshot, field_sizes
from motion_grpc.engine.state_codec import decode_state, encode_patch, has_hooks
from motion_grpc.errors import DeadlineExceededError, NotFoundError, OpError, ResourceExhaustedError
from motion_grpc.store import protocol
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.store import Store

log = logging.getLogger(__name__)

#: Encoded bytes decoded on the event loop; a larger state (or request, see server.servicer) is
#: decoded on a thread (a 16 MB state takes a good part of a second, most of all as unsigned
#: pickles: see plain_pickle).
DECODE_HERE_BYTES = 64 * 1024


class Instances:
    """Instance creation and state loading; user hooks (init_state, save/load_state) run on threads."""

    def __init__(
        self,
        store: Store,
        runtimes: Runtimes,
        runner: OpRunner,
        leases: LeaseKeeper,
        init_timeout: float,
        max_state_bytes: int | None = None,
    ) -> None:
        self._store = store
        self._runtimes = runtimes
        self._runner = runner
        self._leases = leases
        self._init_timeout = init_timeout
        self._max_state_bytes = max_state_bytes

    async def ensure(
        self,
        component: ComponentDefinition,
        keys: InstanceKeys,
        params: Mapping[str, Any] | None,
        deadline: float | None,
    ) -> None:
        """Create the instance if needed; init_state runs once even under concurrent first calls."""
        token = secrets.token_hex(16)
        pause = 0.002
        limit = time.monotonic() + self._init_timeout
        while True:
            sent = time.monotonic()
            begun = await self._store.init_begin(keys, token, self._leases.ttl_ms)
            if begun == protocol.INIT_EXISTS:
                return
            if begun == protocol.INIT_GRANTED:
                await self._initialize(component, keys, token, params or {}, sent)
                return
            now = time.monotonic()
            if (deadline is not None and now > deadline) or now > limit:
                raise DeadlineExceededError(
                    f"instance {keys.instance_id!r} is still being initialized elsewhere"
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def _initialize(
        self,
        component: ComponentDefinition,
        keys: InstanceKeys,
        token: str,
        params: Mapping[str, Any],
        locked_at: float,
    ) -> None:
        self._leases.hold(keys.init_lock, token, locked_at)
        try:
            state: Any = {}
            if component.init_state_func is not None:
                init = functools.partial(component.init_state_func, **params)
                state = await self._runner.call(f"init_state of {component.name}", init, (), None)
            if not isinstance(state, Mapping) or not all(isinstance(key, str) for key in state):
                message = f"init_state of {component.name} must return a dict with string keys"
                # from a TypeError: in-process callers get that, as in Motion
                raise OpError(message, "TypeError") from TypeError(message)
            fields = await self.encode(component, {}, state)
            self._check_size(component, fields)
            version = await self._store.init_commit(keys, token, fields)
            if version > 0:  # created: a snapshot held here is of state that was lost or deleted
                created = None if has_hooks(component) else Snapshot.stored(version, dict(state), fields)
                self._adopt(self._runtimes.get(keys), created)  # with hooks, ops see it via load_state
        except BaseException:
            await asyncio.shield(self._store.release_init(keys, token))
            raise
        finally:
            self._leases.drop(keys.init_lock, token)

    def _check_size(self, component: ComponentDefinition, fields: Mapping[str, bytes]) -> None:
        """RESOURCE_EXHAUSTED (and no instance) when init_state's state is past --max-state-bytes."""
        size = sum(field_sizes(fields).values())
        if self._max_state_bytes is not None and size > self._max_state_bytes:
            raise ResourceExhaustedError(
                f"init_state of {component.name} made a state of {size} bytes encoded, over the limit "
                f"of {self._max_state_bytes} bytes (--max-state-bytes, MOTION_MAX_STATE_BYTES); "
                "keep less in the state or raise the limit"
            )

    async def decode(self, component: ComponentDefinition, raw: dict[str, bytes]) -> dict[str, Any]:
        """The state's values; decoded on a thread when hooks run user code, or when it is large
        enough that decoding it here would hold up every other call."""
        if has_hooks(component) or sum(map(len, raw.values())) > DECODE_HERE_BYTES:
            return await self._runner.offload(decode_state, component, raw)
        return decode_state(component, raw)

    async def encode(
        self, component: ComponentDefinition, current: Mapping[str, Any], changes: Mapping[str, Any]
    ) -> dict[str, bytes]:
        """The changed values encoded; on a thread when hooks run user code, or when they are large."""
        if has_hooks(component) or codec.is_large(changes):
            return await self._runner.offload(encode_patch, component, current, changes)
        return encode_patch(component, current, changes)

    async def load(
        self, runtime: InstanceRuntime, component: ComponentDefinition, cache_field: str | None
    ) -> tuple[Snapshot | None, bytes | None]:
        """Read the state into the instance's snapshot (None: no such instance), with a cache entry."""
        async with runtime.load_lock:
            commits = None if runtime.in_commit else runtime.commits_started
            version, raw, cached = await self._store.load(runtime.keys, cache_field)
            if version is None:
                return None, cached
            loaded = Snapshot.stored(version, await self.decode(component, raw), raw)
            held = runtime.snapshot
            if held is not None and version < held.version and commits == runtime.commits_started:
                # No commit of this process raced the read, yet Redis is behind what it committed.
                log.warning(
                    "the state of %s/%s in Redis is at version %d, behind version %d seen here: "
                    "Redis lost data (restarted without persistence, flushed, or failed over); "
                    "serving what it holds",
                    runtime.keys.component, runtime.keys.instance_id, version, held.version,
                )  # fmt: skip
                self._adopt(runtime, loaded)
            else:
                runtime.offer(loaded)
            return loaded, cached

    def _adopt(self, runtime: InstanceRuntime, snapshot: Snapshot | None) -> None:
        """Replace whatever this process knew of an instance's state (and cached answers)."""
        if runtime.snapshot is not None:
            self._runtimes.known.forget(runtime.keys)
        runtime.snapshot = snapshot

    async def load_snapshot(self, runtime: InstanceRuntime, component: ComponentDefinition) -> Snapshot:
        snapshot, _ = await self.load(runtime, component, None)
        if snapshot is None:
            raise NotFoundError(f"instance {runtime.keys.instance_id!r} of {component.name} does not exist")
        return snapshot

    async def snapshot_at(self, component: ComponentDefinition, keys: InstanceKeys, version: int) -> Snapshot:
        """A snapshot at least as new as `version`."""
        runtime = self._runtimes.get(keys)
        return runtime.current(version) or await self.load_snapshot(runtime, component)

    async def probe(
        self, component: ComponentDefinition, keys: InstanceKeys, lookup: str | None
    ) -> tuple[int | None, bytes | None]:
        """The version in Redis and a cache entry; without a snapshot, the state is read in the same trip."""
        runtime = self._runtimes.get(keys)
        if runtime.snapshot is not None:
            return await self._store.probe(keys, lookup)
        snapshot, cached = await self.load(runtime, component, lookup)
        return (None if snapshot is None else snapshot.version), cached

    async def checked_version(
        self,
        component: ComponentDefinition,
        keys: InstanceKeys,
        lookup: str | None,
        params: Mapping[str, Any] | None,
        deadline: float | None,
    ) -> tuple[int, bytes | None]:
        """The instance's version in Redis (creating the instance if needed) and the cached result."""
        version, cached = await self.probe(component, keys, lookup)
        if version is None:
            await self.ensure(component, keys, params, deadline)
            version, cached = await self.probe(component, keys, lookup)
            if version is None:
                raise NotFoundError(f"instance {keys.instance_id!r} of {component.name} was deleted")
        return version, cached
