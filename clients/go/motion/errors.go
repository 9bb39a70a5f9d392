package motion

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ErrorTypeMetadataKey is the trailing metadata key naming the exception type
// of a user op that raised.
const ErrorTypeMetadataKey = "motion-error-type"

// Error is a failed call. status.Code(err) and status.FromError(err) work on it.
type Error struct {
	// Code is the gRPC status code: NotFound for an unknown component or
	// flow, InvalidArgument for malformed ids or props, Unknown for a user op
	// that raised, Unavailable when the store is down...
	Code codes.Code
	// Message is the status message.
	Message string
	// ErrorType is the user op's exception type (e.g. "TypeError"), if any.
	ErrorType string
}

func (e *Error) Error() string {
	if e.ErrorType != "" {
		return "motion: " + e.Code.String() + ": " + e.ErrorType + ": " + e.Message
	}
	return "motion: " + e.Code.String() + ": " + e.Message
}

// GRPCStatus lets status.Code and status.FromError see the code.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// CodeOf is the gRPC status code of err (codes.OK for nil, codes.Unknown for
// errors that carry none).
func CodeOf(err error) codes.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return status.Code(err)
}

func newError(err error, trailer metadata.MD) *Error {
	s := status.Convert(err)
	e := &Error{Code: s.Code(), Message: s.Message()}
	if values := trailer.Get(ErrorTypeMetadataKey); len(values) > 0 {
		e.ErrorType = values[0]
	}
	return e
}
