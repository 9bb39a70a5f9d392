"""What scenarios run against: servers and baselines, started on first use and shared by the run.

A prerequisite that fails to start is remembered with its reason, so every
scenario that needs it is reported "unavailable" at once instead of retrying.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from bench import baselines
from bench.baselines import BENCH_DIR, ROOT, UnavailableError
from bench.profiles import Profile
from bench.services import LOG_DIR, Service, all_serving, bin_path, free_port, grpc_ready, tcp_ready
from motion_grpc.store.embedded import RedisServer

T = TypeVar("T")

TRIVIAL_APP = str(BENCH_DIR / "apps" / "trivial.py")
MOTION_API_KEY = "bench-api-key"
MOTION_REDIS_DB = "1"  # Motion's keys apart from ours, on the same Redis server
ECHO_REDIS_DB = 7  # what the durable-enqueue echo servers write (streams capped per instance)


class Env:
    """Lazily started servers and installed baselines for one benchmark run."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.run_id = uuid.uuid4().hex[:8]
        self._serial = itertools.count()
        self._ready: dict[str, Any] = {}
        self._failed: dict[str, str] = {}
        self._services: list[Service] = []
        self._redis: RedisServer | None = None

    def _once(self, key: str, start: Callable[[], T]) -> T:
        if key in self._failed:
            raise UnavailableError(self._failed[key])
        if key not in self._ready:
            try:
                self._ready[key] = start()
            except UnavailableError as exc:
                self._failed[key] = str(exc)
                raise
            except Exception as exc:  # any failure to start means: unavailable, with the reason
                self._failed[key] = f"{type(exc).__name__}: {exc}"
                raise UnavailableError(self._failed[key]) from exc
        value: T = self._ready[key]
        return value

    def unique(self, prefix: str) -> str:
        """An instance id prefix no other run or scenario uses."""
        return f"{prefix}-{self.run_id}-{next(self._serial)}"  # never a random suffix: 1,000 of those collide

    def redis(self) -> RedisServer:
        """The Redis every server and baseline of this run shares."""

        def start() -> RedisServer:
            self._redis = RedisServer(appendonly=False).start()
            return self._redis

        return self._once("redis", start)

    def redis_url(self) -> str:
        return str(self.redis().url)

    def _service(
        self, name: str, command: list[str], ready: Callable[[], None], env: dict[str, str] | None = None
    ) -> None:
        service = Service(name, command, env)
        service.start(ready)
        self._services.append(service)

    def redis_url_db(self, db: int) -> str:
        """Our Redis with another database number: keys a scenario can flush without touching the rest."""
        return f"{self.redis_url().rsplit('/', 1)[0]}/{db}"

    def _motion_grpc_command(self, port: int, redis_url: str, extra: tuple[str, ...]) -> list[str]:
        return [
            bin_path("motion-grpc"),
            "serve",
            TRIVIAL_APP,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--redis",
            redis_url,
            "--serve-threads",
            str(self.profile.serve_threads),
            "--update-workers",
            str(self.profile.update_workers),
            "--log-level",
            "WARNING",
            *extra,
        ]

    def motion_grpc(self, replica: int = 0, extra: tuple[str, ...] = (), processes: int = 1) -> str:
        """Address of motion-grpc replica `replica` (all replicas share one Redis); `extra` serve options.

        `processes` > 1: `serve --processes`, ready once every serving process said it serves.
        """

        def start() -> str:
            port = free_port()
            address = f"127.0.0.1:{port}"
            options = (*extra, "--processes", str(processes)) if processes > 1 else extra
            command = self._motion_grpc_command(port, self.redis_url(), options)
            ready = all_serving(grpc_ready(address), LOG_DIR / f"{name}.log", processes)
            self._service(name, command, ready, _without_motion_redis())
            return address

        name = f"motion-grpc-{replica}" + "".join(extra).replace("--", "-")
        name += f"-processes{processes}" if processes > 1 else ""
        return self._once(name, start)

    def own_motion_grpc(self, name: str, db: int = 0, extra: tuple[str, ...] = ()) -> tuple[Service, str]:
        """A motion-grpc server of the caller's own (on Redis database `db`), and its address.

        Not shared: the caller stops it (or signals it) when done; `close` stops it if it did not.
        """
        port = free_port()
        address = f"127.0.0.1:{port}"
        command = self._motion_grpc_command(port, self.redis_url_db(db), extra)
        service = Service(name, command, _without_motion_redis())
        self._services.append(service)
        service.start(grpc_ready(address))
        return service, address

    def flush_db(self, db: int) -> None:
        """Drop every key of a scenario's own database (never 0, ours, or 1, Motion's)."""
        if db < 2:
            raise ValueError(f"database {db} is shared by the other scenarios")
        client = redis.Redis.from_url(self.redis_url_db(db))
        try:
            client.flushdb()
        finally:
            client.close()

    def echo(self, server: str, durable: bool = False) -> str:
        """Address of a bare echo server (`sync` or `aio`; see bench/echo_server.py).

        `durable`: each call also runs one enqueue script on Redis (database ECHO_REDIS_DB).
        """

        def start() -> str:
            port = free_port()
            command = [bin_path("python"), "-m", "bench.echo_server", "--port", str(port), "--server", server]
            command += ["--threads", str(self.profile.serve_threads)]
            if durable:
                command += ["--redis", self.redis_url_db(ECHO_REDIS_DB)]
            address = f"127.0.0.1:{port}"
            self._service(name, command, grpc_ready(address))
            return address

        name = f"echo-{server}" + ("-enqueue" if durable else "")
        return self._once(name, start)

    def motion_python(self) -> str:
        """Interpreter of the Motion 0.1.132 venv (installed on first use)."""
        return self._once("motion-venv", baselines.motion_python)

    def motion_env(self) -> dict[str, str]:
        """Environment for Motion processes: our Redis, Motion's own database number."""
        port = str(self.redis().port)
        return {
            **os.environ,
            "MOTION_REDIS_HOST": "127.0.0.1",
            "MOTION_REDIS_PORT": port,
            "MOTION_REDIS_DB": MOTION_REDIS_DB,
        }

    def motion_http(self) -> str:
        """Base URL of Motion's FastAPI Application under uvicorn."""

        def start() -> str:
            baselines.ensure_client_packages()
            python, port = self.motion_python(), free_port()
            command = [
                python,
                "-m",
                "bench.motion_side",
                "serve-http",
                "--port",
                str(port),
                "--api-key",
                MOTION_API_KEY,
            ]
            self._service("motion-http", command, tcp_ready(port), self.motion_env())
            return f"http://127.0.0.1:{port}"

        return self._once("motion-http", start)

    def ghz(self) -> str:
        return self._once("ghz", baselines.ghz_binary)

    def close(self) -> None:
        for service in reversed(self._services):
            service.stop()
        self._services.clear()
        if self._redis is not None:
            self._redis.cleanup()
            self._redis = None


def _without_motion_redis() -> dict[str, str]:
    """Our servers get their Redis from --redis only, never from Motion's MOTION_REDIS_* variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MOTION_REDIS")}


def run_motion_task(env: Env, task: str, timeout: float = 600.0, **options: int) -> dict[str, float]:
    """Run one `bench.motion_side` task in the Motion venv; returns the JSON it printed."""
    command = [env.motion_python(), "-m", "bench.motion_side", task]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    done = subprocess.run(
        command, cwd=ROOT, env=env.motion_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        detail = (done.stderr.strip() or "no output").splitlines()[-1]
        raise RuntimeError(f"Motion {task} failed ({done.returncode}): {detail}")
    result: dict[str, float] = json.loads(lines[-1])
    return result
