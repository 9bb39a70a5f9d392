"""The core of the Python clients: each call as data, shared by the blocking and the asyncio face.

A core method builds a `Call` (which RPC, the request, the deadline, and how
the reply becomes what the caller gets) or a `StreamCall`, and never waits on
the network: the faces (sync.py, aio.py) only send what it built, blocking or
awaited. So request building, decoding, the pickle opt-in, the bookkeeping of
unflushed updates and paging exist once. The core's methods carry the public
signatures and docstrings; each face method is made from one of them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from google.protobuf.message import Message

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.client import _messages as m
from motion_grpc.client._stream_messages import RunStreamState, WatchState, watch_request
from motion_grpc.client._unflushed import UnflushedUpdates
from motion_grpc.errors import UpdateFailedError

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
S = TypeVar("S")


@dataclass(frozen=True)
class Call(Generic[R]):
    """One unary RPC: a face sends `request` with `rpc`; `result(reply)` is what its caller gets."""

    rpc: Callable[..., Any]
    request: Message
    result: Callable[[Any], R]
    timeout: float | None = None

    def then(self, after: Callable[[R], T]) -> Call[T]:
        """The same RPC, answering `after` of what this call answers."""
        return Call(self.rpc, self.request, lambda reply: after(self.result(reply)), self.timeout)


@dataclass(frozen=True)
class StreamCall(Generic[S]):
    """One server-streaming RPC: a face starts it and iterates its messages through `state`."""

    rpc: Callable[..., Any]
    request: Message
    state: S
    timeout: float | None = None

    def start(self) -> Any:
        """Start the call (grpc and grpc.aio alike return at once; messages come on iteration)."""
        return self.rpc(self.request, timeout=self.timeout)


def _components(reply: pb.DescribeComponentsResponse) -> list[pb.ComponentInfo]:
    return list(reply.components)


def _page(reply: pb.ListInstancesResponse) -> tuple[list[str], str]:
    return list(reply.instance_ids), reply.next_page_token


def _version(reply: pb.GetStateResponse | pb.WriteStateResponse) -> int:
    return int(reply.version)


def _deleted(reply: pb.DeleteInstanceResponse) -> bool:
    return bool(reply.deleted)


def _serve_result(outcome: m.RunOutcome) -> Any:
    """The serve op's result; UpdateFailedError (a RuntimeError, as in-process runs raise) when an
    update the run waited for (flush_update) failed: `run` returns nothing else that would say so."""
    for event in outcome.update_outcomes:
        if event.status == pb.UPDATE_STATUS_FAILED:
            message = f"update op {event.op} of flow {event.flow} failed: {event.error_type}: "
            raise UpdateFailedError(message + event.error_message, event.error_type)
    return outcome.result


def arguments_of(func: Callable[..., Any]) -> inspect.Signature:
    """The signature of `func` without its return, for a function that takes the same arguments."""
    return inspect.signature(func).replace(return_annotation=inspect.Signature.empty)


def _takes_arguments_of(source: Callable[P, Any]) -> Callable[[Callable[..., R]], Callable[P, R]]:
    """Give a method that forwards its arguments the signature of the method it forwards them to."""

    def decorate(method: Callable[..., R]) -> Callable[P, R]:
        method.__signature__ = arguments_of(source)  # type: ignore[attr-defined]
        return method

    return decorate


class ClientCore:
    """A client's stub and pickle opt-in; the calls that concern components, not one instance."""

    def __init__(self, target: str, channel: Any, use_pickle: bool) -> None:
        self.target = target
        self.stub = motion_pb2_grpc.MotionServiceStub(channel)
        self.use_pickle = use_pickle

    def describe(self) -> Call[list[pb.ComponentInfo]]:
        """The components the server hosts."""
        return Call(self.stub.DescribeComponents, pb.DescribeComponentsRequest(), _components)

    def list_page(self, component: str, page_size: int, token: str) -> Call[tuple[list[str], str]]:
        """One page of a component's instance ids, and the token of the next ("" after the last)."""
        request = pb.ListInstancesRequest(component=component, page_size=page_size, page_token=token)
        return Call(self.stub.ListInstances, request, _page)

    def instance_pages(self, component: str, page_size: int) -> Iterator[Call[list[str]]]:
        """The calls of one listing, page by page; send each before asking for the next."""
        return iter(InstancePages(self, component, page_size))


class InstancePages:
    """The ListInstances calls of one listing: each asks for the page after the last one answered."""

    def __init__(self, client: ClientCore, component: str, page_size: int) -> None:
        self._client = client
        self._component = component
        self._page_size = page_size
        self._token: str | None = ""  # None once the last page has been answered

    def __iter__(self) -> Iterator[Call[list[str]]]:
        while self._token is not None:
            yield self._client.list_page(self._component, self._page_size, self._token).then(self._turn)

    def _turn(self, page: tuple[list[str], str]) -> list[str]:
        ids, token = page
        self._token = token or None
        return ids


