package motion_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/motion-grpc/motion-grpc/clients/go/motion"
	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

func shortContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestAPIKeyIsSentAsBearer(t *testing.T) {
	server := &recordingServer{}
	client, err := motion.Dial(serve(t, server), motion.WithAPIKey("s3cret"))
	ok(t, err)
	defer client.Close()
	_, err = client.Describe(shortContext(t))
	ok(t, err)
	md, _ := server.recorded()
	equal(t, md[0].Get("authorization"), []string{"Bearer s3cret"})
}

func TestTLSAndMutualTLS(t *testing.T) {
	p := newPKI(t)
	tlsTarget := serve(t, &recordingServer{}, p.serverTLS(t, false))
	mtlsTarget := serve(t, &recordingServer{}, p.serverTLS(t, true))
	cases := []struct {
		name   string
		target string
		opts   []motion.Option
		code   codes.Code
	}{
		{"tls", tlsTarget, []motion.Option{motion.WithTLS(p.caFile)}, codes.OK},
		{"tls, unknown CA", tlsTarget, []motion.Option{motion.WithTLS("")}, codes.Unavailable},
		{"plaintext to tls", tlsTarget, nil, codes.Unavailable},
		{"mtls", mtlsTarget, []motion.Option{motion.WithTLS(p.caFile), motion.WithClientCertificate(p.clientCert, p.clientKey)}, codes.OK},
		{"mtls without a client certificate", mtlsTarget, []motion.Option{motion.WithTLS(p.caFile)}, codes.Unavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, err := motion.Dial(tc.target, append(tc.opts, motion.WithServiceConfig(""))...)
			ok(t, err)
			defer client.Close()
			_, err = client.Describe(shortContext(t))
			equal(t, motion.CodeOf(err), tc.code)
		})
	}
}

func TestRunRetriesUnavailableWithTheSameRequestID(t *testing.T) {
	server := &recordingServer{failFirst: 2, failWith: status.Error(codes.Unavailable, "store down")}
	client, err := motion.Dial(serve(t, server))
	ok(t, err)
	defer client.Close()
	outcome, err := client.Instance("Counter", "x").RunOutcome(shortContext(t), "add", nil)
	ok(t, err)
	equal(t, outcome.Version, uint64(3))
	_, runs := server.recorded()
	equal(t, len(runs), 3)
	id := runs[0].GetRequestId()
	if len(id) != 36 || runs[1].GetRequestId() != id || runs[2].GetRequestId() != id {
		t.Fatalf("request ids %q %q %q: want one UUID on every attempt", id, runs[1].GetRequestId(), runs[2].GetRequestId())
	}
}

func TestEveryRunHasItsOwnRequestIDUnlessGivenOne(t *testing.T) {
	server := &recordingServer{}
	client, err := motion.Dial(serve(t, server))
	ok(t, err)
	defer client.Close()
	counter := client.Instance("Counter", "x")
	for _, opts := range [][]motion.RunOption{nil, nil, {motion.RequestID("mine-1")}} {
		_, err = counter.Run(shortContext(t), "add", nil, opts...)
		ok(t, err)
	}
	_, runs := server.recorded()
	if runs[0].GetRequestId() == runs[1].GetRequestId() {
		t.Fatalf("two runs share the request id %q", runs[0].GetRequestId())
	}
	equal(t, runs[2].GetRequestId(), "mine-1")
}

func TestRetriesCanBeTurnedOff(t *testing.T) {
	server := &recordingServer{failFirst: 1, failWith: status.Error(codes.Unavailable, "store down")}
	client, err := motion.Dial(serve(t, server), motion.WithServiceConfig(""))
	ok(t, err)
	defer client.Close()
	_, err = client.Instance("Counter", "x").Run(shortContext(t), "add", nil)
	equal(t, motion.CodeOf(err), codes.Unavailable)
}

func TestDefaultServiceConfigIsThePublishedOne(t *testing.T) {
	published, err := os.ReadFile("../../../proto/motion/v1/service_config.json")
	ok(t, err)
	if motion.DefaultServiceConfig != string(published) {
		t.Fatal("motion/service_config.json differs from proto/motion/v1/service_config.json: run clients/go/generate.sh")
	}
}

