"""Component definitions: Motion's decorator API.

A `Component` checks each decorated target at once, so a wrong signature or
a second serve op for a flow fails at import time rather than on the first
request (decorating init_state, or an update op of the same name, again
replaces the first, as in Motion: a notebook cell can be run twice), and builds
a frozen `ComponentDefinition` (motion_grpc.definition) from what it has
recorded: once, and again only after a later decoration. The runtime reads
only that definition.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from motion_grpc.definition import (
    ComponentDefinition,
    ComponentSource,
    DiscardPolicy,
    Flow,
    ServeOp,
    UpdateOp,
)
from motion_grpc.errors import ArgumentTypeError, InvalidArgumentError
from motion_grpc.instance import ComponentInstance
from motion_grpc.names import validate_name as validate_name  # noqa: PLC0414 - re-exported

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CACHE_TTL = 86400.0

__all__ = ["DEFAULT_CACHE_TTL", "Component", "DiscardPolicy", "Flow", "ServeOp", "UpdateOp", "validate_name"]


class Component(ComponentSource):
    """A self-updating prompt: per-instance state plus flows of serve and update ops.

    Args:
        name: The component's name; instances are addressed by (name, instance id).
        params: Read-only parameters every op can reach through `component.params`.
        cache_ttl: Lifetime of cached serve results in seconds; 0 disables the cache.
    """

    def __init__(
        self, name: str, params: Mapping[str, Any] | None = None, cache_ttl: float = DEFAULT_CACHE_TTL
    ) -> None:
        self.name = validate_name(name, "component name")
        if not isinstance(cache_ttl, (int, float)) or isinstance(cache_ttl, bool) or cache_ttl < 0:
            raise ArgumentTypeError(
                f"cache_ttl must be a number of seconds >= 0 (0 disables the cache), not {cache_ttl!r}"
            )
        self._params: Mapping[str, Any] = MappingProxyType(dict(params or {}))
        self._cache_ttl = float(cache_ttl)
        self._init_state: Callable[..., Any] | None = None
        self._save_state: Callable[[Any], Any] | None = None
        self._load_state: Callable[[Any], Any] | None = None
        self._serves: dict[str, ServeOp] = {}
        self._updates: dict[str, list[UpdateOp]] = {}
        # Guards the recorded ops and the definition built from them: engines read it from
        # their own threads while a notebook may still be decorating.
        self._lock = threading.Lock()
        self._definition: ComponentDefinition | None = None

    def __repr__(self) -> str:
        return f"Component({self.name!r}, flows={sorted(self.flow_keys)})"

    @property
    def definition(self) -> ComponentDefinition:
        """The frozen definition of what is decorated so far, built once per change."""
        definition = self._definition
        if definition is None:
            with self._lock:
                if self._definition is None:
                    self._definition = self._build()
                definition = self._definition
        return definition

    def _build(self) -> ComponentDefinition:
        flows = {
            key: Flow(key=key, serve=self._serves.get(key), updates=tuple(self._updates.get(key, ())))
            for key in set(self._serves) | set(self._updates)
        }
        return ComponentDefinition(
            name=self.name,
            params=self._params,
            cache_ttl=self._cache_ttl,
            flows_by_key=flows,
            init_state_func=self._init_state,
            save_state_func=self._save_state,
            load_state_func=self._load_state,
        )

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Around a change of what is recorded: the definition built before it is dropped."""
        with self._lock:
            yield
            self._definition = None

    @property
    def params(self) -> Mapping[str, Any]:
        return self._params

    @property
    def cache_ttl(self) -> float:
        return self._cache_ttl

    @cache_ttl.setter
    def cache_ttl(self, seconds: float) -> None:
        with self._changing():
            self._cache_ttl = float(seconds)

    @property
    def flow_keys(self) -> set[str]:
        return set(self._serves) | set(self._updates)

    @property
    def init_state_func(self) -> Callable[..., Any] | None:
        return self._init_state

    @property
    def save_state_func(self) -> Callable[[Any], Any] | None:
        return self._save_state

    @property
    def load_state_func(self) -> Callable[[Any], Any] | None:
        return self._load_state

    def init_state(self, func: F) -> F:
        """Decorate the function that returns an instance's first state (a dict); a later one replaces it."""
        _require_callable(func, "init_state")
        with self._changing():
            self._init_state = func
        return func

    def save_state(self, func: F) -> F:
        """Decorate a hook turning state into what is stored (for unpicklable parts)."""
        _require_callable(func, "save_state")
        _require_arity(func, 1, "save_state", "(state)")
        with self._changing():
            self._save_state = func
        return func

    def load_state(self, func: F) -> F:
        """Decorate a hook turning stored state back into the state ops see."""
        _require_callable(func, "load_state")
        _require_arity(func, 1, "load_state", "(stored)")
        with self._changing():
            self._load_state = func
        return func

    def serve(self, keys: str | Iterable[str], timeout: float | None = None) -> Callable[[F], F]:
        """Decorate the serve op of one or more flows: `op(state, props)`, answering at once.

        Args:
            keys: The flow key or keys.
            timeout: Seconds the op may take; past it the run answers DEADLINE_EXCEEDED
                (None: the server's --serve-timeout, by default none).
        """
        flow_keys = _flow_keys(keys)
        _check_timeout(timeout)

        def register(func: F) -> F:
            _require_callable(func, "serve op")
            _require_arity(func, 2, "serve op", "(state, props)")
            op = ServeOp(
                name=func.__name__,
                func=func,
                is_generator=inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func),
                is_async=inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func),
                timeout=timeout,
            )
            for key in flow_keys:
                if key in self._serves:
                    raise ValueError(
                        f"flow {key!r} of {self.name} already has a serve op ({self._serves[key].name}); "
                        "a flow has exactly one"
                    )
            with self._changing():
                self._serves.update(dict.fromkeys(flow_keys, op))
            return func

        return register

    def update(
        self,
        keys: str | Iterable[str],
        discard_policy: DiscardPolicy = DiscardPolicy.NONE,
        discard_after: float | None = None,
        batch_size: int = 1,
        timeout: float | None = None,
    ) -> Callable[[F], F]:
        """Decorate an update op of one or more flows: `op(state, props) -> dict of changed keys`.

        Args:
            keys: The flow key or keys.
            discard_policy: When a queued update of this op is dropped unapplied.
            discard_after: NUM_NEW_UPDATES: how many newer queued updates make it
                stale; SECONDS: how old it may get before it starts.
            batch_size: Above 1, the op receives a list of up to this many queued
                props at once (`op(state, [props, ...])`) and its result is
                committed once.
            timeout: Seconds the op may take; past it the update ends FAILED with error
                type Timeout and the queue goes on (None: the server's --update-timeout).
        """
        flow_keys = _flow_keys(keys)
        _check_timeout(timeout)
        _check_discard(discard_policy, discard_after)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError("batch_size must be an int >= 1")

        def register(func: F) -> F:
            _require_callable(func, "update op")
            _require_arity(func, 2, "update op", "(state, props)")
            if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
                raise TypeError(f"update op {func.__name__} must return a dict, not be a generator")
            op = UpdateOp(
                name=func.__name__,
                func=func,
                discard_policy=discard_policy,
                discard_after=None if discard_after is None else float(discard_after),
                batch_size=batch_size,
                is_async=inspect.iscoroutinefunction(func),
                timeout=timeout,
            )
            with self._changing():
                for key in flow_keys:
                    ops = self._updates.setdefault(key, [])
                    same = [i for i, existing in enumerate(ops) if existing.name == op.name]
                    if same:  # decorated again (a notebook cell run twice): it replaces the first
                        ops[same[0]] = op
                    else:
                        ops.append(op)
            return func

        return register

    def __call__(self, *args: Any, **kwargs: Any) -> ComponentInstance:
        """An in-process instance, as in Motion: `inst = C("user42"); inst.run(...)`.

        Takes Motion's arguments, in Motion's order: see ComponentInstance.
        """
        return ComponentInstance(self, *args, **kwargs)


