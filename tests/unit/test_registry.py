"""The engine's registry hosts components by name and hands out their frozen definitions."""

from __future__ import annotations

import pytest

from motion_grpc import Component
from motion_grpc.engine.registry import Registry
from motion_grpc.errors import NotFoundError


def _component(name: str, *flows: str) -> Component:
    component = Component(name)
    for flow in flows:
        component.serve(flow)(lambda state, props: None)
    return component


def test_a_hosted_component_decorated_later_is_seen_as_it_is_now() -> None:
    """In-process, an op added after instances exist reaches them (as when the engine held the Component)."""
    component = _component("Late", "a")
    registry = Registry([component])
    assert registry.component("Late").flow_keys == {"a"}
    component.serve("b")(lambda state, props: None)
    assert registry.component("Late").flow_keys == {"a", "b"}
    assert registry.component("Late") is component.definition


def test_hosting_again_what_is_hosted_is_no_conflict() -> None:
    component = _component("Same", "a")
    seen: list[str] = []
    registry = Registry([component])
    registry.on_add(lambda definition: seen.append(definition.name))
    registry.add(component)
    registry.add(component.definition)  # e.g. ComponentInstance(engine.component("Same"))
    component.serve("b")(lambda state, props: None)
    registry.add(component)
    assert seen == ["Same"]
    assert registry.component("Same").flow_keys == {"a", "b"}  # still the Component, read live


def test_another_definition_of_a_hosted_name_needs_replace() -> None:
    registry = Registry([_component("Dup", "a")])
    newer = _component("Dup", "b")
    with pytest.raises(ValueError, match="another component named Dup"):
        registry.add(newer)
    registry.add(newer.definition, replace=True)
    assert registry.component("Dup").flow_keys == {"b"}
    with pytest.raises(NotFoundError, match=r"components: Dup"):
        registry.component("Missing")
    definition, keys = registry.resolve("Dup", "user-1")
    assert (definition.name, keys.component, keys.instance_id) == ("Dup", "Dup", "user-1")
