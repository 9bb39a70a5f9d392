"""Exceptions raised by motion-grpc, and their mapping to gRPC status codes.

    MotionError                        root of every motion-grpc error
    ├── InvalidArgumentError           INVALID_ARGUMENT: malformed ids, props, options
    ├── NotFoundError                  NOT_FOUND: unknown component, flow or instance
    ├── OpError                        UNKNOWN: a user op raised (carries its type name)
    ├── FailedPreconditionError        FAILED_PRECONDITION: e.g. a load_state hook failed
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


class NotFoundError(MotionError, LookupError):
    code = grpc.StatusCode.NOT_FOUND


class OpError(MotionError):
    """A user op (serve, update, init_state) raised; `error_type` names the exception."""

    code = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, error_type: str = "Exception") -> None:
        super().__init__(message)
        self.error_type = error_type


class FailedPreconditionError(MotionError):
    code = grpc.StatusCode.FAILED_PRECONDITION


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
