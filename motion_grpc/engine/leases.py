"""Keeps held leases alive while their holders work."""

from __future__ import annotations

import logging
import threading

from motion_grpc.errors import MotionError
from motion_grpc.store.store import Store

log = logging.getLogger(__name__)


class LeaseKeeper:
    """One thread renewing every held lease at a third of its TTL.

    A long update op (an LLM call of a minute) keeps its lease; a holder
    that is paused or cut off loses it, and the commit script then refuses
    its result.
    """

    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self.ttl = ttl
        self.ttl_ms = max(1, int(ttl * 1000))
        self._held: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="motion-leases", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def hold(self, key: str, token: str) -> None:
        with self._lock:
            self._held[key] = token

    def drop(self, key: str) -> None:
        with self._lock:
            self._held.pop(key, None)

    def _run(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            with self._lock:
                held = list(self._held.items())
            for key, token in held:
                try:
                    if not self._store.renew(key, token, self.ttl_ms):
                        log.warning("lease %s was lost; its holder's commit will be refused", key)
                        self.drop(key)
                except MotionError as exc:
                    log.warning("could not renew lease %s: %s", key, exc)
