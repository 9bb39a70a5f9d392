package motion_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/motion-grpc/motion-grpc/clients/go/motion"
	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

func TestRunStreamOfAPlainServeOpIsOneItemThenTheOutcome(t *testing.T) {
	client, ctx := dial(t)
	counter := freshCounter(t, client)
	stream, err := counter.RunStream(ctx, "add", map[string]any{"n": 5})
	ok(t, err)
	defer stream.Close()
	var items []any
	for item, err := range stream.Items() {
		ok(t, err)
		items = append(items, item)
	}
	equal(t, items, []any{5.0})
	equal(t, len(stream.Outcome().UpdateIDs), 1)
	_, err = stream.Recv()
	equal(t, err, io.EOF)
}

func TestRunStreamCancelledByItsContext(t *testing.T) {
	client, ctx := dial(t)
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	stream, err := freshCounter(t, client).RunStream(ctx, "add", nil)
	if err == nil {
		_, err = stream.Recv()
	}
	equal(t, motion.CodeOf(err), codes.Canceled)
}

// nextEvent reads the watch up to its next event, skipping heartbeats.
func nextEvent(t *testing.T, watch *motion.Watch) *motionpb.UpdateEvent {
	t.Helper()
	for {
		message, err := watch.Recv()
		ok(t, err)
		if !message.Heartbeat() {
			return message.Event
		}
	}
}

func TestWatchOpenedBeforeARunSeesItsUpdateAndResumes(t *testing.T) {
	client, ctx := dial(t)
	counter := freshCounter(t, client)
	watch, err := counter.Watch(ctx, motion.WatchOptions{CreateIfMissing: true})
	ok(t, err)
	defer watch.Close()
	outcome, err := counter.RunOutcome(ctx, "add", map[string]any{"n": 2})
	ok(t, err)
	var statuses []motionpb.UpdateStatus
	var ids []string
	for len(statuses) == 0 || statuses[len(statuses)-1] != motionpb.UpdateStatus_UPDATE_STATUS_APPLIED {
		event := nextEvent(t, watch)
		equal(t, event.GetUpdateId(), outcome.UpdateIDs[0])
		statuses, ids = append(statuses, event.GetStatus()), append(ids, event.GetEventId())
	}
	equal(t, statuses[0], motionpb.UpdateStatus_UPDATE_STATUS_QUEUED)
	equal(t, watch.LastEventID(), ids[len(ids)-1])

	resumed, err := counter.Watch(ctx, motion.WatchOptions{After: ids[0]})
	ok(t, err)
	defer resumed.Close()
	for _, id := range ids[1:] {
		equal(t, nextEvent(t, resumed).GetEventId(), id)
	}
}

func TestWatchOfAMissingInstanceIsNotFound(t *testing.T) {
	client, ctx := dial(t)
	_, err := freshCounter(t, client).Watch(ctx, motion.WatchOptions{})
	equal(t, motion.CodeOf(err), codes.NotFound)
}

func TestListInstancesPagesThroughEveryInstance(t *testing.T) {
	client, ctx := dial(t)
	want := map[string]bool{}
	for range 3 {
		counter := freshCounter(t, client)
		_, err := counter.Run(ctx, "add", nil)
		ok(t, err)
		want[counter.ID()] = true
	}
	seen := map[string]bool{}
	for id, err := range client.ListInstances(ctx, "Counter", 2) {
		ok(t, err)
		if seen[id] {
			t.Fatalf("%s listed twice", id)
		}
		seen[id] = true
	}
	for id := range want {
		if !seen[id] {
			t.Fatalf("%s not listed", id)
		}
	}
	for _, err := range client.ListInstances(ctx, "Nope", 0) {
		equal(t, motion.CodeOf(err), codes.NotFound)
	}
}

func TestDeleteInstance(t *testing.T) {
	client, ctx := dial(t)
	counter := freshCounter(t, client)
	_, err := counter.Run(ctx, "add", nil)
	ok(t, err)
	deleted, err := counter.Delete(ctx)
	ok(t, err)
	equal(t, deleted, true)
	deleted, err = counter.Delete(ctx)
	ok(t, err)
	equal(t, deleted, false)
}

func TestStructPropsTravelAsJSONObjects(t *testing.T) {
	client, ctx := dial(t)
	type addProps struct {
		N int `json:"n"`
	}
	result, err := freshCounter(t, client).Run(ctx, "add", addProps{N: 4})
	ok(t, err)
	equal(t, result, any(4.0))
}

func TestAnExpiredDeadlineIsDeadlineExceeded(t *testing.T) {
	client, ctx := dial(t)
	ctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	_, err := freshCounter(t, client).Flush(ctx, "")
	equal(t, motion.CodeOf(err), codes.DeadlineExceeded)
}

