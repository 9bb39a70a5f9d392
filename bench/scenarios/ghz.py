"""ghz, a Go load generator, as a second opinion on the gRPC numbers: Run at 8 concurrent
workers over one connection, against motion-grpc and against the bare limit (the faster of the
sync grpcio and the grpc.aio echo server, per round)."""

from __future__ import annotations

import json
import pathlib
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from bench.baselines import ROOT
from bench.env import Env
from bench.report import Figure
from bench.scenarios._common import (
    BARE,
    ECHO_SERVERS,
    LIMIT_LABELS,
    OURS,
    FigureSpec,
    Scenario,
    Side,
    best_of,
    figures,
    interleave,
)

NAME = "ghz"
CONCURRENCY = 8
PROTO = ROOT / "proto" / "motion" / "v1" / "motion.proto"
NS_PER_MS = 1e6
CUT_AT_END = ("transport is closing", "client connection is closing")


def _import_paths() -> str:
    import grpc_tools

    bundled = pathlib.Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/struct.proto
    return f"{bundled},{ROOT / 'proto'}"


def _ghz(env: Env, address: Callable[[], str]) -> Mapping[str, float]:
    target = address()
    instance = env.unique("ghz")
    # ghz parses --data as JSON before filling in templates, so the per-call key that makes
    # every serve a cache miss is a string.
    data = json.dumps(
        {
            "instance": {"component": "Trivial", "instance_id": instance + "-{{.WorkerID}}"},
            "flow": "add",
            "props": {"value": 1, "i": "{{.RequestNumber}}"},
        }
    )
    command = [
        env.ghz(),
        "--insecure",
        "--proto",
        str(PROTO),
        "--import-paths",
        _import_paths(),
        "--call",
        "motion.v1.MotionService.Run",
        "--data",
        data,
        "--concurrency",
        str(CONCURRENCY),
        "--connections",
        "1",
        "--duration",
        f"{env.profile.duration}s",
        "--format",
        "json",
        target,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=env.profile.duration + 120, check=False
    )
    if done.returncode != 0 and not done.stdout.strip():
        raise RuntimeError(f"ghz failed: {(done.stderr.strip() or 'no output').splitlines()[-1]}")
    return _parse(json.loads(done.stdout))


def _parse(report: dict[str, Any]) -> Mapping[str, float]:
    """Throughput and latency of a ghz JSON report; errors other than the calls cut at the end raise."""
    errors: dict[str, int] = report.get("errorDistribution") or {}
    # When --duration ends, ghz closes its connection under the calls in flight: one per worker,
    # and a worker may start one more before it sees the end.
    cut = sum(count for error, count in errors.items() if any(sign in error for sign in CUT_AT_END))
    if sum(errors.values()) - cut or cut > 2 * CONCURRENCY or not report.get("latencyDistribution"):
        raise RuntimeError(f"ghz saw errors: {errors or 'no latencies reported'}")
    latency = {int(item["percentage"]): item["latency"] / NS_PER_MS for item in report["latencyDistribution"]}
    return {"throughput": float(report["rps"]), "p50_ms": latency[50], "p99_ms": latency[99]}


def run(env: Env) -> list[Figure]:
    ours = Side("motion-grpc", lambda: _ghz(env, env.motion_grpc))
    echoes = {
        server: Side(f"{label} echo", lambda server=server: _ghz(env, lambda: env.echo(server)))
        for server, label in ECHO_SERVERS.items()
    }
    interleave(env.profile.rounds, {OURS: ours, **echoes})
    specs = [
        FigureSpec(f"ghz Run throughput, {CONCURRENCY} workers", "req/s", "throughput", BARE),
        FigureSpec(f"ghz Run p99, {CONCURRENCY} workers", "ms", "p99_ms", BARE),
    ]
    bare = best_of(LIMIT_LABELS[BARE], list(echoes.values()), "throughput", higher_is_better=True)
    return figures(NAME, specs, {OURS: ours, BARE: bare})


SCENARIO = Scenario(NAME, "Run measured by ghz (Go) at 8 workers", run)
