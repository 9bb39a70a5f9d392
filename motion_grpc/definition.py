"""Component definitions as the runtime consumes them: frozen, built from the decorator API.

This module is a leaf of the package (it imports nothing of the engine, the
server, the store, the client or the decorator API), so all of them can
depend on it without a cycle. `motion_grpc.component.Component` records
decorations and builds one `ComponentDefinition` per change; the engine and
the server read only definitions. They accept a `ComponentSource` (a
Component) wherever they are handed a component, and read its current
definition through `definition_of`.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

from motion_grpc.errors import UnknownFlowError
from motion_grpc.logs import excerpt


class DiscardPolicy(enum.Enum):
    """When a queued update is dropped without being applied."""

    NONE = 0
    NUM_NEW_UPDATES = 1
    SECONDS = 2


@dataclass(frozen=True)
class ServeOp:
    name: str
    func: Callable[..., Any]
    is_generator: bool
    is_async: bool
    #: Seconds the op may take (None: the server's default, --serve-timeout).
    timeout: float | None = None


@dataclass(frozen=True)
class UpdateOp:
    name: str
    func: Callable[..., Any]
    discard_policy: DiscardPolicy
    discard_after: float | None
    batch_size: int
    is_async: bool
    #: Seconds the op may take (None: the server's default, --update-timeout).
    timeout: float | None = None


@dataclass(frozen=True)
class Flow:
    key: str
    serve: ServeOp | None
    updates: tuple[UpdateOp, ...] = field(default_factory=tuple)

    def update_op(self, name: str) -> UpdateOp | None:
        return next((op for op in self.updates if op.name == name), None)


@dataclass(frozen=True, eq=False)
class ComponentDefinition:
    """One component as the runtime sees it: its flows, ops, policies, hooks and params.

    `params` and `flows_by_key` are read-only views, so what built the definition
    cannot change it afterwards. Definitions compare (and hash) by identity, as
    Components do: each decoration builds a new one.
    """

    name: str
    params: Mapping[str, Any]
    cache_ttl: float
    flows_by_key: Mapping[str, Flow]
    init_state_func: Callable[..., Any] | None = None
    save_state_func: Callable[[Any], Any] | None = None
    load_state_func: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "flows_by_key", MappingProxyType(dict(self.flows_by_key)))

    @property
    def flow_keys(self) -> frozenset[str]:
        return frozenset(self.flows_by_key)

    def flow(self, key: str) -> Flow:
        """The definition of one flow; NOT_FOUND (a KeyError, as in Motion) naming the flows that exist."""
        flow = self.flows_by_key.get(key) if isinstance(key, str) else None
        if flow is None:
            known = ", ".join(sorted(self.flows_by_key)) or "none"
            raise UnknownFlowError(f"component {self.name} has no flow {excerpt(key)} (flows: {known})")
        return flow

    def flows(self) -> list[Flow]:
        return [self.flows_by_key[key] for key in sorted(self.flows_by_key)]


class ComponentSource(abc.ABC):
    """What builds a ComponentDefinition (a Component): hosting one hosts its current definition."""

    name: str

    @property
    @abc.abstractmethod
    def definition(self) -> ComponentDefinition:
        """The definition as decorated so far."""

    def flow(self, key: str) -> Flow:
        """The definition of one flow; NOT_FOUND (a KeyError, as in Motion) naming the flows that exist."""
        return self.definition.flow(key)

    def flows(self) -> list[Flow]:
        return self.definition.flows()


#: What the engine takes as a component: a definition, or what builds one.
Definable: TypeAlias = "ComponentDefinition | ComponentSource"


def definition_of(component: Definable) -> ComponentDefinition:
    """The definition of a Component (as decorated so far), or the definition itself."""
    if isinstance(component, ComponentDefinition):
        return component
    if isinstance(component, ComponentSource):
        return component.definition
    raise TypeError(f"expected a Component or a ComponentDefinition, not {type(component).__name__}")
