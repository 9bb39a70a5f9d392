"""The options of one run and the settings of one engine: each written once, used everywhere."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from motion_grpc.errors import DeadlineExceededError


@dataclass(frozen=True)
class RunOptions:
    """How one run of a flow behaves (Motion's run options, plus a deadline)."""

    ignore_cache: bool = False
    #: Wait for the instance's queued updates before serving.
    force_refresh: bool = False
    #: Wait for this run's updates before answering, and report how they ended.
    flush_update: bool = False
    #: Passed to init_state when the run creates the instance.
    init_state_params: Mapping[str, Any] = field(default_factory=dict)
    #: time.monotonic() by which the caller gives up; None: no limit.
    deadline: float | None = None
    #: The caller's id of this run (RunRequest.request_id): its updates are enqueued at most once
    #: per id within EngineSettings.request_id_ttl. "": no deduplication (in-process runs).
    request_id: str = ""

    def check_deadline(self) -> None:
        """Past the deadline, the caller has given up: enqueue nothing for it."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineExceededError("the deadline passed while the serve op ran; nothing was enqueued")


@dataclass(frozen=True)
class EngineSettings:
    """Tuning of one engine; the defaults suit a server of model-calling ops and a notebook alike."""

    #: Threads for sync serve ops (a blocking model call holds one for its duration).
    serve_threads: int = 256
    #: Threads for sync update ops, init_state and state hooks.
    update_threads: int = 256
    #: Instances whose updates are being applied at once (async ops hold no thread).
    max_concurrent_updates: int = 1000
    #: Serves (Run, RunStream) in flight at once; past it, up to `serve_queue` wait.
    max_concurrent_serves: int = 10_000
    #: Serves waiting for a slot before RESOURCE_EXHAUSTED.
    serve_queue: int = 1000
    #: Default seconds a serve op / update op may take (None: no limit); ops may set their own.
    serve_timeout: float | None = None
    update_timeout: float | None = None
    lease_ttl: float = 5.0
    sweep_interval: float = 1.0
    init_timeout: float = 30.0
    max_attempts: int = 3
    #: Seconds a drain that keeps finding a few new cheap updates after each commit waits before
    #: applying them, so more are committed together (see engine.draining).
    update_group_wait: float = 0.002
    max_cached_instances: int = 10_000
    #: Encoded bytes of the states this process keeps decoded in memory (its snapshots), all
    #: instances together; past it the least recently used are dropped and read again when needed.
    #: Decoded, a state can take tens of times its encoded size (a list of a million empty lists).
    max_snapshot_bytes: int = 128 * 1024 * 1024
    #: Off: this engine serves and enqueues only; other processes apply the updates.
    process_updates: bool = True
    #: Off: this engine applies only the updates it enqueues (and those queued before them), never
    #: other processes' work it would find by sweeping or be woken for (one-off tools: migrate).
    adopt_others_updates: bool = True
    #: A serve op faster than this on average is run before its version check (see serving).
    fast_op_seconds: float = 0.001
    #: Events kept per instance (None: MOTION_EVENTS_RETENTION, else the default).
    events_retention: int | None = None
    #: Seconds a run's request id is remembered, so a retry of it enqueues nothing (--request-id-ttl).
    request_id_ttl: float = 24 * 3600.0
    #: Largest encoded state of one instance (sum of its stored fields); an update that would
    #: grow it past this fails with StateTooLarge (--max-state-bytes).
    max_state_bytes: int = 16 * 1024 * 1024


#: A run with Motion's defaults.
DEFAULT_OPTIONS = RunOptions()