func TestErrorExposesCodeReasonAndErrorType(t *testing.T) {
	info := &errdetails.ErrorInfo{Reason: "OP_FAILED", Domain: "motion-grpc", Metadata: map[string]string{"error_type": "TypeError"}}
	failed, err := status.New(codes.Unknown, "TypeError: bad operand").WithDetails(info)
	ok(t, err)
	server := &recordingServer{
		failFirst: 1,
		failWith:  failed.Err(),
		trailer:   metadata.Pairs(motion.ErrorTypeMetadataKey, "TypeError"),
	}
	client, err := motion.Dial(serve(t, server))
	ok(t, err)
	defer client.Close()
	_, err = client.Instance("Counter", "x").Run(shortContext(t), "add", nil)
	var e *motion.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want a *motion.Error", err)
	}
	equal(t, [4]string{e.Code.String(), e.Reason, e.Domain, e.ErrorType}, [4]string{"Unknown", "OP_FAILED", "motion-grpc", "TypeError"})
	equal(t, e.Metadata["error_type"], "TypeError")
	equal(t, motion.ReasonOf(err), "OP_FAILED")
	equal(t, len(status.Convert(err).Details()), 1) // the status keeps its details
}

// updateOutcome is how an awaited update of the flow "add" ended.
func updateOutcome(s motionpb.UpdateStatus, errorType, message string) *motionpb.UpdateOutcome {
	return &motionpb.UpdateOutcome{UpdateId: "1-0", Flow: "add", Op: "add", Status: s, ErrorType: errorType, ErrorMessage: message}
}

func TestRunWithFlushUpdateReturnsAFailedUpdateAsAnOpFailedError(t *testing.T) {
	server := &recordingServer{answer: &motionpb.RunResponse{
		Result: structpb.NewStringValue("served"),
		UpdateOutcomes: []*motionpb.UpdateOutcome{
			updateOutcome(motionpb.UpdateStatus_UPDATE_STATUS_APPLIED, "", ""),
			updateOutcome(motionpb.UpdateStatus_UPDATE_STATUS_FAILED, "KeyError", "'missing'"),
		},
	}}
	client, err := motion.Dial(serve(t, server))
	ok(t, err)
	defer client.Close()
	counter := client.Instance("Counter", "x")
	result, err := counter.Run(shortContext(t), "add", nil, motion.FlushUpdate())
	equal(t, result, any("served")) // the result comes with the error
	var e *motion.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want a *motion.Error", err)
	}
	equal(t, [4]string{e.Code.String(), e.Reason, e.Domain, e.ErrorType}, [4]string{"Unknown", "OP_FAILED", "motion-grpc", "KeyError"})
	equal(t, e.Metadata, map[string]string{"error_type": "KeyError"})
	equal(t, e.Message, "update op add of flow add failed: KeyError: 'missing'")
	equal(t, status.Code(err), codes.Unknown)
	equal(t, motion.ReasonOf(err), "OP_FAILED")

	// The variants that return the whole outcome report it there, without failing.
	outcome, err := counter.RunOutcome(shortContext(t), "add", nil, motion.FlushUpdate())
	ok(t, err)
	equal(t, outcome.UpdateOutcomes[1].GetStatus(), motionpb.UpdateStatus_UPDATE_STATUS_FAILED)
}

func TestRunWithFlushUpdateOfADiscardedUpdateIsNoError(t *testing.T) {
	server := &recordingServer{answer: &motionpb.RunResponse{
		Result:         structpb.NewStringValue("served"),
		UpdateOutcomes: []*motionpb.UpdateOutcome{updateOutcome(motionpb.UpdateStatus_UPDATE_STATUS_DISCARDED, "superseded", "")},
	}}
	client, err := motion.Dial(serve(t, server))
	ok(t, err)
	defer client.Close()
	result, err := client.Instance("Counter", "x").Run(shortContext(t), "add", nil, motion.FlushUpdate())
	ok(t, err)
	equal(t, result, any("served"))
}

func TestRunOutcomeHasDeduplicated(t *testing.T) {
	server := &recordingServer{answer: &motionpb.RunResponse{Deduplicated: true}}
	client, err := motion.Dial(serve(t, server))
	ok(t, err)
	defer client.Close()
	outcome, err := client.Instance("Counter", "x").RunOutcome(shortContext(t), "add", nil)
	ok(t, err)
	equal(t, outcome.Deduplicated, true)
}
