"""What Grafana does to a dashboard's queries before sending them to Prometheus.

Walks the panels (rows included) and substitutes template variables the way Grafana's
Prometheus data source does for single-valued variables, so tests can run the exact
queries against a real Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# Grafana's built-ins at a 1s scrape interval and a short time range; `$__rate_interval` is
# max(4 * scrape interval, $__interval + scrape interval).
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class PanelQuery:
    panel_title: str
    panel_type: str
    ref_id: str
    expr: str
    instant: bool


def panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every panel, rows' nested panels included, rows themselves excluded."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels") or []
        else:
            yield panel


def queries(dashboard: Mapping[str, Any]) -> Iterator[PanelQuery]:
    for panel in panels(dashboard):
        for target in panel.get("targets") or []:
            yield PanelQuery(
                panel["title"],
                panel["type"],
                target["refId"],
                target["expr"],
                bool(target.get("instant")),
            )


def annotation_queries(dashboard: Mapping[str, Any]) -> Iterator[PanelQuery]:
    """Annotation queries, as range queries like Grafana runs them."""
    for annotation in (dashboard.get("annotations") or {}).get("list") or []:
        if annotation.get("expr"):
            yield PanelQuery(annotation["name"], "annotation", "", annotation["expr"], False)


def variable_defaults(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """Each variable's current value, as the dashboard opens."""
    out = {}
    for variable in dashboard["templating"]["list"]:
        current = variable.get("current") or {}
        out[variable["name"]] = str(current.get("value", ""))
    return out


def interpolate(expr: str, values: Mapping[str, str]) -> str:
    """Replace `$name` / `${name}`; an unknown variable is an error, as in a broken panel."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in BUILTINS:
            return BUILTINS[name]
        if name not in values:
            raise KeyError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(sub, expr)
