"""Exceptions raised by motion-grpc, and their mapping to gRPC status codes and ErrorInfo reasons.

    MotionError                        root of every motion-grpc error               reason
    ├── InvalidArgumentError           INVALID_ARGUMENT: malformed ids, props, options  INVALID_ARGUMENT
    │   ├── ArgumentTypeError          ... of the wrong type (also a TypeError)
    │   ├── InvalidPropsError          ... props that cannot be decoded               INVALID_PROPS
    │   └── InvalidRequestIdError      ... a malformed RunRequest.request_id          INVALID_REQUEST_ID
    ├── NotFoundError                  NOT_FOUND: an instance                          INSTANCE_NOT_FOUND
    │   ├── ComponentNotFoundError     ... a component no app defines                  COMPONENT_NOT_FOUND
    │   ├── UnknownFlowError           ... a flow (also a KeyError)                    FLOW_NOT_FOUND
    │   └── UnknownInstanceError       ... an instance named as Motion names it (also a ValueError)
    ├── OpError                        UNKNOWN: a user op raised (carries its type name) OP_FAILED
    │   └── UpdateFailedError          ... an update op awaited in-process (also a RuntimeError)
    ├── FailedPreconditionError        FAILED_PRECONDITION: e.g. a load_state hook failed  FAILED_PRECONDITION
    │   ├── UntrustedDataError         ... a value from Redis that could run code (an unsigned pickle)
    │   └── UpdatesDisabledError       ... an instance made with disable_update_task (also a RuntimeError)
    ├── OutOfRangeError                OUT_OF_RANGE: a resume point older than the history  OUT_OF_RANGE
    ├── ResourceExhaustedError         RESOURCE_EXHAUSTED: a backlog over its bound     RESOURCE_EXHAUSTED
    │   └── QueueFullError             ... an instance's update queue                  QUEUE_FULL
    ├── UnavailableError               UNAVAILABLE: the server is stopping (retry)       SERVER_STOPPING
    │   │                              ... or cannot be reached (from gRPC itself)     (none)
    │   └── StoreUnavailableError      ... the server's Redis cannot be reached (retry)  STORE_UNAVAILABLE
    ├── DeadlineExceededError          DEADLINE_EXCEEDED: the call's deadline passed    DEADLINE_EXCEEDED
    ├── UnauthenticatedError           UNAUTHENTICATED                                  UNAUTHENTICATED
    ├── PermissionDeniedError          PERMISSION_DENIED                                PERMISSION_DENIED
    ├── UnimplementedError             UNIMPLEMENTED                                    UNIMPLEMENTED
    └── InternalError                  INTERNAL: a bug or an unexpected failure         INTERNAL

The server turns an exception into a status with `status_for` and its
google.rpc.ErrorInfo with `error_info` (reason, domain "motion-grpc",
metadata); the client turns a status back into the same class with
`error_for`, keeping the reason it was sent. Both use the one table below, so
the two sides cannot drift apart. A raise site may name a finer reason than
its class's (`InvalidArgumentError(msg, reason=Reason.PICKLE_NOT_ALLOWED)`).

UNAVAILABLE is the one code with two classes: a client raises StoreUnavailableError
for a server's STORE_UNAVAILABLE, and UnavailableError, its parent, for any other
(a server stopping, or gRPC itself when no server answered).

The subclasses under a table class exist for in-process callers, who expect
the builtin types Motion raises (`except KeyError` around an unknown flow);
each inherits its parent's status code, so over gRPC nothing changes.
"""

from __future__ import annotations

from typing import Final

import grpc

#: Trailing-metadata key naming the exception type of a failed user op.
ERROR_TYPE_METADATA_KEY = "motion-error-type"
#: The google.rpc.ErrorInfo domain of every status a motion-grpc server sends.
ERROR_DOMAIN = "motion-grpc"
#: The ErrorInfo metadata key naming the exception type of a failed user op.
ERROR_TYPE_INFO_KEY = "error_type"


