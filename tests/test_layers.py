"""The packages depend on each other in one direction only:

    schemas  ←  storage  ←  settlement  ←  flows  ←  deploy

A module may import its own package and the packages to its left, never one to its right. The
imports are read from the source (module level and inside functions), so a late import cannot
hide a loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("schemas", "storage", "settlement", "flows", "deploy")
RANK = {name: rank for rank, name in enumerate(LAYERS)}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


def _modules() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


def test_every_package_is_checked() -> None:
    assert len(_modules()) > 40
    assert {p.relative_to(ROOT).parts[0] for p in _modules()} == set(LAYERS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_one_way(path: Path) -> None:
    own = path.relative_to(ROOT).parts[0]
    upward = {pkg for pkg in _imported_packages(path) if RANK[pkg] > RANK[own]}
    assert not upward, f"{own} must not import {sorted(upward)}"


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from settlement.run import settle\n    import flows.ingest\n")
    assert _imported_packages(module) == {"settlement", "flows"}


def test_every_package_is_installed_by_pyproject() -> None:
    """`pip install .` ships exactly the packages in the tree (the local stack installs editable,
    so a package missing from pyproject.toml would only fail on a real installation)."""
    import tomllib

    declared = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"][
            "packages"
        ]
    )
    in_tree = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for layer in LAYERS
        for init in (ROOT / layer).rglob("__init__.py")
    }
    assert declared == in_tree
