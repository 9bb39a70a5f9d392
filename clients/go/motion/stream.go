package motion

import (
	"context"
	"errors"
	"io"
	"iter"

	"google.golang.org/grpc"

	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

// Stream is a RunStream call in progress: the items a generator serve op
// yields, as it yields them. Cancel the context given to RunStream to stop
// it, or Close it: before its end, the generator is closed on the server and
// nothing is enqueued.
type Stream struct {
	rpc     grpc.ServerStreamingClient[motionpb.RunStreamResponse]
	cancel  context.CancelFunc
	outcome *RunOutcome
	drained bool
}

// RunStream runs a flow whose serve op is a generator (a plain serve op
// answers with one item). Read the items with Recv or Items; Outcome holds the
// update ids once the stream has ended.
func (i *Instance) RunStream(ctx context.Context, flow string, props any, opts ...RunOption) (*Stream, error) {
	req, err := i.runRequest(flow, props, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	rpc, err := i.client.stub.RunStream(ctx, req)
	if err != nil {
		cancel()
		return nil, newError(err, nil)
	}
	return &Stream{rpc: rpc, cancel: cancel}, nil
}

// Recv returns the next item; io.EOF once the stream ended well, an *Error
// when it failed (a serve op that raised midway, a deadline...).
func (s *Stream) Recv() (any, error) {
	for s.outcome == nil {
		message, err := s.rpc.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the server always ends with a done message
			}
			return nil, newError(err, s.rpc.Trailer())
		}
		if message.GetDone() {
			s.outcome = &RunOutcome{
				Version:        message.GetVersion(),
				UpdateIDs:      message.GetUpdateIds(),
				UpdateOutcomes: message.GetUpdateOutcomes(),
				Deduplicated:   message.GetDeduplicated(),
			}
		}
		if message.GetItem() != nil {
			return message.GetItem().AsInterface(), nil
		}
	}
	return nil, s.drain()
}

// drain reads the end of the stream after its done message, which releases
// the call; io.EOF when it ended well.
func (s *Stream) drain() error {
	if s.drained {
		return io.EOF
	}
	s.drained = true
	if _, err := s.rpc.Recv(); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("motion: RunStream sent a message after its done message")
		}
		return newError(err, s.rpc.Trailer())
	}
	return io.EOF
}

// Items iterates over the items; a failure ends the loop with its error.
//
//	for item, err := range stream.Items() { ... }
func (s *Stream) Items() iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		for {
			item, err := s.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(item, nil) {
				return
			}
		}
	}
}

// Outcome is the final message's version, update ids, deduplicated flag and
// (with FlushUpdate) update outcomes; nil until Recv has returned io.EOF. A
// failed update is no error of the stream: its status is in UpdateOutcomes.
func (s *Stream) Outcome() *RunOutcome { return s.outcome }

// Close cancels the call if it is still running, and releases it.
func (s *Stream) Close() { s.cancel() }
