"""Run latency on a replica holding 2,000 open, idle WatchUpdates streams, vs none open.

A replica of its own serves the trivial app. Each round, client processes
(bench/watchers.py) open one watch on each of 2,000 other instances, over a
few processes and channels; once every watch had its first message, one
sequential client times Runs (cache miss) on an instance nobody watches;
then the watches are closed and the same client timing runs on the same
replica with none open. The same 2,000 instances are watched every round.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from bench import watchers
from bench.env import Env
from bench.populate import info_number
from bench.report import Figure
from bench.scenarios._common import OURS, FigureSpec, Scenario, Side, figures, grpc_load, interleave
from bench.stats import median

NAME = "watchers"
DB = 4  # the scenario's own database: flushed at the end
SETTLE = 0.5  # seconds between the last watch opening and the measurement


def _with_watches(env: Env, address: str, watched: list[str]) -> Mapping[str, float]:
    """Run timing while the watches are held; raises unless every watch stayed open throughout."""
    profile = env.profile
    with watchers.holding(address, watched, profile.watcher_processes, profile.watcher_channels) as held:
        if held.opened != held.requested:
            raise RuntimeError(f"only {held.opened} of {held.requested} watches opened")
        time.sleep(SETTLE)
        # The replica keeps one XREAD BLOCK per watched instance: Redis sees them waiting.
        blocked = info_number(env.redis_url(), "clients", "blocked_clients")
        measured = grpc_load(env, lambda: address, clients=1)()
    if not held.all_open_throughout:
        raise RuntimeError(f"{held.ended_early} of {held.opened} watches ended while measuring")
    return {**measured, "open_s": held.open_seconds, "blocked_clients": float(blocked)}


def run(env: Env) -> list[Figure]:
    profile = env.profile
    # Every watch comes from this one host: lift the per-peer cap (default 100) above them.
    cap = ("--max-watches-per-peer", str(profile.watchers + 100))
    service, address = env.own_motion_grpc("motion-grpc-watchers", db=DB, extra=cap)
    prefix = env.unique("watched")
    watched = [f"{prefix}-{i}" for i in range(profile.watchers)]
    sides = {
        OURS: Side(f"{profile.watchers:,} watches open", lambda: _with_watches(env, address, watched)),
        "none": Side("no watch open", grpc_load(env, lambda: address, clients=1)),
    }
    try:
        interleave(profile.rounds, sides)
    finally:
        service.stop()
        env.flush_db(DB)
    return figures(NAME, _specs(env, sides[OURS]), sides)


def _specs(env: Env, ours: Side) -> list[FigureSpec]:
    profile, count = env.profile, env.profile.watchers
    note = (
        f"1 client, cache miss; the watches are on {count:,} other instances, held by "
        f"{profile.watcher_processes} client processes x {profile.watcher_channels} channels"
    )
    if ours.rounds:
        blocked = median([values["blocked_clients"] for values in ours.rounds])
        seconds = median([values["open_s"] for values in ours.rounds])
        note += (
            f"; in each of the {len(ours.rounds)} rounds all {count:,} watches had their first message "
            f"(Progress) before the Runs and none had ended after them; Redis showed {blocked:,.0f} "
            f"blocked clients (the replica's XREADs, median); opening took {seconds:.1f} s (median)"
        )
    return [
        FigureSpec(
            f"Run p50 with {count:,} open WatchUpdates streams", "ms", "p50_ms", "none", "<= 1.1x", note
        ),
        FigureSpec(f"Run p99 with {count:,} open WatchUpdates streams", "ms", "p99_ms", "none"),
    ]


SCENARIO = Scenario(NAME, "Run latency with thousands of idle WatchUpdates streams open", run)
