// Package motion is a thin Go client for motion-grpc servers (motion.v1).
//
// Props, results and state travel as google.protobuf.Value: they are passed
// and returned as the Go values that structpb understands (nil, bool,
// numbers, string, []any, map[string]any). Numbers come back as float64.
//
//	client, err := motion.Dial("localhost:50051")
//	counter := client.Instance("Counter", "user42")
//	result, err := counter.Run(ctx, "add", map[string]any{"n": 3})
package motion

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

// Client is a connection to a motion-grpc server. It is safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn
	stub motionpb.MotionServiceClient
}

// Dial connects to target (e.g. "localhost:50051"). The connection is
// insecure unless opts carry other transport credentials; it is made lazily,
// on the first call.
func Dial(target string, opts ...grpc.DialOption) (*Client, error) {
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, stub: motionpb.NewMotionServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Stub is the generated client, for the RPCs this package does not wrap.
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

// toStruct encodes props, patches and init params; nil is an empty Struct.
func toStruct(m map[string]any) (*structpb.Struct, error) {
	if m == nil {
		return &structpb.Struct{}, nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, &Error{Code: codes.InvalidArgument, Message: "motion: " + err.Error()}
	}
	return s, nil
}
