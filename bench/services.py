"""Server processes the bench starts: motion-grpc replicas, the bare server, Motion's HTTP app.

Each runs as a child process with its output in bench/results/logs/, and is
ready once it answers (a gRPC channel becomes ready, or an HTTP port accepts).
"""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

import grpc

from bench.baselines import BENCH_DIR, ROOT, UnavailableError
from bench.rpc import wait_ready

LOG_DIR = BENCH_DIR / "results" / "logs"
STOP_TIMEOUT = 10.0


class Service:
    """One child process with its log file."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.command = list(command)
        self.env = env
        self.log_path = LOG_DIR / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[], None], timeout: float = 60.0) -> Service:
        """Start it and call `ready` (which raises until it answers) until it passes or time is up."""
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise UnavailableError(f"{self.name} exited with {self.process.returncode}; {self._tail()}")
            try:
                ready()
                return self
            except (OSError, grpc.FutureTimeoutError) as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise UnavailableError(f"{self.name} did not become ready: {exc}") from exc
                time.sleep(0.1)

    def _tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1] if lines else f"empty log {self.log_path}"

    @property
    def pid(self) -> int:
        return self._running().pid

    def _running(self) -> subprocess.Popen[bytes]:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"{self.name} is not running; {self._tail()}")
        return self.process

    def terminate_timed(self, timeout: float) -> tuple[float, int]:
        """Send SIGTERM; the seconds until the process exited, and its exit code.

        A thread blocks in waitpid, so the exit is seen at once (Popen.wait with a
        timeout polls, up to 50 ms late). Killed, and TimeoutError, after `timeout`.
        """
        process = self._running()
        exited: list[float] = []

        def wait() -> None:
            process.wait()
            exited.append(time.perf_counter())

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        signalled = time.perf_counter()
        process.terminate()
        waiter.join(timeout)
        if not exited:
            process.kill()
            waiter.join()
            raise TimeoutError(f"{self.name} did not exit within {timeout:.0f} s of SIGTERM")
        return exited[0] - signalled, int(process.returncode)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (VmRSS, in kB there)."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def grpc_ready(address: str) -> Callable[[], None]:
    return lambda: wait_ready(address, timeout=1.0)


def all_serving(ready: Callable[[], None], log: pathlib.Path, processes: int) -> Callable[[], None]:
    """`ready`, and `processes` "motion-grpc serving" lines in the log: every serving process listens."""

    def check() -> None:
        ready()
        serving = log.read_text(errors="replace").count("motion-grpc serving")
        if serving < processes:
            raise OSError(f"{serving} of {processes} serving processes listen")

    return check


def tcp_ready(port: int) -> Callable[[], None]:
    def check() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            pass

    return check


def bin_path(name: str) -> str:
    """A console script of the venv that runs the bench (e.g. motion-grpc)."""
    return str(pathlib.Path(sys.executable).parent / name)
