package io.motiongrpc.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import io.motiongrpc.v1.UpdateOutcome;
import java.util.Map;

/**
 * A failed call: its gRPC status code and message, the {@code google.rpc.ErrorInfo} reason the
 * server attached (FLOW_NOT_FOUND, QUEUE_FULL, OP_FAILED...), and the user op's exception type if
 * one raised. {@link Instance#run} with FLUSH_UPDATE throws one too (OP_FAILED) when an update it
 * waited for failed.
 */
public final class MotionException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The trailing metadata key naming the exception type of a user op that raised. */
  public static final Metadata.Key<String> ERROR_TYPE_KEY =
      Metadata.Key.of("motion-error-type", Metadata.ASCII_STRING_MARSHALLER);

  private final Status.Code code;
  private final String details;
  private final String errorType;
  private final ErrorInfo errorInfo;

  MotionException(StatusRuntimeException cause) {
    super(cause.getMessage(), cause);
    this.code = cause.getStatus().getCode();
    this.details = cause.getStatus().getDescription();
    Metadata trailers = cause.getTrailers();
    this.errorType = trailers == null ? null : trailers.get(ERROR_TYPE_KEY);
    this.errorInfo = errorInfo(cause);
  }

  /**
   * An update op the run waited for (FLUSH_UPDATE) failed: the OP_FAILED error a failed op gets
   * from the server, with the update op's exception type (what the Python client's
   * UpdateFailedError carries).
   */
  static MotionException updateFailed(UpdateOutcome update) {
    String message = "update op " + update.getOp() + " of flow " + update.getFlow() + " failed: "
        + update.getErrorType() + ": " + update.getErrorMessage();
    ErrorInfo info = ErrorInfo.newBuilder()
        .setReason("OP_FAILED")
        .setDomain("motion-grpc")
        .putMetadata("error_type", update.getErrorType())
        .build();
    Metadata trailers = new Metadata();
    trailers.put(ERROR_TYPE_KEY, update.getErrorType());
    return new MotionException(StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
        .setCode(Status.Code.UNKNOWN.value())
        .setMessage(message)
        .addDetails(Any.pack(info))
        .build(), trailers));
  }

  /** Wraps a failure of a call: a StatusRuntimeException as a MotionException, the rest as is. */
  static RuntimeException of(Throwable failure) {
    if (failure instanceof StatusRuntimeException e) return new MotionException(e);
    if (failure instanceof io.grpc.StatusException e) {
      return new MotionException(e.getStatus().asRuntimeException(e.getTrailers()));
    }
    return failure instanceof RuntimeException e ? e : new RuntimeException(failure);
  }

  private static ErrorInfo errorInfo(StatusRuntimeException cause) {
    com.google.rpc.Status status = StatusProto.fromThrowable(cause);
    if (status == null) return ErrorInfo.getDefaultInstance();
    for (Any detail : status.getDetailsList()) {
      if (detail.is(ErrorInfo.class)) {
        try {
          return detail.unpack(ErrorInfo.class);
        } catch (InvalidProtocolBufferException e) {
          break;
        }
      }
    }
    return ErrorInfo.getDefaultInstance();
  }

  /** The gRPC status code, e.g. NOT_FOUND for an unknown component or flow. */
  public Status.Code code() {
    return code;
  }

  /** The status message: what went wrong and what to fix. */
  public String details() {
    return details;
  }

  /** The ErrorInfo reason (e.g. "FLOW_NOT_FOUND"), or "" when the server sent none. */
  public String reason() {
    return errorInfo.getReason();
  }

  /** The ErrorInfo domain ("motion-grpc"), or "". */
  public String domain() {
    return errorInfo.getDomain();
  }

  /** The ErrorInfo metadata (e.g. "error_type" for OP_FAILED). */
  public Map<String, String> metadata() {
    return errorInfo.getMetadataMap();
  }

  /** The user op's exception type (e.g. "TypeError") from the motion-error-type trailer, or null. */
  public String errorType() {
    return errorType;
  }
}
