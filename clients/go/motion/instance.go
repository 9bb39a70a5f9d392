package motion

import (
	"context"

	"github.com/motion-grpc/motion-grpc/clients/go/motionpb"
)

// Instance is one instance of one component on the server.
type Instance struct {
	client *Client
	ref    *motionpb.InstanceRef
}

// RunOption sets an option of a Run or RunStream call.
type RunOption func(*motionpb.RunRequest) error

// IgnoreCache recomputes the serve result even when a cached one exists.
func IgnoreCache() RunOption {
	return func(r *motionpb.RunRequest) error { r.IgnoreCache = true; return nil }
}

// ForceRefresh waits for every pending update of the instance before serving.
func ForceRefresh() RunOption {
	return func(r *motionpb.RunRequest) error { r.ForceRefresh = true; return nil }
}

// FlushUpdate waits until this run's update ops have been applied.
func FlushUpdate() RunOption {
	return func(r *motionpb.RunRequest) error { r.FlushUpdate = true; return nil }
}

// InitStateParams are passed to init_state when this call creates the instance.
func InitStateParams(params any) RunOption {
	return func(r *motionpb.RunRequest) (err error) {
		r.InitStateParams, err = toObject("init state params", ReasonInvalidArgument, params)
		return err
	}
}

// RunOutcome is everything a Run answered.
type RunOutcome struct {
	Result         any
	Version        uint64
	Cached         bool
	UpdateIDs      []string
	UpdateOutcomes []*motionpb.UpdateOutcome
	// Deduplicated is true when the run's request id matched an earlier
	// call's (a retry): nothing was enqueued, and UpdateIDs and Version are
	// the first call's.
	Deduplicated bool
}

// FlushOutcome is the version after a flush and the awaited updates that
// failed or were discarded.
type FlushOutcome struct {
	Version uint64
	Failed  []*motionpb.UpdateOutcome
}

// Component is the instance's component name.
func (i *Instance) Component() string { return i.ref.GetComponent() }

// ID is the instance id.
func (i *Instance) ID() string { return i.ref.GetInstanceId() }

// Run runs a flow and returns the serve op's result. With FlushUpdate, when
// an update the run waited for ended FAILED (DISCARDED is no failure), it
// returns the result together with an *Error as a failed op gets: Code
// Unknown, Reason OP_FAILED, ErrorType (and Metadata["error_type"]) the update
// op's exception type, Message naming the op, flow and message (the Python
// client's UpdateFailedError). RunOutcome reports it in UpdateOutcomes
// instead, without failing.
func (i *Instance) Run(ctx context.Context, flow string, props any, opts ...RunOption) (any, error) {
	outcome, err := i.RunOutcome(ctx, flow, props, opts...)
	if err != nil {
		return nil, err
	}
	for _, update := range outcome.UpdateOutcomes {
		if update.GetStatus() == motionpb.UpdateStatus_UPDATE_STATUS_FAILED {
			return outcome.Result, updateFailed(update)
		}
	}
	return outcome.Result, nil
}

// RunOutcome runs a flow and returns the result with its version, cache flag,
// update ids and (with FlushUpdate) how each update ended; a failed update is
// no error here.
func (i *Instance) RunOutcome(ctx context.Context, flow string, props any, opts ...RunOption) (*RunOutcome, error) {
	req, err := i.runRequest(flow, props, opts)
	if err != nil {
		return nil, err
	}
	resp, err := call(ctx, i.client.stub.Run, req)
	if err != nil {
		return nil, err
	}
	return &RunOutcome{
		Result:         resp.GetResult().AsInterface(),
		Version:        resp.GetVersion(),
		Cached:         resp.GetCached(),
		UpdateIDs:      resp.GetUpdateIds(),
		UpdateOutcomes: resp.GetUpdateOutcomes(),
		Deduplicated:   resp.GetDeduplicated(),
	}, nil
}

// runRequest builds a RunRequest; props are a map or a struct (a JSON object).
func (i *Instance) runRequest(flow string, props any, opts []RunOption) (*motionpb.RunRequest, error) {
	encoded, err := toObject("props", ReasonInvalidProps, props)
	if err != nil {
		return nil, err
	}
	req := &motionpb.RunRequest{Instance: i.ref, Flow: flow, Props: encoded}
	for _, opt := range append([]RunOption{RequestID(newRequestID())}, opts...) {
		if err := opt(req); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// GetState returns the committed state: every key, or the keys asked for.
func (i *Instance) GetState(ctx context.Context, keys ...string) (map[string]any, error) {
	resp, err := call(ctx, i.client.stub.GetState, &motionpb.GetStateRequest{Instance: i.ref, Keys: keys})
	if err != nil {
		return nil, err
	}
	return resp.GetState().AsMap(), nil
}

// Version returns the committed state version (1 after init_state, plus one
// per applied update or state write).
func (i *Instance) Version(ctx context.Context) (uint64, error) {
	resp, err := call(ctx, i.client.stub.GetState, &motionpb.GetStateRequest{Instance: i.ref, VersionOnly: true})
	if err != nil {
		return 0, err
	}
	return resp.GetVersion(), nil
}

// Flush waits until every update enqueued so far by flow (or by every flow,
// when flow is "") has ended. It honours ctx's deadline.
func (i *Instance) Flush(ctx context.Context, flow string) (*FlushOutcome, error) {
	resp, err := call(ctx, i.client.stub.FlushUpdates, &motionpb.FlushUpdatesRequest{Instance: i.ref, Flow: flow})
	if err != nil {
		return nil, err
	}
	return &FlushOutcome{Version: resp.GetVersion(), Failed: resp.GetFailed()}, nil
}

// WriteState patches state keys, serialized with the update queue, and
// returns the new version.
func (i *Instance) WriteState(ctx context.Context, patch any) (uint64, error) {
	encoded, err := toObject("patch", ReasonInvalidArgument, patch)
	if err != nil {
		return 0, err
	}
	resp, err := call(ctx, i.client.stub.WriteState, &motionpb.WriteStateRequest{Instance: i.ref, Patch: encoded})
	if err != nil {
		return 0, err
	}
	return resp.GetVersion(), nil
}

// Delete removes the instance (state, queued updates, events, cached
// results); false when it did not exist.
func (i *Instance) Delete(ctx context.Context) (bool, error) {
	resp, err := call(ctx, i.client.stub.DeleteInstance, &motionpb.DeleteInstanceRequest{Instance: i.ref})
	if err != nil {
		return false, err
	}
	return resp.GetDeleted(), nil
}
