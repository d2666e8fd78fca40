"""`sloengine generate PATH... --out DIR`: specs to Prometheus rules, Alertmanager route and
Grafana dashboards.

    DIR/alerts/<service>.rules.yml   recording + MWMBR alert rules, canary guard alerts
    DIR/alerts/alertmanager.yml      rollback="true" -> the engine's webhook receiver
    DIR/dashboards/<name>.json       Grafana dashboards (sloengine.generate.dashboards)

With `--format prometheus-operator`, the same content as Kubernetes objects in DIR itself
(sloengine.generate.operator): `<service>.prometheusrule.yaml` (PrometheusRule),
`dashboard-<name>.configmap.yaml` (ConfigMaps labelled grafana_dashboard), an
AlertmanagerConfig and a kustomization.yaml.

Generated files that no longer have a source (a service removed from the specs) are
deleted; only files carrying our do-not-edit header are ever touched, and `alerts/tests/`
is left alone. Spec errors: one line each on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path

from sloengine.durations import parse_duration_seconds
from sloengine.errors import SpecError, SpecErrors
from sloengine.generate import (
    HEADER,
    LABEL_SCHEMES,
    LABELS_SLOENGINE,
    AlertLinks,
    AlertmanagerOptions,
    CanaryGuardOptions,
    GenerateOptions,
    catalog_policies,
    render_alert_files,
)
from sloengine.generate.alertmanager import DEFAULT_TOKEN_FILE, DEFAULT_WEBHOOK_URL
from sloengine.generate.links import DEFAULT_RUNBOOK_BASE_URL
from sloengine.generate.rules import PERIOD_GROUP_INTERVAL
from sloengine.model import BurnRatePolicy, Catalog
from sloengine.specs import load_catalog
from sloengine.specs.policy import DEFAULT_POLICY, load_policy_file

# The engine's Service in deploy/kubernetes.
IN_CLUSTER_WEBHOOK_URL = "http://sloengine.sloengine.svc.cluster.local:8080/api/v1/alertmanager"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate Prometheus rules, the Alertmanager route and Grafana dashboards",
        description="Render rules, alertmanager.yml and dashboards for SLO spec files or directories.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="spec file or directory")
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="writes DIR/alerts and DIR/dashboards"
    )
    parser.add_argument(
        "--policy",
        default=None,
        metavar="NAME|FILE",
        help="burn-rate policy for SLOs that name none: a built-in or catalog name, or a "
        "BurnRatePolicy/AlertWindows file; its period must be theirs (default: the policy "
        "matching each SLO's period, e.g. sre-workbook-28d for 28d)",
    )
    defaults = CanaryGuardOptions()
    parser.add_argument(
        "--canary-max-error-ratio",
        type=float,
        default=defaults.max_error_ratio,
        metavar="RATIO",
        help=f"CanaryErrorRateHigh threshold (default {defaults.max_error_ratio})",
    )
    parser.add_argument(
        "--canary-max-p95",
        type=float,
        default=defaults.max_p95_seconds,
        metavar="SECONDS",
        help=f"CanaryLatencyP95High threshold (default {defaults.max_p95_seconds})",
    )
    parser.add_argument(
        "--canary-windows",
        default=f"{defaults.short_window},{defaults.long_window}",
        metavar="SHORT,LONG",
        help="the two windows both canary guards must breach (default %(default)s)",
    )
    parser.add_argument(
        "--canary-for",
        default="",
        metavar="DURATION",
        help="how long both windows must breach before a canary guard fires (default: at once)",
    )
    parser.add_argument(
        "--no-canary-guards", action="store_true", help="skip the canary guard alerts"
    )
    parser.add_argument(
        "--webhook-url",
        default=None,
        metavar="URL",
        help=f"the engine's Alertmanager receiver (default {DEFAULT_WEBHOOK_URL}; "
        f"with --format prometheus-operator {IN_CLUSTER_WEBHOOK_URL})",
    )
    parser.add_argument(
        "--token-file",
        default=DEFAULT_TOKEN_FILE,
        metavar="PATH",
        help="bearer token file Alertmanager sends to the receiver (default %(default)s)",
    )
    parser.add_argument(
        "--runbook-base-url",
        default=DEFAULT_RUNBOOK_BASE_URL,
        metavar="URL",
        help="runbook_url of each alert is URL#<alert name> (default %(default)s)",
    )
    parser.add_argument(
        "--grafana-url",
        default="",
        metavar="URL",
        help="dashboard_url of each alert is URL/d/<uid> (default: relative to Grafana's root)",
    )
    parser.add_argument(
        "--format",
        choices=("prometheus", "prometheus-operator"),
        default="prometheus",
        help="prometheus: DIR/alerts + DIR/dashboards files; prometheus-operator: "
        "PrometheusRule, dashboard ConfigMaps and AlertmanagerConfig objects in DIR",
    )
    parser.add_argument(
        "--namespace",
        default="monitoring",
        help="namespace of the prometheus-operator objects (default %(default)s)",
    )
    parser.add_argument(
        "--labels",
        choices=LABEL_SCHEMES,
        default=LABELS_SLOENGINE,
        help="label scheme of the SLO rules: sloengine (slo_service, slo_name, slo_window), or "
        "sloth, which adds Sloth's sloth_id/sloth_service/sloth_slo/sloth_window labels and "
        "its slo:time_period:days record so Sloth's dashboards keep working (default %(default)s)",
    )
    parser.add_argument(
        "--period-interval",
        default=PERIOD_GROUP_INTERVAL,
        metavar="DURATION",
        help="evaluation interval of the 30-day groups; empty for the global one (default %(default)s)",
    )
    parser.set_defaults(func=run)


def _options(args: argparse.Namespace) -> GenerateOptions:
    short, _, long = str(args.canary_windows).partition(",")
    try:
        canary = (
            None
            if args.no_canary_guards
            else CanaryGuardOptions(
                max_error_ratio=args.canary_max_error_ratio,
                max_p95_seconds=args.canary_max_p95,
                short_window=short.strip(),
                long_window=long.strip(),
                hold_for=args.canary_for,
            )
        )
        alertmanager = AlertmanagerOptions(
            webhook_url=args.webhook_url or DEFAULT_WEBHOOK_URL, token_file=args.token_file
        )
    except ValueError as exc:
        raise SpecError("", "options", str(exc)) from None
    if args.period_interval:
        try:
            parse_duration_seconds(args.period_interval)
        except ValueError as exc:
            raise SpecError("", "options", f"--period-interval: {exc}") from None
    return GenerateOptions(
        default_policy=args.policy or DEFAULT_POLICY,
        canary=canary,
        alertmanager=alertmanager,
        period_interval=args.period_interval or None,
        links=AlertLinks(runbook_base_url=args.runbook_base_url, grafana_url=args.grafana_url),
        labels=args.labels,
    )


def _default_policy(policy_arg: str | None) -> str | BurnRatePolicy | None:
    """`--policy`: None (choose by period), a policy name, or a policy file loaded."""
    if policy_arg and Path(policy_arg).is_file():
        return load_policy_file(policy_arg)
    return policy_arg or None


def _dashboards(
    catalog: Catalog,
    policies: Mapping[str, BurnRatePolicy],
    options: GenerateOptions,
) -> dict[str, str]:
    # Imported here: the Grafana SDK is needed by this command only.
    from sloengine.generate.dashboards import CanaryGuards, render_dashboards

    if options.canary is None:
        return render_dashboards(catalog, policies, default_policy=options.default_policy)
    # The canary dashboard draws the same thresholds the guard alerts use.
    guards = CanaryGuards(
        max_error_ratio=options.canary.max_error_ratio,
        max_p95_seconds=options.canary.max_p95_seconds,
    )
    return render_dashboards(
        catalog, policies, guards=guards, default_policy=options.default_policy
    )


def write_files(directory: Path, files: Mapping[str, str], *, suffixes: tuple[str, ...]) -> None:
    """Write `files` into `directory`; delete our stale generated files with `suffixes`."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in sorted(directory.iterdir()):
        if (
            stale.is_file()
            and stale.name.endswith(suffixes)
            and stale.name not in files
            and _is_ours(stale)
        ):
            stale.unlink()
    for name, text in sorted(files.items()):
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def _is_ours(path: Path) -> bool:
    with path.open() as f:
        head = f.read(4096)
    # Rules carry HEADER; dashboards (JSON, no comments) say it in their description.
    return head.startswith(HEADER) or "generated by sloengine" in head.lower()


