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
        self._held: dict[str, tuple[str, int]] = {}  # key -> (token, generation of the hold)
        self._generation = 0
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
            self._generation += 1
            self._held[key] = (token, self._generation)

    def drop(self, key: str, token: str | None = None) -> None:
        """Stop renewing `key`; with `token`, only when held under it (a drain of this engine that
        found the lease held by another of its drains must not end that drain's renewals)."""
        with self._lock:
            current = self._held.get(key)
            if current is not None and (token is None or current[0] == token):
                del self._held[key]

    def _run(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            with self._lock:
                held = list(self._held.items())
            for key, (token, generation) in held:
                try:
                    if not self._store.renew(key, token, self.ttl_ms):
                        self._forget(key, generation)
                except MotionError as exc:
                    log.warning("could not renew lease %s: %s", key, exc)

    def _forget(self, key: str, generation: int) -> None:
        """Stop renewing a lease that is gone, unless it was taken again since this renewal began.

        Gone is often normal (the holder released it and has not dropped it yet); a holder
        that really lost it learns so from its refused commit, and logs it there.
        """
        with self._lock:
            current = self._held.get(key)
            if current is not None and current[1] == generation:
                del self._held[key]
                log.debug("lease %s is no longer held", key)
