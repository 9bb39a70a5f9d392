"""Raw calls to a real server, bytes in and bytes out, and the checks every answer must pass.

Requests go out as bytes through generic channel calls, so the suite sends
exactly what it means to (garbage and truncated messages included), and
answers are read as bytes, so nothing the client could not parse hides what
the server said.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import grpc

from tests.property.oracle import Code, Expected, Method
from tests.property.server import FuzzServer

#: Every call waits at most this long: a longer wait means the server hangs, itself a finding.
CALL_TIMEOUT = 15.0
#: An error message longer than this echoes input uncut (a 100 KB key must not come back whole).
MAX_DETAILS = 2048

#: (RPC, status code name) -> answers seen in this session, printed at its end.
TALLY: collections.Counter[tuple[str, str]] = collections.Counter()
#: What the session's server went through (log lines, deaths), printed at its end.
SERVER_NOTES: list[str] = []


@dataclass(frozen=True)
class Answer:
    code: Code
    details: str
    messages: tuple[bytes, ...]


def call(channel: grpc.Channel, method: Method, data: bytes) -> Answer:
    """Send `data` as the request of `method`; a stream is read to its first message, then cancelled."""
    if not method.streaming:
        unary = channel.unary_unary(method.path, request_serializer=None, response_deserializer=None)
        try:
            return Answer(Code.OK, "", (unary(data, timeout=CALL_TIMEOUT),))
        except grpc.RpcError as exc:
            return _failed(exc)
    stream = channel.unary_stream(method.path, request_serializer=None, response_deserializer=None)
    responses = stream(data, timeout=CALL_TIMEOUT)
    try:
        first = next(responses, None)
    except grpc.RpcError as exc:
        return _failed(exc)
    if first is None:  # the stream ended with a status and no message
        return Answer(responses.code(), responses.details() or "", ())
    responses.cancel()
    return Answer(Code.OK, "", (first,))


def call_to_end(channel: grpc.Channel, method: Method, data: bytes) -> Answer:
    """A server stream read to its end (RunStream): every message, then the final status."""
    stream = channel.unary_stream(method.path, request_serializer=None, response_deserializer=None)
    messages: list[bytes] = []
    try:
        for item in stream(data, timeout=CALL_TIMEOUT):
            messages.append(item)
    except grpc.RpcError as exc:
        failed = _failed(exc)
        return Answer(failed.code, failed.details, tuple(messages))
    return Answer(Code.OK, "", tuple(messages))


def _failed(exc: grpc.RpcError) -> Answer:
    return Answer(exc.code(), exc.details() or "", ())  # type: ignore[attr-defined]


def check(server: FuzzServer, method: Method, answer: Answer, expected: Expected, source: str = "") -> None:
    """The properties of every answer: each assert on its own line, so each is its own bug.

    `source` tells the counts apart (structured requests, or raw bytes).
    """
    TALLY[f"{method.name}{source}", answer.code.name] += 1
    death = server.death()
    said = f"{method.name} answered {answer.code.name} ({answer.details[:300]!r})"
    assert death is None, f"the server died on this input ({death}); {said}"
    assert answer.code != Code.INTERNAL, f"{said}; expected {sorted(c.name for c in expected.codes)}"
    assert answer.code != Code.UNKNOWN or Code.UNKNOWN in expected.codes, (
        f"{said}: UNKNOWN without a user op raising; expected {sorted(c.name for c in expected.codes)}"
        f" because {expected.explain()}"
    )
    assert answer.code != Code.DEADLINE_EXCEEDED, f"{said}: no answer within {CALL_TIMEOUT} s"
    assert answer.code in expected.codes, (
        f"{said}; expected one of {sorted(c.name for c in expected.codes)} because {expected.explain()}"
    )
    if answer.code != Code.OK:
        assert answer.details.strip(), f"{said}: an error without a message saying what to fix"
        assert len(answer.details) <= MAX_DETAILS, f"{said}: a {len(answer.details)}-character message"
