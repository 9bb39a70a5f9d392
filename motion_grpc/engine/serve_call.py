"""A run being served: what is known of it before its serve op runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from motion_grpc import codec
from motion_grpc.definition import ComponentDefinition, Flow
from motion_grpc.engine.options import RunOptions
from motion_grpc.store.keys import InstanceKeys

#: Checks a serve result before anything is enqueued (raising a MotionError refuses it).
ResultCheck = Callable[[Any], object]


@dataclass(frozen=True)
class ServeCall:
    """One run being served: what is known before the serve op runs."""

    component: ComponentDefinition
    keys: InstanceKeys
    flow: Flow
    props: dict[str, Any]
    options: RunOptions
    check: ResultCheck
    digest: str | None  # the serve cache's field, None when this flow is not cached
    #: What a repeat of the run's request id must match: a digest of the flow and of the props as
    #: sent (not as a serve op changed them); "" without a request id.
    mark: str = ""

    @property
    def lookup(self) -> str | None:
        return None if self.options.ignore_cache else self.digest


def request_mark(flow: Flow, props: Mapping[str, Any], digest: str | None, request_id: str) -> str:
    """What a repeat of a run's request id must match (see ServeCall.mark); `digest`, the cache's
    digest of the same flow and props, when at hand."""
    if not request_id:
        return ""
    return (digest if digest is not None else codec.props_digest(flow.key, props)) or ""


def cache_digest(component: ComponentDefinition, flow: Flow, props: Mapping[str, Any]) -> str | None:
    if component.cache_ttl <= 0 or flow.serve is None or flow.serve.is_generator:
        return None
    return codec.props_digest(flow.key, props)


__all__ = ["ResultCheck", "ServeCall", "cache_digest", "request_mark"]