class Reason:
    """What went wrong, in a word a client's code can match on (the message is for people).

    Sent as the reason of the status's google.rpc.ErrorInfo; conformance/README.md
    lists when each is sent. Plain strings, so a reason a newer server sends is
    still a reason here.
    """

    INVALID_ARGUMENT: Final = "INVALID_ARGUMENT"
    INVALID_PROPS: Final = "INVALID_PROPS"
    INVALID_REQUEST_ID: Final = "INVALID_REQUEST_ID"
    COMPONENT_NOT_FOUND: Final = "COMPONENT_NOT_FOUND"
    FLOW_NOT_FOUND: Final = "FLOW_NOT_FOUND"
    INSTANCE_NOT_FOUND: Final = "INSTANCE_NOT_FOUND"
    STATE_KEY_NOT_FOUND: Final = "STATE_KEY_NOT_FOUND"
    OP_FAILED: Final = "OP_FAILED"
    OP_TIMEOUT: Final = "OP_TIMEOUT"
    FAILED_PRECONDITION: Final = "FAILED_PRECONDITION"
    PICKLE_NOT_ALLOWED: Final = "PICKLE_NOT_ALLOWED"
    OUT_OF_RANGE: Final = "OUT_OF_RANGE"
    QUEUE_FULL: Final = "QUEUE_FULL"
    RESOURCE_EXHAUSTED: Final = "RESOURCE_EXHAUSTED"
    STORE_UNAVAILABLE: Final = "STORE_UNAVAILABLE"
    SERVER_STOPPING: Final = "SERVER_STOPPING"
    DEADLINE_EXCEEDED: Final = "DEADLINE_EXCEEDED"
    UNAUTHENTICATED: Final = "UNAUTHENTICATED"
    PERMISSION_DENIED: Final = "PERMISSION_DENIED"
    UNIMPLEMENTED: Final = "UNIMPLEMENTED"
    CANCELLED: Final = "CANCELLED"
    INTERNAL: Final = "INTERNAL"
    UNKNOWN: Final = "UNKNOWN"


#: Every reason a server sends.
REASONS: Final = frozenset(value for name, value in vars(Reason).items() if name.isupper())


