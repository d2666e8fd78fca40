"""The generators' public facade, pinned: a change to it is a deliberate one."""

from __future__ import annotations

from tests.support.facade import assert_facade


def test_sloengine_generate_facade() -> None:
    assert_facade(
        "sloengine.generate",
        [
            "ALERTMANAGER_FILE",
            "HEADER",
            "LABELS_SLOENGINE",
            "LABELS_SLOTH",
            "LABEL_SCHEMES",
            "AlertLinks",
            "AlertmanagerOptions",
            "CanaryGuardOptions",
            "GenerateOptions",
            "catalog_policies",
            "policy_for",
            "render_alert_files",
            "rules_filename",
        ],
    )
