"""`motion-grpc serve --processes N`: N serving processes on one port, one supervising parent.

One Python process serves on one core (the GIL); a replica that should use
every core of its machine runs several. Each serving process has its own
event loop and engine and coordinates with the others through Redis, as
replicas always do. They share the port with SO_REUSEPORT, as grpc's
multiprocessing example does: the parent binds the port first (with the
option) and holds it, so the children can join it and a stray server that did
not ask to share it still fails with "address in use".

The parent only supervises:

- SIGTERM and SIGINT are forwarded (each child stops gracefully), SIGHUP too
  (credentials are read again); the parent exits 0 once every child did.
- A child that exits when nobody asked it to is logged; the parent stops the
  others and exits non-zero, so the orchestrator restarts the whole replica.
  Nothing is restarted silently: a crash loop shows in the pod's restarts.
- A parent that dies, even by SIGKILL, takes its children with it: each child
  holds only the read end of a pipe whose write end only the parent holds,
  and stops gracefully when the pipe ends (and exits anyway after a grace
  period).

Children are started with `spawn`: a process that has created gRPC objects
must not fork.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import multiprocessing
import os
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from motion_grpc import logs
from motion_grpc.engine import EngineSettings
from motion_grpc.security_cli import SECURITY_ERRORS
from motion_grpc.server import exits, loops
from motion_grpc.server.app import ListenError, ServerOptions, serve_forever
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisSettings
from motion_grpc.trust import configure_process

log = logging.getLogger(__name__)

#: Seconds a child whose parent is gone may take to stop gracefully before it exits anyway.
ORPHAN_GRACE_SECONDS = 15.0
#: Seconds past the server's grace the parent waits for its children before it kills them.
STOP_MARGIN_SECONDS = 10.0
#: Exit status of the parent when a child exited without being asked to.
CHILD_DIED = 1
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: Exit codes of a child that was asked to stop: done, or SIGTERMed before it could handle the signal.
ASKED_TO_STOP = (0, -signal.SIGTERM)


@dataclass(frozen=True)
class ChildSpec:
    """What one serving process needs: it loads `options.apps` itself."""

    redis: RedisSettings
    options: ServerOptions
    engine_settings: EngineSettings
    log_level: str = "INFO"
    log_format: str = "text"
    event_loop: str = loops.DEFAULT


@dataclass
class _Child:
    process: BaseProcess
    lifeline: Connection  # write end; the child sees the pipe end when this process is gone


def serve_processes(spec: ChildSpec, count: int) -> int:
    """Serve with `count` processes until told to stop; the exit status for the command.

    Raises ListenError when the port cannot be had (another server holds it without sharing).
    """
    host, _, port = spec.options.address.rpartition(":")
    with reserve_port(host, int(port)) as bound:
        shared = _shared_options(spec.options, host, bound)
        children = [_spawn(replace(spec, options=_child_options(shared, i)), i) for i in range(count)]
        pids = ", ".join(str(child.process.pid) for child in children)
        log.info("motion-grpc supervising %d serving processes on %s:%d (pids %s)", count, host, bound, pids)
        return Supervisor(children, spec.options.grace + STOP_MARGIN_SECONDS).run()


@contextlib.contextmanager
def reserve_port(host: str, port: int) -> Iterator[int]:
    """Bind `host:port` with SO_REUSEPORT (never listening) while the children serve; the port bound.

    Holding it keeps the port for servers that share it: a server without SO_REUSEPORT cannot bind.
    """
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            host.strip("[]") or None, port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc}") from exc
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            raise _listen_error(host, port, exc) from exc
        yield int(sock.getsockname()[1])


def _listen_error(host: str, port: int, exc: OSError) -> ListenError:
    if exc.errno == errno.EADDRINUSE:
        return ListenError(
            errno.EADDRINUSE,
            f"cannot listen on {host}:{port}: address in use (another process listens on port {port} "
            "without sharing it; choose another --port)",
        )
    return ListenError(f"cannot listen on {host}:{port}: {exc}")


def _shared_options(options: ServerOptions, host: str, port: int) -> ServerOptions:
    return replace(options, address=f"{host}:{port}", reuse_port=True)


def _child_options(options: ServerOptions, index: int) -> ServerOptions:
    """Child `index` serves metrics on --metrics-port + index: one port cannot be bound twice."""
    metrics = options.observability
    if not metrics.metrics_port:
        return options
    return replace(options, observability=replace(metrics, metrics_port=metrics.metrics_port + index))


def _spawn(spec: ChildSpec, index: int) -> _Child:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=run_child, args=(spec, receiver), name=f"motion-serving-process-{index}", daemon=False
    )  # not a daemon: a child may start its own --update-processes
    process.start()
    receiver.close()  # only the child holds the read end, only we hold the write end
    return _Child(process, sender)


class Supervisor:
    """Waits for the children, forwards signals, and stops them all when one dies."""

    def __init__(self, children: list[_Child], stop_timeout: float) -> None:
        self._children = children
        self._stop_timeout = stop_timeout
        self._stopping = False
        self._status = 0

    def run(self) -> int:
        previous = {signum: signal.signal(signum, self._forward) for signum in FORWARDED}
        try:
            self._wait_for_first_exit()
            self._stop_all()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            for child in self._children:
                child.lifeline.close()
        return self._status

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if signum != signal.SIGHUP:
            self._stopping = True
        for child in self._children:
            if child.process.is_alive() and child.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.process.pid, signal.SIGTERM if signum == signal.SIGINT else signum)

    def _wait_for_first_exit(self) -> None:
        while not any(child.process.exitcode is not None for child in self._children):
            wait([child.process.sentinel for child in self._children])
        if self._stopping:
            return
        self._stopping = True
        for child in self._children:
            if child.process.exitcode is not None:
                code = child.process.exitcode
                log.error(
                    "serving process %s exited with %s without being asked to; stopping the others "
                    "and exiting non-zero so the replica is restarted",
                    child.process.pid,
                    code,
                )
                self._status = code if code and code > 0 else CHILD_DIED

    def _stop_all(self) -> None:
        """SIGTERM every child still serving; kill what has not exited in time."""
        self._forward(signal.SIGTERM, None)
        for child in self._children:
            child.process.join(self._stop_timeout)
            if child.process.is_alive():
                log.warning("serving process %s did not stop in time; killing it", child.process.pid)
                child.process.kill()
                child.process.join()
            if child.process.exitcode not in ASKED_TO_STOP and not self._status:
                self._status = CHILD_DIED


def run_child(spec: ChildSpec, lifeline: Connection) -> None:
    """Body of one serving process: a whole server, stopped by SIGTERM or by its parent's end."""
    logs.configure(spec.log_level, spec.log_format)
    threading.Thread(target=_stop_when_parent_ends, args=(lifeline,), daemon=True).start()
    configure_process(None, False, server=True)  # the parent's flags reached us as MOTION_* variables
    components = load_components(spec.options.apps)
    try:
        loops.run(serve_forever(components, spec.redis, spec.options, spec.engine_settings), spec.event_loop)
        exits.leave(0)
    except ListenError as exc:
        log.error("%s", exc.strerror or exc)
        raise SystemExit(1) from exc
    except SECURITY_ERRORS as exc:
        log.error("%s", exc)
        raise SystemExit(2) from exc


def _stop_when_parent_ends(lifeline: Connection) -> None:
    """The parent never writes: the pipe ends only when it is gone (even SIGKILLed)."""
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv()
    log.warning("the supervising process is gone; this serving process stops")
    deadline = threading.Timer(ORPHAN_GRACE_SECONDS, os._exit, (1,))
    deadline.daemon = True
    deadline.start()
    os.kill(os.getpid(), signal.SIGTERM)