class MotionError(Exception):
    """Root of every error motion-grpc raises.

    `reason` is the class's unless the raise site names a finer one; on a
    client it is the reason the server sent ("" when the status had none).
    """

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    reason: str = Reason.UNKNOWN

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class InvalidArgumentError(MotionError, ValueError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = Reason.INVALID_ARGUMENT


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong type, such as a state patch that is not a dict."""


class InvalidPropsError(InvalidArgumentError):
    """Props a server cannot decode (nested too deep, not finite, not a dict)."""

    reason = Reason.INVALID_PROPS


class InvalidRequestIdError(InvalidArgumentError):
    """A RunRequest.request_id that is too long or holds characters outside its alphabet."""

    reason = Reason.INVALID_REQUEST_ID


class NotFoundError(MotionError, LookupError):
    """An instance that does not exist (or an unknown name of a subclass's kind)."""

    code = grpc.StatusCode.NOT_FOUND
    reason = Reason.INSTANCE_NOT_FOUND


class ComponentNotFoundError(NotFoundError):
    """A component no loaded app defines."""

    reason = Reason.COMPONENT_NOT_FOUND


class UnknownFlowError(NotFoundError, KeyError):
    """A flow the component does not define; a KeyError, as in Motion."""

    reason = Reason.FLOW_NOT_FOUND

    def __str__(self) -> str:
        return self.message  # KeyError's own __str__ would quote it


class UnknownInstanceError(NotFoundError, ValueError):
    """An instance named `Component__id` that does not exist; a ValueError, as in Motion."""


class OpError(MotionError):
    """A user op (serve, update, init_state) raised; `error_type` names the exception."""

    code = grpc.StatusCode.UNKNOWN
    reason = Reason.OP_FAILED
    #: Set when the op itself raised its cause (handed back as itself in-process, whatever it is).
    raised_by_op = False

    def __init__(self, message: str, error_type: str = "Exception", *, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.error_type = error_type


class UpdateFailedError(OpError, RuntimeError):
    """An update op awaited by an in-process run (flush_update=True) failed; a RuntimeError,
    as Motion raises it."""


class FailedPreconditionError(MotionError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = Reason.FAILED_PRECONDITION


class UntrustedDataError(FailedPreconditionError):
    """A value read from Redis that could run code when loaded (an unsigned or badly signed
    pickle), or one that only such a pickle could store."""

    #: The module.name a refused pickle resolves, when that is why it was refused.
    named: str = ""


class UpdatesDisabledError(FailedPreconditionError, RuntimeError):
    """An instance made with disable_update_task was asked to leave updates queued or to flush;
    a RuntimeError, as in Motion."""


class OutOfRangeError(MotionError):
    code = grpc.StatusCode.OUT_OF_RANGE
    reason = Reason.OUT_OF_RANGE


class ResourceExhaustedError(MotionError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = Reason.RESOURCE_EXHAUSTED


class QueueFullError(ResourceExhaustedError):
    """An instance's update queue holds its maximum of entries."""

    reason = Reason.QUEUE_FULL


class UnavailableError(MotionError, ConnectionError):
    """UNAVAILABLE: the server is stopping; on a client, also gRPC's own when the server (or a proxy
    before it) cannot be reached, or the channel's TLS does not match the server's."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = Reason.SERVER_STOPPING


class StoreUnavailableError(UnavailableError):
    reason = Reason.STORE_UNAVAILABLE


class DeadlineExceededError(MotionError, TimeoutError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = Reason.DEADLINE_EXCEEDED


class UnauthenticatedError(MotionError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = Reason.UNAUTHENTICATED


class PermissionDeniedError(MotionError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = Reason.PERMISSION_DENIED


class UnimplementedError(MotionError, NotImplementedError):
    code = grpc.StatusCode.UNIMPLEMENTED
    reason = Reason.UNIMPLEMENTED


class InternalError(MotionError):
    code = grpc.StatusCode.INTERNAL
    reason = Reason.INTERNAL


ERROR_CLASSES: tuple[type[MotionError], ...] = (
    InvalidArgumentError,
    NotFoundError,
    OpError,
    FailedPreconditionError,
    OutOfRangeError,
    ResourceExhaustedError,
    StoreUnavailableError,
    DeadlineExceededError,
    UnauthenticatedError,
    PermissionDeniedError,
    UnimplementedError,
    InternalError,
)

#: The one table between status codes and exception classes.
CLASS_BY_CODE: dict[grpc.StatusCode, type[MotionError]] = {cls.code: cls for cls in ERROR_CLASSES}
CLASS_BY_CODE[grpc.StatusCode.CANCELLED] = MotionError


def error_for(
    code: grpc.StatusCode, message: str, error_type: str | None = None, reason: str = ""
) -> MotionError:
    """Build the exception a client raises for a status received from a server (with its reason)."""
    cls = CLASS_BY_CODE.get(code, MotionError)
    if cls is StoreUnavailableError and reason != Reason.STORE_UNAVAILABLE:  # the server's, or gRPC's
        said = message if reason else f"the server could not be reached: {message}"
        return UnavailableError(said, reason=reason)
    if cls is OpError:
        return OpError(message, error_type or "Exception", reason=reason)
    error = cls(message, reason=reason)
    if cls is MotionError:
        error.code = code
    return error


#: The most bytes of a status message sent. It travels twice in the trailers (grpc-message,
#: percent-encoded, and the google.rpc.Status), which gRPC caps at 8 KiB by default: a longer
#: one (an op's exception that quotes its input) would fail the call with RESOURCE_EXHAUSTED.
MAX_STATUS_MESSAGE_BYTES = 1024


def wire_message(message: str) -> str:
    """`message` as a status can carry it: valid UTF-8 (a lone surrogate escaped), cut to size."""
    if message.isascii() and len(message) <= MAX_STATUS_MESSAGE_BYTES:
        return message
    data = message.encode("utf-8", "backslashreplace")
    if len(data) <= MAX_STATUS_MESSAGE_BYTES:
        return data.decode("utf-8")
    kept = data[: MAX_STATUS_MESSAGE_BYTES - 48].decode("utf-8", "ignore")
    return f"{kept}... ({len(data) - len(kept.encode())} more bytes cut)"


def status_for(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a server answers with for an exception."""
    if isinstance(error, MotionError):
        return error.code, wire_message(error.message)
    if isinstance(error, NotImplementedError):  # the generated servicer's default for an RPC
        return grpc.StatusCode.UNIMPLEMENTED, "this server does not implement that method yet"
    return grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}"


def error_info(error: BaseException) -> tuple[str, dict[str, str]]:
    """The ErrorInfo reason and metadata a server sends for an exception (beside `status_for`)."""
    if isinstance(error, OpError):
        return error.reason, {ERROR_TYPE_INFO_KEY: error.error_type}
    if isinstance(error, MotionError):
        return error.reason, {}
    if isinstance(error, NotImplementedError):
        return Reason.UNIMPLEMENTED, {}
    return Reason.INTERNAL, {}
