"""The package layout's one rule: the service core never imports the dev tooling or the simulator.

The core is every module of ``streams`` outside ``streams.devtools``, ``streams.simulator``,
``streams.top`` (operator tools around the service) and the console script ``streams.cli``. Imports
are read from the source (``ast``), function-local ones included, so a lazy import cannot hide.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.fixtures.paths import REPO

PACKAGE = REPO / "streams"
AROUND_THE_CORE = ("streams.devtools", "streams.simulator", "streams.top", "streams.cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every module an import statement in ``source`` names, relative imports resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from streams import simulator`
    return found


def is_within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def forbidden_imports(path: Path, source: str | None = None) -> set[str]:
    module = module_name(path)
    found = imported_modules(path.read_text() if source is None else source, module, path.name == "__init__.py")
    return {name for name in found if is_within(name, AROUND_THE_CORE)}


def core_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if not is_within(module_name(p), AROUND_THE_CORE))


def test_the_core_is_what_the_layout_says():
    names = {module_name(p) for p in core_modules()}
    assert {
        "streams.engine.loop",
        "streams.engine.checkpoint",
        "streams.state.journal",
        "streams.api.app",
        "streams.metrics",
        "streams.settings",
        "streams.validation.decode",
    } <= names
    assert not any(is_within(n, AROUND_THE_CORE) for n in names)


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: module_name(p))
def test_core_module_imports_no_tooling(path):
    assert forbidden_imports(path) == set()


@pytest.mark.parametrize(
    "line",
    [
        "from ..devtools.broker import EmbeddedKafka",
        "from streams.devtools import processes",
        "import streams.simulator.model",
        "from streams import simulator",
        "def lazy():\n    from ..simulator import TrafficModel\n",
    ],
)
def test_the_check_sees_a_tooling_import(line):
    """The check itself can fail: each of these, in a core module, is caught."""
    path = PACKAGE / "engine" / "loop.py"
    assert forbidden_imports(path, path.read_text() + "\n" + line + "\n")


def test_the_worker_image_leaves_the_dev_tooling_out():
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "streams/devtools" in ignored
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY streams ./streams" in dockerfile


def import_graph() -> dict[str, set[str]]:
    """Core module -> the core modules it imports (TYPE_CHECKING and function-local imports too: a
    cycle hidden from the interpreter is still one for a reader and for a test that needs the whole).
    A module's own packages do not count (``from . import journal`` names the package being imported)."""
    modules = {module_name(p): p for p in core_modules()}
    graph = {}
    for name, path in modules.items():
        found = imported_modules(path.read_text(), name, path.name == "__init__.py")
        graph[name] = {
            other for other in found if other in modules and other != name and not name.startswith(other + ".")
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles, one per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_core_has_no_import_cycle():
    assert cycles(import_graph()) == []
