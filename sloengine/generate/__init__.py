"""Generators: SLO catalog in, Prometheus rules, Alertmanager route and dashboards out.

    files = render_alert_files(catalog, GenerateOptions())
    # {"gateway.rules.yml": "# Code generated ...", ..., "alertmanager.yml": "..."}

Rules go one file per service (every SLO of the service plus its canary guards), so a
service's rules move together whatever file its specs came from. See docs/rules.md.
The dashboards live in `sloengine.generate.dashboards` (imported lazily by the CLI).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath

from sloengine.errors import SpecError, SpecErrors
from sloengine.generate.alertmanager import AlertmanagerOptions, alertmanager_config
from sloengine.generate.canary import CanaryGuardOptions, canary_rule_group
from sloengine.generate.links import AlertLinks
from sloengine.generate.rules import PERIOD_GROUP_INTERVAL, RuleGroup, slo_rule_groups
from sloengine.generate.serialize import HEADER, dump_yaml, rule_groups_yaml
from sloengine.generate.sloth_labels import with_sloth_labels
from sloengine.model import SLO, BurnRatePolicy, Catalog, NativeSLI, resolved_policy
from sloengine.specs.policy import DEFAULT_POLICY, catalog_policies

__all__ = [
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
]

ALERTMANAGER_FILE = "alertmanager.yml"
LABELS_SLOENGINE = "sloengine"
LABELS_SLOTH = "sloth"
LABEL_SCHEMES = (LABELS_SLOENGINE, LABELS_SLOTH)
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class GenerateOptions:
    """Choices the generator cannot read from the specs."""

    default_policy: str = DEFAULT_POLICY  # for SLOs that name no policy
    canary: CanaryGuardOptions | None = field(default_factory=CanaryGuardOptions)  # None: no guards
    alertmanager: AlertmanagerOptions = field(default_factory=AlertmanagerOptions)
    # Evaluation interval of each SLO's period group (None: Prometheus' global interval).
    period_interval: str | None = PERIOD_GROUP_INTERVAL
    # Runbook and dashboard links in every alert's annotations.
    links: AlertLinks = field(default_factory=AlertLinks)
    # "sloth": the rules also carry Sloth's labels and records (generate/sloth_labels.py).
    labels: str = LABELS_SLOENGINE


def rules_filename(service: str) -> str:
    """`<service>.rules.yml`, with characters unsafe in a file name replaced by `_`."""
    return f"{_UNSAFE_FILENAME.sub('_', service)}.rules.yml"


def policy_for(
    slo: SLO, policies: Mapping[str, BurnRatePolicy], default_policy: str
) -> BurnRatePolicy:
    """The policy the loader carried on the SLO, else the one it names, else the default
    (`model.resolved_policy`); SpecError naming the SLO when unknown."""
    policy = resolved_policy(slo, policies, default_policy)
    if policy is None:
        name = slo.policy or default_policy
        where = f"{slo.source.path}.policy" if slo.source.path else "policy"
        known = ", ".join(sorted(policies))
        raise SpecError(
            slo.source.file, where, f"unknown burn-rate policy {name!r}; known: {known}"
        )
    return policy


def render_alert_files(
    catalog: Catalog,
    options: GenerateOptions,
    policies: Mapping[str, BurnRatePolicy] | None = None,
) -> dict[str, str]:
    """Every file for `alerts/`: file name -> text (deterministic bytes).

    Raises SpecErrors listing every SLO whose policy cannot be resolved.
    """
    policies = catalog_policies(catalog) if policies is None else policies
    groups: dict[str, list[RuleGroup]] = {}
    sources: dict[str, set[str]] = {}
    errors: list[SpecError] = []
    for slo in sorted(catalog.slos, key=lambda s: (s.service, s.name)):
        try:
            policy = policy_for(slo, policies, options.default_policy)
        except SpecError as exc:
            errors.append(exc)
            continue
        try:
            slo_groups: tuple[RuleGroup, ...] = slo_rule_groups(
                slo, policy, options.period_interval, options.links
            )
        except ValueError as exc:  # e.g. a time slice the policy's windows cannot hold
            errors.append(SpecError(slo.source.file, slo.source.path, str(exc)))
            continue
        if options.labels == LABELS_SLOTH:
            slo_groups = with_sloth_labels(slo, slo_groups)
        groups.setdefault(slo.service, []).extend(slo_groups)
        sources.setdefault(slo.service, set()).add(slo.source.file)
    if errors:
        raise SpecErrors(errors)
    if options.canary is not None:
        # Guards need our RED metrics (and their variant label): services with native SLIs.
        native = {slo.service for slo in catalog.slos if isinstance(slo.sli, NativeSLI)}
        for service in sorted(native):
            groups[service].append(canary_rule_group(service, options.canary, options.links))
    files = {
        rules_filename(service): rule_groups_yaml(
            service_groups, source=", ".join(sorted(_display(f) for f in sources[service]))
        )
        for service, service_groups in sorted(groups.items())
    }
    files[ALERTMANAGER_FILE] = dump_yaml(alertmanager_config(options.alertmanager))
    return files


def _display(path: str) -> str:
    # The file name only, so output bytes do not depend on how or where the tool was run.
    return PurePath(path).name
