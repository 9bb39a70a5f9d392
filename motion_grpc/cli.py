"""The `motion-grpc` command."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from typing import Any

from motion_grpc import logs, observability
from motion_grpc.arg_types import log_level, port, positive_int, seconds
from motion_grpc.config import parse_args
from motion_grpc.engine import EngineSettings
from motion_grpc.observability import tracing
from motion_grpc.observability.tracing import TracingUnavailableError
from motion_grpc.operator_cli import add_operator_parsers, run_operator
from motion_grpc.security_cli import (
    SECURITY_ERRORS,
    add_security_options,
    add_token_parser,
    run_token,
    security_options,
)
from motion_grpc.server import AppLoadError, ServerOptions, exits, load_components, loops, serve_forever
from motion_grpc.server.app import ListenError
from motion_grpc.server.limits import add_limit_options, limits_from_args
from motion_grpc.server.processes import ChildSpec, serve_processes
from motion_grpc.server.workers import UPDATE_NICENESS
from motion_grpc.store import RedisSettings
from motion_grpc.store.embedded import DEFAULT_DATA_DIR, embedded_settings
from motion_grpc.store.records import DEFAULT_EVENTS_MAXLEN, events_retention_from_env
from motion_grpc.trust import add_trust_options, configure_process


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motion-grpc", description="Serve Motion components over gRPC.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="host every Component found in the given apps")
    serve.add_argument("apps", nargs="+", metavar="APP", help="a Python file or an importable module")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=port, default=50051, help="port to listen on; 0 picks a free one")
    serve.add_argument(
        "--redis",
        default=None,
        help="redis:// or redis+cluster:// URL (default: MOTION_REDIS_URL, MOTION_REDIS_HOST..., "
        "else an embedded Redis with its data in --data-dir)",
    )
    serve.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="embedded Redis data directory")
    _add_engine_options(serve)
    serve.add_argument(
        "--update-processes",
        type=int,
        default=0,
        help="run update ops in this many worker processes, off the serving one (default 0: threads here)",
    )
    serve.add_argument(
        "--update-niceness",
        type=_niceness,
        default=UPDATE_NICENESS,
        help="how far update processes lower their scheduling priority (nice increment 0 to 19; 0 keeps "
        f"the server's): on a core both want, serving runs first (default {UPDATE_NICENESS})",
    )
    serve.add_argument(
        "--processes",
        type=positive_int,
        default=1,
        help="serving processes sharing the port (SO_REUSEPORT), one per core; the first supervises "
        "and exits non-zero when one dies (default 1)",
    )
    serve.add_argument("--lease-ttl", type=seconds, default=5.0, help="update lease TTL in seconds")
    serve.add_argument(
        "--request-id-ttl",
        type=seconds,
        default=24 * 3600.0,
        help="seconds a Run's request_id is remembered, so a client's retry enqueues nothing (default 24 h)",
    )
    serve.add_argument(
        "--sweep-interval",
        type=seconds,
        default=1.0,
        help="seconds between looks in Redis for updates queued by other processes (default 1)",
    )
    serve.add_argument(
        "--allow-pickle", action="store_true", help="accept cloudpickle props from trusted clients"
    )
    serve.add_argument("--debug", action="store_true", help="send op tracebacks to clients")
    serve.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the port with other servers started with --reuse-port (SO_REUSEPORT); "
        "without it a busy port fails with 'address in use'",
    )
    serve.add_argument(
        "--event-loop",
        choices=loops.CHOICES,
        default=loops.DEFAULT,
        help="the server's event loop: uvloop (less CPU per call; the default where installed), "
        "or asyncio's own",
    )
    serve.add_argument("--log-level", type=log_level, default=os.environ.get("MOTION_LOG_LEVEL", "INFO"))
    _add_watch_options(serve)
    add_security_options(serve)
    add_limit_options(serve)
    add_trust_options(serve)
    observability.add_arguments(serve)
    _add_migrate_parser(commands)
    add_token_parser(commands)
    add_operator_parsers(commands)
    return parser


def _add_engine_options(serve: argparse.ArgumentParser) -> None:
    defaults = EngineSettings()
    serve.add_argument(
        "--serve-threads",
        type=positive_int,
        default=defaults.serve_threads,
        help=f"threads for sync serve ops, one per blocking call (default {defaults.serve_threads})",
    )
    serve.add_argument(
        "--update-threads",
        "--update-workers",
        dest="update_threads",
        type=positive_int,
        default=defaults.update_threads,
        help=f"threads for sync update ops and state hooks (default {defaults.update_threads})",
    )
    serve.add_argument(
        "--max-concurrent-updates",
        type=positive_int,
        default=defaults.max_concurrent_updates,
        help="instances whose updates are applied at once; async update ops hold no thread "
        f"(default {defaults.max_concurrent_updates})",
    )
    serve.add_argument(
        "--max-concurrent-serves",
        type=positive_int,
        default=defaults.max_concurrent_serves,
        help="Run/RunStream calls served at once; past it and --serve-queue, "
        f"RESOURCE_EXHAUSTED (default {defaults.max_concurrent_serves})",
    )
    serve.add_argument(
        "--serve-queue",
        type=int,
        default=defaults.serve_queue,
        help=f"calls waiting for a serve slot (default {defaults.serve_queue})",
    )
    serve.add_argument(
        "--serve-timeout",
        type=seconds,
        default=None,
        help="seconds a serve op may take unless it sets its own (default: no limit)",
    )
    serve.add_argument(
        "--update-timeout",
        type=seconds,
        default=None,
        help="seconds an update op may take unless it sets its own (default: no limit)",
    )
    serve.add_argument(
        "--max-state-bytes",
        type=positive_int,
        default=defaults.max_state_bytes,
        help="largest encoded state of one instance; an update past it fails with StateTooLarge, "
        "a state write or init_state past it answers RESOURCE_EXHAUSTED "
        f"(default {defaults.max_state_bytes})",
    )
    serve.add_argument(
        "--max-snapshot-bytes",
        type=positive_int,
        default=defaults.max_snapshot_bytes,
        help="encoded bytes of the states a replica keeps decoded in memory, all instances together; "
        f"past it the least recently used are read again when needed (default {defaults.max_snapshot_bytes})",
    )


def _niceness(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 19:
        raise argparse.ArgumentTypeError(f"must be 0 to 19, not {value}")
    return value


def _engine_settings(args: argparse.Namespace) -> EngineSettings:
    return EngineSettings(
        serve_threads=args.serve_threads,
        update_threads=args.update_threads,
        max_concurrent_updates=args.max_concurrent_updates,
        max_concurrent_serves=args.max_concurrent_serves,
        serve_queue=args.serve_queue,
        serve_timeout=args.serve_timeout,
        update_timeout=args.update_timeout,
        lease_ttl=args.lease_ttl,
        sweep_interval=args.sweep_interval,
        request_id_ttl=args.request_id_ttl,
        max_state_bytes=args.max_state_bytes,
        max_snapshot_bytes=args.max_snapshot_bytes,
        events_retention=args.events_retention or events_retention_from_env(),
    )


def _add_watch_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--watch-heartbeat",
        type=seconds,
        default=10.0,
        help="seconds an idle WatchUpdates stream waits before a Progress heartbeat (default 10)",
    )
    serve.add_argument(
        "--watch-buffer",
        type=positive_int,
        default=10_000,
        help="live events buffered per watcher before it is ended with RESOURCE_EXHAUSTED",
    )
    serve.add_argument(
        "--events-retention",
        type=positive_int,
        default=None,
        help="update events kept per instance for WatchUpdates resumes (trimmed approximately, "
        f"in blocks of ~100; default MOTION_EVENTS_RETENTION, else {DEFAULT_EVENTS_MAXLEN})",
    )


def _watch_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "watch_heartbeat": args.watch_heartbeat,
        "watch_buffer": args.watch_buffer,
    }


def _add_migrate_parser(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate", help="apply a function (state -> dict of keys to set) to a component's instances"
    )
    migrate.add_argument("component", metavar="APP:COMPONENT", help="e.g. app.py:Prompt or mymodule:Prompt")
    migrate.add_argument("function", metavar="MODULE:FUNC", help="e.g. migrations.py:add_key")
    migrate.add_argument(
        "--instance", action="append", dest="instances", metavar="ID", help="only this instance (repeatable)"
    )
    migrate.add_argument("--workers", type=positive_int, default=4, help="migrations waited on at once")
    migrate.add_argument("--timeout", type=float, default=None, help="seconds to wait per instance")
    migrate.add_argument(
        "--events-retention",
        type=positive_int,
        default=None,
        help=f"as for serve (default MOTION_EVENTS_RETENTION, else {DEFAULT_EVENTS_MAXLEN})",
    )
    add_trust_options(migrate)  # it reads the instances' state back from Redis, as a server does
    migrate.add_argument("--redis", default=None, help="as for serve")
    migrate.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="embedded Redis data directory")
    migrate.add_argument("--log-level", type=log_level, default=os.environ.get("MOTION_LOG_LEVEL", "WARNING"))


def _redis_settings(args: argparse.Namespace) -> RedisSettings:
    if args.redis:
        return RedisSettings(url=args.redis)
    return RedisSettings.from_env() or embedded_settings(args.data_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(build_parser(), argv)  # flags, else MOTION_* variables, else --config
    logs.configure(args.log_level, getattr(args, "log_format", "text"))
    if args.command == "token":
        return run_token(args)
    if args.command == "migrate":
        from motion_grpc.migrate_cli import run_migrate

        return run_migrate(args, _redis_settings(args))
    if hasattr(args, "operator"):
        return run_operator(args)
    return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    try:
        components = load_components(args.apps)
    except AppLoadError as exc:
        print(f"motion-grpc: {exc}", file=sys.stderr)
        return 2
    options = ServerOptions(
        address=f"{args.host}:{args.port}",
        allow_pickle=args.allow_pickle,
        debug=args.debug,
        reuse_port=args.reuse_port,
        update_processes=args.update_processes,
        update_niceness=args.update_niceness,
        apps=tuple(args.apps),
        observability=observability.options_from(args),
        limits=limits_from_args(args),
        **_watch_options(args),
    )
    try:
        configure_process(args.state_secret_file, args.trust_unsigned_pickles, server=True)
    except ValueError as exc:
        print(f"motion-grpc: {exc}", file=sys.stderr)
        return 2
    try:
        options = dataclasses.replace(options, security=security_options(args))
        options.security.check(options.address, options.allow_pickle)  # refuse before Redis starts
        if options.security.tls is not None:
            options.security.tls.server_credentials()  # unreadable or mismatched files, likewise
        if tracing.wanted(options.observability.tracing):
            tracing.check_available()  # once, not in each serving process
        if args.processes > 1:
            log_format = getattr(args, "log_format", "text")
            redis, engine_settings = _redis_settings(args), _engine_settings(args)
            spec = ChildSpec(redis, options, engine_settings, args.log_level, log_format, args.event_loop)
            return serve_processes(spec, args.processes)
        serving = serve_forever(components, _redis_settings(args), options, _engine_settings(args))
        loops.run(serving, args.event_loop)
        exits.leave(0)
    except ListenError as exc:
        print(f"motion-grpc: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except (*SECURITY_ERRORS, TracingUnavailableError) as exc:  # a setting to fix: a message, exit 2
        print(f"motion-grpc: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
