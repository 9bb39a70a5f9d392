"""Building, running and stopping a motion-grpc server."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import logging
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.definition import Definable
from motion_grpc.engine import AsyncEngine, EngineSettings
from motion_grpc.engine.watching import WatchHub, WatchSettings
from motion_grpc.errors import MotionError
from motion_grpc.grpc_handlers import GenericOnly, chained
from motion_grpc.observability import metrics
from motion_grpc.observability.redaction import redacted_url
from motion_grpc.observability.rpc import ObservingInterceptor
from motion_grpc.observability.serving import MetricsListenError, Observability, ObservabilityOptions, attach
from motion_grpc.observability.worker_metrics import WorkerMetrics
from motion_grpc.server import collector, exits, grpc_batches
from motion_grpc.server.auth import AuthInterceptor
from motion_grpc.server.interceptors import ErrorMappingInterceptor
from motion_grpc.server.isolation import IsolatedUpdates
from motion_grpc.server.limits import Limits, LimitsInterceptor
from motion_grpc.server.results import RESPONSE_ROOM
from motion_grpc.server.security import SecurityOptions
from motion_grpc.server.servicer import MotionServicer
from motion_grpc.server.watch import WatchService
from motion_grpc.server.workers import UPDATE_NICENESS, UpdateProcesses
from motion_grpc.store import RedisSettings
from motion_grpc.store.events import AsyncEventLog

log = logging.getLogger(__name__)

SERVICE_NAME = "motion.v1.MotionService"
#: Health name SERVING while the process answers at all, Redis or not: for liveness probes,
#: so a Redis outage (NOT_SERVING on "" and SERVICE_NAME) does not restart every replica.
LIVENESS_SERVICE = "liveness"
WATCH_CONNECTIONS = 10_000


@dataclass(frozen=True)
class ServerOptions:
    """How a server listens and runs; see `motion-grpc serve --help`."""

    address: str = "127.0.0.1:50051"
    allow_pickle: bool = False
    debug: bool = False
    grace: float = 5.0
    health_interval: float = 1.0
    update_processes: int = 0
    #: How much update processes lower their scheduling priority (nice increment, 0 to 19).
    update_niceness: int = UPDATE_NICENESS
    apps: tuple[str, ...] = ()
    #: Seconds an idle WatchUpdates stream waits before a Progress heartbeat.
    watch_heartbeat: float = 10.0
    #: Live events buffered per watcher before it is ended with RESOURCE_EXHAUSTED.
    watch_buffer: int = 10_000
    #: Share the port with other servers that also ask for it (SO_REUSEPORT); off, a busy port fails.
    reuse_port: bool = False
    #: TLS, API keys and tokens, and the --insecure opt-out; see security.py.
    security: SecurityOptions = field(default_factory=SecurityOptions)
    #: Message and props sizes, streams per peer, stream duration; see server/limits.py.
    limits: Limits = field(default_factory=Limits)
    #: Reflection, the metrics endpoint, tracing; see observability/serving.py.
    observability: ObservabilityOptions = field(default_factory=ObservabilityOptions)


class ListenError(OSError):
    """The server cannot listen on its address (most often: another process has the port)."""


class MotionServer:
    """A running gRPC server and the engine behind it."""

    def __init__(self, server: aio.Server, port: int, engine: AsyncEngine, health_servicer: HealthServicer,
                 options: ServerOptions) -> None:  # fmt: skip
        self.server = server
        self.port = port
        self.engine = engine
        self._health = health_servicer
        self._options = options
        self._health_task: asyncio.Task[None] | None = None
        self.update_processes: UpdateProcesses | None = None
        self.isolated_updates: IsolatedUpdates | None = None
        self.watch_hub: WatchHub | None = None
        self.auth: AuthInterceptor | None = None
        self.observability: Observability | None = None
        self.worker_metrics: WorkerMetrics | None = None

    async def start(self) -> MotionServer:
        await self.server.start()
        await self._health.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        self._health_task = asyncio.create_task(self._watch_health())
        return self

    async def stop(self, grace: float | None = None) -> None:
        """Stop taking calls, let in-flight ones finish within the grace period, then stop the engine."""
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
        await self._health.enter_graceful_shutdown()
        if self.watch_hub is not None:
            await self.watch_hub.close()  # watches never end by themselves; clients resume elsewhere
        await self.server.stop(self._options.grace if grace is None else grace)
        await self.engine.close()  # and the isolated updates (see AsyncEngine.close)
        if self.observability is not None:
            self.observability.close()
        if self.update_processes is not None:
            await asyncio.to_thread(self.update_processes.stop)
        if self.worker_metrics is not None:
            self.worker_metrics.close()

    def reload_credentials(self) -> None:
        """Read the API key and token secret files again (SIGHUP); a bad file keeps the old ones."""
        if self.auth is not None:
            self.auth.reload()

    async def wait_for_termination(self) -> None:
        await self.server.wait_for_termination()

    async def _watch_health(self) -> None:
        """Report NOT_SERVING while Redis cannot be reached, SERVING again once it can."""
        serving = health_pb2.HealthCheckResponse.SERVING
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        while True:
            try:
                healthy = await self.engine.ping()
            except MotionError:
                healthy = False
            status = serving if healthy else not_serving
            for name in ("", SERVICE_NAME):
                await self._health.set(name, status)
            await asyncio.sleep(self._options.health_interval)


async def create_server(
    components: Sequence[Definable],
    redis: RedisSettings,
    options: ServerOptions | None = None,
    engine_settings: EngineSettings | None = None,
) -> MotionServer:
    """Build and start a server; `options.address` may end in :0 for a free port (see `.port`).

    Raises ListenError when the address cannot be had, and UnsafeExposureError, CredentialsFileError
    or TlsFileError for security settings it refuses, before any engine or worker process starts.
    """
    options = options or ServerOptions()
    grpc_batches.install()  # grpc/grpc#43360: a cancelled stream must not leak its write
    security = options.security
    warning = security.check(options.address, options.allow_pickle)
    if warning:
        log.warning("%s", warning)
    auth = AuthInterceptor(security.auth) if security.auth.configured else None
    server = aio.server(
        interceptors=chained(
            [
                ObservingInterceptor(),
                ErrorMappingInterceptor(options.debug),
                *([auth] if auth else []),  # after error mapping: it parses only the calls auth lets in
                LimitsInterceptor(options.limits),
            ]
        ),
        options=[
            ("grpc.so_reuseport", int(options.reuse_port)),  # grpc's default, 1, shares silently
            *options.limits.grpc_options(),
        ],
    )
    port = _listen(server, options.address, security.tls.server_credentials() if security.tls else None)
    exported = _worker_metrics(options)
    try:
        settings = engine_settings or EngineSettings()
        engine, processes = await _start_engine(components, redis, options, settings, exported)
    except BaseException:
        if exported is not None:
            exported.close()
        raise
    hub = _watch_hub(redis, options)
    limit = options.limits.max_message_bytes
    max_result = max(limit // 2, limit - RESPONSE_ROOM)
    servicer = MotionServicer(engine, options.allow_pickle, WatchService(engine, hub), max_result)
    motion_pb2_grpc.add_MotionServiceServicer_to_server(servicer, GenericOnly(server))
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, GenericOnly(server))
    motion = MotionServer(server, port, engine, health_servicer, options)
    if isinstance(processes, UpdateProcesses):
        motion.update_processes = processes
    else:
        motion.isolated_updates = processes
    motion.watch_hub = hub
    motion.auth = auth
    motion.worker_metrics = exported
    registry = metrics.REGISTRY if exported is None else exported.registry()
    names = [c.name for c in components]
    try:
        motion.observability = attach(server, options.observability, names, redis.client, registry)
    except MetricsListenError as exc:
        await motion.stop(0)  # the engine and any processes it started
        raise ListenError(exc.errno, exc.strerror) from exc
    return await motion.start()


def _listen(server: aio.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    """Bind `address` (with TLS when given `credentials`); the port bound (a free one for :0)."""
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:  # grpc says only "Failed to bind"; find out why below
        port = 0
    if port == 0:
        host, _, wanted = address.rpartition(":")
        if _port_in_use(host, wanted):
            raise ListenError(
                errno.EADDRINUSE,
                f"cannot listen on {address}: address in use (another process listens on port {wanted}; "
                "choose another --port, or start every server sharing it with --reuse-port)",
            )
        raise ListenError(f"cannot listen on {address}")
    return port


def _port_in_use(host: str, port: str) -> bool:
    try:
        found = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, sockaddr = found[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as grpc: TIME_WAIT owns nothing
            probe.bind(sockaddr)
    except OSError as exc:
        return exc.errno == errno.EADDRINUSE
    return False


def _worker_metrics(options: ServerOptions) -> WorkerMetrics | None:
    """Where update worker processes record their metrics, when there are workers and an endpoint."""
    if options.update_processes <= 0 or not options.observability.metrics_port:
        return None
    try:
        return WorkerMetrics()
    except OSError as exc:  # no writable temporary directory: serve without them rather than not at all
        log.warning("the metrics of update processes are not exported: %s", exc)
        return None


async def _start_engine(
    components: Sequence[Definable],
    redis: RedisSettings,
    options: ServerOptions,
    settings: EngineSettings,
    worker_metrics: WorkerMetrics | None = None,
) -> tuple[AsyncEngine, UpdateProcesses | IsolatedUpdates | None]:
    """The engine, with its update worker processes when `options.update_processes` asks for them,
    else with processes for retried updates when it knows the apps to import in them."""
    if options.update_processes <= 0:
        isolated = IsolatedUpdates(options.apps, redis, settings) if options.apps else None
        return await AsyncEngine(redis, components, settings, isolation=isolated).start(), isolated
    on_exit = None if worker_metrics is None else worker_metrics.process_ended
    processes = UpdateProcesses(
        options.apps, redis, options.update_processes, settings, options.update_niceness, on_exit
    ).start()
    serving_only = dataclasses.replace(settings, process_updates=False)
    return await AsyncEngine(redis, components, serving_only, wake=processes.wake).start(), processes


def _watch_hub(redis: RedisSettings, options: ServerOptions) -> WatchHub:
    # Each watched instance keeps one blocking XREAD going: allow up to Redis' default maxclients.
    settings = WatchSettings(heartbeat=options.watch_heartbeat, buffer=options.watch_buffer)
    return WatchHub(AsyncEventLog(redis.blocking_client(WATCH_CONNECTIONS)), settings)


async def serve_forever(
    components: Sequence[Definable],
    redis: RedisSettings,
    options: ServerOptions,
    engine_settings: EngineSettings | None = None,
) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    with exits.own_default_executor(asyncio.get_running_loop()):
        await _serve_until_stopped(components, redis, options, engine_settings)


async def _serve_until_stopped(
    components: Sequence[Definable],
    redis: RedisSettings,
    options: ServerOptions,
    engine_settings: EngineSettings | None,
) -> None:
    collector.settle()  # the modules and the app are loaded: before the port opens, not on a call
    motion = await create_server(components, redis, options, engine_settings)
    host = options.address.rsplit(":", 1)[0]
    names = ", ".join(c.name for c in components)
    log.info("motion-grpc serving %s on %s:%d (Redis %s)", names, host, motion.port, redacted_url(redis.url))
    print(f"motion-grpc serving {names} on {host}:{motion.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, motion.reload_credentials)
    await stop.wait()
    log.info("shutting down")
    await motion.stop()
