"""`--labels sloth`: for every Sloth example, each record and alert Sloth itself generated
(corpus `_gen/`) exists in our rules under the same name with the same labels, so whatever
selects Sloth's series (dashboards, Alertmanager routes) selects ours."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloengine.generate import LABELS_SLOTH, GenerateOptions, render_alert_files
from sloengine.specs import load_catalog

CORPUS = Path(
    os.environ.get(
        "SLOENGINE_CORPUS", Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
    )
)
GEN = CORPUS / "sloth" / "_gen"
# Labels Sloth adds for its own bookkeeping: the generating command, and its build info.
NOT_COMPARED = {"cmd", "sloth_mode", "sloth_version", "sloth_spec"}


def _rules(docs: list[Any]) -> list[tuple[str, dict[str, str]]]:
    return [
        (
            rule.get("record") or rule["alert"],
            {k: str(v) for k, v in rule.get("labels", {}).items()},
        )
        for doc in docs
        if doc
        for group in doc["groups"]
        for rule in group["rules"]
    ]


@pytest.mark.parametrize("name", sorted(p.name for p in GEN.glob("*.yml")) or ["(no corpus)"])
def test_every_sloth_record_and_alert_has_its_twin(name: str) -> None:
    if not GEN.exists():
        pytest.skip(f"corpus not available at {CORPUS} (set SLOENGINE_CORPUS)")
    catalog = load_catalog([CORPUS / "sloth" / "examples" / name])
    files = render_alert_files(catalog, GenerateOptions(canary=None, labels=LABELS_SLOTH))
    ours = _rules([yaml.safe_load(t) for n, t in files.items() if n.endswith(".rules.yml")])
    theirs = _rules(list(yaml.safe_load_all((GEN / name).read_text())))
    assert theirs
    for record, labels in theirs:
        wanted = {k: v for k, v in labels.items() if k not in NOT_COMPARED}
        twins = [got for n, got in ours if n == record and wanted.items() <= got.items()]
        assert twins, f"{record} {wanted}"
