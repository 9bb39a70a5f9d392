"""The server under test: a real `motion-grpc serve` of the suite's app, brought back if it dies.

A death fails the example that caused it; the server is then restarted so the
next example (and hypothesis' shrinking) is judged against a live server,
not blamed for the first one's crash.
"""

from __future__ import annotations

import pathlib

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.helpers import ServerProcess

APP = str(pathlib.Path(__file__).resolve().parent / "fuzzapp.py")
#: Large enough for the biggest echo the suite provokes (a props value just under 4 MiB).
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]


class FuzzServer:
    """One server process on one port for the whole session, and a channel to it."""

    def __init__(self, redis_url: str, log: pathlib.Path) -> None:
        self.log = log
        self.deaths: list[str] = []
        args = ["--update-workers", "4"]
        self._process = ServerProcess(apps=[APP], redis_url=redis_url, args=args, log=log)
        self.target = self._process.target
        self.channel = grpc.insecure_channel(self._process.target, options=CHANNEL_OPTIONS)

    def start(self) -> FuzzServer:
        self._process.start()
        return self

    def death(self) -> str | None:
        """How the server died since the last check (then it is restarted), or None while it lives."""
        process = self._process.process
        code = None if process is None else process.poll()
        if process is not None and code is None:
            return None
        self._process.process = None
        self.deaths.append(f"exit code {code}")
        self._process.start()
        return self.deaths[-1]

    def serving(self) -> bool:
        stub = health_pb2_grpc.HealthStub(self.channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    def close(self) -> None:
        self.channel.close()
        if self._process.process is not None:
            self._process.__exit__(None, None, None)

    def _log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def traceback_count(self) -> int:
        """Tracebacks the server logged: client input should cause none."""
        return self._log_text().count("Traceback (most recent call last)")

    def notes(self) -> str:
        lines = self._log_text().count("\n")
        deaths = ", ".join(self.deaths) or "none"
        return f"server log: {lines} lines, {self.traceback_count()} tracebacks; deaths: {deaths}"
