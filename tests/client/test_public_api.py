"""The engine client's public facade, pinned."""

from __future__ import annotations

from tests.support.facade import assert_facade


def test_sloengine_client_facade() -> None:
    assert_facade(
        "sloengine.client",
        [
            "EngineClient",
            "EngineClientCollector",
            "ThreadedEngineClient",
        ],
    )
