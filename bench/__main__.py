"""`python -m bench --profile quick|full [--only a,b]`: run the scenarios, write bench/results/latest.*."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import Any

from bench.baselines import BENCH_DIR, ROOT
from bench.env import Env
from bench.profiles import PROFILES, Profile
from bench.report import Figure, not_measured, write
from bench.scenarios import SCENARIOS, Scenario

RESULTS = BENCH_DIR / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark motion-grpc against baselines."
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios of: {', '.join(SCENARIOS)}")
    parser.add_argument("--rounds", type=int, help="override the profile's rounds")
    return parser.parse_args(argv)


def _selected(only: str) -> list[Scenario]:
    names = [name.strip() for name in only.split(",") if name.strip()] or list(SCENARIOS)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; choose from {list(SCENARIOS)}")
    return [SCENARIOS[name] for name in names]


def _run_scenario(env: Env, scenario: Scenario) -> list[Figure]:
    print(f"bench: {scenario.name}: {scenario.description} ...", flush=True)
    started = time.monotonic()
    try:
        figures = scenario.run(env)
    except Exception as exc:  # one broken scenario is reported, the others still run
        figures = [not_measured(scenario.name, "(whole scenario)", "failed", f"{type(exc).__name__}: {exc}")]
    print(f"bench: {scenario.name} done in {time.monotonic() - started:.0f} s", flush=True)
    return figures


def _git_revision() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def _meta(profile: Profile, started: datetime.datetime, seconds: float) -> dict[str, Any]:
    return {
        "profile": profile.__dict__,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "git": _git_revision(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "grpcio": metadata.version("grpcio"),
        "platform": platform.platform(),
    }


def _header(meta: dict[str, Any]) -> str:
    profile = meta["profile"]
    return (
        f"# motion-grpc benchmarks: profile {profile['name']}, {meta['started']}, git {meta['git']}\n\n"
        f"{meta['cpus']} CPUs, Python {meta['python']}, grpcio {meta['grpcio']}, {meta['seconds']} s; "
        f"{profile['rounds']} rounds per figure. ours and baseline are medians over the rounds; "
        "ratio = ours / baseline, the median of the per-round ratios (ms: lower is better, "
        "req/s and updates/s: higher is better); spread = min-max over the rounds."
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = PROFILES[args.profile]
    if args.rounds:
        profile = Profile(**{**profile.__dict__, "rounds": args.rounds})
    started, clock = datetime.datetime.now(), time.monotonic()
    env = Env(profile)
    try:
        figures = [figure for scenario in _selected(args.only) for figure in _run_scenario(env, scenario)]
    finally:
        env.close()
    meta = _meta(profile, started, time.monotonic() - clock)
    print(write(RESULTS, figures, meta, _header(meta)))
    print(f"bench: wrote {RESULTS / 'latest.json'} and {RESULTS / 'latest.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
