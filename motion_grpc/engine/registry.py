"""The components an engine hosts, by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from motion_grpc.component import Component
from motion_grpc.errors import NotFoundError
from motion_grpc.logs import excerpt
from motion_grpc.names import validate_name
from motion_grpc.store.keys import InstanceKeys


class Registry:
    """Hosted components; a name is hosted once unless a new definition is allowed to replace it."""

    def __init__(self, components: Iterable[Component] = ()) -> None:
        self._components: dict[str, Component] = {}
        self._listeners: list[Callable[[Component], None]] = []
        for component in components:
            self.add(component)

    def add(self, component: Component, replace: bool = False) -> None:
        """Host a component; `replace` lets a new definition of a hosted name take its place
        (in-process, as in Motion: a notebook re-running the cell that defines it)."""
        existing = self._components.get(component.name)
        if existing is component:
            return
        if existing is not None and not replace:
            raise ValueError(f"another component named {component.name} is already hosted")
        self._components[component.name] = component
        for listener in self._listeners:
            listener(component)

    def on_add(self, listener: Callable[[Component], None]) -> None:
        """Call `listener` for every hosted component, now and whenever one is added."""
        self._listeners.append(listener)
        for component in self.all():
            listener(component)

    def get(self, name: str) -> Component | None:
        return self._components.get(name)

    def all(self) -> list[Component]:
        return [self._components[name] for name in sorted(self._components)]

    def component(self, name: str) -> Component:
        validate_name(name, "component name")
        component = self._components.get(name)
        if component is None:
            known = ", ".join(sorted(self._components)) or "none"
            raise NotFoundError(f"no component named {excerpt(name)} is hosted here (components: {known})")
        return component

    def resolve(self, component_name: str, instance_id: str) -> tuple[Component, InstanceKeys]:
        """The hosted component and the Redis keys of one of its instances (validated names)."""
        component = self.component(component_name)
        validate_name(instance_id, "instance id")
        return component, InstanceKeys.of(component.name, instance_id)
