"""The package's public surface is small and pinned."""

from __future__ import annotations

import sloengine.specs


def test_exported_members() -> None:
    assert sloengine.specs.__all__ == ["SPEC_SUFFIXES", "WINDOW", "load_catalog", "render"]
    assert sloengine.specs.render("sum(rate(x[{{.window}}]))", "5m") == "sum(rate(x[5m]))"
