"""Applying a `disable_update_task` instance's updates in the calling thread, as Motion does.

Nothing applies such an instance's updates in the background: a run with
`flush_update=True` applies everything queued up to and including its own
updates here, in order, then reports how its own ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from motion_grpc.engine import Engine
from motion_grpc.engine.waiting import Wait, WaitResult, wait_for_updates
from motion_grpc.errors import DeadlineExceededError
from motion_grpc.store.keys import InstanceKeys

T = TypeVar("T")

#: When another worker holds the lease, that worker applies the queue; it may let go before
#: the end (its engine closing), so the caller looks again this often.
HOLDER_RECHECK_SECONDS = 0.5


class CallerUpdates:
    """One instance's queue, applied by whoever calls."""

    def __init__(self, engine: Engine, keys: InstanceKeys) -> None:
        self._engine = engine
        self._keys = keys

    def cursor(self) -> str:
        """The instance's newest event id: the outcomes of what is enqueued next come after it."""
        return self._engine.call(self._engine.core.store.flush_start(self._keys, None)).newest

    def catch_up(self, deadline: float | None) -> None:
        """Apply everything queued so far (a run with force_refresh reads after it)."""
        keys = self._keys
        self._apply_here(
            lambda limit: self._engine.flush(keys.component, keys.instance_id, None, limit), deadline
        )

    def apply_through(self, ids: list[str], cursor: str, deadline: float | None) -> WaitResult:
        """Apply the queue up to the last of `ids`; their outcomes (events after `cursor`)."""
        store = self._engine.core.store

        def ended(limit: float) -> WaitResult:
            wait = Wait(ids[-1], cursor, limit, set(ids))
            return self._engine.call(wait_for_updates(store, self._keys, wait))

        return self._apply_here(ended, deadline)

    def _apply_here(self, wait: Callable[[float], T], deadline: float | None) -> T:
        """Apply the queue in this thread, in order, until `wait(limit)` returns."""
        while True:
            self._engine.apply_pending(self._keys.component, self._keys.instance_id)
            recheck = time.monotonic() + HOLDER_RECHECK_SECONDS
            try:
                return wait(recheck if deadline is None else min(deadline, recheck))
            except DeadlineExceededError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
