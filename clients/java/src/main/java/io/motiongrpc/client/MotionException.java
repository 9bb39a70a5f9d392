package io.motiongrpc.client;

import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/** A failed call: its gRPC status code and message, and the user op's exception type if any. */
public final class MotionException extends RuntimeException {
  /** The trailing metadata key naming the exception type of a user op that raised. */
  public static final Metadata.Key<String> ERROR_TYPE_KEY =
      Metadata.Key.of("motion-error-type", Metadata.ASCII_STRING_MARSHALLER);

  private final Status.Code code;
  private final String details;
  private final String errorType;

  MotionException(StatusRuntimeException cause) {
    super(cause.getMessage(), cause);
    this.code = cause.getStatus().getCode();
    this.details = cause.getStatus().getDescription();
    Metadata trailers = cause.getTrailers();
    this.errorType = trailers == null ? null : trailers.get(ERROR_TYPE_KEY);
  }

  /** The gRPC status code, e.g. NOT_FOUND for an unknown component or flow. */
  public Status.Code code() {
    return code;
  }

  /** The status message. */
  public String details() {
    return details;
  }

  /** The user op's exception type (e.g. "TypeError"), or null. */
  public String errorType() {
    return errorType;
  }
}
