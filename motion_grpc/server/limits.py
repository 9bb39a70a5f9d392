"""Per-call limits of a server: message and props sizes, open streams per peer, stream duration.

One interceptor enforces them for every MotionService method, so each
handler stays about its own work. A peer is the caller's address without its
port: a client opening many connections is still one peer. Behind a proxy or
a sidecar every caller shares the proxy's address, so set the caps for the
whole mesh there. Each refusal names the flag that sets the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from grpc import aio

from motion_grpc.arg_types import positive_int, seconds
from motion_grpc.errors import (
    DeadlineExceededError,
    InvalidPropsError,
    MotionError,
    ResourceExhaustedError,
)
from motion_grpc.grpc_handlers import Handler, WrappingInterceptor, rewrapped

SERVICE_PREFIX = "/motion.v1.MotionService/"
_MIB = 1024 * 1024
#: Calls gRPC Core holds before the server's loop has picked them up. Its defaults (1,000,
#: hard 3,000) answer CANCELLED, with no reason, to thousands of calls arriving at once;
#: the server's own bounds (--max-concurrent-serves, --serve-queue, the per-peer caps)
#: decide instead, with a RESOURCE_EXHAUSTED that names them.
PENDING_CALLS = 100_000


@dataclass(frozen=True)
class Limits:
    """What one call may send and hold; see `motion-grpc serve --help`."""

    max_message_bytes: int = 8 * _MIB
    max_props_bytes: int = 4 * _MIB
    max_watches_per_peer: int = 100
    max_streams_per_peer: int = 100
    max_stream_seconds: float = 3600.0

    def grpc_options(self) -> list[tuple[str, int]]:
        """Channel arguments: messages received and sent, calls waiting to be picked up."""
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.server.max_pending_requests", PENDING_CALLS),
            ("grpc.server.max_pending_requests_hard_limit", PENDING_CALLS),
        ]


def add_limit_options(serve: argparse.ArgumentParser) -> None:
    """The limit flags of `motion-grpc serve`."""
    defaults = Limits()
    add = serve.add_argument
    add(
        "--max-message-bytes",
        type=positive_int,
        default=defaults.max_message_bytes,
        help=f"largest request or response message (default {defaults.max_message_bytes})",
    )
    add(
        "--max-props-bytes",
        type=positive_int,
        default=defaults.max_props_bytes,
        help=f"largest props of a Run or RunStream, encoded (default {defaults.max_props_bytes})",
    )
    add(
        "--max-watches-per-peer",
        type=positive_int,
        default=defaults.max_watches_per_peer,
        help=f"WatchUpdates calls open at once from one address (default {defaults.max_watches_per_peer})",
    )
    add(
        "--max-streams-per-peer",
        type=positive_int,
        default=defaults.max_streams_per_peer,
        help=f"RunStream calls open at once from one address (default {defaults.max_streams_per_peer})",
    )
    add("--max-stream-seconds", type=seconds, default=defaults.max_stream_seconds,
        help=f"longest a RunStream call may run (default {defaults.max_stream_seconds:g})")  # fmt: skip


def limits_from_args(args: argparse.Namespace) -> Limits:
    return Limits(
        max_message_bytes=args.max_message_bytes,
        max_props_bytes=args.max_props_bytes,
        max_watches_per_peer=args.max_watches_per_peer,
        max_streams_per_peer=args.max_streams_per_peer,
        max_stream_seconds=args.max_stream_seconds,
    )


def peer_of(context: aio.ServicerContext[Any, Any]) -> str:
    """'ipv4:10.0.0.7:53122' -> 'ipv4:10.0.0.7' (unix sockets and unknowns as they are)."""
    peer = context.peer() or "unknown"
    if peer.startswith(("ipv4:", "ipv6:")):
        return peer.rpartition(":")[0]
    return peer


class PeerCaps:
    """Counts the open calls of one kind per peer, refusing past `cap`."""

    def __init__(self, cap: int, kind: str, flag: str) -> None:
        self.cap = cap
        self._kind = kind
        self._flag = flag
        self.open: Counter[str] = Counter()

    def enter(self, peer: str) -> None:
        if self.open[peer] >= self.cap:
            raise ResourceExhaustedError(
                f"{peer} already has {self.open[peer]} {self._kind} calls open, the limit ({self._flag} "
                f"{self.cap}); close some (or reuse one call per instance) and retry"
            )
        self.open[peer] += 1

    def leave(self, peer: str) -> None:
        self.open[peer] -= 1
        if self.open[peer] <= 0:
            del self.open[peer]


class LimitsInterceptor(WrappingInterceptor):
    """Applies Limits to MotionService calls; sits inside the error-mapping interceptor."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self.limits = limits
        self.watches = PeerCaps(limits.max_watches_per_peer, "WatchUpdates", "--max-watches-per-peer")
        self.streams = PeerCaps(limits.max_streams_per_peer, "RunStream", "--max-streams-per-peer")

    def wrap(self, full_method: str, handler: Handler) -> Handler:
        if not full_method.startswith(SERVICE_PREFIX):
            return handler
        method = full_method[len(SERVICE_PREFIX) :]
        if method == "Run":
            return rewrapped(handler, self._checked_unary, None)
        if method in ("RunStream", "WatchUpdates"):
            return rewrapped(
                handler, None, lambda behavior: self._capped_stream(behavior, method == "RunStream")
            )
        return handler

    def check_props(self, request: Any) -> None:
        """INVALID_ARGUMENT (INVALID_PROPS) naming the limit when a run's props are too large."""
        size = request.props.ByteSize() + len(request.pickled_props)
        if size > self.limits.max_props_bytes:
            raise InvalidPropsError(
                f"props are {size} bytes encoded, over the limit of {self.limits.max_props_bytes} "
                "(--max-props-bytes); send less, or keep large data elsewhere and send its key"
            )

    def _checked_unary(self, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def run(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            self.check_props(request)
            return await behavior(request, context)

        return run

    def _capped_stream(
        self, behavior: Callable[..., AsyncIterator[Any]], is_run: bool
    ) -> Callable[..., AsyncIterator[Any]]:
        caps = self.streams if is_run else self.watches

        async def stream(request: Any, context: aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            if is_run:
                self.check_props(request)
            peer = peer_of(context)
            caps.enter(peer)
            try:
                messages = behavior(request, context)
                if is_run:
                    messages = _within(messages, self.limits.max_stream_seconds)
                async for message in messages:
                    yield message
            finally:
                caps.leave(peer)

        return stream


async def _within(messages: AsyncIterator[Any], seconds: float) -> AsyncIterator[Any]:
    """`messages`, ending with DEADLINE_EXCEEDED naming the flag once `seconds` have passed."""
    deadline = time.monotonic() + seconds
    iterator = aiter(messages)
    try:
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(anext(iterator), remaining)
            except StopAsyncIteration:
                return
            except MotionError:
                raise  # the stream's own error (a serve op's timeout is a TimeoutError too)
            except TimeoutError:
                raise DeadlineExceededError(
                    f"the RunStream call ran past its limit of {seconds:g} s (--max-stream-seconds); "
                    "the serve op's generator was closed"
                ) from None
            yield message
    finally:
        closing = getattr(iterator, "aclose", None)
        if closing is not None:
            await closing()  # the serve op's generator is closed now, its finally runs


__all__ = ["Limits", "LimitsInterceptor", "PeerCaps", "add_limit_options", "limits_from_args", "peer_of"]
