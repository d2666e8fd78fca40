"""Where an alert points its reader: a runbook section and a Grafana dashboard.

Every generated alert carries `runbook_url` (the section of docs/runbooks.md for the alert,
or under `runbook_base_url`) and `dashboard_url` (the generated dashboard that explains it,
by its stable uid, under `grafana_url`; relative to Grafana's root by default). A spec's own
annotations of the same name win.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlencode

__all__ = ["DEFAULT_LINKS", "DEFAULT_RUNBOOK_BASE_URL", "AlertLinks", "dashboard_uid"]

DEFAULT_RUNBOOK_BASE_URL = "docs/runbooks.md"
ANNOTATION_RUNBOOK = "runbook_url"
ANNOTATION_DASHBOARD = "dashboard_url"


def dashboard_uid(key: str) -> str:
    """A stable Grafana uid for a dashboard key (`red`, `canary`, `slo/<service>`).

    Derived from the name alone, so a regenerated dashboard replaces the imported one
    instead of creating a copy; 21 characters, well inside Grafana's limit of 40.
    """
    return "sloe-" + hashlib.sha1(key.encode()).hexdigest()[:16]


def _anchor(alert: str) -> str:
    """GitHub-style heading anchor of an alert name: CanaryErrorRateHigh -> canaryerrorratehigh."""
    return re.sub(r"[^a-z0-9-]", "", alert.lower())


@dataclass(frozen=True)
class AlertLinks:
    """Bases of the runbook and dashboard links in alert annotations."""

    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    grafana_url: str = ""

    def runbook(self, alert: str) -> str:
        return f"{self.runbook_base_url}#{_anchor(alert)}"

    def dashboard(self, key: str, variables: dict[str, str] | None = None) -> str:
        query = f"?{urlencode({f'var-{k}': v for k, v in variables.items()})}" if variables else ""
        return f"{self.grafana_url.rstrip('/')}/d/{dashboard_uid(key)}{query}"

    def annotations(
        self, alert: str, dashboard_key: str, variables: dict[str, str] | None = None
    ) -> tuple[tuple[str, str], ...]:
        return (
            (ANNOTATION_DASHBOARD, self.dashboard(dashboard_key, variables)),
            (ANNOTATION_RUNBOOK, self.runbook(alert)),
        )


DEFAULT_LINKS = AlertLinks()
