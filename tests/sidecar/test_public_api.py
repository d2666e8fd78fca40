"""The sidecar's public facade, pinned (its names resolve lazily)."""

from __future__ import annotations

from tests.support.facade import assert_facade


def test_sidecar_facade() -> None:
    assert_facade(
        "sidecar",
        [
            "ConfigError",
            "Sidecar",
            "SidecarConfig",
            "parse_config",
        ],
    )
