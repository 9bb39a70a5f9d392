"""The asyncio Python client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import grpc
from grpc import aio

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.client import _messages as m
from motion_grpc.client._streams import AsyncRunStream, AsyncWatch, watch_request
from motion_grpc.client._unflushed import UnflushedUpdates


class AsyncMotionClient:
    """A connection to a motion-grpc server, for asyncio code; see MotionClient."""

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
            self._channel = aio.insecure_channel(target, options=list(options))
        else:
            self._channel = aio.secure_channel(target, credentials, options=list(options))
        self.stub = motion_pb2_grpc.MotionServiceStub(self._channel)
        self.use_pickle = pickle

    def instance(
        self, component: str, instance_id: str, init_state_params: Mapping[str, Any] | None = None
    ) -> AsyncInstanceHandle:
        return AsyncInstanceHandle(self, component, instance_id, init_state_params)

    @m.mapped_async
    async def describe(self) -> list[pb.ComponentInfo]:
        response = await self.stub.DescribeComponents(pb.DescribeComponentsRequest())
        return list(response.components)

    async def list_instances(self, component: str, page_size: int = 100) -> AsyncIterator[str]:
        """Every instance id of a component, fetched page by page as the iteration goes."""
        token = ""
        while True:
            ids, token = await self._list_page(component, page_size, token)
            for instance_id in ids:
                yield instance_id
            if not token:
                return

    @m.mapped_async
    async def _list_page(self, component: str, page_size: int, token: str) -> tuple[list[str], str]:
        request = pb.ListInstancesRequest(component=component, page_size=page_size, page_token=token)
        response = await self.stub.ListInstances(request)
        return list(response.instance_ids), response.next_page_token

    async def close(self) -> None:
        await self._channel.close(None)

    async def __aenter__(self) -> AsyncMotionClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class AsyncInstanceHandle:
    """One instance of one component on the server, for asyncio code."""

    def __init__(
        self,
        client: AsyncMotionClient,
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

    async def run(
        self,
        flow: str,
        props: Mapping[str, Any] | None = None,
        *,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
    ) -> Any:
        outcome = await self.run_outcome(
            flow,
            props,
            ignore_cache=ignore_cache,
            force_refresh=force_refresh,
            flush_update=flush_update,
            timeout=timeout,
        )
        return outcome.result

    @m.mapped_async
    async def run_outcome(
        self,
        flow: str,
        props: Mapping[str, Any] | None = None,
        *,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
    ) -> m.RunOutcome:
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
        outcome = m.run_outcome(await self._stub.Run(request, timeout=timeout), self._client.use_pickle)
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
    ) -> AsyncRunStream:
        """Run a flow whose serve op is a generator: an async iterator over its items as they are produced.

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
        return AsyncRunStream(self._stub.RunStream(request, timeout=timeout), self._client.use_pickle)

    async def watch(
        self,
        after: str | None = None,
        flows: Sequence[str] | None = None,
        *,
        include_state: bool = False,
        create_if_missing: bool = False,
        heartbeats: bool = False,
        timeout: float | None = None,
    ) -> AsyncWatch:
        """The instance's update events, from now on or after the event id `after`.

        Await it: it returns once the server has started the watch, so every
        event after that is seen. Iterating yields WatchEvent items (and WatchProgress
        heartbeats with `heartbeats=True`); `last_event_id` is where to resume.
        Raises OutOfRangeError when `after` is older than the retained history.
        """
        request = watch_request(self.ref, after, flows, include_state, create_if_missing)
        return await AsyncWatch(self._stub.WatchUpdates(request, timeout=timeout), heartbeats).wait_ready()

    @m.mapped_async
    async def get_state(
        self, keys: Iterable[str] | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        request = m.state_request(self.ref, keys, self._client.use_pickle)
        return m.state_of(await self._stub.GetState(request, timeout=timeout), self._client.use_pickle)

    @m.mapped_async
    async def version(self) -> int:
        request = pb.GetStateRequest(instance=self.ref, version_only=True)
        return int((await self._stub.GetState(request)).version)

    @m.mapped_async
    async def flush(self, flow: str | None = None, timeout: float | None = None) -> m.FlushOutcome:
        since, mark = self._unflushed.since(flow)
        request = pb.FlushUpdatesRequest(instance=self.ref, flow=flow or "", since_update_id=since)
        response = await self._stub.FlushUpdates(request, timeout=timeout)
        self._unflushed.flushed(mark)
        return m.FlushOutcome(response.version, list(response.failed))

    @m.mapped_async
    async def write_state(self, patch: Mapping[str, Any], timeout: float | None = None) -> int:
        request = m.write_request(self.ref, patch, self._client.use_pickle)
        return int((await self._stub.WriteState(request, timeout=timeout)).version)

    @m.mapped_async
    async def delete(self, timeout: float | None = None) -> bool:
        """Delete the instance: state, queued updates, events, cache. False when it did not exist."""
        request = pb.DeleteInstanceRequest(instance=self.ref)
        return bool((await self._stub.DeleteInstance(request, timeout=timeout)).deleted)
