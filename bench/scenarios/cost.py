"""Server CPU cost of one Run, counted in instructions under callgrind: a figure this machine's
speed cannot move.

Times here vary by 15% or more from one run to the next and by 2x between days,
so a change that saves 5% of a Run's CPU is invisible in its latency. Counting
the instructions a server executes (user space, every thread) for the same
sequential calls gives the same figure to within about 1% on every run. Each
server runs under `valgrind --tool=callgrind` (about 50 times slower, so calls
are few): WARMUP calls, then the counters are zeroed, CALLS calls (props differ
every call: cache misses), and the counters dumped. Ours beside the aio echo
servers of the latency rows, bare and with the enqueue script; one round (the
count does not vary enough for more to tell anything). The kernel's share (system
calls, loopback TCP) is not counted, on either side.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from bench.baselines import UnavailableError
from bench.env import ECHO_REDIS_DB, TRIVIAL_APP, Env
from bench.report import Figure
from bench.rpc import run_request, sync_stub
from bench.scenarios._common import BARE, DURABLE, OURS, FigureSpec, Scenario, Side, figures, interleave
from bench.services import Service, bin_path, free_port, grpc_ready

NAME = "cost"
WARMUP = 100
CALLS = 200
READY_TIMEOUT = 300.0  # seconds: a Python server starts slowly under callgrind
NOTE = f"instructions per Run under callgrind, {CALLS} sequential calls after {WARMUP}; user space only"
SPECS = [
    FigureSpec("server instructions per Run vs bare limit", "k instr", "kinstr", BARE, note=NOTE),
    FigureSpec("server instructions per Run vs durable-enqueue limit", "k instr", "kinstr", DURABLE),
    FigureSpec(
        "server instructions per Run, async def ops, vs durable-enqueue limit",
        "k instr",
        "kinstr",
        DURABLE,
        note="component TrivialAsync",
    ),
    FigureSpec(
        "server instructions per Run, serve op only (no update), vs durable-enqueue limit",
        "k instr",
        "kinstr",
        DURABLE,
        note="component ServeOnly: the serve path alone, no update drained",
    ),
]


def _counted(env: Env, name: str, command: list[str], component: str) -> Callable[[], Mapping[str, float]]:
    """A side's measure: `command` started under callgrind, its instructions per Run of `component`."""

    def measure() -> Mapping[str, float]:
        if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
            raise UnavailableError("valgrind (callgrind) is not installed")
        with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as directory:
            out = Path(directory) / "callgrind.out"
            port = free_port()
            address = f"127.0.0.1:{port}"
            counted = [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}.%p",
                *command,
                "--port",
                str(port),
            ]
            service = Service(f"cost-{name}", counted)
            service.start(grpc_ready(address), timeout=READY_TIMEOUT)
            try:
                return {"kinstr": _instructions_per_run(service, address, component, env.unique("cost"), out)}
            finally:
                service.stop()

    return measure


def _instructions_per_run(service: Service, address: str, component: str, instance: str, out: Path) -> float:
    assert service.process is not None
    pid = str(service.process.pid)
    channel, stub = sync_stub(address)
    try:
        for i in range(WARMUP + CALLS):
            if i == WARMUP:
                time.sleep(0.5)  # whatever the last call left to the loop is done before counting
                subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
            stub.Run(run_request(component, instance, "add", {"value": i}), timeout=60)
        time.sleep(0.5)
        subprocess.run(["callgrind_control", "--dump", pid], check=True, capture_output=True)
    finally:
        channel.close()
    dumps = sorted(out.parent.glob(f"{out.name}.{pid}*"), key=lambda path: path.stat().st_mtime)
    if not dumps:
        raise UnavailableError("callgrind wrote no dump")
    summary = re.search(r"^(?:summary|totals):\s*(\d+)", dumps[-1].read_text(), re.MULTILINE)
    if summary is None:
        raise UnavailableError(f"no instruction total in {dumps[-1].name}")
    return int(summary.group(1)) / CALLS / 1000


def _ours(env: Env) -> list[str]:
    return [sys.executable, bin_path("motion-grpc"), "serve", TRIVIAL_APP, "--host", "127.0.0.1",
            "--redis", env.redis_url(), "--log-level", "WARNING"]  # fmt: skip


def _echo(env: Env, durable: bool) -> list[str]:
    command = [sys.executable, "-m", "bench.echo_server", "--server", "aio"]
    return command + (["--redis", env.redis_url_db(ECHO_REDIS_DB)] if durable else [])


def run(env: Env) -> list[Figure]:
    ours = Side("motion-grpc", _counted(env, "ours", _ours(env), "Trivial"))
    sides = {
        OURS: ours,
        BARE: Side("grpc.aio echo", _counted(env, "bare", _echo(env, False), "Trivial")),
        DURABLE: Side(
            "grpc.aio echo + enqueue script", _counted(env, "durable", _echo(env, True), "Trivial")
        ),
    }
    asynchronous = Side("motion-grpc, async def ops", _counted(env, "async", _ours(env), "TrivialAsync"))
    serve_only = Side("motion-grpc, serve op only", _counted(env, "serve-only", _ours(env), "ServeOnly"))
    interleave(1, {**sides, "async": asynchronous, "serve_only": serve_only})
    return (
        figures(NAME, SPECS[:2], sides)
        + figures(NAME, SPECS[2:3], {**sides, OURS: asynchronous})
        + figures(NAME, SPECS[3:], {**sides, OURS: serve_only})
    )


SCENARIO = Scenario(NAME, "server instructions per Run (callgrind), ours beside the echo limits", run)