def run(args: argparse.Namespace) -> int:
    try:
        default = _default_policy(args.policy)
        catalog = load_catalog(args.paths, default_policy=default)
        options = _options(args)
        if default is not None:
            name = default.name if isinstance(default, BurnRatePolicy) else default
            options = dataclasses.replace(options, default_policy=name)
        policies = catalog_policies(catalog)
        alert_files = render_alert_files(catalog, options, policies)
        dashboards = _dashboards(catalog, policies, options)
    except SpecErrors as errs:
        for err in errs.errors:
            print(err.line(), file=sys.stderr)
        return 2
    except SpecError as err:
        print(err.line(), file=sys.stderr)
        return 2
    out = Path(args.out)
    if args.format == "prometheus-operator":
        return _write_operator(args, out, alert_files, dashboards)
    write_files(out / "alerts", alert_files, suffixes=(".rules.yml", ".yml"))
    write_files(out / "dashboards", dashboards, suffixes=(".json",))
    rules = sum(1 for name in alert_files if name.endswith(".rules.yml"))
    print(
        f"generated {rules} rule file(s), alertmanager.yml and "
        f"{len(dashboards)} dashboard(s) for {len(catalog.slos)} SLO(s) in {out}"
    )
    return 0


def _write_operator(
    args: argparse.Namespace,
    out: Path,
    alert_files: Mapping[str, str],
    dashboards: Mapping[str, str],
) -> int:
    from sloengine.generate.operator import OperatorOptions, render_operator_files

    options = OperatorOptions(
        namespace=args.namespace, webhook_url=args.webhook_url or IN_CLUSTER_WEBHOOK_URL
    )
    files = render_operator_files(alert_files, dashboards, options)
    write_files(out, files, suffixes=(".yaml",))
    rules = sum(1 for name in files if name.endswith(".prometheusrule.yaml"))
    print(
        f"generated {rules} PrometheusRule(s), {len(dashboards)} dashboard ConfigMap(s) and an "
        f"AlertmanagerConfig in {out}"
    )
    return 0
