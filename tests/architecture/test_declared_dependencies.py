"""Every library a package imports is installed by its part of pyproject.toml.

`sidecar` needs the core plus the `sidecar` extra, `instrumentation` the core plus the
`instrumentation` extra, `sloengine` the core plus `server` and `replay`. A third-party
import counts as declared when its distribution is one of those requirements or one of
their dependencies (starlette comes with fastapi). The lookup goes through this venv's
installed metadata, so it names the distribution to add when an import is not covered.
Namespace packages (`opentelemetry`, `google`) are checked at the namespace level only.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT = "sloengine"
PARTS = {
    "sloengine": ("server", "replay"),
    "sidecar": ("sidecar",),
    "instrumentation": ("instrumentation",),
}


def _name(requirement: str) -> tuple[str, tuple[str, ...]]:
    """A requirement's normalised distribution name and extras ("a[b,c]>=1" -> a, (b, c))."""
    match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?", requirement)
    assert match, requirement
    extras = tuple(e.strip() for e in (match.group(2) or "").split(",") if e.strip())
    return re.sub(r"[-_.]+", "-", match.group(1)).lower(), extras


@cache
def _project() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def _requirements(extras: tuple[str, ...]) -> set[str]:
    """The core's and the extras' distributions, extras of the project itself expanded."""
    project = _project()
    optional: dict[str, list[str]] = project["optional-dependencies"]  # type: ignore[assignment]
    names: set[str] = set()
    todo = [*project["dependencies"]]  # type: ignore[misc]
    todo += [r for extra in extras for r in optional[extra]]
    while todo:
        name, inner = _name(todo.pop())
        if name == PROJECT:
            todo += [r for extra in inner for r in optional[extra]]
        else:
            names.add(name)
    return names


def _closure(names: set[str]) -> set[str]:
    """The distributions and everything they require (as installed here)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_name(r)[0] for r in requires if "extra ==" not in r]
    return seen


def _third_party_imports(package: str) -> dict[str, str]:
    """Top-level import name -> one file:line that imports it."""
    found: dict[str, str] = {}
    local = {"sloengine", "sidecar", "instrumentation", "__future__"}
    for path in sorted((REPO / package).rglob("*.py")):
        if "proto" in path.relative_to(REPO).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in local and top not in sys.stdlib_module_names:
                    found.setdefault(top, f"{path.relative_to(REPO)}:{node.lineno}")
    return found


@pytest.mark.parametrize("package", sorted(PARTS))
def test_every_import_is_installed_by_the_packages_part(package: str) -> None:
    declared = _closure(_requirements(PARTS[package]))
    providers = metadata.packages_distributions()
    undeclared = []
    for top, where in sorted(_third_party_imports(package).items()):
        dists = {_name(d)[0] for d in providers.get(top, [])}
        if not dists & declared:
            undeclared.append(f"{where}: {top} (distribution {sorted(dists) or '?'})")
    assert not undeclared, (
        f"{package} imports libraries its part of pyproject.toml does not install "
        f"(extras {PARTS[package]}):\n" + "\n".join(undeclared)
    )
