"""The instance runtime shared by the gRPC server and in-process instances.

Serves answer from a per-instance snapshot checked against the version in
Redis (one round trip, together with the cache lookup); update entries and
the cache write go out in one pipeline; a bounded pool of workers applies
queued updates in order under a lease.
"""

from __future__ import annotations

import functools
import inspect
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from motion_grpc import codec
from motion_grpc.component import Component, Flow, validate_name
from motion_grpc.engine import admin, failures
from motion_grpc.engine.draining import ADMIN_FLOW, MIGRATE_OP, WRITE_STATE_OP, Drainer, DrainSettings
from motion_grpc.engine.leases import LeaseKeeper
from motion_grpc.engine.op_times import OpTimes
from motion_grpc.engine.ops import LoopThread, call_op, describe_error
from motion_grpc.engine.scheduling import UpdateScheduler
from motion_grpc.engine.snapshots import InstanceRuntime, Runtimes, Snapshot
from motion_grpc.engine.state_codec import decode_state, encode_patch, has_hooks
from motion_grpc.engine.streaming import ServeStream
from motion_grpc.engine.waiting import WaitResult, events_from, parse_update_id, wait_for_updates
from motion_grpc.errors import (
    DeadlineExceededError,
    InvalidArgumentError,
    MotionError,
    NotFoundError,
    OpError,
    ResourceExhaustedError,
)
from motion_grpc.logs import excerpt
from motion_grpc.props import Props
from motion_grpc.state import State
from motion_grpc.store import scripts
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.store import (
    EnqueueRequest,
    EnqueueResult,
    Event,
    QueuedEntry,
    Store,
    cache_value,
    now_ms,
    parse_cache_value,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSettings:
    """Tuning of one engine; the defaults suit a server and a notebook alike."""

    update_workers: int = 4
    lease_ttl: float = 5.0
    sweep_interval: float = 1.0
    init_timeout: float = 30.0
    max_attempts: int = 3
    max_cached_instances: int = 10_000
    process_updates: bool = True
    fast_op_seconds: float = 0.001


@dataclass(frozen=True)
class RunResult:
    result: Any
    version: int
    cached: bool
    update_ids: list[str] = field(default_factory=list)
    outcomes: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class _Served:
    result: Any
    version: int
    cached: bool
    ids: list[str]
    events_before: str


@dataclass(frozen=True)
class PreparedRun:
    """A run served from a snapshot, its enqueue not sent yet (see Engine.prepare_run)."""

    keys: InstanceKeys
    result: Any
    version: int
    request: EnqueueRequest


@dataclass(frozen=True)
class StateView:
    version: int
    state: dict[str, Any]


class Engine:
    """Hosts components and runs their flows against the state in Redis."""

    def __init__(
        self,
        store: Store,
        components: Iterable[Component] = (),
        settings: EngineSettings | None = None,
        wake: Callable[[InstanceKeys], None] | None = None,
    ) -> None:
        """Args:
        wake: Told of every instance this engine enqueues updates for; by default
            its own update workers (or nobody, with process_updates off).
        """
        self.store = store
        self.settings = settings or EngineSettings()
        self._components: dict[str, Component] = {}
        self._runtimes = Runtimes(self.settings.max_cached_instances)
        self._serve_times = OpTimes(self.settings.fast_op_seconds)
        self._stopping = threading.Event()
        self._loop = LoopThread()
        self._leases = LeaseKeeper(store, self.settings.lease_ttl)
        drainer = Drainer(
            store,
            self._components.get,
            self._runtimes,
            self._load_snapshot,
            self._leases,
            self._loop,
            self._stopping,
            DrainSettings(max_attempts=self.settings.max_attempts),
        )
        self._drainer = drainer
        self._scheduler = UpdateScheduler(
            store, drainer.drain, self.settings.update_workers, self.settings.sweep_interval, self._stopping
        )
        if wake is None:
            wake = self._scheduler.notify if self.settings.process_updates else _no_wake
        self._wake = wake
        self._started = False
        for component in components:
            self.add_component(component)

    # -- life cycle --------------------------------------------------------------

    def add_component(self, component: Component, replace: bool = False) -> None:
        """Host a component; `replace` lets a new definition of a hosted name take its place
        (in-process, as in Motion: a notebook re-running the cell that defines it)."""
        existing = self._components.get(component.name)
        if existing is not None and existing is not component and not replace:
            raise ValueError(f"another component named {component.name} is already hosted")
        self._components[component.name] = component
        if self.settings.process_updates:
            self._scheduler.host([component.name])

    @property
    def components(self) -> list[Component]:
        return [self._components[name] for name in sorted(self._components)]

    def start(self) -> Engine:
        if not self._started:
            self._started = True
            self._leases.start()
            if self.settings.process_updates:
                self._scheduler.start()
        return self

    def close(self) -> None:
        """Finish the update ops in hand, hand leases back, stop threads."""
        if self._started:
            self._scheduler.close()
            self._leases.close()
        self._loop.close()
        self.store.close()

    def apply_pending(self, component_name: str, instance_id: str) -> None:
        """Apply an instance's queued updates in the calling thread, in order.

        Returns once the queue is empty, or at once when another worker holds
        the instance's lease (that worker applies them; wait with `flush`).
        """
        _, keys = self._resolve(component_name, instance_id)
        self._drainer.drain(keys)

    def drain_soon(self, keys: InstanceKeys) -> None:
        """Have this engine's update workers drain an instance (for update worker processes)."""
        self._scheduler.notify(keys)

    # -- lookups -------------------------------------------------------------------

    def component(self, name: str) -> Component:
        validate_name(name, "component name")
        component = self._components.get(name)
        if component is None:
            known = ", ".join(sorted(self._components)) or "none"
            raise NotFoundError(f"no component named {name!r} is hosted here (components: {known})")
        return component

    def _resolve(self, component_name: str, instance_id: str) -> tuple[Component, InstanceKeys]:
        component = self.component(component_name)
        validate_name(instance_id, "instance id")
        return component, InstanceKeys.of(component.name, instance_id)

    def resolve(self, component_name: str, instance_id: str) -> tuple[Component, InstanceKeys]:
        """The hosted component and the Redis keys of one of its instances (validated names)."""
        return self._resolve(component_name, instance_id)

    # -- instances and snapshots ---------------------------------------------------

    def ensure_instance(
        self,
        component: Component,
        keys: InstanceKeys,
        params: Mapping[str, Any] | None,
        deadline: float | None,
    ) -> None:
        """Create the instance if needed; init_state runs once even under concurrent first calls."""
        token = secrets.token_hex(16)
        pause = 0.002
        limit = time.monotonic() + self.settings.init_timeout
        while True:
            begun = self.store.init_begin(keys, token, self._leases.ttl_ms)
            if begun == 1:
                return
            if begun == 0:
                self._initialize(component, keys, token, params or {})
                return
            now = time.monotonic()
            if (deadline is not None and now > deadline) or now > limit:
                raise DeadlineExceededError(
                    f"instance {keys.instance_id!r} is still being initialized elsewhere"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _initialize(
        self, component: Component, keys: InstanceKeys, token: str, params: Mapping[str, Any]
    ) -> None:
        self._leases.hold(keys.init_lock, token)
        try:
            state: Any = {}
            if component.init_state_func is not None:
                init = functools.partial(component.init_state_func, **params)
                state = call_op(f"init_state of {component.name}", init, (), self._loop)
            if not isinstance(state, Mapping) or not all(isinstance(key, str) for key in state):
                raise OpError(
                    f"init_state of {component.name} must return a dict with string keys", "TypeError"
                )
            fields = encode_patch(component, {}, state)
            version = self.store.init_commit(keys, token, fields)
            if version > 0 and not has_hooks(component):  # else ops see it through load_state
                self._runtimes.get(keys).offer(Snapshot(version, dict(state)))
        except BaseException:
            self.store.release_init(keys, token)
            raise
        finally:
            self._leases.drop(keys.init_lock)

    def _load_snapshot(self, runtime: InstanceRuntime, component: Component) -> Snapshot:
        snapshot, _ = self._load(runtime, component, None)
        if snapshot is None:
            raise NotFoundError(f"instance {runtime.keys.instance_id!r} of {component.name} does not exist")
        return snapshot

    def _load(
        self, runtime: InstanceRuntime, component: Component, cache_field: str | None
    ) -> tuple[Snapshot | None, bytes | None]:
        """Read the state into the instance's snapshot (None: no such instance), with a cache entry."""
        with runtime.load_lock:
            version, raw, cached = self.store.load(runtime.keys, cache_field)
            if version is None:
                return None, cached
            runtime.offer(Snapshot(version, decode_state(component, raw)))
            return runtime.snapshot, cached

    def _snapshot_at(self, component: Component, keys: InstanceKeys, version: int) -> Snapshot:
        runtime = self._runtimes.get(keys)
        return runtime.current(version) or self._load_snapshot(runtime, component)

    # -- flows ---------------------------------------------------------------------

    def run(
        self,
        component_name: str,
        instance_id: str,
        flow_key: str,
        props: Mapping[str, Any] | None = None,
        *,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        init_state_params: Mapping[str, Any] | None = None,
        deadline: float | None = None,
        check_result: Callable[[Any], object] | None = None,
    ) -> RunResult:
        """Serve a flow from the last committed state and enqueue its update ops.

        Args:
            check_result: Called with the serve op's result before anything is
                enqueued; whatever it raises fails the run with nothing enqueued
                (a server checks that the result can be sent back).
        """
        component, keys = self._resolve(component_name, instance_id)
        flow = component.flow(validate_name(flow_key, "flow key"))
        props = _props_dict(props)
        if force_refresh:
            self.ensure_instance(component, keys, init_state_params, deadline)
            self.flush(component_name, instance_id, deadline=deadline)
        digest = self._cache_digest(component, flow, props)
        lookup = None if ignore_cache else digest
        check = check_result or _accept
        try:
            served = self._serve_fast(
                component, keys, flow, props, digest, lookup is not None, deadline, check
            )
            if served is None:
                served = self._serve_checked(
                    component, keys, flow, props, digest, lookup, init_state_params, deadline, check
                )
        except OpError as exc:
            failures.serve_failed(f"serve of {component.name}/{flow.key}", exc)
            raise
        return self._complete(keys, served, flush_update, deadline)

    def _complete(
        self, keys: InstanceKeys, served: _Served, flush_update: bool, deadline: float | None
    ) -> RunResult:
        """The run's result; with flush_update, once its updates have ended."""
        if not (flush_update and served.ids):
            return RunResult(served.result, served.version, served.cached, served.ids)
        waited = wait_for_updates(
            self.store, keys, served.ids[-1], served.events_before, deadline, set(served.ids)
        )
        outcomes = [waited.outcomes[i] for i in served.ids if i in waited.outcomes]
        version = max([served.version] + [event.version for event in outcomes])
        return RunResult(served.result, version, served.cached, served.ids, outcomes)

    def open_stream(
        self,
        component_name: str,
        instance_id: str,
        flow_key: str,
        props: Mapping[str, Any] | None = None,
        *,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        init_state_params: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> ServeStream:
        """Start a streaming run: the serve op is called on a checked snapshot, its items pulled later.

        A plain (non-generator) serve op is run at once, as by `run`, and the
        stream holds its complete result. For a generator, the update ops are
        enqueued by `ServeStream.finish()` after the last item, never before.
        """
        component, keys = self._resolve(component_name, instance_id)
        flow = component.flow(validate_name(flow_key, "flow key"))
        serve = flow.serve
        if serve is None or not serve.is_generator:
            run = functools.partial(self.run, component_name, instance_id, flow_key, props)
            result = run(
                ignore_cache=ignore_cache,
                force_refresh=force_refresh,
                flush_update=flush_update,
                init_state_params=init_state_params,
                deadline=deadline,
            )
            return ServeStream("", None, result.version, self._loop, lambda _: result, done=result)
        props = _props_dict(props)
        if force_refresh:
            self.ensure_instance(component, keys, init_state_params, deadline)
            self.flush(component_name, instance_id, deadline=deadline)
        version, _ = self._checked_version(component, keys, None, init_state_params, deadline)
        snapshot = self._snapshot_at(component, keys, version)
        what = f"serve op {serve.name} of {component.name}/{flow.key}"
        state = State(keys.instance_id, snapshot.data, snapshot.version)
        produced = call_op(what, serve.func, (state, Props(props)), self._loop)
        if not (inspect.isgenerator(produced) or inspect.isasyncgen(produced)):
            produced = iter([produced])  # a generator-declared op that returned a plain value
        finish = functools.partial(
            self._finish_stream, keys, flow, props, snapshot.version, flush_update, deadline
        )
        return ServeStream(what, produced, snapshot.version, self._loop, finish)

    def _finish_stream(
        self,
        keys: InstanceKeys,
        flow: Flow,
        props: dict[str, Any],
        version: int,
        flush_update: bool,
        deadline: float | None,
        items: list[Any],
    ) -> RunResult:
        """After the last item: enqueue the update ops with the items as serve_result."""
        _check_deadline(deadline)
        enqueued = self._enqueue(keys, flow, props, items, None)
        self._check_enqueue(keys, enqueued.code)
        served = _Served(items, version, False, enqueued.ids, enqueued.events_before)
        return self._complete(keys, served, flush_update, deadline)

    def _serve_fast(
        self,
        component: Component,
        keys: InstanceKeys,
        flow: Flow,
        props: dict[str, Any],
        digest: str | None,
        lookup: bool,
        deadline: float | None,
        check_result: Callable[[Any], object],
    ) -> _Served | None:
        """Serve a cheap op from the local snapshot; one round trip enqueues, fenced on its version.

        None when the snapshot turns out stale (or there is none, or the op is
        slow): the caller then serves the checked way. Re-running a cheap op
        costs less than the round trip that checking first would cost every time;
        with `lookup`, the same round trip first looks for a cached result, which
        then wins over the one just computed.
        """
        prepared = self._prepare_fast(component, keys, flow, props, digest, lookup, deadline, check_result)
        if prepared is None:
            return None
        enqueued = self.store.send_enqueue(prepared.request)
        if enqueued.code == scripts.CACHED:
            hit = _cache_hit(enqueued.cached, None)
            return None if hit is None else self._serve_cached(keys, flow, props, hit)
        return self._settle_fast(prepared, enqueued)

    def _prepare_fast(
        self,
        component: Component,
        keys: InstanceKeys,
        flow: Flow,
        props: dict[str, Any],
        digest: str | None,
        lookup: bool,
        deadline: float | None,
        check_result: Callable[[Any], object],
    ) -> PreparedRun | None:
        snapshot = self._runtimes.get(keys).unchecked_snapshot()
        if snapshot is None or not self._serve_times.is_fast(component.name, flow.key):
            return None
        served_props = dict(props)  # what the serve op adds to them counts only if its result does
        try:
            result = self._call_serve(component, keys, flow, served_props, snapshot)
            check_result(result)
        except MotionError:
            return None  # maybe an artefact of a stale snapshot: decide on the checked path
        _check_deadline(deadline)
        cache = self._cache_entry(component, digest, snapshot.version, result)
        entries = self._entries(flow, served_props, result)
        request = self.store.enqueue_request(keys, entries, cache, snapshot.version, lookup)
        return PreparedRun(keys, result, snapshot.version, request)

    def _settle_fast(self, prepared: PreparedRun, enqueued: EnqueueResult) -> _Served | None:
        if enqueued.code in (scripts.STALE, scripts.NO_INSTANCE, scripts.CACHED):
            return None
        self._check_enqueue(prepared.keys, enqueued.code)
        if enqueued.ids:
            self._wake(prepared.keys)
        return _Served(prepared.result, prepared.version, False, enqueued.ids, enqueued.events_before)

    def prepare_run(
        self,
        component_name: str,
        instance_id: str,
        flow_key: str,
        props: Mapping[str, Any] | None,
        ignore_cache: bool,
        deadline: float | None,
        check_result: Callable[[Any], object] | None = None,
    ) -> PreparedRun | None:
        """`run`'s serve of a cheap op from this engine's snapshot, its enqueue left to the caller.

        For callers on an event loop: this never waits on Redis, and the serve op
        is one measured to take under `fast_op_seconds`. None when the run must
        take `run`'s usual path (unknown or slow op, no snapshot yet, a generator).
        Send `request` (Store.asend_enqueue), then call `finish_run`.
        """
        component, keys = self._resolve(component_name, instance_id)
        flow = component.flow(validate_name(flow_key, "flow key"))
        if self.store.cluster or flow.serve is None or flow.serve.is_generator or flow.serve.is_async:
            return None
        props = _props_dict(props)
        digest = self._cache_digest(component, flow, props)
        check = check_result or _accept
        return self._prepare_fast(component, keys, flow, props, digest, not ignore_cache, deadline, check)

    def finish_run(self, prepared: PreparedRun, enqueued: EnqueueResult) -> RunResult | None:
        """The result of a prepared run once its request was sent; None: take `run`'s usual path
        (the snapshot was stale, or the cache held an answer)."""
        served = self._settle_fast(prepared, enqueued)
        return None if served is None else RunResult(served.result, served.version, False, served.ids)

    def _serve_cached(
        self, keys: InstanceKeys, flow: Flow, props: dict[str, Any], hit: tuple[int, Any]
    ) -> _Served:
        """A cache hit: its result is the answer, and what the flow's update ops are given."""
        version, result = hit
        enqueued = self._enqueue(keys, flow, props, result, None)
        self._check_enqueue(keys, enqueued.code)
        return _Served(result, version, True, enqueued.ids, enqueued.events_before)

    def _serve_checked(
        self,
        component: Component,
        keys: InstanceKeys,
        flow: Flow,
        props: dict[str, Any],
        digest: str | None,
        lookup: str | None,
        init_state_params: Mapping[str, Any] | None,
        deadline: float | None,
        check_result: Callable[[Any], object],
    ) -> _Served:
        """Read the version (and the cache) first, then serve and enqueue."""
        version, cached = self._checked_version(component, keys, lookup, init_state_params, deadline)
        hit = _cache_hit(cached, version)
        if hit is not None:
            return self._serve_cached(keys, flow, props, hit)
        snapshot = self._snapshot_at(component, keys, version)
        result = self._call_serve(component, keys, flow, props, snapshot)
        _check_deadline(deadline)
        check_result(result)
        cache = self._cache_entry(component, digest, snapshot.version, result)
        enqueued = self._enqueue(keys, flow, props, result, cache)
        self._check_enqueue(keys, enqueued.code)
        return _Served(result, snapshot.version, False, enqueued.ids, enqueued.events_before)

    def _checked_version(
        self,
        component: Component,
        keys: InstanceKeys,
        lookup: str | None,
        init_state_params: Mapping[str, Any] | None,
        deadline: float | None,
    ) -> tuple[int, bytes | None]:
        """The instance's version in Redis (creating the instance if needed) and the cached result.

        Without a snapshot of the instance, the state is read in the same round trip.
        """
        version, cached = self._probe(component, keys, lookup)
        if version is None:
            self.ensure_instance(component, keys, init_state_params, deadline)
            version, cached = self._probe(component, keys, lookup)
            if version is None:
                raise NotFoundError(f"instance {keys.instance_id!r} of {component.name} was deleted")
        return version, cached

    def _probe(
        self, component: Component, keys: InstanceKeys, lookup: str | None
    ) -> tuple[int | None, bytes | None]:
        runtime = self._runtimes.get(keys)
        if runtime.snapshot is not None:
            return self.store.probe(keys, lookup)
        snapshot, cached = self._load(runtime, component, lookup)
        return (None if snapshot is None else snapshot.version), cached

    def _cache_digest(self, component: Component, flow: Flow, props: Mapping[str, Any]) -> str | None:
        if component.cache_ttl <= 0 or flow.serve is None or flow.serve.is_generator:
            return None
        return codec.props_digest(flow.key, props)

    def _cache_entry(
        self, component: Component, digest: str | None, version: int, result: Any
    ) -> tuple[str, bytes, float] | None:
        if digest is None:
            return None
        expires = now_ms() + int(component.cache_ttl * 1000)
        try:
            return digest, cache_value(version, expires, codec.dumps(result)), component.cache_ttl
        except Exception:
            return None  # a result that cannot be pickled is served, just not cached

    def _call_serve(
        self, component: Component, keys: InstanceKeys, flow: Flow, props: dict[str, Any], snapshot: Snapshot
    ) -> Any:
        if flow.serve is None:
            return None
        state = State(keys.instance_id, snapshot.data, snapshot.version)
        what = f"serve op {flow.serve.name} of {component.name}/{flow.key}"
        started = time.perf_counter()
        view = Props(props)
        result = call_op(what, flow.serve.func, (state, view), self._loop)
        if inspect.isgenerator(result):
            result = call_op(what, list, (result,), None)
        elif inspect.isasyncgen(result):
            result = self._loop.run(_collect_async(result))
        self._serve_times.record(component.name, flow.key, time.perf_counter() - started)
        if view != props:
            # As in Motion, what a serve op adds to its props reaches the flow's update ops.
            props.clear()
            props.update(view)
        return result

    def _enqueue(
        self,
        keys: InstanceKeys,
        flow: Flow,
        props: dict[str, Any],
        result: Any,
        cache: tuple[str, bytes, float] | None,
    ) -> EnqueueResult:
        enqueued = self.store.enqueue(keys, self._entries(flow, props, result), cache)
        if enqueued.ids:
            self._wake(keys)
        return enqueued

    def _entries(self, flow: Flow, props: dict[str, Any], result: Any) -> list[QueuedEntry]:
        """The queue entries of a run: one per update op of its flow, sharing one payload."""
        if not flow.updates:
            return []
        try:
            payload = codec.dumps((props, result))
        except Exception as exc:
            raise OpError(
                f"the props or serve result of flow {flow.key} cannot be queued for its update ops: "
                f"{describe_error(exc)}",
                "PicklingError",
            ) from exc
        return [QueuedEntry(flow.key, op.name, payload) for op in flow.updates]

    def _check_enqueue(self, keys: InstanceKeys, code: int) -> None:
        if code == scripts.QUEUE_FULL:
            raise ResourceExhaustedError(
                f"the update queue of {keys.component}/{keys.instance_id} holds its maximum of "
                f"{self.store.max_queue} entries; retry after FlushUpdates"
            )
        if code == scripts.NO_INSTANCE:
            raise NotFoundError(f"instance {keys.instance_id!r} of {keys.component} was deleted")

    # -- state and waiting -----------------------------------------------------------

    def get_state(
        self, component_name: str, instance_id: str, keys: Sequence[str] | None = None
    ) -> StateView:
        """The committed state (all keys or some) and its version; NOT_FOUND for a missing instance."""
        component, ikeys = self._resolve(component_name, instance_id)
        version = self.store.version(ikeys)
        if version is None:
            raise NotFoundError(f"instance {instance_id!r} of {component.name} does not exist")
        snapshot = self._snapshot_at(component, ikeys, version)
        if not keys:
            return StateView(snapshot.version, dict(snapshot.data))
        missing = [key for key in keys if key not in snapshot.data]
        if missing:
            raise NotFoundError(f"state of {component.name}/{instance_id} has no key(s) {excerpt(missing)}")
        return StateView(snapshot.version, {key: snapshot.data[key] for key in keys})

    def flush(
        self,
        component_name: str,
        instance_id: str,
        flow: str | None = None,
        deadline: float | None = None,
        since_update_id: str = "",
    ) -> WaitResult:
        """Wait until every update enqueued before the call (of one flow, or all) has ended.

        Outcomes: the updates that failed or were discarded among those pending,
        and among every update from `since_update_id` on, however early it ended.
        """
        component, keys = self._resolve(component_name, instance_id)
        if flow:
            component.flow(validate_name(flow, "flow key"))
        since = parse_update_id(since_update_id, "since_update_id") if since_update_id else None
        target = self.store.flush_target(keys, flow)
        if target is None and since is None:
            version = self.store.version(keys)
            if version is None:
                raise NotFoundError(f"instance {instance_id!r} of {component.name} does not exist")
            return WaitResult(version)
        _, newest, _ = self.store.flush_probe(keys, target)
        if since is None:
            return wait_for_updates(self.store, keys, target, newest, deadline)
        return wait_for_updates(self.store, keys, target, events_from(since), deadline, since=since)

    def write_state(
        self, component_name: str, instance_id: str, patch: Mapping[str, Any], deadline: float | None = None
    ) -> int:
        """Patch state keys, serialized with the update queue; returns the version it produced."""
        component, keys = self._resolve(component_name, instance_id)
        if not isinstance(patch, Mapping) or not all(isinstance(key, str) for key in patch):
            raise InvalidArgumentError("a state patch must be a dict with string keys")
        if self.store.version(keys) is None:
            raise NotFoundError(f"instance {instance_id!r} of {component.name} does not exist")
        try:
            payload = codec.dumps(dict(patch))
        except Exception as exc:
            raise InvalidArgumentError(f"the state patch cannot be stored: {describe_error(exc)}") from exc
        enqueued = self.store.enqueue(keys, [QueuedEntry(ADMIN_FLOW, WRITE_STATE_OP, payload)])
        self._check_enqueue(keys, enqueued.code)
        self._wake(keys)
        ids = enqueued.ids
        waited = wait_for_updates(
            self.store, keys, ids[-1], enqueued.events_before, deadline, wanted=set(ids)
        )
        outcome = waited.outcomes.get(ids[-1])
        if outcome is not None and outcome.status != scripts.APPLIED:
            raise InvalidArgumentError(outcome.error_message or "the state write failed")
        return outcome.version if outcome is not None else waited.version

    # -- administration ----------------------------------------------------------------

    def delete_instance(self, component_name: str, instance_id: str) -> bool:
        """Remove an instance with its queue, events and cache; False when it did not exist.

        A worker running one of its updates at that moment loses its lease, so the
        commit of that update is refused; nothing of the instance comes back.
        """
        _, keys = self._resolve(component_name, instance_id)
        deleted = self.store.delete_instance(keys)
        self._runtimes.forget(keys)
        return deleted

    def list_instances(
        self, component_name: str, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[str], str]:
        """One page of a hosted component's instance ids and the next page's token ('' on the last)."""
        component = self.component(component_name)
        return admin.list_page(self.store, component.name, page_size, page_token)

    def migrate_state(
        self,
        component_name: str,
        instance_id: str,
        migrate: Callable[[dict[str, Any]], Mapping[str, Any]],
        deadline: float | None = None,
    ) -> int:
        """Apply `migrate(state) -> changed keys` to one instance, serialized with its updates.

        Returns the version the migration produced; raises OpError when the function
        raised or returned something other than a dict.
        """
        component, keys = self._resolve(component_name, instance_id)
        if self.store.version(keys) is None:
            raise NotFoundError(f"instance {instance_id!r} of {component.name} does not exist")
        entry = QueuedEntry(ADMIN_FLOW, MIGRATE_OP, admin.dumps_function(migrate))
        enqueued = self.store.enqueue(keys, [entry])
        self._check_enqueue(keys, enqueued.code)
        self._wake(keys)
        ids = enqueued.ids
        waited = wait_for_updates(
            self.store, keys, ids[-1], enqueued.events_before, deadline, wanted=set(ids)
        )
        outcome = waited.outcomes.get(ids[-1])
        if outcome is not None and outcome.status != scripts.APPLIED:
            raise OpError(outcome.error_message or "the migration failed", outcome.error_type or "Exception")
        return outcome.version if outcome is not None else waited.version


def _accept(result: Any) -> None:
    """The default result check: any result will do (in-process callers get it as it is)."""


def _no_wake(keys: InstanceKeys) -> None:
    """Nobody here applies updates; other engines find them through the pending set."""


def _cache_hit(cached: bytes | None, version: int | None) -> tuple[int, Any] | None:
    """(version, result) of a cache entry computed from this version (any, when None) that has
    not expired."""
    parsed = None if cached is None else parse_cache_value(cached)
    if parsed is None:
        return None
    cached_version, expires, result = parsed
    if (version is not None and cached_version != version) or expires <= now_ms():
        return None
    return cached_version, codec.loads(result)


def _check_deadline(deadline: float | None) -> None:
    """Past the deadline, the caller has given up: enqueue nothing for it."""
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlineExceededError("the deadline passed while the serve op ran; nothing was enqueued")


def _props_dict(props: Mapping[str, Any] | None) -> dict[str, Any]:
    if props is None:
        return {}
    if not isinstance(props, Mapping):
        raise InvalidArgumentError(f"props must be a dict, not {type(props).__name__}")
    return dict(props)


async def _collect_async(generator: Any) -> list[Any]:
    return [item async for item in generator]