def _flow_keys(keys: str | Iterable[str]) -> tuple[str, ...]:
    flow_keys = (keys,) if isinstance(keys, str) else tuple(keys)
    if not flow_keys:
        raise ValueError("name at least one flow key")
    for key in flow_keys:
        try:
            validate_name(key, "flow key")
        except InvalidArgumentError as exc:
            raise ValueError(exc.message) from None
    return flow_keys


def _check_timeout(timeout: float | None) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, not {timeout!r}")


def _check_discard(policy: DiscardPolicy, after: float | None) -> None:
    if not isinstance(policy, DiscardPolicy):
        raise TypeError(f"discard_policy must be a DiscardPolicy, not {type(policy).__name__}")
    if policy is DiscardPolicy.NONE:
        if after is not None:
            raise ValueError("discard_after is only allowed with a discard policy other than NONE")
        return
    if after is None:
        raise ValueError(f"discard_after is required with DiscardPolicy.{policy.name}")
    if isinstance(after, bool) or not isinstance(after, (int, float)) or after <= 0:
        raise ValueError("discard_after must be a number > 0")
    if policy is DiscardPolicy.NUM_NEW_UPDATES and not float(after).is_integer():
        raise ValueError("discard_after must be a whole number with NUM_NEW_UPDATES")


def _require_callable(func: object, what: str) -> None:
    if not callable(func):
        raise TypeError(f"{what} must decorate a function, not {type(func).__name__}")


def _require_arity(func: Callable[..., Any], count: int, what: str, shape: str) -> None:
    """A wrong signature raises an error that is both a TypeError and a ValueError (Motion's)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return
    params = list(signature.parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(required) > count or len(positional) < count:
        raise ArgumentTypeError(f"{what} {func.__name__} must take {shape}, not {signature}")
    if count == 2 and [p.name for p in positional[:2]] == ["props", "state"]:
        # Motion passes them by name; they are passed in order here: say so rather than swap them.
        raise ArgumentTypeError(
            f"{what} {func.__name__} takes (props, state): ops are called with the state first, "
            "so write it as (state, props)"
        )
