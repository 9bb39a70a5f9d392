"""One log line per failed op, so operators see failures that callers may never report.

Rate-limited per op and error type: an op failing on every call of a busy
server writes a few lines a minute, each counting the ones it stands for.
Props and state values are never logged, only the error's type and message.
"""

from __future__ import annotations

import logging

from motion_grpc.errors import OpError
from motion_grpc.logs import RateLimitedLog, shorten

log = logging.getLogger("motion_grpc.ops")
_limited = RateLimitedLog(log)


def serve_failed(what: str, error: OpError) -> None:
    """`what` names the op and its flow ("serve op recommend of ECommerce/styling_query")."""
    _limited.warning(f"{what}\0{error.error_type}", "%s failed: %s", what, shorten(error.message, 500))


def update_failed(component: str, flow: str, op: str, error_type: str, message: str) -> None:
    _limited.warning(
        f"update\0{component}\0{flow}\0{op}\0{error_type}",
        "update op %s of %s/%s failed: %s: %s",
        op,
        component,
        flow,
        error_type,
        shorten(message, 500),
    )
