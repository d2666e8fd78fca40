"""The store's public surface is small and deliberate."""

from __future__ import annotations

import sloengine.engine.evaluate
import sloengine.maths.burn
import sloengine.store


def test_store_exports() -> None:
    assert sloengine.store.__all__ == [
        "DEDUPE_WINDOW",
        "DEFAULT_LEVELS",
        "ERRORS",
        "LATENCY0",
        "REQUESTS",
        "DecodedBatch",
        "DurableStore",
        "Level",
        "PushOutcome",
        "PushStatus",
        "RecoveryReport",
        "SeriesLabels",
        "SeriesStore",
        "StoreCorruptError",
        "WindowSum",
    ]
    for name in sloengine.store.__all__:
        assert getattr(sloengine.store, name) is not None


def test_maths_modules_export_sorted_names() -> None:
    for module in (sloengine.maths.burn, sloengine.engine.evaluate):
        assert module.__all__ == sorted(module.__all__)
        assert all(hasattr(module, name) for name in module.__all__)