class InstanceCore:
    """One instance's calls: its ref, its init_state_params, and what it ran since its last flush."""

    def __init__(
        self,
        client: ClientCore,
        component: str,
        instance_id: str,
        init_state_params: Mapping[str, Any] | None,
    ) -> None:
        self._stub = client.stub
        self._use_pickle = client.use_pickle
        self.ref = m.instance_ref(component, instance_id)
        self._init_state_params = init_state_params
        self._unflushed = UnflushedUpdates()

    def run_outcome(
        self,
        flow: str,
        props: Mapping[str, Any] | None = None,
        *,
        ignore_cache: bool = False,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> Call[m.RunOutcome]:
        """Run a flow; the result with its version, cache flag and update ids.

        The run carries `request_id` (a new UUID when None), unchanged across the
        channel's retries, so the server enqueues its updates at most once.
        """
        request = self._run_request(flow, props, ignore_cache, force_refresh, flush_update, request_id)
        outcome = functools.partial(self._outcome, flow, flush_update)
        return Call(self._stub.Run, request, outcome, timeout)

    @_takes_arguments_of(run_outcome)
    def run(self, *args: Any, **kwargs: Any) -> Call[Any]:
        """Run a flow and return the serve op's result. With `flush_update`, an update it waited
        for that failed raises UpdateFailedError (a RuntimeError, as in-process); `run_outcome`
        reports it among its outcomes instead."""
        return self.run_outcome(*args, **kwargs).then(_serve_result)

    def stream(
        self,
        flow: str,
        props: Mapping[str, Any] | None = None,
        *,
        force_refresh: bool = False,
        flush_update: bool = False,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> StreamCall[RunStreamState]:
        """Run a flow whose serve op is a generator: an iterator over its items as they are produced.

        The update ops are enqueued after the last item (see `RunStream.update_ids`).
        A plain serve op gives one item. Stop early with `cancel()` (or a `with`
        block): the server closes the generator and enqueues nothing.
        """
        request = self._run_request(flow, props, False, force_refresh, flush_update, request_id)
        ran = None if flush_update else functools.partial(self._unflushed.ran, flow)
        return StreamCall(self._stub.RunStream, request, RunStreamState(self._use_pickle, ran), timeout)

    def watch(
        self,
        after: str | None = None,
        flows: Sequence[str] | None = None,
        *,
        include_state: bool = False,
        create_if_missing: bool = False,
        heartbeats: bool = False,
        timeout: float | None = None,
    ) -> StreamCall[WatchState]:
        """The instance's update events, from now on or after the event id `after`.

        Returns (asyncio: once awaited) when the server has started the watch, so
        every event after the call is seen. Iterating yields WatchEvent items (and
        WatchProgress heartbeats with `heartbeats=True`); `last_event_id` is where
        to resume. Raises OutOfRangeError when `after` is older than the retained history.
        """
        request = watch_request(self.ref, after, flows, include_state, create_if_missing)
        return StreamCall(self._stub.WatchUpdates, request, WatchState(heartbeats), timeout)

    def get_state(
        self, keys: Iterable[str] | None = None, timeout: float | None = None
    ) -> Call[dict[str, Any]]:
        """The committed state: every key, or the keys asked for."""
        request = m.state_request(self.ref, keys, self._use_pickle)
        return Call(self._stub.GetState, request, self._state_of, timeout)

    def version(self) -> Call[int]:
        """The committed state version (1 after init_state, +1 per applied update)."""
        request = pb.GetStateRequest(instance=self.ref, version_only=True)
        return Call(self._stub.GetState, request, _version)

    def flush(self, flow: str | None = None, timeout: float | None = None) -> Call[m.FlushOutcome]:
        """Wait until every update enqueued so far (of one flow, or all) has been applied."""
        since, mark = self._unflushed.since(flow)
        request = pb.FlushUpdatesRequest(instance=self.ref, flow=flow or "", since_update_id=since)
        return Call(self._stub.FlushUpdates, request, functools.partial(self._flushed, mark), timeout)

    def write_state(self, patch: Mapping[str, Any], timeout: float | None = None) -> Call[int]:
        """Patch state keys, serialized with the update queue; returns the new version."""
        request = m.write_request(self.ref, patch, self._use_pickle)
        return Call(self._stub.WriteState, request, _version, timeout)

    def delete(self, timeout: float | None = None) -> Call[bool]:
        """Delete the instance: state, queued updates, events, cache. False when it did not exist."""
        request = pb.DeleteInstanceRequest(instance=self.ref)
        return Call(self._stub.DeleteInstance, request, _deleted, timeout)

    def _run_request(
        self,
        flow: str,
        props: Mapping[str, Any] | None,
        ignore_cache: bool,
        force_refresh: bool,
        flush_update: bool,
        request_id: str | None,
    ) -> pb.RunRequest:
        return m.run_request(
            self.ref,
            flow,
            props,
            ignore_cache=ignore_cache,
            force_refresh=force_refresh,
            flush_update=flush_update,
            init_state_params=self._init_state_params,
            use_pickle=self._use_pickle,
            request_id=request_id,
        )

    def _outcome(self, flow: str, flushed: bool, reply: pb.RunResponse) -> m.RunOutcome:
        outcome = m.run_outcome(reply, self._use_pickle)
        if not flushed:  # a flushed run reports its own outcomes
            self._unflushed.ran(flow, outcome.update_ids)
        return outcome

    def _state_of(self, reply: pb.GetStateResponse) -> dict[str, Any]:
        return m.state_of(reply, self._use_pickle)

    def _flushed(self, mark: dict[str, int], reply: pb.FlushUpdatesResponse) -> m.FlushOutcome:
        self._unflushed.flushed(mark)
        return m.FlushOutcome(reply.version, list(reply.failed))
