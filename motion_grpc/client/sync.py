"""The blocking Python client."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.client import _messages as m
from motion_grpc.client._streams import RunStream, Watch, watch_request
from motion_grpc.client._unflushed import UnflushedUpdates


class MotionClient:
    """A connection to a motion-grpc server.

    Args:
        target: "host:port" of the server.
        credentials: Channel credentials for TLS; plaintext when None.
        pickle: Send props and receive results as cloudpickle, for Python
            objects that are not JSON-like (the server needs --allow-pickle).
        options: Extra grpc channel options.
    """

    def __init__(
        self,
        target: str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        pickle: bool = False,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.target = target
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=list(options))
        else:
            self._channel = grpc.secure_channel(target, credentials, options=list(options))
        self.stub = motion_pb2_grpc.MotionServiceStub(self._channel)
        self.use_pickle = pickle

    def instance(
        self, component: str, instance_id: str, init_state_params: Mapping[str, Any] | None = None
    ) -> InstanceHandle:
        """A handle on one instance; nothing is sent until it is used."""
        return InstanceHandle(self, component, instance_id, init_state_params)

    @m.mapped
    def describe(self) -> list[pb.ComponentInfo]:
        """The components the server hosts."""
        return list(self.stub.DescribeComponents(pb.DescribeComponentsRequest()).components)

    def list_instances(self, component: str, page_size: int = 100) -> Iterator[str]:
        """Every instance id of a component, fetched page by page as the iteration goes."""
        token = ""
        while True:
            ids, token = self._list_page(component, page_size, token)
            yield from ids
            if not token:
                return

    @m.mapped
    def _list_page(self, component: str, page_size: int, token: str) -> tuple[list[str], str]:
        request = pb.ListInstancesRequest(component=component, page_size=page_size, page_token=token)
        response = self.stub.ListInstances(request)
        return list(response.instance_ids), response.next_page_token

    def wait_ready(self, timeout: float = 10.0) -> None:
        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> MotionClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class InstanceHandle:
    """One instance of one component on the server."""

    def __init__(
        self,
        client: MotionClient,
        component: str,
        instance_id: str,
        init_state_params: Mapping[str, Any] | None = None,
    ) -> None:
        self._client = client
        self._stub = client.stub
        self.component = component
        self.instance_id = instance_id
        self.ref = m.instance_ref(component, instance_id)
        self._init_state_params = init_state_params
        self._unflushed = UnflushedUpdates()

    def run(
        self,
        flow: str,
        props: Mapping[str, Any] | None = None,
        *,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """Run a flow and return the serve op's result."""
        outcome = self.run_outcome(
            flow,
            props,
            ignore_cache=ignore_cache,
            force_refresh=force_refresh,
            flush_update=flush_update,
            timeout=timeout,
        )
        return outcome.result

    @m.mapped
    def run_outcome(
        self,
        flow: str,
        props: Mapping[str, Any] | None = None,
        *,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
    ) -> m.RunOutcome:
        """Run a flow; the result with its version, cache flag and update ids."""
        request = m.run_request(
            self.ref,
            flow,
            props,
            ignore_cache=ignore_cache,
            force_refresh=force_refresh,
            flush_update=flush_update,
            init_state_params=self._init_state_params,
            use_pickle=self._client.use_pickle,
        )
        outcome = m.run_outcome(self._stub.Run(request, timeout=timeout), self._client.use_pickle)
        if not flush_update:  # a flushed run reports its own outcomes
            self._unflushed.ran(flow, outcome.update_ids)
        return outcome

    def stream(
        self,
        flow: str,
        props: Mapping[str, Any] | None = None,
        *,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
    ) -> RunStream:
        """Run a flow whose serve op is a generator: an iterator over its items as they are produced.

        The update ops are enqueued after the last item (see `RunStream.update_ids`).
        A plain serve op gives one item. Stop early with `cancel()` (or a `with`
        block): the server closes the generator and enqueues nothing.
        """
        request = m.run_request(
            self.ref,
            flow,
            props,
            ignore_cache=False,
            force_refresh=force_refresh,
            flush_update=flush_update,
            init_state_params=self._init_state_params,
            use_pickle=self._client.use_pickle,
        )
        return RunStream(self._stub.RunStream(request, timeout=timeout), self._client.use_pickle)

    def watch(
        self,
        after: str | None = None,
        flows: Sequence[str] | None = None,
        *,
        include_state: bool = False,
        create_if_missing: bool = False,
        heartbeats: bool = False,
        timeout: float | None = None,
    ) -> Watch:
        """The instance's update events, from now on or after the event id `after`.

        Returns once the server has started the watch, so every event after
        the call is seen. Iterating yields WatchEvent items (and WatchProgress
        heartbeats with `heartbeats=True`); `last_event_id` is where to resume.
        Raises OutOfRangeError when `after` is older than the retained history.
        """
        request = watch_request(self.ref, after, flows, include_state, create_if_missing)
        return Watch(self._stub.WatchUpdates(request, timeout=timeout), heartbeats).wait_ready()

    @m.mapped
    def get_state(self, keys: Iterable[str] | None = None, timeout: float | None = None) -> dict[str, Any]:
        """The committed state: every key, or the keys asked for."""
        request = m.state_request(self.ref, keys, self._client.use_pickle)
        return m.state_of(self._stub.GetState(request, timeout=timeout), self._client.use_pickle)

    @property
    @m.mapped
    def version(self) -> int:
        """The committed state version (1 after init_state, +1 per applied update)."""
        request = pb.GetStateRequest(instance=self.ref, version_only=True)
        return int(self._stub.GetState(request).version)

    @m.mapped
    def flush(self, flow: str | None = None, timeout: float | None = None) -> m.FlushOutcome:
        """Wait until every update enqueued so far (of one flow, or all) has been applied."""
        since, mark = self._unflushed.since(flow)
        request = pb.FlushUpdatesRequest(instance=self.ref, flow=flow or "", since_update_id=since)
        response = self._stub.FlushUpdates(request, timeout=timeout)
        self._unflushed.flushed(mark)
        return m.FlushOutcome(response.version, list(response.failed))

    @m.mapped
    def write_state(self, patch: Mapping[str, Any], timeout: float | None = None) -> int:
        """Patch state keys, serialized with the update queue; returns the new version."""
        request = m.write_request(self.ref, patch, self._client.use_pickle)
        return int(self._stub.WriteState(request, timeout=timeout).version)

    @m.mapped
    def delete(self, timeout: float | None = None) -> bool:
        """Delete the instance: state, queued updates, events, cache. False when it did not exist."""
        request = pb.DeleteInstanceRequest(instance=self.ref)
        return bool(self._stub.DeleteInstance(request, timeout=timeout).deleted)
