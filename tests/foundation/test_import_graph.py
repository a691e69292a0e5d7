"""Rooms depend downward only: no runtime import cycle in camsvc, and supervisor/ stands alone.

The graph is read from the source with ``ast`` (nothing is imported): an edge A → B for
every import A executes when it is loaded, including imports inside functions (they
run too, only later), but not those under ``if TYPE_CHECKING:``. Importing a module
also runs its packages' ``__init__``, so B's ancestors count as targets as well — except
A's own packages: they are initialised (or initialising) before A runs, so reaching them
is no new dependency, unless A imports a name defined in one (``from . import NAME``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _runtime_imports(body: list[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _runtime_imports(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
                yield from _runtime_imports([child])


def _from_base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return base


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = _from_base(node, module, is_package)
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`


def _named_from(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    """The package whose ``__init__`` names ``from pkg import NAME`` takes (none for submodules)."""
    if isinstance(node, ast.Import):
        return set()
    base = _from_base(node, module, is_package)
    return {base} if any(f"{base}.{alias.name}" not in modules for alias in node.names) else set()


def import_graph(package: str) -> dict[str, set[str]]:
    """module → the modules of ``package`` that loading it imports."""
    modules = _modules(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _runtime_imports(list(tree.body)):
            named = _named_from(node, name, is_package, modules)
            for target in _targets(node, name, is_package):
                while target:  # the module itself and every package above it run
                    own_package = name.startswith(target + ".")
                    if target in modules and target != name and (not own_package or target in named):
                        edges.add(target)
                    target = target.rpartition(".")[0]
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, …, a], or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def room_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same graph between rooms: camsvc's subpackages and top-level modules."""

    def room(module: str) -> str:
        return ".".join(module.split(".")[:2])

    rooms: dict[str, set[str]] = {}
    for source, targets in graph.items():
        rooms.setdefault(room(source), set()).update(room(t) for t in targets if room(t) != room(source))
    return rooms


def test_the_checker_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_relative_deferred_and_parent_imports() -> None:
    graph = import_graph("camsvc")
    assert "camsvc.security.roles" in graph["camsvc.rpc.table"]  # relative, module level
    assert "camsvc.security.cli_commands" in graph["camsvc.cli"]  # inside a function
    assert "camsvc.security" in graph["camsvc.rpc.table"]  # the package's __init__ runs too
    assert "camsvc.services" not in graph["camsvc.rpc.table"]  # only under TYPE_CHECKING
    # its own package is running already: a sibling import adds no edge to it, only to the sibling
    assert "camsvc.client" not in graph["camsvc.client.client"]
    assert "camsvc.client.connection" in graph["camsvc.client.client"]


def test_no_runtime_import_cycle_between_modules() -> None:
    cycle = find_cycle(import_graph("camsvc"))
    assert cycle is None, "runtime import cycle: " + " → ".join(cycle or [])


def test_no_runtime_import_cycle_between_rooms() -> None:
    cycle = find_cycle(room_graph(import_graph("camsvc")))
    assert cycle is None, "rooms depend on each other: " + " → ".join(cycle or [])


@pytest.mark.parametrize("path", sorted((ROOT / "supervisor").rglob("*.py")), ids=lambda p: p.name)
def test_supervisor_imports_nothing_from_camsvc(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = [
        alias.name if isinstance(node, ast.Import) else (node.module or "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [node.names[0]])
    ]
    assert not [n for n in names if n == "camsvc" or n.startswith("camsvc.")]
