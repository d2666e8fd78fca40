"""docs/canary.md shows the very manifests the controller tests use."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_canary_doc_includes_the_tested_manifests_verbatim() -> None:
    doc = (ROOT / "docs" / "canary.md").read_text()
    blocks = re.findall(
        r"<!-- include: (\S+) -->\n```yaml\n(.*?)```\n<!-- end include -->", doc, re.S
    )
    included = {path for path, _ in blocks}
    assert {
        "deploy/kubernetes/argo/analysistemplate.yaml",
        "deploy/kubernetes/argo/rollout.yaml",
        "deploy/kubernetes/flagger/canary.yaml",
        "deploy/kubernetes/workload/deployment.yaml",
    } <= included
    for path, body in blocks:
        assert body == (ROOT / path).read_text().rstrip() + "\n", path
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_doc_includes.py"), "docs/canary.md", "--check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout
