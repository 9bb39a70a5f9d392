"""Test helpers: real Redis and real servers on free ports, and waiting without sleeps."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import grpc

from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.store import embedded
from motion_grpc.store.tied import popen_tied

T = TypeVar("T")

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEST_APP = str(ROOT / "tests" / "apps" / "testapp.py")
MOTION_GRPC = str(pathlib.Path(sys.executable).parent / "motion-grpc")


#: Every port free_port handed out in this process.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free port never handed out before in this session.

    A port is only probed free here and bound later by the process it is for,
    so two ports picked before either is bound (two replicas, a server and its
    metrics) could otherwise be the same one: the kernel hands out the port it
    just closed again now and then.
    """
    while (port := embedded.free_port()) in _HANDED_OUT:
        pass
    _HANDED_OUT.add(port)
    return port


def unique(prefix: str = "i") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def run_engines(
    redis_url: str, components: Sequence[Any], scenario: Callable[..., Awaitable[None]], count: int = 1
) -> None:
    """`scenario(*engines)` on `count` AsyncEngines of `components` sharing one Redis, closed after."""
    from motion_grpc.engine import AsyncEngine, EngineSettings
    from motion_grpc.store import RedisSettings

    async def main() -> None:
        engines = []
        try:
            for _ in range(count):
                engines.append(
                    await AsyncEngine(RedisSettings(url=redis_url), components, EngineSettings()).start()
                )
            await scenario(*engines)
        finally:
            for engine in engines:
                await engine.close()

    asyncio.run(main())


def assert_eventually(
    check: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.02,
    retry_on: tuple[type[BaseException], ...] = (AssertionError,),
) -> T:
    """Call `check` until it returns a truthy value without raising `retry_on`; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except retry_on as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s") from last_error
        time.sleep(interval)


@contextmanager
def fake_motion_server(servicer: Any) -> Iterator[str]:
    """A real gRPC server on a free port answering with `servicer` (a fake MotionService); its target."""
    executor = ThreadPoolExecutor(4)
    server = grpc.server(executor)
    motion_pb2_grpc.add_MotionServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None).wait()
        executor.shutdown()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOTION_REDIS")}
    env.update(extra)
    return env


def run_script(script: pathlib.Path, redis_url: str, *args: str, timeout: float = 120) -> str:
    """A Motion user's script run as `python SCRIPT ARGS` on `redis_url`; its stdout (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, str(script), *args],
        env=clean_env(MOTION_REDIS_URL=redis_url),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class ServerProcess:
    """A `motion-grpc serve` child process on a free port."""

    def __init__(
        self,
        apps: Sequence[str] = (TEST_APP,),
        redis_url: str | None = None,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        log: pathlib.Path | None = None,
    ) -> None:
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        command = [MOTION_GRPC, "serve", *apps, "--host", "127.0.0.1", "--port", str(self.port), *args]
        if redis_url:
            command += ["--redis", redis_url]
        self.command = command
        self.env = env or clean_env()
        self.cwd = cwd
        self.log = log  # where its output goes (appended), instead of the test's output
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> ServerProcess:
        """Start the process without waiting for it to listen (it may die before it does)."""
        if self.log is None:
            self.process = popen_tied(self.command, env=self.env, cwd=self.cwd)
            return self
        with open(self.log, "ab") as out:
            self.process = popen_tied(
                self.command, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Launch and wait until it listens; a server that does not in time is stopped, not left behind."""
        self.launch()
        channel = grpc.insecure_channel(self.target)
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except BaseException:
            self.__exit__()
            raise
        finally:
            channel.close()
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.stop(signal.SIGKILL)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        if self.process is None:
            return
        try:
            self.stop(signal.SIGTERM, timeout=15)  # graceful, so an embedded Redis it started stops too
        except subprocess.TimeoutExpired:
            self.kill()


@contextmanager
def servers_running(servers: Sequence[ServerProcess]) -> Iterator[list[ServerProcess]]:
    """Start every server (each listening before the next starts); kill them all on the way out."""
    try:
        for server in servers:
            server.start()
        yield list(servers)
    finally:
        for server in servers:
            server.kill()
