"""Replay results checked against promtool and against the engine, on one timeline.

    result = replay_timeline(slos, policy, timeline)           # the replay, every step
    failures = promtool_alert_agreement(tmp_path, slos, policy, timeline, result)

promtool gets the SLOs' generated rules, the timeline as counters, and one alert test per
evaluation step expecting exactly the alerts the replay says were firing then (fired at
or before the step, not yet resolved).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from sloengine import conventions as c
from sloengine.generate import GenerateOptions, catalog_policies, render_alert_files
from sloengine.model import SLO, BurnRatePolicy, Catalog
from sloengine.replay import (
    ReplayOptions,
    ReplayResult,
    SLOReplay,
    history_from_frame,
    run_replay,
)
from tests.agreement.harness import BASE_UNIX_S
from tests.agreement.traffic import Timeline, input_series
from tests.replay.traffic import timeline_frame
from tests.support.prometheus import promtool_test_rules

__all__ = ["firing_at", "promtool_alert_agreement", "replay_timeline"]


def replay_timeline(
    slos: tuple[SLO, ...], policy: BurnRatePolicy, timeline: Timeline
) -> ReplayResult:
    """Replay every step of the timeline (charts at full resolution)."""
    s = timeline.step_seconds
    history = history_from_frame(timeline_frame(timeline, BASE_UNIX_S))
    catalog = Catalog(slos=slos, policies=(policy,))
    options = ReplayOptions(
        first_s=BASE_UNIX_S + s,
        last_s=BASE_UNIX_S + timeline.steps * s,
        step_seconds=s,
        policies=(policy.name,),
        chart_points=timeline.steps + 1,
    )
    return run_replay(catalog, history, options)


def firing_at(replay: SLOReplay, t: float) -> tuple[str, ...]:
    """The severities the replay's alert spans say were firing at time t."""
    return tuple(
        sorted(
            {
                a.severity
                for a in replay.alerts
                if a.fired_at_s <= t and (a.resolved_at_s is None or t < a.resolved_at_s)
            }
        )
    )


# (service, name, severity) -> (the alert rule's labels, its annotations as rendered)
RuleAlerts = dict[tuple[str, str, str], tuple[dict[str, str], dict[str, str]]]
_TEMPLATE = re.compile(r"\{\{\s*\$labels\.(\w+)\s*\}\}")


def _rule_alerts(rule_texts: list[str]) -> RuleAlerts:
    """Each SLO burn alert's labels and annotations as Prometheus sends them: the rule's
    own (whatever labels and annotations the generator and policy add), templates filled."""
    out: RuleAlerts = {}
    for text in rule_texts:
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") != c.SLO_BURN_ALERT:
                    continue
                labels = {str(k): str(v) for k, v in rule.get("labels", {}).items()}

                def fill(m: re.Match[str], labels: dict[str, str] = labels) -> str:
                    return labels.get(m.group(1), "")

                annotations = {
                    str(k): _TEMPLATE.sub(fill, str(v))
                    for k, v in rule.get("annotations", {}).items()
                }
                key = (labels[c.LABEL_SLO_SERVICE], labels[c.LABEL_SLO_NAME], labels["severity"])
                out[key] = (labels, annotations)
    return out


def _alert_test(step: int, s: int, replays: list[SLOReplay], rules: RuleAlerts) -> dict[str, Any]:
    expected = []
    for r in replays:
        slo = r.slo
        for severity in firing_at(r, BASE_UNIX_S + step * s):
            labels, annotations = rules[(slo.service, slo.name, severity)]
            expected.append(
                {"exp_labels": {**dict(slo.labels), **labels}, "exp_annotations": annotations}
            )
    return {"eval_time": f"{step * s}s", "alertname": c.SLO_BURN_ALERT, "exp_alerts": expected}


def promtool_alert_agreement(
    directory: Path,
    slos: tuple[SLO, ...],
    policy: BurnRatePolicy,
    timeline: Timeline,
    result: ReplayResult,
) -> list[str]:
    """promtool's output for each failing file (empty: every step agrees)."""
    # The replay ran under `policy`: so must the rules, whatever the loader chose per SLO.
    catalog = Catalog(slos=tuple(dataclasses.replace(s, policy=policy.name) for s in slos))
    files = render_alert_files(
        catalog,
        GenerateOptions(default_policy=policy.name, canary=None),
        catalog_policies(catalog, extra=(policy,)),
    )
    rule_files = sorted(n for n in files if n.endswith(".rules.yml"))
    for name in rule_files:
        (directory / name).write_text(files[name])
    groups = [g["name"] for n in rule_files for g in yaml.safe_load(files[n])["groups"]]
    rules = _rule_alerts([files[n] for n in rule_files])
    s = timeline.step_seconds
    doc = {
        "rule_files": rule_files,
        "evaluation_interval": f"{s}s",
        "group_eval_order": sorted(groups, key=lambda g: g.endswith("-period")),
        "tests": [
            {
                "interval": f"{s}s",
                "input_series": input_series(timeline),
                "alert_rule_test": [
                    _alert_test(step, s, list(result.slos), rules)
                    for step in range(1, timeline.steps + 1)
                ],
            }
        ],
    }
    (directory / "alerts.test.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    failed = promtool_test_rules(directory, ["alerts.test.yml"], timeout_s=180)
    return [f"{name}:\n{out[:6000]}" for name, out in failed.items()]
