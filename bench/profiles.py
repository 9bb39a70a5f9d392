"""How long and how often each scenario measures: `quick` (under 10 minutes on 2 cores) and `full`."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    """Sizes of one benchmark run.

    Args:
        name: Profile name.
        rounds: Rounds per figure; the report shows the median and min-max over them.
        duration: Seconds of measured load per round (sequential and concurrent runs, ghz).
        warmup: Seconds of unmeasured load before each measured window.
        inprocess_calls: `inst.run` calls per round of the in-process rows.
        drain_updates: Updates enqueued on one instance per round of the drain row.
        drain_instances: Instances of the many-instances drain row.
        updates_per_instance: Updates per instance in the many-instances drain row.
        pickup_samples: Samples per round of idle pickup.
        freshness_samples: Samples per round of cross-replica freshness.
        concurrency: Concurrent clients of the throughput rows.
        client_processes: Processes the concurrent clients are spread over.
        serve_threads: Thread pool of serve ops (and of the bare server's handler).
        update_workers: Update workers per motion-grpc server.
        watchers: Idle WatchUpdates streams held open in the watchers scenario.
        watcher_processes: Client processes holding them.
        watcher_channels: Channels (connections) per holding process.
        scale_sizes: Instances in Redis per size of the scale scenario.
        shutdown_instances: Idle instances a replica has when SIGTERMed.
        shutdown_clients: Clients running Runs while a replica is SIGTERMed.
        llm_users: User counts of the LLM-shaped loads to run (200: sync and async ops; more: async).
        llm_cap_factor: An LLM-shaped round stops at this multiple of its load's update target.
    """

    name: str
    rounds: int
    duration: float
    warmup: float
    inprocess_calls: int
    drain_updates: int
    drain_instances: int
    updates_per_instance: int
    pickup_samples: int
    freshness_samples: int
    concurrency: tuple[int, ...] = (8, 32)
    client_processes: int = 2
    serve_threads: int = 16
    update_workers: int = 4
    watchers: int = 2000
    watcher_processes: int = 4
    watcher_channels: int = 5
    scale_sizes: tuple[int, ...] = (100, 10_000, 100_000)
    shutdown_instances: int = 1000
    shutdown_clients: int = 8
    llm_users: tuple[int, ...] = (200, 1000)
    llm_cap_factor: float = 8.0


QUICK = Profile(
    name="quick",
    rounds=3,
    duration=3.0,
    warmup=0.5,
    inprocess_calls=1000,
    drain_updates=2000,
    drain_instances=1000,
    updates_per_instance=2,
    pickup_samples=30,
    freshness_samples=100,
)

FULL = replace(
    QUICK,
    name="full",
    rounds=5,
    duration=10.0,
    warmup=1.0,
    inprocess_calls=5000,
    drain_updates=10000,
    updates_per_instance=5,
    pickup_samples=100,
    freshness_samples=500,
    llm_users=(200, 1000, 5000),
    llm_cap_factor=24.0,
)

PROFILES = {profile.name: profile for profile in (QUICK, FULL)}
