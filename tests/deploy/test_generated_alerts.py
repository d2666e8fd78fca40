"""Generated alerts carry a runbook and a dashboard link; burn alerts can carry
rollback="true" by policy option or by spec; `--format prometheus-operator` renders the
committed deploy/kubernetes/monitoring objects."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from sloengine import conventions as c
from sloengine.generate import GenerateOptions, render_alert_files
from sloengine.specs import load_catalog

ROOT = Path(__file__).resolve().parents[2]


def alerts_of(text: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load(text)
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / "runbooks.md").read_text(), re.M)
    return {re.sub(r"[^a-z0-9-]", "", h.strip().lower().replace(" ", "-")) for h in headings}


def test_every_committed_alert_links_a_runbook_section_and_a_dashboard() -> None:
    uids = {json.loads(p.read_text())["uid"] for p in (ROOT / "dashboards").glob("*.json")}
    anchors = runbook_anchors()
    alerts = [
        a for p in sorted((ROOT / "alerts").glob("*.rules.yml")) for a in alerts_of(p.read_text())
    ]
    assert alerts
    for alert in alerts:
        runbook = alert["annotations"]["runbook_url"]
        assert runbook.split("#", 1)[1] in anchors, runbook
        uid = alert["annotations"]["dashboard_url"].split("/d/", 1)[1].split("?", 1)[0]
        assert uid in uids, alert["alert"]


def test_policy_option_puts_rollback_on_fast_burn_alerts_only(tmp_path: Path) -> None:
    spec = tmp_path / "svc.yaml"
    spec.write_text(
        "apiVersion: sloengine/v1\nkind: ServiceSLOs\nservice: shop\npolicy: fast-slow\n"
        "slos:\n  - name: availability\n    objective: 99.9\n    availability: {}\n"
    )
    files = render_alert_files(load_catalog([spec]), GenerateOptions(canary=None))
    labels = {a["labels"]["severity"]: a["labels"] for a in alerts_of(files["shop.rules.yml"])}
    assert labels[c.SEVERITY_PAGE][c.LABEL_ROLLBACK] == "true"
    assert c.LABEL_ROLLBACK not in labels[c.SEVERITY_TICKET]


def test_a_sloth_spec_can_ask_for_rollback_itself(tmp_path: Path) -> None:
    spec = tmp_path / "sloth.yml"
    spec.write_text(
        "version: prometheus/v1\nservice: shop\nslos:\n  - name: requests\n    objective: 99.9\n"
        "    sli:\n      events:\n        error_query: sum(rate(errors[{{.window}}]))\n"
        "        total_query: sum(rate(total[{{.window}}]))\n"
        "    alerting:\n      name: ShopBurn\n      page_alert:\n        labels: {rollback: 'true'}\n"
    )
    files = render_alert_files(load_catalog([spec]), GenerateOptions(canary=None))
    labels = {a["labels"]["severity"]: a["labels"] for a in alerts_of(files["shop.rules.yml"])}
    assert labels[c.SEVERITY_PAGE][c.LABEL_ROLLBACK] == "true"
    assert c.LABEL_ROLLBACK not in labels[c.SEVERITY_TICKET]


def test_prometheus_operator_format_matches_the_committed_objects(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sloengine", "generate", str(ROOT / "examples" / "slos"),
         "--format", "prometheus-operator", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    committed = ROOT / "deploy" / "kubernetes" / "monitoring"
    generated = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert generated == {p.name: p.read_text() for p in committed.iterdir()}
    kinds = [yaml.safe_load(t)["kind"] for n, t in sorted(generated.items())]
    assert kinds.count("PrometheusRule") == 3 and "AlertmanagerConfig" in kinds
    rule = yaml.safe_load(generated["gateway.prometheusrule.yaml"])
    plain = yaml.safe_load((ROOT / "alerts" / "gateway.rules.yml").read_text())
    assert rule["spec"]["groups"] == plain["groups"]
    board = yaml.safe_load(generated["dashboard-canary.configmap.yaml"])
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(board["data"]["canary.json"])["title"]
