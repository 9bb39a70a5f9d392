"""Serve results and stream items, encoded as the response will carry them.

A run checks that its serve result can be sent *before* its updates are
enqueued (Engine.run's `check_result`): a result that cannot be sent (NaN, a
set, nesting too deep, an object pickle refuses) fails the run with nothing
enqueued and nothing applied. That failure is the op's, not the caller's:
OpError (UNKNOWN), its error type saying what kind of problem it is. A result
too large for a response (--max-message-bytes) is refused the same way, with
RESOURCE_EXHAUSTED: gRPC would only fail the response after the enqueue.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from google.protobuf import struct_pb2

from motion_grpc import codec
from motion_grpc.errors import OpError, ResourceExhaustedError
from motion_grpc.logs import excerpt

#: A result as a response carries it: a protobuf Value, or cloudpickle bytes for callers that accept them.
Encoded: TypeAlias = struct_pb2.Value | bytes

_NOT_YET = object()
#: What a response holds beside its result (version, update ids, outcomes): room kept for it.
RESPONSE_ROOM = 64 * 1024


def encode_result(
    result: Any, flow: str, pickled: bool, max_bytes: int | None, what: str = "the serve result"
) -> Encoded:
    """`result` as a Value (or pickled); OpError naming the flow and the problem when it cannot be
    sent, ResourceExhaustedError when it is over `max_bytes` encoded."""
    try:
        encoded = codec.pickle_dumps(result) if pickled else codec.to_value(result, "result")
    except codec.EncodeError as exc:
        raise OpError(
            f"{what} of flow {flow} cannot be sent as a protobuf Value: {exc}; send JSON-like data "
            f"(finite numbers, lists and dicts nested at most {codec.MAX_DEPTH} deep), "
            "or call with accept_pickle from Python",
            exc.error_type,
        ) from exc
    except Exception as exc:  # a pickler or a broken container of the op's
        how = "pickled" if pickled else "encoded"
        raise OpError(
            f"{what} of flow {flow} cannot be {how}: {type(exc).__name__}: {excerpt(str(exc))}",
            type(exc).__name__,
        ) from exc
    if max_bytes is not None:
        size = len(encoded) if isinstance(encoded, bytes) else encoded.ByteSize()
        if size > max_bytes:
            raise ResourceExhaustedError(
                f"{what} of flow {flow} is {size} bytes encoded, more than a response may carry "
                f"({max_bytes} bytes under --max-message-bytes); return less, or raise the limit"
            )
    return encoded


class ResultCheck:
    """Engine.run's `check_result` for one call: encodes the serve result before anything is enqueued.

    Keeps the last result it encoded, so the response does not encode it a
    second time. A run may be checked more than once (a stale snapshot serves
    again) or answer with a result it never checked (a cache hit): `encoded`
    encodes whatever it was not given already.
    """

    def __init__(self, flow: str, pickled: bool, max_bytes: int | None = None) -> None:
        self._flow = flow
        self._pickled = pickled
        self._max_bytes = max_bytes
        self._result: Any = _NOT_YET
        self._encoded: Encoded | None = None

    def __call__(self, result: Any) -> Encoded:
        self._encoded = encode_result(result, self._flow, self._pickled, self._max_bytes)
        self._result = result
        return self._encoded

    def encoded(self, result: Any) -> Encoded:
        if result is self._result and self._encoded is not None:
            return self._encoded
        return self(result)
