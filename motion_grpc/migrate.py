"""Motion's StateMigrator: apply a function to the state of every instance of a component.

Each migration is queued on the instance's update queue as an admin entry, so it
runs between two updates, never during one, and commits like an update (one
version bump, an APPLIED or FAILED event). Unlike Motion, no lock is taken and
nothing is read outside the queue: a migration cannot interleave with an update
or lose one that was enqueued meanwhile.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from motion_grpc.definition import ComponentDefinition, ComponentSource, Definable
from motion_grpc.engine import Engine
from motion_grpc.errors import OpError
from motion_grpc.inprocess import shared_engine

log = logging.getLogger(__name__)

MigrateFunc = Callable[[dict[str, Any]], Mapping[str, Any]]


class MigrationResult(NamedTuple):
    """How one instance's migration ended: `exception` is None when it was applied.

    A named tuple, so both Motion styles work: `result.instance_id, result.exception`
    and `for instance_id, exception in results`.
    """

    instance_id: str
    exception: Exception | None


class MigrationAssertionError(AssertionError):
    """A migration function returned a non-dict (or asserted) for some instance; `results` has
    every instance's outcome."""

    def __init__(self, message: str, results: list[MigrationResult]) -> None:
        migrated = sum(result.exception is None for result in results)
        super().__init__(f"{message}; {migrated} of {len(results)} instances were migrated (see .results)")
        self.results = results


class StateMigrator:
    """Migrates the state of a component's instances, as Motion's StateMigrator does.

    Args:
        component: The component whose instances to migrate.
        migrate_func: `func(state) -> dict`: receives a copy of an instance's state
            and returns the state keys to set (returning the whole, changed state
            works too, as in Motion's examples).
        engine: The engine to run on; the process-wide in-process engine (from
            MOTION_REDIS_URL, else the embedded Redis) when None.

    Raises:
        TypeError: `component` is not a Component.
        ValueError: `migrate_func` does not take exactly one parameter.
    """

    def __init__(self, component: Definable, migrate_func: MigrateFunc, engine: Engine | None = None) -> None:
        if not isinstance(component, (ComponentSource, ComponentDefinition)):
            raise TypeError("component must be a Component")
        if not callable(migrate_func) or len(inspect.signature(migrate_func).parameters) != 1:
            raise ValueError("migrate_func must have exactly one parameter (`state`)")
        self.component = component
        self.migrate_func = migrate_func
        self._engine = engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:  # the process's shared engine (looked up each time: a fork replaces it)
            engine = shared_engine()
            engine.add_component(self.component, replace=True)  # in-process: the latest definition
            return engine
        self._engine.add_component(self.component)
        return self._engine

    def instance_ids(self) -> Iterator[str]:
        """Every instance id of the component, read page by page from its index."""
        token = ""
        while True:
            ids, token = self.engine.list_instances(self.component.name, 0, token)
            yield from ids
            if not token:
                return

    def migrate(
        self,
        instance_ids: Iterable[str] | None = None,
        num_workers: int = 4,
        timeout: float | None = None,
    ) -> list[MigrationResult]:
        """Apply the migration to the given instances (all of them when None or empty).

        Args:
            instance_ids: Ids to migrate; every instance of the component when None or empty.
            num_workers: How many migrations are waited on at once.
            timeout: Seconds to wait for each instance's migration (its queue may be long).

        Returns:
            One MigrationResult per instance, in order; `exception` is None on success,
            else what went wrong for that instance (the other instances still migrate).

        Raises:
            MigrationAssertionError: An AssertionError, as in Motion: raised once every
                instance was tried, when the function returned something other than a dict
                for one, or raised AssertionError; its `results` say how each instance ended.
        """
        if num_workers < 1:
            raise ValueError("num_workers must be >= 1")
        engine = self.engine
        ids = list(instance_ids or ()) or list(self.instance_ids())
        if not ids:
            log.warning("no instances of component %s found", self.component.name)
            return []
        with ThreadPoolExecutor(max_workers=num_workers, thread_name_prefix="motion-migrate") as pool:
            results = list(pool.map(lambda instance_id: self._migrate_one(engine, instance_id, timeout), ids))
        for result in results:
            if isinstance(result.exception, OpError) and result.exception.error_type == "AssertionError":
                # As in Motion, whose own check that the function returns a dict is an assert.
                raise MigrationAssertionError(result.exception.message, results)
        return results

    def _migrate_one(self, engine: Engine, instance_id: str, timeout: float | None) -> MigrationResult:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            engine.migrate_state(self.component.name, instance_id, self.migrate_func, deadline)
        except Exception as exc:
            log.error("migrating %s/%s failed: %s", self.component.name, instance_id, exc)
            return MigrationResult(instance_id, exc)
        return MigrationResult(instance_id, None)
