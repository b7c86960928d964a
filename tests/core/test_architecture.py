"""The shape of the code: no import cycles and no oversized module in the app.

The layers themselves are import-linter's contracts in pyproject.toml (``lint-imports``,
run by ``make test``).
"""

from __future__ import annotations

from pathlib import Path

import grimp

APP = Path(__file__).resolve().parents[2] / "clicktoagent"
MAX_LINES = 500


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & modules:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_in_the_app() -> None:
    # grimp reads every import statement, those inside functions included.
    graph = grimp.build_graph("clicktoagent", cache_dir=None)
    modules = {m for m in graph.modules if ".migrations" not in m}
    assert _cycles(graph, modules) == []


def test_no_module_over_500_lines() -> None:
    sizes = {
        str(path.relative_to(APP.parent)): len(path.read_text().splitlines())
        for path in APP.rglob("*.py")
        if "migrations" not in path.parts
    }
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}
