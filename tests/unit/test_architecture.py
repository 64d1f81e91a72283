"""The module layout the README's architecture section describes, read from the import graph.

Commands sit on top, stages below them, stores beneath; no import cycles (function-level
imports included: only ``if TYPE_CHECKING:`` blocks are left out, as they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "jux_submit"
STORES = {"jux_submit.outbox", "jux_submit.journal"}
STORE_MAY_IMPORT = {"jux_submit", "jux_submit.models", "jux_submit.errors"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def runtime_imports(path: Path) -> set[str]:
    """Every module ``path`` imports when it runs (at import time or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            for alias in node.names:  # ``from jux_submit import x`` may name a module
                found.add(f"{node.module}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}
GRAPH = {
    name: {m for m in runtime_imports(path) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


def layer(name: str) -> str:
    if name in ("jux_submit.cli", "jux_submit.__main__"):
        return "cli"
    if name.startswith("jux_submit.commands"):
        return "command"
    if name in STORES:
        return "store"
    return "stage"


def test_the_graph_is_read_from_the_real_modules() -> None:
    assert "jux_submit.commands.submit" in GRAPH["jux_submit.cli"]
    assert "jux_submit.deliver" in GRAPH["jux_submit.commands.submit"]
    assert "jux_submit.outbox" in GRAPH["jux_submit.deliver"]


def test_there_is_no_import_cycle() -> None:
    # Tarjan's strongly connected components: any component of more than one module is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in GRAPH:
        if name not in index:
            connect(name)
    assert cycles == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_layer_imports_only_below_itself(name: str) -> None:
    imports = GRAPH[name]
    kind = layer(name)
    if kind == "store":
        assert imports <= STORE_MAY_IMPORT, f"{name} imports {imports - STORE_MAY_IMPORT}"
    if kind in ("stage", "store"):
        upward = {m for m in imports if layer(m) in ("command", "cli")}
        assert not upward, f"{name} imports {upward}"
    if kind == "command":
        assert "jux_submit.cli" not in imports


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_transport_imports_the_http_library(name: str) -> None:
    every = runtime_imports(MODULES[name])
    http = {m for m in every if m.split(".")[0] in ("requests", "urllib3")}
    if name != "jux_submit.transport":
        assert not http, f"{name} imports {http}"
