// Package motion is the Go client of motion-grpc servers (motion.v1).
//
// Props, results and state travel as google.protobuf.Value: they are passed
// as anything encoding/json can marshal (maps, slices, structs with json
// tags, numbers...) and returned as plain JSON values (nil, bool, float64,
// string, []any, map[string]any). Values JSON cannot carry (channels, funcs,
// NaN) are refused before sending, with an InvalidArgument *Error (reason
// INVALID_PROPS for props, INVALID_ARGUMENT otherwise).
//
//	client, err := motion.Dial("localhost:50051")
//	counter := client.Instance("Counter", "user42")
//	result, err := counter.Run(ctx, "add", map[string]any{"n": 3})
//
// Deadlines and cancellation come from each call's context. Every Run carries
// a request id (a random UUID unless RequestID sets one), kept across the
// retries of the default service config, so the server enqueues a retried
// run's updates once.
package motion

import (
	"context"
	_ "embed"
	"iter"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

// DefaultServiceConfig is the gRPC service config every client uses unless
// told otherwise (proto/motion/v1/service_config.json): UNAVAILABLE is
// retried (4 attempts, exponential backoff) for Run (safe: each run carries a
// request id), GetState, FlushUpdates, DescribeComponents and ListInstances.
//
//go:embed service_config.json
var DefaultServiceConfig string

// Client is a connection to a motion-grpc server. It is safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn
	stub motionpb.MotionServiceClient
}

// Dial connects to target (e.g. "localhost:50051"); the connection is made
// lazily, on the first call. Without WithTLS (or WithClientCertificate,
// WithTLSConfig) it is plaintext.
func Dial(target string, opts ...Option) (*Client, error) {
	s := &settings{serviceConfig: DefaultServiceConfig}
	for _, opt := range opts {
		if err := opt(s); err != nil {
			return nil, err
		}
	}
	conn, err := grpc.NewClient(target, s.grpcOptions()...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, stub: motionpb.NewMotionServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Stub is the generated client, for what this package does not wrap.
func (c *Client) Stub() motionpb.MotionServiceClient { return c.stub }

// Instance is a handle on one instance of one component; the server creates
// the instance on first use.
func (c *Client) Instance(component, instanceID string) *Instance {
	ref := &motionpb.InstanceRef{Component: component, InstanceId: instanceID}
	return &Instance{client: c, ref: ref}
}

// Describe lists the hosted components with their flows and update ops.
func (c *Client) Describe(ctx context.Context) ([]*motionpb.ComponentInfo, error) {
	resp, err := call(ctx, c.stub.DescribeComponents, &motionpb.DescribeComponentsRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetComponents(), nil
}

// ListInstances iterates over the ids of component's instances, fetching
// pages of pageSize ids (0: the server's default) as the loop goes on. A
// failed page ends the loop with its error:
//
//	for id, err := range client.ListInstances(ctx, "Counter", 0) { ... }
func (c *Client) ListInstances(ctx context.Context, component string, pageSize uint32) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		req := &motionpb.ListInstancesRequest{Component: component, PageSize: pageSize}
		for {
			page, err := call(ctx, c.stub.ListInstances, req)
			if err != nil {
				yield("", err)
				return
			}
			for _, id := range page.GetInstanceIds() {
				if !yield(id, nil) {
					return
				}
			}
			if page.GetNextPageToken() == "" {
				return
			}
			req.PageToken = page.GetNextPageToken()
		}
	}
}

// call runs one unary RPC and turns its failure into an *Error, reading the
// trailing metadata for the user op's exception type.
func call[Req, Resp any](
	ctx context.Context,
	rpc func(context.Context, Req, ...grpc.CallOption) (Resp, error),
	req Req,
) (Resp, error) {
	var trailer metadata.MD
	resp, err := rpc(ctx, req, grpc.Trailer(&trailer))
	if err != nil {
		return resp, newError(err, trailer)
	}
	return resp, nil
}
