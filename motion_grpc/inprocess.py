"""The engines behind in-process instances, one per Redis (and update task type) per process.

Every in-process instance of a process shares them, so a notebook, a script
and the gRPC server all work on the same state in Redis, and a thousand
instances cost one connection pool, not a thousand worker threads.

- `update_task_type="thread"` (Motion's default): the engine applies updates
  on its own worker threads.
- `update_task_type="process"`: the engine only serves and enqueues; a
  spawned worker process (the server's `--update-processes` machinery)
  applies the updates, so a CPU-bound update op never holds this process's
  GIL. The worker imports the module that defines the component (or runs the
  script, as `__mp_main__` and under `motion_apps.`), so the component must be
  defined at the top level of a module or script, and a script must guard its
  entry point with `if __name__ == "__main__":`, as Motion asks too.

A process forked after it used instances (os.fork, a fork-context
multiprocessing Pool, a pre-forking web server) finds no engine in the child:
the parent's have no threads there. The child makes its own on first use, and
handles made before the fork move to them (`forks` counts the forks).

MOTION_PROCESS_UPDATES=0 makes a process only serve and enqueue, leaving
every update to servers (or other processes). MOTION_MAX_STATE_BYTES raises
(or lowers) the state size limit, as it does for `motion-grpc serve`.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Literal

from motion_grpc.definition import ComponentSource, Definable, definition_of
from motion_grpc.engine import Engine, EngineSettings
from motion_grpc.errors import InvalidArgumentError
from motion_grpc.logs import excerpt
from motion_grpc.store import RedisSettings
from motion_grpc.store.embedded import embedded_settings

if TYPE_CHECKING:
    from motion_grpc.server.workers import UpdateProcesses

UpdateTaskType = Literal["thread", "process"]
UPDATE_TASK_TYPES: tuple[UpdateTaskType, ...] = ("thread", "process")
#: Worker processes per Redis and app for `update_task_type="process"` (Motion runs one per instance).
UPDATE_PROCESSES = 1

_lock = threading.Lock()
#: (Redis URL, app the worker process imports; "" for thread engines) -> engine.
_engines: dict[tuple[str, str], Engine] = {}
_workers: list[UpdateProcesses] = []
#: Forks this process descends from, since the module was imported: a handle made under another
#: count belongs to an ancestor's engine.
forks = 0


def _forget_the_parents_engines() -> None:
    """In a forked child: drop the parent's engines unclosed (closing them would wait on threads
    that are not here, and could write to the parent's connections)."""
    global _lock, forks
    _lock = threading.Lock()  # (another thread of the parent may have held it at the fork)
    _engines.clear()
    _workers.clear()
    forks += 1


os.register_at_fork(after_in_child=_forget_the_parents_engines)


def redis_settings(redis_url: str | None = None) -> RedisSettings:
    """`redis_url`, else MOTION_REDIS_URL (or Motion's MOTION_REDIS_* variables), else the embedded Redis."""
    if redis_url:
        return RedisSettings(url=redis_url)
    return RedisSettings.from_env() or embedded_settings()


def processes_updates() -> bool:
    """False with MOTION_PROCESS_UPDATES=0: this process only serves and enqueues."""
    flag = os.environ.get("MOTION_PROCESS_UPDATES", "1").strip().lower()
    return flag not in ("0", "false", "no", "off")


def engine_settings(process_updates: bool) -> EngineSettings:
    """The settings of the shared engines: the defaults, and MOTION_MAX_STATE_BYTES when set."""
    raw = os.environ.get("MOTION_MAX_STATE_BYTES", "").strip()
    if not raw:
        return EngineSettings(process_updates=process_updates)
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise InvalidArgumentError(f"MOTION_MAX_STATE_BYTES must be a whole number of bytes > 0, not {raw!r}")
    return EngineSettings(process_updates=process_updates, max_state_bytes=limit)


def shared_engine(settings: RedisSettings | None = None) -> Engine:
    """The process-wide engine for a Redis, applying updates on its own threads."""
    settings = settings or redis_settings()
    with _lock:
        engine = _engines.get((settings.url, ""))
        if engine is None:
            engine = Engine(settings, settings=engine_settings(processes_updates()))
            _engines[(settings.url, "")] = engine.start()
        return engine


