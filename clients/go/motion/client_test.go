package motion_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/motion-grpc/motion-grpc/clients/go/motion"
	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

// dial connects to the server hosting examples/counter.py at MOTION_TARGET.
func dial(t *testing.T) (*motion.Client, context.Context) {
	t.Helper()
	target := os.Getenv("MOTION_TARGET")
	if target == "" {
		t.Skip("MOTION_TARGET is not set")
	}
	client, err := motion.Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return client, ctx
}

func freshCounter(t *testing.T, client *motion.Client) *motion.Instance {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	return client.Instance("Counter", "go-"+hex.EncodeToString(b))
}

// ok fails the test on err.
func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

func TestRunFlushGetState(t *testing.T) {
	client, ctx := dial(t)
	counter := freshCounter(t, client)

	result, err := counter.Run(ctx, "add", map[string]any{"n": 3})
	ok(t, err)
	equal(t, result, any(3.0))
	flushed, err := counter.Flush(ctx, "add")
	ok(t, err)
	equal(t, flushed.Version, uint64(2)) // 1 after init_state, +1 for the update
	equal(t, len(flushed.Failed), 0)
	state, err := counter.GetState(ctx)
	ok(t, err)
	equal(t, state, map[string]any{"count": 3.0, "history": []any{3.0}})
	version, err := counter.Version(ctx)
	ok(t, err)
	equal(t, version, uint64(2))

	outcome, err := counter.RunOutcome(ctx, "add", map[string]any{"n": 4}, motion.FlushUpdate())
	ok(t, err)
	equal(t, outcome.Result, any(7.0))
	equal(t, outcome.Version, uint64(3))
	equal(t, len(outcome.UpdateIDs), 1)
	equal(t, outcome.UpdateOutcomes[0].GetStatus(), motionpb.UpdateStatus_UPDATE_STATUS_APPLIED)
	state, err = counter.GetState(ctx, "count")
	ok(t, err)
	equal(t, state, map[string]any{"count": 7.0})
}

func TestWriteStateRoundTrip(t *testing.T) {
	client, ctx := dial(t)
	counter := freshCounter(t, client)
	_, err := counter.Run(ctx, "add", map[string]any{"n": 1})
	ok(t, err)
	_, err = counter.Flush(ctx, "")
	ok(t, err)

	history := []any{1.0, "two", nil, true, map[string]any{"nested": []any{2.5}}}
	version, err := counter.WriteState(ctx, map[string]any{"count": 40, "history": history})
	ok(t, err)
	equal(t, version, uint64(3))
	state, err := counter.GetState(ctx)
	ok(t, err)
	equal(t, state, map[string]any{"count": 40.0, "history": history})
	result, err := counter.Run(ctx, "add", map[string]any{"n": 2})
	ok(t, err)
	equal(t, result, any(42.0))
}

func TestDescribe(t *testing.T) {
	client, ctx := dial(t)
	components, err := client.Describe(ctx)
	ok(t, err)
	for _, c := range components {
		if c.GetName() == "Counter" {
			equal(t, c.GetFlows()[0].GetKey(), "add")
			return
		}
	}
	t.Fatal("Counter is not described")
}

func TestErrors(t *testing.T) {
	client, ctx := dial(t)
	cases := []struct {
		name      string
		instance  *motion.Instance
		flow      string
		props     map[string]any
		code      codes.Code
		errorType string
	}{
		{"unknown flow", freshCounter(t, client), "nope", nil, codes.NotFound, ""},
		{"unknown component", client.Instance("Nope", "x"), "add", nil, codes.NotFound, ""},
		{"empty instance id", client.Instance("Counter", ""), "add", nil, codes.InvalidArgument, ""},
		{"serve op raised", freshCounter(t, client), "add", map[string]any{"n": "x"}, codes.Unknown, "TypeError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.instance.Run(ctx, tc.flow, tc.props)
			var e *motion.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want a *motion.Error", err)
			}
			equal(t, e.Code, tc.code)
			equal(t, status.Code(err), tc.code)
			equal(t, e.ErrorType, tc.errorType)
		})
	}
}