func TestValuesJSONCannotCarryAreRefusedBeforeSending(t *testing.T) {
	client, err := motion.Dial("127.0.0.1:1") // never contacted
	ok(t, err)
	defer client.Close()
	counter := client.Instance("Counter", "x")
	cases := map[string]struct {
		props any
		names string
	}{
		"channel":           {map[string]any{"n": make(chan int)}, "props[n]"},
		"func":              {map[string]any{"f": func() {}}, "props[f]"},
		"NaN":               {map[string]any{"xs": []any{1.0, math.NaN()}}, "props[xs][1]"},
		"infinity":          {map[string]float64{"x": math.Inf(1)}, "props[x]"},
		"complex":           {map[string]any{"z": 1i}, "props[z]"},
		"channel in struct": {struct{ C chan int }{make(chan int)}, "chan int"},
		"not an object":     {[]int{1}, "not a JSON object"},
		"invalid UTF-8":     {map[string]any{"s": "a\xffb"}, "props[s]"},
		"invalid UTF-8 key": {map[string]any{"k\xff": 1}, "not valid UTF-8"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := counter.Run(context.Background(), "add", tc.props)
			var e *motion.Error
			if !errors.As(err, &e) || e.Code != codes.InvalidArgument || !strings.Contains(e.Message, tc.names) {
				t.Fatalf("got %v, want InvalidArgument naming %q", err, tc.names)
			}
			// Props get the reason a server gives them, as the Python client's do.
			equal(t, [2]string{e.Reason, e.Domain}, [2]string{"INVALID_PROPS", "motion-grpc"})
			_, err = counter.RunStream(context.Background(), "add", tc.props)
			equal(t, motion.ReasonOf(err), "INVALID_PROPS")
		})
	}
	// Anything else: INVALID_ARGUMENT.
	_, err = counter.WriteState(context.Background(), map[string]any{"x": math.NaN()})
	equal(t, motion.CodeOf(err), codes.InvalidArgument)
	equal(t, motion.ReasonOf(err), "INVALID_ARGUMENT")
	_, err = counter.WriteState(context.Background(), []int{1})
	equal(t, motion.ReasonOf(err), "INVALID_ARGUMENT")
	_, err = counter.Run(context.Background(), "add", nil, motion.InitStateParams(map[string]any{"x": math.Inf(-1)}))
	equal(t, motion.ReasonOf(err), "INVALID_ARGUMENT")
	_, err = motion.ToValue("value", make(chan int))
	equal(t, motion.ReasonOf(err), "INVALID_ARGUMENT")
	// The status of the error carries the reason too, as a server's does.
	details := status.Convert(err).Details()
	if len(details) != 1 || details[0].(*errdetails.ErrorInfo).GetReason() != "INVALID_ARGUMENT" {
		t.Fatalf("got details %v, want one ErrorInfo with reason INVALID_ARGUMENT", details)
	}
}

func TestRunWithFlushUpdateReportsAFailedUpdate(t *testing.T) {
	client, ctx := dial(t)
	b := make([]byte, 8)
	rand.Read(b)
	instance := client.Instance("Conformance", "go-"+hex.EncodeToString(b))
	result, err := instance.Run(ctx, "update_fails", nil, motion.FlushUpdate())
	equal(t, result, any("accepted"))
	var e *motion.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want a *motion.Error", err)
	}
	equal(t, [3]string{e.Code.String(), e.Reason, e.ErrorType}, [3]string{"Unknown", "OP_FAILED", "KeyError"})
	if !strings.HasPrefix(e.Message, "update op update_fails of flow update_fails failed: KeyError: ") {
		t.Fatalf("got message %q", e.Message)
	}
	outcome, err := instance.RunOutcome(ctx, "update_fails", nil, motion.FlushUpdate())
	ok(t, err)
	equal(t, outcome.UpdateOutcomes[0].GetStatus(), motionpb.UpdateStatus_UPDATE_STATUS_FAILED)
	result, err = instance.Run(ctx, "update_fails", nil) // nothing awaited, nothing to report
	ok(t, err)
	equal(t, result, any("accepted"))
}

func TestARepeatedRequestIDIsDeduplicated(t *testing.T) {
	client, ctx := dial(t)
	counter := freshCounter(t, client)
	first, err := counter.RunOutcome(ctx, "add", nil, motion.RequestID("go-dedup-"+counter.ID()))
	ok(t, err)
	equal(t, first.Deduplicated, false)
	again, err := counter.RunOutcome(ctx, "add", nil, motion.RequestID("go-dedup-"+counter.ID()))
	ok(t, err)
	equal(t, again.Deduplicated, true)
	equal(t, again.UpdateIDs, first.UpdateIDs)

	streamed := func(id string) *motion.RunOutcome {
		stream, err := counter.RunStream(ctx, "add", nil, motion.RequestID(id))
		ok(t, err)
		defer stream.Close()
		for _, err := range stream.Items() {
			ok(t, err)
		}
		return stream.Outcome()
	}
	equal(t, streamed("go-dedup-stream-"+counter.ID()).Deduplicated, false)
	equal(t, streamed("go-dedup-stream-"+counter.ID()).Deduplicated, true)
}
