"""Loading the apps `motion-grpc serve` hosts.

An app is a file path or a module name. Files are imported under a stable
module name derived from the path (never `__main__`), because pickled state
refers to the module that defined its classes: every replica must import
the app under the same name to read what another wrote.
"""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
import re
import sys
from collections.abc import Iterable
from types import ModuleType

from motion_grpc.definition import ComponentSource


class AppLoadError(Exception):
    """An app could not be imported or defines no component."""


def module_name_for(path: pathlib.Path) -> str:
    stem = re.sub(r"\W", "_", path.stem)
    return f"motion_apps.{stem}"


def load_module(app: str) -> ModuleType:
    path = pathlib.Path(app)
    if app.endswith(".py") or path.exists():
        if path.is_dir():
            raise AppLoadError(f"app {app} is a directory; give a .py file in it, or a module name")
        if not path.is_file():
            raise AppLoadError(f"app file {app} does not exist")
        resolved = path.resolve()
        sys.path.insert(0, str(resolved.parent))
        name = module_name_for(resolved)
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, resolved)
        if spec is None or spec.loader is None:
            raise AppLoadError(f"cannot import {app}")
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault("motion_apps", ModuleType("motion_apps"))
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise AppLoadError(f"importing {app} failed: {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(app)
    except Exception as exc:
        raise AppLoadError(f"importing module {app} failed: {type(exc).__name__}: {exc}") from exc


def components_of(module: ModuleType) -> list[ComponentSource]:
    found = {id(value): value for value in vars(module).values() if isinstance(value, ComponentSource)}
    return sorted(found.values(), key=lambda component: component.name)


def load_components(apps: Iterable[str]) -> list[ComponentSource]:
    """Every Component defined at the top level of the given apps."""
    components: dict[str, ComponentSource] = {}
    for app in apps:
        found = components_of(load_module(app))
        if not found:
            raise AppLoadError(f"{app} defines no Component at its top level")
        for component in found:
            if component.name in components and components[component.name] is not component:
                raise AppLoadError(f"two apps define a component named {component.name}")
            components[component.name] = component
    return list(components.values())
