"""State as ops see it <-> state as Redis stores it, through the component's hooks.

`save_state` turns the state into what is stored (say, a connection into its
address) and `load_state` turns it back; every decode goes through
`load_state`, as in Motion, so an object rebuilt from the state always
matches the version it was built from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from motion_grpc import codec
from motion_grpc.definition import ComponentDefinition
from motion_grpc.engine.ops import describe_error, is_ops_own_failure, op_failed
from motion_grpc.errors import FailedPreconditionError, OpError, UntrustedDataError
from motion_grpc.logs import excerpt


def decode_state(component: ComponentDefinition, raw: Mapping[str, bytes]) -> dict[str, Any]:
    """The state ops see from the stored fields; FAILED_PRECONDITION when it cannot be had."""
    data: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            data[name] = codec.loads(value)
        except BaseException as exc:
            if not op_failed(exc):
                raise
            raise FailedPreconditionError(
                f"state key {excerpt(name)} of {component.name} cannot be decoded: {describe_error(exc)}"
            ) from exc
    hook = component.load_state_func
    if hook is None:
        return data
    try:
        loaded = hook(data)
    except BaseException as exc:
        if not is_ops_own_failure(exc):
            raise
        raise FailedPreconditionError(f"load_state of {component.name} raised {describe_error(exc)}") from exc
    if not isinstance(loaded, Mapping):
        raise FailedPreconditionError(f"load_state of {component.name} must return a dict")
    return dict(loaded)


def encode_patch(
    component: ComponentDefinition, current: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, bytes]:
    """The stored fields for `changes` on top of `current` (all that save_state returns, with the hook)."""
    values: Mapping[str, Any] = changes
    hook = component.save_state_func
    if hook is not None:
        try:
            values = hook({**current, **changes})
        except BaseException as exc:
            if not is_ops_own_failure(exc):
                raise
            raise OpError(
                f"save_state of {component.name} raised {describe_error(exc)}", type(exc).__name__
            ) from exc
        if not isinstance(values, Mapping):
            raise OpError(
                f"save_state of {component.name} must return a dict (each key is stored as a field), "
                f"not {type(values).__name__}: return {{'saved': value}} and unwrap it in load_state",
                "TypeError",
            )
    patch: dict[str, bytes] = {}
    for name, value in values.items():
        try:
            patch[name] = codec.dumps(value)
        except UntrustedDataError as exc:  # an object this process may store only signed
            raise OpError(
                f"state key {excerpt(name)} cannot be stored: {exc.message}", type(exc).__name__
            ) from exc
        except BaseException as exc:
            if not op_failed(exc):
                raise
            raise OpError(
                f"state key {excerpt(name)} cannot be stored: {describe_error(exc)}", "PicklingError"
            ) from exc
    return patch


def has_hooks(component: ComponentDefinition) -> bool:
    """Whether state in memory must go through Redis (and the hooks) to be what ops see."""
    return component.load_state_func is not None or component.save_state_func is not None
