"""Pinning a package's public facade: `__all__` is exactly the names a test lists."""

from __future__ import annotations

import importlib
from collections.abc import Sequence


def assert_facade(module_name: str, expected: Sequence[str]) -> None:
    """`module_name.__all__` is `expected` (order included: ruff's RUF022 sorts it), every
    name resolves, none is private, and `from module import *` gives exactly those names."""
    module = importlib.import_module(module_name)
    exported = list(getattr(module, "__all__", ()))
    assert exported == list(expected), f"{module_name}.__all__ changed"
    assert len(set(exported)) == len(exported)
    assert not [n for n in exported if n.startswith("_")]
    missing = [n for n in exported if getattr(module, n, None) is None]
    assert not missing, f"{module_name}: {missing} do not resolve"
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)  # the star import honours __all__
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(exported)
