package motion

import (
	"context"
	"iter"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

// WatchOptions selects what a watch receives.
type WatchOptions struct {
	// After resumes after this event id (a Watch's LastEventID); "" starts
	// from now on, "0-0" from the oldest retained event.
	After string
	// Flows keeps the events of these flows only; empty means all flows.
	Flows []string
	// IncludeState sends the committed state with APPLIED events.
	IncludeState bool
	// CreateIfMissing creates the instance rather than failing with NotFound.
	CreateIfMissing bool
}

// WatchMessage is an update event, or a heartbeat (Event nil) saying that
// every event up to LatestEventID has been received.
type WatchMessage struct {
	Event         *motionpb.UpdateEvent
	LatestEventID string
}

// Heartbeat is true for a Progress message (no event).
func (m *WatchMessage) Heartbeat() bool { return m.Event == nil }

// Watch is a WatchUpdates call in progress. Close it (or cancel its
// context) to end it.
type Watch struct {
	rpc         grpc.ServerStreamingClient[motionpb.WatchUpdatesResponse]
	cancel      context.CancelFunc
	lastEventID string
}

// Watch subscribes to the instance's update events. It returns once the
// server has confirmed the subscription (its first Progress message), so the
// events of every run started after Watch returns are received: watch first,
// then run. After a failure, resume with WatchOptions{After: w.LastEventID()}:
// no event is skipped or repeated.
func (i *Instance) Watch(ctx context.Context, opts WatchOptions) (*Watch, error) {
	req := &motionpb.WatchUpdatesRequest{
		Instance:        i.ref,
		AfterEventId:    opts.After,
		Flows:           opts.Flows,
		IncludeState:    opts.IncludeState,
		CreateIfMissing: opts.CreateIfMissing,
	}
	ctx, cancel := context.WithCancel(ctx)
	rpc, err := i.client.stub.WatchUpdates(ctx, req)
	if err != nil {
		cancel()
		return nil, newError(err, nil)
	}
	w := &Watch{rpc: rpc, cancel: cancel, lastEventID: opts.After}
	first, err := w.Recv()
	if err == nil && !first.Heartbeat() {
		err = &Error{Code: codes.Internal, Message: "WatchUpdates did not open with a Progress message"}
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return w, nil
}

// Recv returns the next event or heartbeat; an *Error when the watch ended
// (Canceled after the context's cancel, ResourceExhausted for a watcher that
// fell too far behind: resume from LastEventID).
func (w *Watch) Recv() (*WatchMessage, error) {
	message, err := w.rpc.Recv()
	if err != nil {
		return nil, newError(err, w.rpc.Trailer())
	}
	if event := message.GetEvent(); event != nil {
		w.lastEventID = event.GetEventId()
		return &WatchMessage{Event: event, LatestEventID: event.GetEventId()}, nil
	}
	w.lastEventID = message.GetProgress().GetLatestEventId()
	return &WatchMessage{LatestEventID: w.lastEventID}, nil
}

// Events iterates over the events, skipping heartbeats; a failure ends the
// loop with its error.
//
//	for event, err := range watch.Events() { ... }
func (w *Watch) Events() iter.Seq2[*motionpb.UpdateEvent, error] {
	return func(yield func(*motionpb.UpdateEvent, error) bool) {
		for {
			message, err := w.Recv()
			if err != nil {
				yield(nil, err)
				return
			}
			if !message.Heartbeat() && !yield(message.Event, nil) {
				return
			}
		}
	}
}

// LastEventID is the gap-free resume point: the id of the last event (or
// heartbeat position) received.
func (w *Watch) LastEventID() string { return w.lastEventID }

// Close ends the watch.
func (w *Watch) Close() { w.cancel() }
