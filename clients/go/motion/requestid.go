package motion

import (
	"crypto/rand"
	"fmt"

	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

// RequestID sets the run's request id (default: a new random UUID per call).
// The server enqueues the updates of one request id once, and answers a
// repeat with the first call's update ids: reuse an id to retry a run of
// your own safely.
func RequestID(id string) RunOption {
	return func(r *motionpb.RunRequest) error {
		r.RequestId = id
		return nil
	}
}

// newRequestID is a random (version 4) UUID.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go >= 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
