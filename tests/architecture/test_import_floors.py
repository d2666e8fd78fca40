"""The floors of docs/architecture.md, enforced: no module imports a floor above its own.

Read from the source with `ast` (nothing is imported), so the check is cheap and sees every
import: top-level, inside functions, behind `TYPE_CHECKING`, and `importlib.import_module`
with a literal name. Known violations are listed below as named debt, each with its reason;
a new upward import fails, and so does a debt entry that no longer occurs (delete it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# Floors, bottom up. A unit is a top-level module or a subpackage of sloengine (or one of
# the other two distributed packages); a unit may import units of its own floor or below.
FLOORS: dict[str, int] = {
    # 0 conventions and model: names, durations, the exception tree, the SLO model, and the
    # generated wire schema (whose importers are restricted separately, see WIRE_USERS).
    "sloengine": 0,  # the package root: __version__ only
    "sloengine.conventions": 0,
    "sloengine.durations": 0,
    "sloengine.errors": 0,
    "sloengine.model": 0,
    "sloengine.policies": 0,
    "sloengine.proto": 0,
    # 1 maths: pure functions of numbers and model objects (no I/O, YAML, gRPC or JSON).
    "sloengine.maths": 1,
    "sloengine.judge": 1,  # the judge's public facade (docs/canary.md); the code is maths.judge
    # 2 spec loaders, settings, stores, renderers, and the client beside them.
    "sloengine.specs": 2,
    "sloengine.settings": 2,
    "sloengine.store": 2,
    "sloengine.audit": 2,
    "sloengine.generate": 2,
    "sloengine.traces": 2,
    "sloengine.client": 2,
    "sloengine.telemetry": 2,
    # 3 engine services: ingest, status (push and pull, in engine), canary, hooks; replay,
    # offline.
    "sloengine.ingest": 3,
    "sloengine.engine": 3,
    "sloengine.canary": 3,
    "sloengine.hooks": 3,
    "sloengine.replay": 3,
    # 4 transports: gRPC, HTTP, UI, and the ingest pipelines' receivers.
    "sloengine.grpc": 4,
    "sloengine.http": 4,
    "sloengine.ui": 4,
    "sloengine.pipelines": 4,
    # 5 wiring and CLI (with the post-deploy smoke checks, cli.smoke_checks).
    "sloengine.app": 5,
    "sloengine.cli": 5,
    "sloengine.__main__": 5,
}
# The sidecar and the instrumentation sit beside the engine: they may use floors 0-2 of
# sloengine (in practice conventions, the client and the telemetry toolkit), never an engine
# service or transport, and never each other.
BESIDE = {"sidecar", "instrumentation"}
BESIDE_MAX_FLOOR = 2
# Protobuf is the wire format, converted at the edge: only these units may import it. The
# ingest service is the one service among them: it owns the wire codec (bytes -> the
# store's DecodedBatch), so that neither the transports nor the store decode it.
WIRE = "sloengine.proto"
WIRE_USERS = {"sloengine.client", "sloengine.ingest", "sloengine.grpc", "sloengine.pipelines",
              "sloengine.app", "sloengine.cli"}  # fmt: skip

# Known violations (importer, imported): the debt issue 12's service layer pays off.
DEBT: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str  # unit
    imported: str  # unit
    where: str  # file:line


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] in BESIDE:
        return parts[0]
    if parts[0] != "sloengine":
        return None
    return "sloengine" if len(parts) == 1 else f"sloengine.{parts[1]}"


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    path = REPO.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imported_names(node: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against this module's package
            base = module.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        yield target
        # `from sloengine import conventions` imports a module, which may be another unit.
        for alias in node.names:
            if _is_module(f"{target}.{alias.name}"):
                yield f"{target}.{alias.name}"
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        yield node.args[0].value


def project_imports() -> Iterator[Import]:
    for package in ("sloengine", *sorted(BESIDE)):
        for path in sorted((REPO / package).rglob("*.py")):
            if "proto" in path.relative_to(REPO).parts:
                continue  # generated stubs
            module = _module_of(path)
            importer = _unit(module)
            assert importer is not None
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                for name in _imported_names(node, module, path.name == "__init__.py"):
                    imported = _unit(name)
                    if imported is not None and imported != importer:
                        where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"
                        yield Import(importer, imported, where)


def _breaks_a_rule(imp: Import) -> str | None:
    if not {imp.importer, imp.imported} <= FLOORS.keys() | BESIDE:
        return None  # test_every_unit_has_a_floor names it
    if imp.importer in BESIDE:
        if imp.imported in BESIDE:
            return "sidecar and instrumentation share code through sloengine, not each other"
        if FLOORS[imp.imported] > BESIDE_MAX_FLOOR:
            return f"{imp.importer} may use sloengine floors 0-{BESIDE_MAX_FLOOR} only"
        return None
    if imp.imported in BESIDE:
        return "sloengine never imports the sidecar or the instrumentation"
    if imp.imported == WIRE and imp.importer not in WIRE_USERS:
        return "protobuf is converted at the edge (transports, client)"
    if FLOORS[imp.imported] > FLOORS[imp.importer]:
        return f"floor {FLOORS[imp.importer]} imports floor {FLOORS[imp.imported]}"
    return None


def test_every_unit_has_a_floor() -> None:
    units = {imp.importer for imp in project_imports()} | {
        imp.imported for imp in project_imports()
    }
    unplaced = sorted(u for u in units if u not in FLOORS and u not in BESIDE)
    assert not unplaced, f"place these in FLOORS (and docs/architecture.md): {unplaced}"


def test_no_floor_imports_upward() -> None:
    violations = sorted(
        f"{imp.where}: {imp.importer} -> {imp.imported} ({reason})"
        for imp in project_imports()
        if (reason := _breaks_a_rule(imp)) and (imp.importer, imp.imported) not in DEBT
    )
    assert not violations, "upward imports (see docs/architecture.md):\n" + "\n".join(violations)


def test_every_debt_entry_still_occurs() -> None:
    # Paid debt must leave the list, or it would silently allow the import again.
    occurring = {(imp.importer, imp.imported) for imp in project_imports() if _breaks_a_rule(imp)}
    paid = sorted(set(DEBT) - occurring)
    assert not paid, f"these imports are gone: remove them from DEBT: {paid}"


def test_the_checker_sees_imports_of_every_kind() -> None:
    # The checker itself: relative, aliased, function-level and importlib imports all count.
    source = (
        "from . import sibling\n"
        "import sloengine.app as wiring\n"
        "def f():\n"
        "    from sloengine import cli\n"
        "    importlib.import_module('sloengine.ui')\n"
    )
    found = {
        name
        for node in ast.walk(ast.parse(source))
        for name in _imported_names(node, "sloengine.maths.judge.stats", is_package=False)
    }
    assert {"sloengine.maths.judge", "sloengine.app", "sloengine.cli", "sloengine.ui"} <= found
    assert _breaks_a_rule(Import("sloengine.maths", "sloengine.app", "x:1")) is not None
    assert _breaks_a_rule(Import("sidecar", "sloengine.canary", "x:1")) is not None
    assert _breaks_a_rule(Import("sloengine.maths", WIRE, "x:1")) is not None
    assert _breaks_a_rule(Import("sloengine.app", "sloengine.maths", "x:1")) is None


def test_the_architecture_doc_places_every_unit() -> None:
    doc = (REPO / "docs" / "architecture.md").read_text()
    table = doc[doc.index("## Floors") : doc.index("## The three main paths")]
    unnamed = sorted(
        unit
        for unit in FLOORS
        if unit != "sloengine" and f"`{unit.removeprefix('sloengine.')}`" not in table
    )
    assert not unnamed, f"docs/architecture.md's floors do not name: {unnamed}"
