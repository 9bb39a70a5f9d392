"""What the engine answers: a run's result, a state view."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from motion_grpc.store.records import Event


@dataclass(frozen=True)
class RunResult:
    result: Any
    version: int
    cached: bool
    update_ids: list[str] = field(default_factory=list)
    #: With flush_update: how each of the run's updates ended.
    outcomes: list[Event] = field(default_factory=list)
    #: The run's request id was seen before: nothing was enqueued; version and update_ids are the
    #: first call's.
    deduplicated: bool = False


@dataclass(frozen=True)
class StateView:
    version: int
    state: dict[str, Any]
