"""The engine for callers outside its event loop: in-process instances, update worker processes, tools.

An AsyncEngine runs on a loop of its own in a background thread; blocking
calls wait for their result from any number of threads (no pool caps them),
and asyncio callers on another loop await it without holding a thread.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from motion_grpc.definition import ComponentDefinition, Definable, definition_of
from motion_grpc.engine.caller_runs import CallerRuns
from motion_grpc.engine.engine import AsyncEngine
from motion_grpc.engine.ops import LoopThread
from motion_grpc.engine.options import DEFAULT_OPTIONS, EngineSettings, RunOptions
from motion_grpc.engine.results import RunResult, StateView
from motion_grpc.engine.serve_call import ResultCheck
from motion_grpc.engine.streaming import ServeStream
from motion_grpc.engine.waiting import WaitResult
from motion_grpc.store.connection import RedisSettings
from motion_grpc.store.keys import InstanceKeys

T = TypeVar("T")


class Engine:
    """An AsyncEngine on its own event loop thread, with blocking and awaitable faces."""

    def __init__(
        self,
        redis: RedisSettings,
        components: Iterable[Definable] = (),
        settings: EngineSettings | None = None,
        wake: Callable[[InstanceKeys], None] | None = None,
    ) -> None:
        self._loop = LoopThread()
        self.core = AsyncEngine(redis, components, settings, wake)
        self.settings = self.core.settings
        self._here = CallerRuns(self.core, redis, self._loop)

    def start(self) -> Engine:
        self.call(self.core.start())
        return self

    def close(self) -> None:
        """Finish the update ops in hand, hand leases back, stop the loop."""
        try:
            self.call(self.core.close())
        finally:
            self._here.close()
            self._loop.close()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the engine's loop and wait for it (from any thread but that loop's)."""
        return self._loop.run(coroutine)  # type: ignore[no-any-return]

    async def acall(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await a coroutine run on the engine's loop, from another event loop or that one (an
        async op calling another component)."""
        if self._loop.is_current():
            return await coroutine
        return await self._loop.submit(coroutine)

    def on_own_loop(self) -> bool:
        """Whether the caller runs on the engine's loop (in an async op), where it cannot block."""
        return self._loop.is_current()

    @property
    def store(self) -> BlockingStore:
        """The engine's store with blocking methods (for tools and tests)."""
        return BlockingStore(self.core.store, self)

    # -- lookups ---------------------------------------------------------------------

    def add_component(self, component: Definable, replace: bool = False) -> None:
        if self._loop.is_current():  # an async op making an instance: already where the registry lives
            self.core.add_component(component, replace)
        else:
            self.call(_now(self.core.add_component, component, replace))

    @property
    def components(self) -> list[ComponentDefinition]:
        return self.core.components

    def component(self, name: str) -> ComponentDefinition:
        return self.core.component(name)

    def resolve(self, component_name: str, instance_id: str) -> tuple[ComponentDefinition, InstanceKeys]:
        return self.core.resolve(component_name, instance_id)

    # -- flows and state ---------------------------------------------------------------

    def run(
        self,
        component_name: str,
        instance_id: str,
        flow_key: str,
        props: Mapping[str, Any] | None = None,
        options: RunOptions = DEFAULT_OPTIONS,
        check_result: ResultCheck | None = None,
    ) -> RunResult:
        call = self.core.serve_call(component_name, instance_id, flow_key, props, options, check_result)
        served = self._here.run(call)
        return served if served is not None else self.call(self.core.run_call(call))

    def open_stream(
        self, component_name: str, instance_id: str, flow_key: str, props: Mapping[str, Any] | None = None,
        options: RunOptions = DEFAULT_OPTIONS,
    ) -> BlockingStream:  # fmt: skip
        return BlockingStream(
            self.call(self.core.open_stream(component_name, instance_id, flow_key, props, options)), self
        )

    def ensure_instance(
        self,
        component: Definable,
        keys: InstanceKeys,
        params: Mapping[str, Any] | None,
        deadline: float | None,
    ) -> None:
        self.call(self.core.ensure_instance(definition_of(component), keys, params, deadline))

    def get_state(
        self, component_name: str, instance_id: str, keys: Sequence[str] | None = None
    ) -> StateView:
        return self.call(self.core.get_state(component_name, instance_id, keys))

    def flush(
        self, component_name: str, instance_id: str, flow: str | None = None, deadline: float | None = None,
        since_update_id: str = "",
    ) -> WaitResult:  # fmt: skip
        return self.call(self.core.flush(component_name, instance_id, flow, deadline, since_update_id))

    def write_state(
        self, component_name: str, instance_id: str, patch: Mapping[str, Any], deadline: float | None = None
    ) -> int:
        return self.call(self.core.write_state(component_name, instance_id, patch, deadline))

    def migrate_state(
        self, component_name: str, instance_id: str, migrate: Callable[[dict[str, Any]], Mapping[str, Any]],
        deadline: float | None = None,
    ) -> int:  # fmt: skip
        return self.call(self.core.migrate_state(component_name, instance_id, migrate, deadline))

    def delete_instance(self, component_name: str, instance_id: str) -> bool:
        return self.call(self.core.delete_instance(component_name, instance_id))

    def list_instances(
        self, component_name: str, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[str], str]:
        return self.call(self.core.list_instances(component_name, page_size, page_token))

    def apply_pending(self, component_name: str, instance_id: str) -> None:
        self.call(self.core.apply_pending(component_name, instance_id))

    def drain_soon(self, keys: InstanceKeys) -> None:
        """Have this engine drain an instance (thread-safe; for update worker processes)."""
        self._loop.loop.call_soon_threadsafe(self.core.drain_soon, keys)


class BlockingStream:
    """A ServeStream stepped from outside the engine's loop (blocking, or awaited from another loop)."""

    def __init__(self, stream: ServeStream, engine: Engine) -> None:
        self.stream = stream
        self._engine = engine

    @property
    def version(self) -> int:
        return self.stream.version

    @property
    def completed(self) -> RunResult | None:
        return self.stream.completed

    def next_item(self) -> Any:
        if self.stream.steps_here:  # the caller's thread runs the generator, as in Motion
            return self.stream.next_item_here()
        return self._engine.call(self.stream.next_item())

    def finish(self) -> RunResult:
        return self._engine.call(self.stream.finish())

    def close(self) -> None:
        self._engine.call(self.stream.close())

    async def anext_item(self) -> Any:
        return await self._engine.acall(self.stream.next_item())

    async def afinish(self) -> RunResult:
        return await self._engine.acall(self.stream.finish())

    async def aclose(self) -> None:
        await self._engine.acall(self.stream.close())


class BlockingStore:
    """The engine's store, each coroutine method run on the engine's loop and waited for."""

    def __init__(self, store: Any, engine: Engine) -> None:
        self._store = store
        self._engine = engine

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._engine.call(attribute(*args, **kwargs))

        return blocking


async def _now(func: Callable[..., T], *args: Any) -> T:
    """Call a plain function on the engine's loop (where the engine's state lives)."""
    return func(*args)


__all__ = ["BlockingStore", "BlockingStream", "Engine"]
