package motion

// The conformance runner: every scenario of conformance/scenarios.json (its
// format is in conformance/README.md), replayed against a server hosting
// conformance/app.py (MOTION_CONFORMANCE_TARGET, else MOTION_TARGET) through
// this package's connection (service config, errors) and the generated
// message types, called by method name.

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

const scenarioFile = "../../../conformance/scenarios.json"

type scenarioStep struct {
	RPC      string            `json:"rpc"`
	Request  any               `json:"request"`
	Expect   map[string]any    `json:"expect"`
	Save     map[string]string `json:"save"`
	Take     int               `json:"take"`
	Paginate bool              `json:"paginate"`
}

type scenario struct {
	Name  string         `json:"name"`
	Steps []scenarioStep `json:"steps"`
}

func TestConformanceScenarios(t *testing.T) {
	target := cmp.Or(os.Getenv("MOTION_CONFORMANCE_TARGET"), os.Getenv("MOTION_TARGET"))
	if target == "" {
		t.Skip("MOTION_TARGET is not set")
	}
	raw, err := os.ReadFile(scenarioFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Format    int        `json:"format"`
		Scenarios []scenario `json:"scenarios"`
	}
	if err := json.Unmarshal(raw, &file); err != nil || file.Format != 1 {
		t.Fatalf("%s: format %d (want 1), %v", scenarioFile, file.Format, err)
	}
	client, err := Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, sc := range file.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			suffix := make([]byte, 8)
			_, _ = rand.Read(suffix)
			vars := map[string]any{"instance": "conf-go-" + hex.EncodeToString(suffix), "request_id": newRequestID()}
			for i, step := range sc.Steps {
				if err := runStep(client.conn, step, vars); err != nil {
					t.Fatalf("step %d (%s): %v", i+1, step.RPC, err)
				}
			}
		})
	}
}

// runStep calls one RPC, compares its answer with the expectation and saves variables.
func runStep(conn *grpc.ClientConn, step scenarioStep, vars map[string]any) error {
	request, err := substitute(step.Request, vars)
	if err != nil {
		return err
	}
	expect, err := substitute(map[string]any(step.Expect), vars)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	answer, callErr := invoke(ctx, conn, step, request)
	if err := checkOutcome(expect.(map[string]any), answer, callErr); err != nil {
		return err
	}
	for name, path := range step.Save {
		value, ok := lookup(answer, path)
		if !ok {
			return fmt.Errorf("save %s: nothing at %s in %v", name, path, answer)
		}
		vars[name] = value
	}
	return nil
}

// invoke sends the request and renders the answer as proto JSON with defaults.
func invoke(ctx context.Context, conn *grpc.ClientConn, step scenarioStep, request any) (any, error) {
	method := motionpb.File_motion_v1_motion_proto.Services().ByName("MotionService").Methods().ByName(protoreflect.Name(step.RPC))
	if method == nil {
		return nil, fmt.Errorf("no RPC %s", step.RPC)
	}
	req, err := newMessage(method.Input().FullName())
	if err != nil {
		return nil, err
	}
	encoded, _ := json.Marshal(request)
	if err := protojson.Unmarshal(encoded, req); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if run, ok := req.(*motionpb.RunRequest); ok && run.GetRequestId() == "" {
		run.RequestId = newRequestID() // what this client does by default
	}
	name := "/motion.v1.MotionService/" + step.RPC
	switch {
	case method.IsStreamingServer():
		return invokeStream(ctx, conn, name, method, req, step.Take)
	case step.Paginate:
		return paginate(ctx, conn, name, req.(*motionpb.ListInstancesRequest))
	}
	resp, _ := newMessage(method.Output().FullName())
	var trailer metadata.MD
	if err := conn.Invoke(ctx, name, req, resp, grpc.Trailer(&trailer)); err != nil {
		return nil, newError(err, trailer)
	}
	return render(resp)
}

func newMessage(name protoreflect.FullName) (proto.Message, error) {
	kind, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return nil, err
	}
	return kind.New().Interface(), nil
}

// invokeStream reads a server stream to its end, or, with take, until that
// many messages carrying an event have come (heartbeats skipped).
func invokeStream(ctx context.Context, conn *grpc.ClientConn, name string, method protoreflect.MethodDescriptor, req proto.Message, take int) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, name)
	if err == nil {
		err = stream.SendMsg(req)
	}
	if err == nil {
		err = stream.CloseSend()
	}
	messages := []any{}
	for err == nil && (take == 0 || len(messages) < take) {
		resp, _ := newMessage(method.Output().FullName())
		if err = stream.RecvMsg(resp); err != nil {
			break
		}
		if watch, ok := resp.(*motionpb.WatchUpdatesResponse); ok && watch.GetEvent() == nil {
			continue
		}
		rendered, renderErr := render(resp)
		if renderErr != nil {
			return nil, renderErr
		}
		messages = append(messages, rendered)
	}
	answer := map[string]any{"messages": messages}
	if err != nil && err.Error() != "EOF" {
		return answer, newError(err, stream.Trailer())
	}
	return answer, nil
}

// paginate follows nextPageToken to the last page.
func paginate(ctx context.Context, conn *grpc.ClientConn, name string, req *motionpb.ListInstancesRequest) (any, error) {
	ids, pages := []any{}, 0
	for {
		resp := &motionpb.ListInstancesResponse{}
		var trailer metadata.MD
		if err := conn.Invoke(ctx, name, req, resp, grpc.Trailer(&trailer)); err != nil {
			return nil, newError(err, trailer)
		}
		pages++
		if req.GetPageSize() > 0 && len(resp.GetInstanceIds()) > int(req.GetPageSize()) {
			return nil, fmt.Errorf("page %d holds %d ids, more than pageSize %d", pages, len(resp.GetInstanceIds()), req.GetPageSize())
		}
		for _, id := range resp.GetInstanceIds() {
			ids = append(ids, id)
		}
		if resp.GetNextPageToken() == "" {
			return map[string]any{"instanceIds": ids, "pages": float64(pages)}, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func render(message proto.Message) (any, error) {
	encoded, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(message)
	if err != nil {
		return nil, err
	}
	var plain any
	return plain, json.Unmarshal(encoded, &plain)
}

// checkOutcome compares the code, reason, error metadata and answer with expect.
func checkOutcome(expect map[string]any, answer any, callErr error) error {
	wantCode, _ := expect["code"].(string)
	if wantCode == "" {
		wantCode = "OK"
	}
	gotCode, reason, domain, meta := "OK", "", "", map[string]string{}
	if callErr != nil {
		e, ok := callErr.(*Error)
		if !ok {
			return callErr
		}
		gotCode, reason, domain, meta = code.Code_name[int32(e.Code)], e.Reason, e.Domain, e.Metadata
	}
	if gotCode != wantCode {
		return fmt.Errorf("code %s, want %s (%v)", gotCode, wantCode, callErr)
	}
	if want, ok := expect["reason"]; ok && (reason != want || domain != "motion-grpc") {
		return fmt.Errorf("reason %q in domain %q, want %v in motion-grpc (%v)", reason, domain, want, callErr)
	}
	if want, ok := expect["errorMetadata"].(map[string]any); ok {
		for key, value := range want {
			if meta[key] != value {
				return fmt.Errorf("error metadata %s=%q, want %v", key, meta[key], value)
			}
		}
	}
	for _, key := range []string{"response", "messages"} {
		want, ok := expect[key]
		if !ok {
			continue
		}
		actual := answer
		if key == "messages" {
			actual, _ = lookup(answer, "messages")
		}
		if err := match(want, actual, key); err != nil {
			return err
		}
	}
	return nil
}
