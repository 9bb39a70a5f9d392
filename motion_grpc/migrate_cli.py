"""`motion-grpc migrate APP:Component MODULE:FUNC`: StateMigrator from the command line.

It reads state back from Redis as a server does, so it trusts what a server trusts
(--state-secret-file, --trust-unsigned-pickles): an unsigned pickle naming code is
refused, not loaded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from motion_grpc.component import Component
from motion_grpc.engine import Engine, EngineSettings
from motion_grpc.migrate import MigrationAssertionError, StateMigrator
from motion_grpc.server.loader import AppLoadError, load_module
from motion_grpc.store import RedisSettings
from motion_grpc.trust import configure_process


def _split(spec: str, what: str) -> tuple[str, str]:
    module, colon, name = spec.rpartition(":")
    if not colon or not module or not name:
        raise AppLoadError(f"{what} must look like MODULE:NAME or path.py:NAME, not {spec!r}")
    return module, name


def find_component(spec: str) -> Component:
    """The Component named by `app.py:Variable` (or by its component name)."""
    app, name = _split(spec, "the component")
    module = load_module(app)
    found = getattr(module, name, None)
    if isinstance(found, Component):
        return found
    for value in vars(module).values():
        if isinstance(value, Component) and value.name == name:
            return value
    raise AppLoadError(f"{app} defines no Component named {name}")


def find_function(spec: str) -> Callable[[dict[str, Any]], Any]:
    """The migration function named by `module:func` or `path.py:func`."""
    source, name = _split(spec, "the migration function")
    func = getattr(load_module(source), name, None)
    if not callable(func):
        raise AppLoadError(f"{source} has no function {name}")
    return func  # type: ignore[no-any-return]


def run_migrate(args: argparse.Namespace, redis: RedisSettings) -> int:
    """Migrate, print one line per instance, and exit 1 when any migration failed."""
    try:
        component = find_component(args.component)
        func = find_function(args.function)
        configure_process(args.state_secret_file, args.trust_unsigned_pickles, server=True)
    except (AppLoadError, ValueError) as exc:
        print(f"motion-grpc: {exc}", file=sys.stderr)
        return 2
    # Its events join the instances' streams: trimmed as the servers trim them (MOTION_EVENTS_RETENTION).
    # It applies only the queues of the instances it migrates, never other instances' updates.
    settings = EngineSettings(events_retention=args.events_retention, adopt_others_updates=False)
    engine = Engine(redis, [component], settings).start()
    try:
        results = StateMigrator(component, func, engine=engine).migrate(
            args.instances, num_workers=args.workers, timeout=args.timeout
        )
    except MigrationAssertionError as asserted:  # the per-instance outcomes say which
        results = asserted.results
    finally:
        engine.close()
    failed = 0
    for result in results:
        if result.exception is None:
            print(f"migrated {result.instance_id}")
        else:
            failed += 1
            print(f"FAILED {result.instance_id}: {result.exception}")
    print(f"{len(results) - failed} of {len(results)} instances of {component.name} migrated")
    return 1 if failed else 0
