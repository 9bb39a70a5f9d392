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


@dataclass(frozen=True)
class StateView:
    version: int
    state: dict[str, Any]
