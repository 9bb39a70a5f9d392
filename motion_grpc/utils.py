"""Motion's instance utilities: list, inspect and clear instances by Motion's names.

Motion names an instance `Component__id`. Its ids cannot contain `__`, ours
can, so a name is split at its first `__`: the component's name is what comes
before it. Like Motion's, these work on any component's instances, hosted
in this process or not, in the Redis of the in-process instances
(MOTION_REDIS_URL, Motion's MOTION_REDIS_* variables, else the embedded one).
"""

from __future__ import annotations

from motion_grpc import codec
from motion_grpc.engine import admin
from motion_grpc.errors import InvalidArgumentError, UnknownInstanceError
from motion_grpc.inprocess import redis_settings, shared_engine
from motion_grpc.logs import excerpt
from motion_grpc.names import validate_name
from motion_grpc.state import State
from motion_grpc.store.keys import InstanceKeys

__all__ = ["clear_instance", "get_instances", "inspect_state", "instance_keys"]


def instance_keys(instance_name: str) -> InstanceKeys:
    """The keys of the instance Motion names `Component__id`; ValueError for any other shape."""
    if not isinstance(instance_name, str) or "__" not in instance_name:
        raise InvalidArgumentError(
            f"an instance name looks like Component__id (Motion's form), not {excerpt(instance_name)}"
        )
    component, _, instance_id = instance_name.partition("__")
    return InstanceKeys.of(
        validate_name(component, "component name"), validate_name(instance_id, "instance id")
    )


def get_instances(component_name: str, redis_url: str | None = None) -> list[str]:
    """The ids of every instance of a component (ids alone, without `Component__`, as in Motion)."""
    engine = shared_engine(redis_settings(redis_url))
    name = validate_name(component_name, "component name")
    ids: list[str] = []
    token = ""
    while True:
        page, token = engine.call(admin.list_page(engine.core.store, name, admin.MAX_PAGE_SIZE, token))
        ids += page
        if not token:
            return ids


def inspect_state(instance_name: str, redis_url: str | None = None) -> State:
    """The committed state of instance `Component__id`, as stored.

    As Motion's, it reads the state without the component's load_state hook, so
    it works for components not defined in this process.

    Raises:
        ValueError: The name is not `Component__id`, or no such instance exists.
    """
    keys = instance_keys(instance_name)
    engine = shared_engine(redis_settings(redis_url))
    version, raw, _ = engine.call(engine.core.store.load(keys))
    if version is None:
        raise UnknownInstanceError(f"instance {excerpt(instance_name)} does not exist")
    return State(
        keys.instance_id, {name: codec.loads(value) for name, value in raw.items()}, version, keys.component
    )


def clear_instance(instance_name: str, redis_url: str | None = None) -> bool:
    """Delete instance `Component__id`: state, queued updates, events, cache.

    Returns:
        False when there was no such instance (nothing is cleared), True otherwise.
    """
    keys = instance_keys(instance_name)
    engine = shared_engine(redis_settings(redis_url))
    if any(component.name == keys.component for component in engine.components):
        return engine.delete_instance(keys.component, keys.instance_id)  # also drops its snapshot here
    return engine.call(engine.core.store.delete_instance(keys))
