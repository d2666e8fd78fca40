"""The canary parts' public surface: every `__all__` name exists, none private or doubled
(ruff's RUF022 keeps the order)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "module", ["sloengine.judge", "sloengine.canary", "sloengine.hooks", "sloengine.audit"]
)
def test_public_names_exist_and_are_public(module: str) -> None:
    mod = importlib.import_module(module)
    names = list(mod.__all__)
    assert len(names) == len(set(names))
    assert not [n for n in names if n.startswith("_")]
    for name in names:
        assert getattr(mod, name) is not None