def check_update_task_type(value: object) -> UpdateTaskType:
    """Motion's update_task_type; ValueError (INVALID_ARGUMENT) for anything else."""
    if isinstance(value, str) and value in UPDATE_TASK_TYPES:
        return value
    raise InvalidArgumentError(f"update_task_type must be 'thread' or 'process', not {excerpt(value)}")


def engine_for(
    component: Definable, update_task_type: UpdateTaskType, settings: RedisSettings | None = None
) -> Engine:
    """The shared engine an instance of `component` runs on, given Motion's `update_task_type`."""
    if check_update_task_type(update_task_type) == "thread" or not processes_updates():
        return shared_engine(settings)
    return _process_engine(app_of(component), settings or redis_settings())


def _process_engine(app: str, settings: RedisSettings) -> Engine:
    """An engine that serves here and wakes a spawned worker process (importing `app`) for updates."""
    from motion_grpc.server.workers import UpdateProcesses

    with _lock:
        engine = _engines.get((settings.url, app))
        if engine is None:
            workers = UpdateProcesses([app], settings, UPDATE_PROCESSES, engine_settings(True))
            if not _workers:
                # Registered after multiprocessing's own exit hook, so it runs first: workers
                # finish the op in hand and hand their leases back instead of being terminated.
                atexit.register(_stop_workers)
            _workers.append(workers.start())
            engine = Engine(settings, settings=engine_settings(False), wake=workers.wake)
            _engines[(settings.url, app)] = engine.start()
        return engine


class EngineBinding:
    """The engine a handle runs on: the shared one it was made with and, in a process forked since,
    that process's own (made on first use). An engine its maker passed in is never replaced."""

    def __init__(
        self,
        component: Definable,
        task_type: UpdateTaskType,
        settings: RedisSettings | None,
        engine: Engine | None = None,
    ) -> None:
        self._component, self._task_type, self._settings = component, task_type, settings
        self._given = engine is not None
        self._engine = engine if engine is not None else engine_for(component, task_type, settings)
        self._engine.add_component(component, replace=True)  # the latest definition wins, as in Motion
        self._forks = forks

    @property
    def engine(self) -> Engine:
        if self._forks != forks:  # made before this process was forked
            if self._given:
                raise RuntimeError(
                    "this handle runs on an engine made before this process was forked, which has no "
                    "threads here: make the engine and the handle in this process"
                )
            self._engine = engine_for(self._component, self._task_type, self._settings)
            self._engine.add_component(self._component, replace=True)
            self._forks = forks
        return self._engine


def app_of(component: Definable) -> str:
    """What a worker process imports to find `component`: the module defining it at its top level
    (by name), or the file of a script or of an app loaded from a path."""
    from motion_grpc.server.loader import module_name_for

    for module in _defining_modules(component):
        if not any(_defines(value, component) for value in vars(module).values()):
            continue
        file = getattr(module, "__file__", None)
        if module.__name__ != "__main__" and not (
            file and module.__name__ == module_name_for(pathlib.Path(file).resolve())
        ):
            return module.__name__
        if file:
            return str(file)
    raise InvalidArgumentError(
        f"update_task_type='process' runs the updates of {component.name} in a worker process, which "
        "imports the component: define it at the top level of a module or script (not in a notebook "
        "cell or a function), or use update_task_type='thread'"
    )


def _defines(value: object, component: Definable) -> bool:
    """Whether a module's `value` is `component`, or the Component whose definition it is."""
    return value is component or (isinstance(value, ComponentSource) and value.definition is component)


def _defining_modules(component: Definable) -> Iterator[ModuleType]:
    definition = definition_of(component)
    funcs = [definition.init_state_func, definition.save_state_func, definition.load_state_func]
    for flow in definition.flows():
        funcs += [flow.serve.func if flow.serve else None, *(op.func for op in flow.updates)]
    seen: set[str] = set()
    for func in funcs:
        name = getattr(func, "__module__", None)
        module = sys.modules.get(name) if name else None
        if module is not None and name not in seen:
            seen.add(module.__name__)
            yield module


def _stop_workers() -> None:
    with _lock:
        workers = list(_workers)
        _workers.clear()
    for worker in workers:
        worker.stop()


@atexit.register
def close_engines() -> None:
    """Close every shared engine and stop their update processes (at exit; tests call it too).

    Handles made before keep their closed engine; instances made after get new ones.
    """
    _stop_workers()
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()
