"""motion_grpc's modules import each other without a cycle.

A cycle (`component -> instance -> engine -> component`, say) means a module
can see another half-initialized, depending on which one is imported first.
The scan reads every import statement, at the top of a module or inside a
function (a function-level import only hides the cycle until the call), but
not `if TYPE_CHECKING:` blocks, which never run. A package's `__init__` runs
before any of its modules, but that edge is implied, not written, and
`__init__` files only re-export: it is not counted.
"""

from __future__ import annotations

import ast
import pathlib

import motion_grpc

PACKAGE = "motion_grpc"
ROOT = pathlib.Path(motion_grpc.__file__).resolve().parent


def module_files() -> dict[str, pathlib.Path]:
    """Every module of the package by dotted name (a package by its own name, for its __init__)."""
    modules: dict[str, pathlib.Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST) -> list[ast.stmt]:
    """Every import statement that can run: those under `if TYPE_CHECKING:` never do."""
    found: list[ast.stmt] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))
    return found


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name a `from ... import` statement imports from."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def imports_of(module: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """The package's modules that `module` imports."""
    targets: set[str] = set()
    for node in _statements(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        assert isinstance(node, ast.ImportFrom)
        base = _base(module, path.name == "__init__.py", node)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            targets.add(submodule if submodule in known else base)
    return {target for target in targets if target in known and target != module}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    known = set(modules)
    return {module: imports_of(module, path, known) for module, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as the path around it, or None (depth-first, iterative)."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        while stack:
            target = next(stack[-1], None)
            if target is None:
                stack.pop()
                done.add(path.pop())
            elif target in path:
                return [*path[path.index(target) :], target]
            elif target not in done:
                path.append(target)
                stack.append(iter(sorted(graph[target])))
    return None


def test_the_scan_sees_a_cycle_and_skips_type_checking_blocks(tmp_path: pathlib.Path) -> None:
    """The checker itself: a function-level import closes a cycle, a TYPE_CHECKING one does not."""
    first = tmp_path / "first.py"
    first.write_text("def f():\n    from motion_grpc import second\n")
    second = tmp_path / "second.py"
    second.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from motion_grpc import first\n"
    )
    known = {"motion_grpc.first", "motion_grpc.second"}
    graph = {
        "motion_grpc.first": imports_of("motion_grpc.first", first, known),
        "motion_grpc.second": imports_of("motion_grpc.second", second, known),
    }
    assert graph == {"motion_grpc.first": {"motion_grpc.second"}, "motion_grpc.second": set()}
    assert find_cycle(graph) is None
    second.write_text("from . import first\n")
    graph["motion_grpc.second"] = imports_of("motion_grpc.second", second, known)
    assert find_cycle(graph) == ["motion_grpc.first", "motion_grpc.second", "motion_grpc.first"]


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "motion_grpc.engine.registry" in graph  # the scan found the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_runtime_imports_no_definition_api() -> None:
    """engine/, server/ and store/ consume frozen definitions (motion_grpc.definition) only."""
    graph = import_graph()
    runtime = [m for m in graph if m.split(".")[1:2] in (["engine"], ["server"], ["store"])]
    offenders = {
        module: sorted(graph[module] & {"motion_grpc.component", "motion_grpc.instance"})
        for module in runtime
    }
    assert {module: found for module, found in offenders.items() if found} == {}
