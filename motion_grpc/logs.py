"""Log lines that repeat under load, bounded per kind so a flood cannot drown the log.

A server hit by garbage requests or an op failing on every call would
otherwise write one line per call; operators need to see that it happens
and roughly how often, not every occurrence.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

#: Longest excerpt of client-sent or user-op text put into a message or log line.
MAX_ECHO = 200
#: `--log-format` choices.
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Attributes every LogRecord has: whatever else a record carries came from `extra=` and is a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, exception, extras.

    For log collectors that parse lines: a message with newlines or quotes stays one line.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(level: str, log_format: str = "text") -> None:
    """Send log lines to stderr at `level`, as text or JSON lines (`--log-level`, `--log-format`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


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

    def log(
        self, level: int, kind: str, message: str, *args: object, extra: dict[str, object] | None = None
    ) -> None:
        """Log `message % args` unless `kind` has used up its lines in this window.

        `extra` fields become keys of a JSON log line (`--log-format json`).
        """
        if not self._logger.isEnabledFor(level):
            return
        suppressed = self._admit(kind)
        if suppressed is None:
            return
        if suppressed:
            message = f"{message} ({suppressed} similar lines suppressed)"
            extra = {**(extra or {}), "suppressed": suppressed}
        self._logger.log(level, message, *args, extra=extra)

    def warning(self, kind: str, message: str, *args: object, extra: dict[str, object] | None = None) -> None:
        self.log(logging.WARNING, kind, message, *args, extra=extra)

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
