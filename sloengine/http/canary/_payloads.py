"""The Alertmanager webhook payload (version 4), checked field by field at the edge.

Every documented field that is present must have its documented type, so a payload with
`annotations` as a string, or `labels` holding a list, is a 400 naming the field instead
of an exception deep in a handler. Unknown fields are ignored (Alertmanager adds some).
Reference: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sloengine.errors import RequestError
from sloengine.settings import inputs

__all__ = ["AlertmanagerAlert", "alertmanager_alerts"]

_ALERT_STATUSES = ("firing", "resolved")
_TOP_TEXT = ("version", "groupKey", "status", "receiver", "externalURL")
_TOP_MAPS = ("groupLabels", "commonLabels", "commonAnnotations")
_ALERT_TEXT = ("startsAt", "endsAt", "generatorURL", "fingerprint")


@dataclass(frozen=True)
class AlertmanagerAlert:
    """One alert of the payload, typed."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    fingerprint: str


def _alert(doc: Any, path: str) -> AlertmanagerAlert:
    if not isinstance(doc, Mapping):
        raise RequestError(path, "must be an object (an alert)")
    if "labels" not in doc:
        raise RequestError(f"{path}.labels", "required (a map of strings)")
    for key in _ALERT_TEXT:
        inputs.text(doc.get(key), f"{path}.{key}", numbers=False)
    status = inputs.text(doc.get("status"), f"{path}.status", numbers=False) or "firing"
    if status not in _ALERT_STATUSES:
        raise RequestError(f"{path}.status", f"must be firing or resolved, got {status[:40]!r}")
    return AlertmanagerAlert(
        status=status,
        labels=inputs.string_map(doc["labels"], f"{path}.labels"),
        annotations=inputs.optional_string_map(doc.get("annotations"), f"{path}.annotations"),
        starts_at=inputs.text(doc.get("startsAt"), f"{path}.startsAt"),
        fingerprint=inputs.text(doc.get("fingerprint"), f"{path}.fingerprint"),
    )


def alertmanager_alerts(body: Mapping[str, Any]) -> list[AlertmanagerAlert]:
    """The payload's alerts; RequestError naming the first field of the wrong type."""
    for key in _TOP_TEXT:
        inputs.text(body.get(key), key, numbers=False)
    for key in _TOP_MAPS:
        inputs.optional_string_map(body.get(key), key)
    truncated = body.get("truncatedAlerts", 0)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise RequestError("truncatedAlerts", "must be an integer >= 0")
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise RequestError("alerts", "must be a list (Alertmanager webhook payload v4)")
    return [_alert(doc, f"alerts[{i}]") for i, doc in enumerate(alerts)]
