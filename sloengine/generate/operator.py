"""The generated rules, route and dashboards as Kubernetes objects (Prometheus Operator).

    files = render_operator_files(alert_files, dashboards, OperatorOptions())
    # {"gateway.prometheusrule.yaml": ..., "dashboard-canary.configmap.yaml": ...,
    #  "alertmanagerconfig.yaml": ..., "kustomization.yaml": ...}

- one `PrometheusRule` (monitoring.coreos.com/v1) per service, whose `spec.groups` are the
  very groups of `alerts/<service>.rules.yml`;
- one `ConfigMap` per dashboard, labelled `grafana_dashboard: "1"` (what Grafana's dashboard
  sidecar looks for by default), the JSON under `<name>.json`;
- one `AlertmanagerConfig` (monitoring.coreos.com/v1alpha1) routing `rollback="true"` to the
  engine's receiver, the admin token read from a Secret key (the operator fills
  `credentials` from it), so Alertmanager never holds the token in its config file.

Pure: text in, text out; the CLI writes the files (`sloengine generate --format
prometheus-operator`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from sloengine import conventions as c
from sloengine.generate.alertmanager import DEFAULT_WEBHOOK_URL
from sloengine.generate.serialize import dump_yaml

__all__ = ["OperatorOptions", "render_operator_files"]

_NAME_UNSAFE = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class OperatorOptions:
    """Where the objects go and what selects them."""

    namespace: str = "monitoring"
    # Labels Prometheus' ruleSelector / Alertmanager's alertmanagerConfigSelector match.
    labels: Mapping[str, str] = field(
        default_factory=lambda: {"app.kubernetes.io/part-of": "sloengine"}
    )
    webhook_url: str = DEFAULT_WEBHOOK_URL
    token_secret: str = "sloengine-alertmanager"
    token_key: str = "token"


def _object_name(text: str) -> str:
    """A DNS-1123 name from a file or service name."""
    return _NAME_UNSAFE.sub("-", text.lower()).strip("-")[:63] or "sloengine"


def _metadata(name: str, options: OperatorOptions, extra: Mapping[str, str] = {}) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": options.namespace,
        "labels": {**options.labels, **extra},
    }


def _prometheus_rule(filename: str, text: str, options: OperatorOptions) -> tuple[str, str]:
    service = filename.removesuffix(".rules.yml")
    groups = (yaml.safe_load(text) or {}).get("groups", [])
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _metadata(f"sloengine-{_object_name(service)}", options),
        "spec": {"groups": groups},
    }
    return f"{service}.prometheusrule.yaml", dump_yaml(doc, source=f"alerts/{filename}")


def _dashboard_configmap(filename: str, text: str, options: OperatorOptions) -> tuple[str, str]:
    stem = filename.removesuffix(".json")
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(
            f"sloengine-dashboard-{_object_name(stem)}", options, {"grafana_dashboard": "1"}
        ),
        "data": {filename: text.rstrip("\n")},  # a literal block, readable in review
    }
    return f"dashboard-{stem}.configmap.yaml", dump_yaml(doc, source=f"dashboards/{filename}")


def _alertmanager_config(options: OperatorOptions) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": _metadata("sloengine-rollback", options),
        "spec": {
            "route": {
                "receiver": "sloengine-rollback",
                "matchers": [
                    {"name": c.LABEL_ROLLBACK, "value": c.ROLLBACK_LABEL_VALUE, "matchType": "="}
                ],
                "groupBy": ["alertname", c.LABEL_SERVICE],
                "groupWait": "5s",
                "groupInterval": "1m",
                "repeatInterval": "1h",
            },
            "receivers": [
                {
                    "name": "sloengine-rollback",
                    "webhookConfigs": [
                        {
                            "url": options.webhook_url,
                            "sendResolved": True,
                            "httpConfig": {
                                "authorization": {
                                    "type": "Bearer",
                                    "credentials": {
                                        "name": options.token_secret,
                                        "key": options.token_key,
                                    },
                                }
                            },
                        }
                    ],
                }
            ],
        },
    }


def render_operator_files(
    alert_files: Mapping[str, str],
    dashboards: Mapping[str, str],
    options: OperatorOptions | None = None,
) -> dict[str, str]:
    """File name -> YAML text for a `kubectl apply -k`-able directory."""
    options = options or OperatorOptions()
    files: dict[str, str] = {}
    for filename, text in sorted(alert_files.items()):
        if filename.endswith(".rules.yml"):
            name, out = _prometheus_rule(filename, text, options)
            files[name] = out
    for filename, text in sorted(dashboards.items()):
        name, out = _dashboard_configmap(filename, text, options)
        files[name] = out
    files["alertmanagerconfig.yaml"] = dump_yaml(_alertmanager_config(options))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }
    files["kustomization.yaml"] = dump_yaml(kustomization)
    return files
