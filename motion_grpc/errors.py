"""Exceptions raised by motion-grpc, and their mapping to gRPC status codes.

    MotionError                        root of every motion-grpc error
    ├── InvalidArgumentError           INVALID_ARGUMENT: malformed ids, props, options
    │   └── ArgumentTypeError          ... of the wrong type (also a TypeError)
    ├── NotFoundError                  NOT_FOUND: unknown component, flow or instance
    │   ├── UnknownFlowError           ... a flow (also a KeyError)
    │   └── UnknownInstanceError       ... an instance named as Motion names it (also a ValueError)
    ├── OpError                        UNKNOWN: a user op raised (carries its type name)
    │   └── UpdateFailedError          ... an update op awaited in-process (also a RuntimeError)
    ├── FailedPreconditionError        FAILED_PRECONDITION: e.g. a load_state hook failed
    │   ├── UntrustedDataError         ... a value from Redis that could run code (an unsigned pickle)
    │   └── UpdatesDisabledError       ... an instance made with disable_update_task (also a RuntimeError)
    ├── OutOfRangeError                OUT_OF_RANGE: a resume point older than the history
    ├── ResourceExhaustedError         RESOURCE_EXHAUSTED: a queue or backlog over its bound
    ├── StoreUnavailableError          UNAVAILABLE: Redis cannot be reached (retry the call)
    ├── DeadlineExceededError          DEADLINE_EXCEEDED: the call's deadline passed
    ├── UnauthenticatedError           UNAUTHENTICATED
    ├── PermissionDeniedError          PERMISSION_DENIED
    ├── UnimplementedError             UNIMPLEMENTED
    └── InternalError                  INTERNAL: a bug or an unexpected failure

The server turns an exception into a status with `status_for`; the client
turns a status back into the same class with `error_for`. Both use the one
table below, so the two sides cannot drift apart.

The subclasses under a table class exist for in-process callers, who expect
the builtin types Motion raises (`except KeyError` around an unknown flow);
each inherits its parent's status code, so over gRPC nothing changes.
"""

from __future__ import annotations

import grpc

#: Trailing-metadata key naming the exception type of a failed user op.
ERROR_TYPE_METADATA_KEY = "motion-error-type"


class MotionError(Exception):
    """Root of every error motion-grpc raises."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(MotionError, ValueError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong type, such as a state patch that is not a dict."""


class NotFoundError(MotionError, LookupError):
    code = grpc.StatusCode.NOT_FOUND


class UnknownFlowError(NotFoundError, KeyError):
    """A flow the component does not define; a KeyError, as in Motion."""

    def __str__(self) -> str:
        return self.message  # KeyError's own __str__ would quote it


class UnknownInstanceError(NotFoundError, ValueError):
    """An instance named `Component__id` that does not exist; a ValueError, as in Motion."""


class OpError(MotionError):
    """A user op (serve, update, init_state) raised; `error_type` names the exception."""

    code = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, error_type: str = "Exception") -> None:
        super().__init__(message)
        self.error_type = error_type


class UpdateFailedError(OpError, RuntimeError):
    """An update op awaited by an in-process run (flush_update=True) failed; a RuntimeError,
    as Motion raises it."""


class FailedPreconditionError(MotionError):
    code = grpc.StatusCode.FAILED_PRECONDITION


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


class ResourceExhaustedError(MotionError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class StoreUnavailableError(MotionError, ConnectionError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceededError(MotionError, TimeoutError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class UnauthenticatedError(MotionError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(MotionError):
    code = grpc.StatusCode.PERMISSION_DENIED


class UnimplementedError(MotionError, NotImplementedError):
    code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(MotionError):
    code = grpc.StatusCode.INTERNAL


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


def error_for(code: grpc.StatusCode, message: str, error_type: str | None = None) -> MotionError:
    """Build the exception a client raises for a status received from a server."""
    cls = CLASS_BY_CODE.get(code, MotionError)
    if cls is OpError:
        return OpError(message, error_type or "Exception")
    error = cls(message)
    if cls is MotionError:
        error.code = code
    return error


def status_for(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a server answers with for an exception."""
    if isinstance(error, MotionError):
        return error.code, error.message
    if isinstance(error, NotImplementedError):  # the generated servicer's default for an RPC
        return grpc.StatusCode.UNIMPLEMENTED, "this server does not implement that method yet"
    return grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}"
