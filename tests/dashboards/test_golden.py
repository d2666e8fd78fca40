"""Golden files: the exact bytes generated for two catalogs (UPDATE_GOLDEN=1 rewrites them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sloengine.generate.dashboards import render_dashboards
from sloengine.model import Catalog
from tests.dashboards.catalogs import builtin_policies, examples_catalog, handmade_catalog

GOLDEN = Path(__file__).parent / "golden"


def _check(case: str, catalog: Catalog) -> None:
    rendered = render_dashboards(catalog, builtin_policies())
    folder = GOLDEN / case
    if os.environ.get("UPDATE_GOLDEN") == "1":
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.json"):
            stale.unlink()
        for name, text in rendered.items():
            (folder / name).write_text(text)
    expected = {p.name: p.read_text() for p in sorted(folder.glob("*.json"))}
    assert sorted(rendered) == sorted(expected), (
        "dashboard files differ; UPDATE_GOLDEN=1 to refresh"
    )
    for name, text in rendered.items():
        assert text == expected[name], f"{case}/{name} differs; UPDATE_GOLDEN=1 to refresh"


def test_example_catalog_dashboards_match_golden_files() -> None:
    _check("examples", examples_catalog())


def test_fast_slow_and_events_sli_dashboards_match_golden_files() -> None:
    _check("handmade", handmade_catalog())


def test_committed_dashboards_match_the_example_catalog() -> None:
    committed = Path(__file__).resolve().parents[2] / "dashboards"
    if not committed.is_dir() or not any(committed.glob("*.json")):
        pytest.skip("dashboards/ not generated yet")
    rendered = render_dashboards(examples_catalog(), builtin_policies())
    assert {p.name: p.read_text() for p in committed.glob("*.json")} == rendered
