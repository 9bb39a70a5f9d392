"""The asyncio engine: one event loop runs the serve path and the update drains of every instance.

This module only wires the parts together and checks names; each job lives in
its own module (serving, streaming, draining, scheduling, admin, ...). Build
one per process and event loop with `AsyncEngine(redis, components, settings)`,
then `await engine.start()`; the in-process API and update worker processes use
it through `motion_grpc.engine.blocking.Engine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from motion_grpc.definition import ComponentDefinition, Definable
from motion_grpc.engine.admin_ops import Administration
from motion_grpc.engine.applying import Applied, Applier
from motion_grpc.engine.draining import FAST_OP_SECONDS, Drainer, DrainSettings, Isolation
from motion_grpc.engine.instances import Instances
from motion_grpc.engine.leases import LeaseKeeper
from motion_grpc.engine.limits import Limiter
from motion_grpc.engine.op_times import OpTimes
from motion_grpc.engine.ops import stop_task
from motion_grpc.engine.options import DEFAULT_OPTIONS, EngineSettings, RunOptions
from motion_grpc.engine.registry import Registry
from motion_grpc.engine.results import RunResult, StateView
from motion_grpc.engine.runner import OpRunner
from motion_grpc.engine.scheduling import UpdateScheduler, waking
from motion_grpc.engine.serve_call import ResultCheck, ServeCall, cache_digest, request_mark
from motion_grpc.engine.serving import CheckedStart, Served, Serving
from motion_grpc.engine.signals import Signals
from motion_grpc.engine.snapshots import Runtimes
from motion_grpc.engine.streaming import ServeStream
from motion_grpc.engine.waiting import WaitResult
from motion_grpc.engine.wakeups import WakeListener
from motion_grpc.errors import InvalidArgumentError
from motion_grpc.names import validate_name
from motion_grpc.store.connection import RedisSettings
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import EnqueueRequest, EnqueueResult, Taken
from motion_grpc.store.store import Store

log = logging.getLogger(__name__)

#: Blocking reads (flush waits) in flight at once, each on a connection of its own.
WAIT_CONNECTIONS = 10_000
#: The wake listener's pub/sub connection, and one to spare while it reconnects.
WAKE_CONNECTIONS = 2
#: Seconds closing waits for drains whose retries it stopped to hand them back.
ISOLATION_HAND_BACK_SECONDS = 5.0


class AsyncEngine:
    """Hosts components and runs their flows against the state in Redis, on the running loop."""

    def __init__(
        self,
        redis: RedisSettings,
        components: Iterable[Definable] = (),
        settings: EngineSettings | None = None,
        wake: Callable[[InstanceKeys], None] | None = None,
        isolation: Isolation | None = None,
    ) -> None:
        """Args:
        wake: Told of every instance this engine enqueues updates for; by default its own
            scheduler (or nobody, with process_updates off: other processes apply them).
        isolation: Where retried updates run (see server.isolation); by default here.
        """
        self.settings = settings or EngineSettings()
        self.registry = Registry(components)
        self._redis = redis
        self._wake_override = wake
        self._isolation = isolation
        self._started = False

    async def start(self) -> AsyncEngine:
        """Connect and start the background work; call on the loop the engine will run on."""
        if self._started:
            return self
        self._started = True
        s = self.settings
        client, blocking = self._redis.store_clients(max_blocking=WAIT_CONNECTIONS)
        self.store = Store(client, s.events_retention, blocking_client=blocking)
        self._runtimes = Runtimes(s.max_cached_instances, s.max_snapshot_bytes)
        self.store.on_restart(self._redis_restarted)
        self._serve_runner = OpRunner(s.serve_threads, "motion-serve")
        self._update_runner = OpRunner(s.update_threads, "motion-update")
        self._leases = LeaseKeeper(self.store, s.lease_ttl)
        self._instances = Instances(
            self.store, self._runtimes, self._update_runner, self._leases, s.init_timeout, s.max_state_bytes
        )
        applier = Applier(self._update_runner, self._instances, s.update_timeout, OpTimes(FAST_OP_SECONDS),
                          s.max_state_bytes)  # fmt: skip
        signals = Signals()
        drain_settings = DrainSettings(max_attempts=s.max_attempts, group_wait=s.update_group_wait)
        self._drainer = Drainer(self.store, self.registry.get, self._runtimes, self._instances, applier,
                                self._leases, drain_settings, signals.fire, self._isolation)  # fmt: skip
        self._scheduler = UpdateScheduler(
            self.store, self._drainer.drain, s.max_concurrent_updates, s.sweep_interval, signals
        )
        self._wakeups = WakeListener(
            self._redis.async_client(max_connections=WAKE_CONNECTIONS),
            lambda: self._scheduler.hosted,
            self._scheduler.notify,
        )
        wake: Callable[[InstanceKeys], None] = self._wake_override or _no_wake
        enqueue: Callable[[EnqueueRequest], Awaitable[EnqueueResult]] = self.store.enqueue
        if self._wake_override is not None:
            enqueue = waking(self.store, self._wake_override)
        elif s.process_updates:
            wake, enqueue = self._scheduler.notify, self._scheduler.enqueue
        local = self._scheduler if s.process_updates else None  # its drains wake waiters here
        self._serving = Serving(self.store, self._runtimes, self._instances, self._serve_runner,
                                enqueue, wake, s.fast_op_seconds, s.serve_timeout, s.request_id_ttl,
                                local)  # fmt: skip
        self._admin = Administration(self.store, self._runtimes, self._instances, enqueue, local)
        self._serves = Limiter(s.max_concurrent_serves, s.serve_queue, "--max-concurrent-serves")
        self._leases.start()
        self._loading = asyncio.get_running_loop().create_task(self._load_scripts(), name="motion-scripts")
        if s.process_updates:
            if s.adopt_others_updates:
                self.registry.on_add(lambda component: self._scheduler.host([component.name]))
                self._wakeups.start()
            self._scheduler.start()
        return self

    async def apply_taken(self, keys: InstanceKeys, taken: Taken) -> Applied:
        """Apply entries another process took under its lease (see server.isolation)."""
        return await self._drainer.apply_taken(keys, taken)

    def _redis_restarted(self) -> None:
        log.warning("Redis restarted or failed over: state is read from it again, not from memory")
        self._runtimes.forget_states()

    async def close(self) -> None:
        """Finish the update ops in hand, hand leases back, stop background work, disconnect."""
        if not self._started:
            return
        self._drainer.stopping = True
        await self._scheduler.close()
        if self._isolation is not None:  # retries still in hand: handed back, their attempt not counted
            await self._isolation.close()
            await self._scheduler.close(timeout=ISOLATION_HAND_BACK_SECONDS)
        await self._wakeups.close()
        await self._leases.close()
        await stop_task(self._loading)
        self._serve_runner.close()
        self._update_runner.close()
        await self.store.close()

    # -- lookups -------------------------------------------------------------------

    def add_component(self, component: Definable, replace: bool = False) -> None:
        self.registry.add(component, replace)

    @property
    def components(self) -> list[ComponentDefinition]:
        return self.registry.all()

    def component(self, name: str) -> ComponentDefinition:
        return self.registry.component(name)

    def resolve(self, component_name: str, instance_id: str) -> tuple[ComponentDefinition, InstanceKeys]:
        """The hosted component and the Redis keys of one of its instances (validated names)."""
        return self.registry.resolve(component_name, instance_id)

    @contextlib.asynccontextmanager
    async def serve_slot(self) -> AsyncIterator[None]:
        """One of the serves in flight (RESOURCE_EXHAUSTED past --max-concurrent-serves and its queue)."""
        async with self._serves:
            yield

    # -- flows ---------------------------------------------------------------------

    async def run(
        self,
        component_name: str,
        instance_id: str,
        flow_key: str,
        props: Mapping[str, Any] | None = None,
        options: RunOptions = DEFAULT_OPTIONS,
        check_result: ResultCheck | None = None,
    ) -> RunResult:
        """Serve a flow from the last committed state and enqueue its update ops.

        Args:
            check_result: Called with the serve op's result before anything is enqueued;
                a MotionError it raises fails the run with nothing enqueued. For a large
                result it is called on a worker thread (see engine/run_payload.py).
        """
        call = self.serve_call(component_name, instance_id, flow_key, props, options, check_result)
        return await self.run_call(call)

    async def run_call(self, call: ServeCall) -> RunResult:
        """`run`, its names and props already checked (see `serve_call`)."""
        async with self._serves:
            await self._refresh(call)
            return await self._serving.run(call)

    async def checked_start(self, call: ServeCall) -> Served | CheckedStart:
        """`run_call`'s first half for a serve op called in a caller's thread (engine.caller_runs)."""
        await self._refresh(call)
        return await self._serving.checked_start(call)

    async def open_stream(
        self,
        component_name: str,
        instance_id: str,
        flow_key: str,
        props: Mapping[str, Any] | None = None,
        options: RunOptions = DEFAULT_OPTIONS,
    ) -> ServeStream:
        """Start a streaming run (hold a `serve_slot` around it); see engine.streams."""
        call = self.serve_call(component_name, instance_id, flow_key, props, options, None)
        await self._refresh(call)
        return await self._serving.open_stream(call)

    async def _refresh(self, call: ServeCall) -> None:
        """force_refresh: every update queued before the run ends before it is served."""
        options = call.options
        if options.force_refresh:
            await self.ensure_instance(call.component, call.keys, options.init_state_params, options.deadline)
            await self._admin.flush(call.component, call.keys, None, options.deadline, "")

    def serve_call(
        self,
        component_name: str,
        instance_id: str,
        flow_key: str,
        props: Mapping[str, Any] | None,
        options: RunOptions,
        check_result: ResultCheck | None,
    ) -> ServeCall:
        """A run's checked names and props, ready to serve (`run_call`)."""
        component, keys = self.resolve(component_name, instance_id)
        flow = component.flow(validate_name(flow_key, "flow key"))
        if props is None:
            props = {}
        if not isinstance(props, Mapping):
            raise InvalidArgumentError(f"props must be a dict, not {type(props).__name__}")
        digest = cache_digest(component, flow, props)
        mark = request_mark(flow, props, digest, options.request_id)
        return ServeCall(component, keys, flow, dict(props), options, check_result or _accept, digest, mark)

    @property
    def serving(self) -> Serving:
        return self._serving

    # -- state, waiting and administration ---------------------------------------------

    async def ensure_instance(
        self,
        component: ComponentDefinition,
        keys: InstanceKeys,
        params: Mapping[str, Any] | None,
        deadline: float | None,
    ) -> None:
        """Create the instance if needed; init_state runs once even under concurrent first calls."""
        await self._instances.ensure(component, keys, params, deadline)

    async def get_state(
        self, component_name: str, instance_id: str, keys: Sequence[str] | None = None, copies: bool = True
    ) -> StateView:
        """The committed state and its version; `copies=False` for a caller that only reads the
        values (encodes them): it gets the snapshot's own."""
        component, ikeys = self.resolve(component_name, instance_id)
        return await self._admin.get_state(component, ikeys, keys, copies)

    async def flush(
        self, component_name: str, instance_id: str, flow: str | None = None, deadline: float | None = None,
        since_update_id: str = "",
    ) -> WaitResult:  # fmt: skip
        """Wait until every update enqueued before the call (of one flow, or all) has ended."""
        component, keys = self.resolve(component_name, instance_id)
        if flow:
            component.flow(validate_name(flow, "flow key"))
        return await self._admin.flush(component, keys, flow, deadline, since_update_id)

    async def write_state(
        self, component_name: str, instance_id: str, patch: Mapping[str, Any], deadline: float | None = None
    ) -> int:
        component, keys = self.resolve(component_name, instance_id)
        return await self._admin.write_state(component, keys, patch, deadline)

    async def migrate_state(
        self, component_name: str, instance_id: str, migrate: Callable[[dict[str, Any]], Mapping[str, Any]],
        deadline: float | None = None,
    ) -> int:  # fmt: skip
        component, keys = self.resolve(component_name, instance_id)
        return await self._admin.migrate(component, keys, migrate, deadline)

    async def delete_instance(self, component_name: str, instance_id: str) -> bool:
        _, keys = self.resolve(component_name, instance_id)
        return await self._admin.delete(keys)

    async def list_instances(
        self, component_name: str, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[str], str]:
        """One page of a hosted component's instance ids and the next page's token ('' on the last)."""
        return await self._admin.list_instances(self.component(component_name), page_size, page_token)

    async def apply_pending(self, component_name: str, instance_id: str) -> None:
        """Apply an instance's queued updates here and now, in order (unless another worker holds it)."""
        _, keys = self.resolve(component_name, instance_id)
        await self._drainer.drain(keys)

    def drain_soon(self, keys: InstanceKeys) -> None:
        """Have this engine drain an instance (for update worker processes)."""
        self._scheduler.notify(keys)

    async def ping(self) -> bool:
        return await self.store.ping()

    async def _load_scripts(self) -> None:
        try:
            await self.store.load_scripts()
        except Exception as exc:  # best effort (Redis not there yet): each script loads at its first call
            log.info("Redis scripts not loaded ahead: %s", exc)


def _accept(result: Any) -> None:
    """The default result check: any result will do (in-process callers get it as it is)."""


def _no_wake(keys: InstanceKeys) -> None:
    """Nobody here applies updates; other engines find them through the pending set."""
