package motion

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

// ErrorTypeMetadataKey is the trailing metadata key naming the exception type
// of a user op that raised.
const ErrorTypeMetadataKey = "motion-error-type"

// ErrorDomain is the google.rpc.ErrorInfo domain of motion-grpc's reasons.
const ErrorDomain = "motion-grpc"

// Reasons of the errors the client makes itself, before or after a call (the
// server's reasons are listed in conformance/README.md).
const (
	// ReasonInvalidArgument: a value with no JSON form (NaN, a channel...)
	// in a patch, init state params or ToValue.
	ReasonInvalidArgument = "INVALID_ARGUMENT"
	// ReasonInvalidProps: props with no JSON form, or not a JSON object.
	ReasonInvalidProps = "INVALID_PROPS"
	// ReasonOpFailed: a user op raised; Run with FlushUpdate returns it for
	// an awaited update that failed.
	ReasonOpFailed = "OP_FAILED"
)

// Error is a failed call. status.Code(err) and status.FromError(err) work on
// it, and errors.As(err, &e) reaches it.
type Error struct {
	// Code is the gRPC status code: NotFound for an unknown component or
	// flow, InvalidArgument for malformed ids or props, Unknown for a user op
	// that raised, Unavailable when the store is down...
	Code codes.Code
	// Message is the status message: what went wrong and what to fix.
	Message string
	// Reason is the google.rpc.ErrorInfo reason of the status details
	// (FLOW_NOT_FOUND, QUEUE_FULL, OP_FAILED...), "" when the server sent none.
	Reason string
	// Domain is the ErrorInfo domain ("motion-grpc").
	Domain string
	// Metadata is the ErrorInfo metadata (e.g. "error_type" for OP_FAILED).
	Metadata map[string]string
	// ErrorType is the user op's exception type (e.g. "TypeError") from the
	// motion-error-type trailer, "" when no user op raised.
	ErrorType string

	status *status.Status
}

func (e *Error) Error() string {
	text := "motion: " + e.Code.String()
	if e.Reason != "" {
		text += " (" + e.Reason + ")"
	}
	if e.ErrorType != "" {
		text += ": " + e.ErrorType
	}
	return text + ": " + e.Message
}

// GRPCStatus is the status as received (with its details), so status.Code
// and status.FromError see it. An error the client made itself gets a status
// with its ErrorInfo, as a server's would have.
func (e *Error) GRPCStatus() *status.Status {
	if e.status != nil {
		return e.status
	}
	s := status.New(e.Code, e.Message)
	if e.Reason != "" {
		if detailed, err := s.WithDetails(&errdetails.ErrorInfo{Reason: e.Reason, Domain: e.Domain, Metadata: e.Metadata}); err == nil {
			return detailed
		}
	}
	return s
}

// updateFailed is the error of a Run whose awaited update failed: the
// OP_FAILED error a failed op gets, with the update op's exception type.
func updateFailed(update *motionpb.UpdateOutcome) *Error {
	errorType := update.GetErrorType()
	return &Error{
		Code: codes.Unknown,
		Message: fmt.Sprintf("update op %s of flow %s failed: %s: %s",
			update.GetOp(), update.GetFlow(), errorType, update.GetErrorMessage()),
		Reason:    ReasonOpFailed,
		Domain:    ErrorDomain,
		Metadata:  map[string]string{"error_type": errorType},
		ErrorType: errorType,
	}
}

// CodeOf is the gRPC status code of err (codes.OK for nil, codes.Unknown for
// errors that carry none).
func CodeOf(err error) codes.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return status.Code(err)
}

// ReasonOf is the ErrorInfo reason of err, "" when it carries none.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// newError reads a failed call's status, its ErrorInfo detail and trailer.
func newError(err error, trailer metadata.MD) *Error {
	s := status.Convert(err)
	e := &Error{Code: s.Code(), Message: s.Message(), status: s}
	for _, detail := range s.Details() {
		if info, ok := detail.(*errdetails.ErrorInfo); ok {
			e.Reason, e.Domain, e.Metadata = info.GetReason(), info.GetDomain(), info.GetMetadata()
			break
		}
	}
	if values := trailer.Get(ErrorTypeMetadataKey); len(values) > 0 {
		e.ErrorType = values[0]
	}
	return e
}
