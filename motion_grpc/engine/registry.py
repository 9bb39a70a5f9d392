"""The components an engine hosts, by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from motion_grpc.definition import ComponentDefinition, Definable, definition_of
from motion_grpc.errors import ComponentNotFoundError
from motion_grpc.logs import excerpt
from motion_grpc.names import validate_name
from motion_grpc.store.keys import InstanceKeys


class Registry:
    """Hosted components; a name is hosted once unless a new definition is allowed to replace it.

    Lookups hand out frozen definitions. The registry keeps what it was given, a
    definition or a Component, and reads a Component's definition at each lookup:
    a Component decorated further once hosted (in-process, a notebook adding an
    op to a component whose instances exist) is then seen as it is now.
    """

    def __init__(self, components: Iterable[Definable] = ()) -> None:
        self._hosted: dict[str, Definable] = {}
        self._listeners: list[Callable[[ComponentDefinition], None]] = []
        for component in components:
            self.add(component)

    def add(self, component: Definable, replace: bool = False) -> None:
        """Host a component; `replace` lets a new definition of a hosted name take its place
        (in-process, as in Motion: a notebook re-running the cell that defines it)."""
        definition = definition_of(component)
        existing = self._hosted.get(definition.name)
        if existing is not None and (existing is component or definition_of(existing) is definition):
            return
        if existing is not None and not replace:
            raise ValueError(f"another component named {definition.name} is already hosted")
        self._hosted[definition.name] = component
        for listener in self._listeners:
            listener(definition)

    def on_add(self, listener: Callable[[ComponentDefinition], None]) -> None:
        """Call `listener` for every hosted component, now and whenever one is added."""
        self._listeners.append(listener)
        for definition in self.all():
            listener(definition)

    def get(self, name: str) -> ComponentDefinition | None:
        hosted = self._hosted.get(name)
        return None if hosted is None else definition_of(hosted)

    def all(self) -> list[ComponentDefinition]:
        return [definition_of(self._hosted[name]) for name in sorted(self._hosted)]

    def component(self, name: str) -> ComponentDefinition:
        validate_name(name, "component name")
        definition = self.get(name)
        if definition is None:
            known = ", ".join(sorted(self._hosted)) or "none"
            raise ComponentNotFoundError(
                f"no component named {excerpt(name)} is hosted here (components: {known})"
            )
        return definition

    def resolve(self, component_name: str, instance_id: str) -> tuple[ComponentDefinition, InstanceKeys]:
        """The hosted component and the Redis keys of one of its instances (validated names)."""
        definition = self.component(component_name)
        validate_name(instance_id, "instance id")
        return definition, InstanceKeys.of(definition.name, instance_id)
