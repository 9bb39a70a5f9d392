"""Log lines that repeat under load, bounded per kind so a flood cannot drown the log.

A server hit by garbage requests or an op failing on every call would
otherwise write one line per call; operators need to see that it happens
and roughly how often, not every occurrence.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

#: Longest excerpt of client-sent or user-op text put into a message or log line.
MAX_ECHO = 200


def excerpt(text: object, limit: int = MAX_ECHO) -> str:
    """`repr` of a value cut to `limit` characters, for messages that echo input back."""
    return shorten(repr(text), limit)


def shorten(text: str, limit: int = MAX_ECHO) -> str:
    """`text` cut to `limit` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


@dataclass
class _Window:
    started: float
    logged: int = 0
    suppressed: int = 0


class RateLimitedLog:
    """At most `per_window` lines per kind every `window` seconds; the rest are counted.

    When a kind's window ends with lines suppressed, its next line says how many.
    """

    def __init__(self, logger: logging.Logger, per_window: int = 10, window: float = 60.0) -> None:
        self._logger = logger
        self._per_window = per_window
        self._window = window
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def log(self, level: int, kind: str, message: str, *args: object) -> None:
        """Log `message % args` unless `kind` has used up its lines in this window."""
        if not self._logger.isEnabledFor(level):
            return
        suppressed = self._admit(kind)
        if suppressed is None:
            return
        if suppressed:
            message = f"{message} ({suppressed} similar lines suppressed)"
        self._logger.log(level, message, *args)

    def warning(self, kind: str, message: str, *args: object) -> None:
        self.log(logging.WARNING, kind, message, *args)

    def _admit(self, kind: str) -> int | None:
        """None: suppress this line; else how many were suppressed before it."""
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(kind)
            if window is None or now - window.started >= self._window:
                suppressed = window.suppressed if window is not None else 0
                self._windows[kind] = _Window(now, logged=1)
                if len(self._windows) > 10_000:  # kinds come from code, but stay bounded anyway
                    self._windows = {kind: self._windows[kind]}
                return suppressed
            if window.logged < self._per_window:
                window.logged += 1
                return 0
            window.suppressed += 1
            return None
