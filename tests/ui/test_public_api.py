"""The UI's public facade, pinned."""

from __future__ import annotations

from tests.support.facade import assert_facade


def test_sloengine_ui_facade() -> None:
    assert_facade(
        "sloengine.ui",
        [
            "UI_PATH",
            "UIBackend",
            "UIRequestError",
            "register",
        ],
    )
