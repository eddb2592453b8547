"""The installable package: every third-party import of what the wheel ships is a pinned dependency,
and the wheel, installed into a fresh virtualenv, works from outside the checkout (the contract in
it, no dev tooling)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.fixtures.paths import PYPROJECT, REPO

SHIPPED = [p for p in (REPO / "streams").rglob("*.py") if "devtools" not in p.relative_to(REPO).parts]


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalized (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group()).lower()


def third_party_imports(paths: list[Path]) -> set[str]:
    """The top-level modules the sources import that are neither the standard library nor streams."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"streams", "__future__"}


def test_every_third_party_import_of_the_wheel_is_a_declared_dependency():
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    distributions = packages_distributions()
    imported = third_party_imports(SHIPPED)
    assert {"faust", "aiohttp", "mode", "yaml"} <= imported  # the scan sees imports
    undeclared = {
        module: distributions.get(module)
        for module in imported
        if not {_name(d) for d in distributions.get(module, [])} & declared
    }
    assert undeclared == {}, "imported by streams (not devtools) but not in pyproject's dependencies"


def test_the_scan_sees_a_lazy_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import json\nfrom . import x\ndef f():\n    import requests.adapters\n")
    assert third_party_imports([module]) == {"requests"}


def test_every_requirement_is_pinned_exactly():
    project = PYPROJECT["project"]
    requirements = [
        *project["dependencies"],
        *sum(project["optional-dependencies"].values(), []),
        *PYPROJECT["build-system"]["requires"],
    ]
    assert [r for r in requirements if not re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][A-Za-z0-9.]*", r)] == []
