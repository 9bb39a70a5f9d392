"""In-process instances, as in Motion: `inst = C("user42"); inst.run(...)`.

They run on the process's shared engines (motion_grpc.inprocess), so a
notebook, a script and the gRPC server all work on the same state in Redis.

In-process callers get the errors Motion raises (each also a motion-grpc
error where motion-grpc itself raises it): the exception a user op raised
reaches the caller as itself; an unknown flow is a KeyError; a non-dict
state patch a TypeError; an update awaited with `flush_update=True` that
failed, and a run that needs the updates of a `disable_update_task`
instance, a RuntimeError.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from motion_grpc.caller_updates import CallerUpdates
from motion_grpc.definition import Definable
from motion_grpc.engine import Engine, RunOptions, RunResult
from motion_grpc.engine.blocking import BlockingStream
from motion_grpc.engine.streaming import END
from motion_grpc.errors import (
    ArgumentTypeError,
    FailedPreconditionError,
    InvalidArgumentError,
    MotionError,
    OpError,
    UpdateFailedError,
    UpdatesDisabledError,
)
from motion_grpc.inprocess import EngineBinding, UpdateTaskType, check_update_task_type, redis_settings
from motion_grpc.names import validate_name
from motion_grpc.store import protocol
from motion_grpc.store.keys import InstanceKeys

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class _RunPlan:
    """How one run goes."""

    options: RunOptions
    deadline: float | None
    #: Set when this thread applies the run's updates: their outcomes come after this event id.
    cursor: str | None


class ComponentInstance:
    """One instance of a component, run in this process (Motion's ComponentInstance).

    Args:
        component: The component.
        instance_id: The instance's id; a random one when empty.
        init_state_params: Keyword arguments of init_state, used when the instance is created.
        logging_level: Accepted for Motion's signature; configure the `motion_grpc` logger instead.
        update_task_type: "thread": this process's update threads apply the updates;
            "process": a worker process does (the component must be importable).
        disable_update_task: Apply no updates in the background: a run with
            flush_update=True applies its updates (and those queued before them) in the
            calling thread; a run that would leave updates queued, and flush_update(),
            raise RuntimeError (UpdatesDisabledError).
        redis_socket_timeout: Accepted for Motion's signature; connections are pooled.
        config_path: Accepted for Motion's signature; Redis comes from the environment.
        flush_on_exit: On shutdown, and at exit, wait for the updates of the flows run.
        redis_url: This instance's Redis; default MOTION_REDIS_URL, else the embedded Redis.
        engine: An engine to run on instead of the process's shared one.
    """

    def __init__(
        self,
        component: Definable,
        instance_id: str = "",
        init_state_params: Mapping[str, Any] | None = None,
        logging_level: str = "WARNING",
        update_task_type: UpdateTaskType = "thread",
        disable_update_task: bool = False,
        redis_socket_timeout: int = 60,
        config_path: str = ".motionrc.yml",
        flush_on_exit: bool = False,
        *,
        redis_url: str | None = None,
        engine: Engine | None = None,
    ) -> None:
        if disable_update_task and flush_on_exit:
            raise InvalidArgumentError("flush_on_exit needs update ops to run; not with disable_update_task")
        self.component = component
        self.instance_id = validate_name(instance_id or str(uuid.uuid4()), "instance id")
        self.disable_update_task = disable_update_task
        self.flush_on_exit = flush_on_exit
        #: Flows run through this handle (flush_on_exit flushes them).
        self.flows_run: set[str] = set()
        check_update_task_type(update_task_type)
        # As in Motion, update_task_type does not matter when no update task runs.
        task_type = "thread" if disable_update_task else update_task_type
        settings = redis_settings(redis_url) if redis_url else None
        self._binding = EngineBinding(component, task_type, settings, engine)
        self._init_state_params = dict(init_state_params or {})
        self._keys = InstanceKeys.of(component.name, self.instance_id)
        if not self._engine.on_own_loop():  # in an async op, the first arun creates it instead
            _call(self._engine.ensure_instance, component, self._keys, self._init_state_params, None)
        if flush_on_exit:
            atexit.register(self.shutdown)
        #: As Motion's: True from creation until shutdown.
        self.running = True

    @property
    def _engine(self) -> Engine:
        return self._binding.engine

    @property
    def _caller_updates(self) -> CallerUpdates:
        return CallerUpdates(self._engine, self._keys)

    @property
    def instance_name(self) -> str:
        """Motion's name of the instance, `Component__id`, as motion_grpc.utils takes it."""
        return f"{self.component.name}__{self.instance_id}"

    def __repr__(self) -> str:
        return f"ComponentInstance({self.component.name!r}, {self.instance_id!r})"

    def run(
        self,
        flow_key: str,
        props: Mapping[str, Any] | None = None,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """Run a flow: the serve op's result now; its update ops are queued (or awaited with flush_update)."""
        return self.run_result(flow_key, props, ignore_cache, force_refresh, flush_update, timeout).result

    def run_result(
        self,
        flow_key: str,
        props: Mapping[str, Any] | None = None,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
    ) -> RunResult:
        """Like run, with the version, cache flag, update ids and (flush_update) their outcomes."""
        plan = self._plan(flow_key, ignore_cache, force_refresh, flush_update, timeout)
        result = _call(self._engine.run, self.component.name, self.instance_id, flow_key, props, plan.options)
        return self._settle(result, plan)

    async def arun(
        self,
        flow_key: str,
        props: Mapping[str, Any] | None = None,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """`run` for asyncio code: awaited on the engine's event loop, holding no thread.

        (A disable_update_task instance applies its updates in the call: that one runs on a thread.)
        """
        if self.disable_update_task:
            return await asyncio.to_thread(
                self.run, flow_key, props, ignore_cache, force_refresh, flush_update, timeout
            )
        plan = self._plan(flow_key, ignore_cache, force_refresh, flush_update, timeout)
        run = self._engine.core.run(self.component.name, self.instance_id, flow_key, props, plan.options)
        return self._settle(await _acall(self._engine.acall(run)), plan).result

    def gen(
        self,
        flow_key: str,
        props: Mapping[str, Any] | None = None,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
    ) -> Iterator[Any]:
        """Run a flow whose serve op is a generator, yielding its items as they are produced.

        The update ops are enqueued once the last item has been taken, with the
        list of items as serve_result; stopping early enqueues nothing. A plain
        serve op's result is the one item, as in Motion (its run is complete then).
        """
        plan = self._plan(flow_key, ignore_cache, force_refresh, flush_update, timeout)
        stream = _call(self._open_stream, flow_key, props, plan)
        try:
            if stream.completed is not None:
                yield self._settle(stream.completed, plan).result
                return
            while (item := _call(stream.next_item)) is not END:
                yield item
            self._settle(_call(stream.finish), plan)
        finally:
            stream.close()

    async def agen(
        self,
        flow_key: str,
        props: Mapping[str, Any] | None = None,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
    ) -> AsyncIterator[Any]:
        """`gen` for asyncio code: sync generators advance on a thread, async ones on the engine's loop."""
        plan = await asyncio.to_thread(
            self._plan, flow_key, ignore_cache, force_refresh, flush_update, timeout
        )
        opened = self._engine.core.open_stream(
            self.component.name, self.instance_id, flow_key, props, plan.options
        )
        stream = BlockingStream(await _acall(self._engine.acall(opened)), self._engine)
        try:
            if stream.completed is not None:
                yield (await asyncio.to_thread(self._settle, stream.completed, plan)).result
                return
            while (item := await _acall(stream.anext_item())) is not END:
                yield item
            finished = await _acall(stream.afinish())
            await asyncio.to_thread(self._settle, finished, plan)
        finally:
            await stream.aclose()

    def _open_stream(self, flow_key: str, props: Mapping[str, Any] | None, plan: _RunPlan) -> BlockingStream:
        return self._engine.open_stream(self.component.name, self.instance_id, flow_key, props, plan.options)

    def _plan(
        self,
        flow_key: str,
        ignore_cache: bool,
        force_refresh: bool,
        flush_update: bool,
        timeout: float | None,
    ) -> _RunPlan:
        """Check a run before anything happens, and say how it goes.

        With disable_update_task, this thread applies what the run waits for: the
        queue so far (force_refresh), then its own updates (flush_update).
        """
        here = self._check_run(flow_key, flush_update)
        deadline = _deadline(timeout)
        if force_refresh and self.disable_update_task:
            self._caller_updates.catch_up(deadline)
            force_refresh = False  # caught up: the engine would wait for an update task there is none of
        options = RunOptions(
            ignore_cache, force_refresh, flush_update and not here, self._init_state_params, deadline
        )
        return _RunPlan(options, deadline, self._caller_updates.cursor() if here else None)

    def _check_run(self, flow_key: str, flush_update: bool) -> bool:
        """Refuse a run that cannot be done; whether its updates are to be applied in this thread.

        As in Motion, a disable_update_task instance refuses a run that would leave
        updates queued (here before its serve op runs, so nothing is enqueued).
        """
        flow = self.component.flow(flow_key)
        self.flows_run.add(flow.key)
        if not (self.disable_update_task and flow.updates):
            return False
        if not flush_update:
            raise UpdatesDisabledError(
                f"flow {flow.key} of {self.component.name} has update ops, and this instance was made "
                "with disable_update_task=True: run it with flush_update=True to apply them in this call"
            )
        return True

    def _settle(self, result: RunResult, plan: _RunPlan) -> RunResult:
        """A run's result once the updates it waits for have ended (applied here first when the
        plan says so); UpdateFailedError (a RuntimeError, as in Motion) when one failed."""
        cursor = plan.cursor
        if cursor is not None and result.update_ids:
            ids = result.update_ids
            waited = self._caller_updates.apply_through(ids, cursor, plan.deadline)
            outcomes = [waited.outcomes[i] for i in ids if i in waited.outcomes]
            version = max([result.version, *(event.version for event in outcomes)])
            result = dataclasses.replace(result, version=version, outcomes=outcomes)
        _raise_if_failed(self.component.name, result)
        return result

    def flush_update(self, flow_key: str | None = None, timeout: float | None = None) -> int:
        """Wait until the updates enqueued so far (of one flow, or all) are applied; returns the version."""
        if self.disable_update_task:
            raise UpdatesDisabledError(
                "this instance was made with disable_update_task=True: nothing applies its updates "
                "in the background; run flows with flush_update=True to apply them in the call"
            )
        if flow_key is not None:
            self.component.flow(flow_key)
        name = self.component.name
        return _call(self._engine.flush, name, self.instance_id, flow_key, _deadline(timeout)).version

    def read_state(self, key: str, default_value: Any = None) -> Any:
        """One state key's committed value, or `default_value`."""
        return self.get_state().get(key, default_value)

    def get_state(self) -> dict[str, Any]:
        return _call(self._engine.get_state, self.component.name, self.instance_id).state

    def write_state(self, state_update: Mapping[str, Any] | None, latest: bool = False) -> int:
        """Patch state keys, serialized with queued updates; returns the new version (None or {}:
        nothing to write, as in Motion; the current version)."""
        if state_update is None or (isinstance(state_update, Mapping) and not state_update):
            return self.get_version()
        if not isinstance(state_update, Mapping) or not all(isinstance(key, str) for key in state_update):
            raise ArgumentTypeError(
                f"write_state takes a dict with string keys, not {type(state_update).__name__}"
            )
        return _call(self._engine.write_state, self.component.name, self.instance_id, state_update)

    def get_version(self) -> int:
        return _call(self._engine.get_state, self.component.name, self.instance_id).version

    def delete(self) -> bool:
        """Delete this instance: state, queued updates, events, cache (not in Motion).

        Returns False when it did not exist. A later `run` creates it afresh with init_state.
        """
        return self._engine.delete_instance(self.component.name, self.instance_id)

    def shutdown(self, wait_for_logging_threads: bool = False) -> None:
        """Release this handle; with flush_on_exit, first wait for the updates of the flows it ran.

        Queued updates stay durable in Redis and are applied by any worker.
        """
        if self.flush_on_exit:
            atexit.unregister(self.shutdown)
            flows, self.flows_run = self.flows_run, set()
            for flow_key in sorted(flows):
                self.flush_update(flow_key)
        self.running = False

    close = shutdown

    def __enter__(self) -> ComponentInstance:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()


def _call(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call the engine; the exception a user op (or hook) raised reaches the caller as itself."""
    try:
        return func(*args, **kwargs)
    except (OpError, FailedPreconditionError) as exc:
        error = _user_error(exc)
        if error is None:
            raise
    raise error  # outside the except block: the user's exception keeps its own context


async def _acall(awaitable: Awaitable[T]) -> T:
    """`_call` for an awaitable."""
    try:
        return await awaitable
    except (OpError, FailedPreconditionError) as exc:
        error = _user_error(exc)
        if error is None:
            raise
    raise error


def _user_error(exc: MotionError) -> BaseException | None:
    """The exception of user code that `exc` reports (the engine raises it `from` that), if any."""
    cause = exc.__cause__
    if cause is None or (
        isinstance(cause, MotionError) and not (isinstance(exc, OpError) and exc.raised_by_op)
    ):
        return None
    return cause


def _raise_if_failed(component: str, result: RunResult) -> None:
    """UpdateFailedError (a RuntimeError, as in Motion) for the first awaited update that failed."""
    for event in result.outcomes:
        if event.status == protocol.FAILED:
            raise UpdateFailedError(
                f"update op {event.op} of {component}/{event.flow} failed: "
                f"{event.error_type}: {event.error_message}",
                event.error_type,
            )


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout
