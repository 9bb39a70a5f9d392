"""In-process instances, as in Motion: `inst = C("user42"); inst.run(...)`.

They share one engine per process (and per Redis), so a notebook, a script
and the gRPC server all work on the same state in Redis.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any

from motion_grpc.engine import Engine, EngineSettings, RunResult
from motion_grpc.engine.streaming import END, ServeStream
from motion_grpc.store import RedisSettings, Store
from motion_grpc.store.embedded import embedded_settings

if TYPE_CHECKING:
    from motion_grpc.component import Component

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def shared_engine(settings: RedisSettings | None = None) -> Engine:
    """The process-wide engine for a Redis (from the environment, or the embedded default)."""
    settings = settings or RedisSettings.from_env() or embedded_settings()
    with _engines_lock:
        engine = _engines.get(settings.url)
        if engine is None:
            engine = Engine(Store(settings.client()), settings=_in_process_settings()).start()
            _engines[settings.url] = engine
        return engine


def _in_process_settings() -> EngineSettings:
    """MOTION_PROCESS_UPDATES=0: this process only serves and enqueues; servers apply the updates."""
    flag = os.environ.get("MOTION_PROCESS_UPDATES", "1").strip().lower()
    return EngineSettings(process_updates=flag not in ("0", "false", "no", "off"))


@atexit.register
def _close_engines() -> None:
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()


class ComponentInstance:
    """One instance of a component, run in this process."""

    def __init__(
        self,
        component: Component,
        instance_id: str | None = None,
        *,
        init_state_params: Mapping[str, Any] | None = None,
        redis_url: str | None = None,
        engine: Engine | None = None,
        **_motion_options: Any,
    ) -> None:
        self.component = component
        self.instance_id = instance_id or str(uuid.uuid4())
        self._engine = engine or shared_engine(RedisSettings(url=redis_url) if redis_url else None)
        self._engine.add_component(component)
        self._init_state_params = dict(init_state_params or {})
        self._engine.ensure_instance(component, self._keys, self._init_state_params, deadline=None)

    @property
    def _keys(self) -> Any:
        from motion_grpc.store.keys import InstanceKeys

        return InstanceKeys.of(self.component.name, self.instance_id)

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
        """Like run, with the version, cache flag and update ids."""
        return self._engine.run(
            self.component.name,
            self.instance_id,
            flow_key,
            props,
            **self._flow_options(ignore_cache, force_refresh, flush_update, timeout),
        )

    async def arun(
        self,
        flow_key: str,
        props: Mapping[str, Any] | None = None,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """`run` for asyncio code: the work happens off the event loop."""
        return await asyncio.to_thread(
            self.run, flow_key, props, ignore_cache, force_refresh, flush_update, timeout
        )

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
        list of items as serve_result; stopping early enqueues nothing.
        """
        stream = self._open_stream(flow_key, props, ignore_cache, force_refresh, flush_update, timeout)
        try:
            while (item := stream.next_item()) is not END:
                yield item
            stream.finish()
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
        stream = await asyncio.to_thread(
            self._open_stream, flow_key, props, ignore_cache, force_refresh, flush_update, timeout
        )
        try:
            while (item := await asyncio.wrap_future(stream.step(_stream_pool()))) is not END:
                yield item
            await asyncio.to_thread(stream.finish)
        finally:
            stream.close(_stream_pool())

    def _open_stream(
        self,
        flow_key: str,
        props: Mapping[str, Any] | None,
        ignore_cache: bool,
        force_refresh: bool,
        flush_update: bool,
        timeout: float | None,
    ) -> ServeStream:
        return self._engine.open_stream(
            self.component.name,
            self.instance_id,
            flow_key,
            props,
            **self._flow_options(ignore_cache, force_refresh, flush_update, timeout),
        )

    def _flow_options(
        self, ignore_cache: bool, force_refresh: bool, flush_update: bool, timeout: float | None
    ) -> dict[str, Any]:
        """The engine options every way of running a flow shares."""
        return {
            "ignore_cache": ignore_cache,
            "force_refresh": force_refresh,
            "flush_update": flush_update,
            "init_state_params": self._init_state_params,
            "deadline": _deadline(timeout),
        }

    def flush_update(self, flow_key: str | None = None, timeout: float | None = None) -> int:
        """Wait until the updates enqueued so far (of one flow, or all) are applied; returns the version."""
        return self._engine.flush(self.component.name, self.instance_id, flow_key, _deadline(timeout)).version

    def read_state(self, key: str, default_value: Any = None) -> Any:
        """One state key's committed value, or `default_value`."""
        state = self._engine.get_state(self.component.name, self.instance_id).state
        return state.get(key, default_value)

    def get_state(self) -> dict[str, Any]:
        return self._engine.get_state(self.component.name, self.instance_id).state

    def write_state(self, state_update: Mapping[str, Any], latest: bool = False) -> int:
        """Patch state keys, serialized with queued updates; returns the new version."""
        return self._engine.write_state(self.component.name, self.instance_id, state_update)

    def get_version(self) -> int:
        return self._engine.get_state(self.component.name, self.instance_id).version

    def delete(self) -> bool:
        """Delete this instance: state, queued updates, events, cache (not in Motion).

        Returns False when it did not exist. A later `run` creates it afresh with init_state.
        """
        return self._engine.delete_instance(self.component.name, self.instance_id)

    def shutdown(self) -> None:
        """Release this handle. Queued updates stay durable in Redis and are applied by any worker."""

    close = shutdown

    def __enter__(self) -> ComponentInstance:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _stream_pool() -> ThreadPoolExecutor:
    """Threads that advance sync serve generators for `agen` (one next() per task)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(16, thread_name_prefix="motion-agen")
        return _pool


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout
