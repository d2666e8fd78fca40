"""Burn-rate policies as data: load our `BurnRatePolicy` files and Sloth's `AlertWindows`.

    apiVersion: sloengine/v1            apiVersion: sloth.slok.dev/v1
    kind: BurnRatePolicy                kind: AlertWindows
    metadata: {name: ...}               spec: {sloPeriod: 30d, page: {quick: ..., slow: ...},
    spec: {period: 30d, windows: [...]}        ticket: {quick: ..., slow: ...}}

Each window gives either `factor` or `errorBudgetPercent` (factor = percent/100 * period /
longWindow). Errors are SpecError lines naming the file and field path.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sloengine import conventions
from sloengine.durations import format_duration, parse_duration_seconds
from sloengine.errors import SpecError
from sloengine.model import BurnRatePolicy, BurnWindow, Catalog, factor_from_budget

DEFAULT_POLICY = "sre-workbook-30d"
# The built-in family an SLO without a policy is matched against, by period.
PERIOD_POLICY_PREFIX = "sre-workbook-"


def builtin_policy_names() -> tuple[str, ...]:
    files = resources.files("sloengine.policies")
    return tuple(sorted(p.name.removesuffix(".yaml") for p in files.iterdir() if p.name.endswith(".yaml")))


def builtin_policy(name: str = DEFAULT_POLICY) -> BurnRatePolicy:
    """A policy shipped with the package, by name (see `builtin_policy_names()`)."""
    if name not in builtin_policy_names():
        raise SpecError("", "policy", f"unknown built-in policy {name!r}; known: {', '.join(builtin_policy_names())}")
    text = resources.files("sloengine.policies").joinpath(f"{name}.yaml").read_text()
    return parse_policy(yaml.safe_load(text), f"<builtin>/{name}.yaml")


def catalog_policies(
    catalog: Catalog, extra: tuple[BurnRatePolicy, ...] = ()
) -> dict[str, BurnRatePolicy]:
    """Policies by name: the built-ins, overridden by the catalog's and then `extra`."""
    policies = {name: builtin_policy(name) for name in builtin_policy_names()}
    policies.update({p.name: p for p in (*catalog.policies, *extra)})
    return policies


def period_policy(period_seconds: float) -> BurnRatePolicy:
    """The burn-rate policy for an SLO period when the SLO names none.

    A built-in `sre-workbook-<period>` when one ships (30d, 28d, 7d); otherwise the 30-day
    table's budget shares (2%, 5%, 10%, 10%) over the same windows, with factors derived
    from the period (factor = share * period / long window), named `sre-workbook-<period>`.
    ValueError when the period is shorter than the table's longest window (3d): its
    alerts could not be judged, so the SLO must name a policy of its own.
    """
    name = f"{PERIOD_POLICY_PREFIX}{format_duration(period_seconds)}"
    if name in builtin_policy_names():
        return builtin_policy(name)
    table = builtin_policy(DEFAULT_POLICY)
    longest = max(w.long_window_seconds for w in table.windows)
    if period_seconds < longest:
        raise ValueError(
            f"no burn-rate policy for a {format_duration(period_seconds)} period: the "
            f"derived SRE Workbook table needs a period of at least {format_duration(longest)}; "
            "give a policy for this period (`policy:` in a native spec, or --policy NAME|FILE)"
        )
    windows = tuple(
        BurnWindow(
            w.severity,
            w.short_window_seconds,
            w.long_window_seconds,
            # the share of the budget each window spends, as in the 30-day table
            factor_from_budget(
                w.factor * w.long_window_seconds / table.period_seconds,
                period_seconds,
                w.long_window_seconds,
            ),
        )
        for w in table.windows
    )
    return BurnRatePolicy(name, period_seconds, windows)


def load_policy_file(path: str | Path) -> BurnRatePolicy:
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SpecError(str(path), "", f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        raise SpecError(str(path), "", f"{where}invalid YAML") from None
    return parse_policy(doc, str(path))


def parse_policy(doc: Any, file: str) -> BurnRatePolicy:
    """Build a policy from a parsed YAML document of either kind."""
    if not isinstance(doc, dict):
        raise SpecError(file, "", "expected a mapping with kind BurnRatePolicy or AlertWindows")
    kind = doc.get("kind")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise SpecError(file, "spec", "missing or not a mapping")
    if kind == "AlertWindows":
        return _parse_sloth_alert_windows(spec, file)
    if kind == "BurnRatePolicy":
        return _parse_burn_rate_policy(doc, spec, file)
    raise SpecError(file, "kind", f"expected BurnRatePolicy or AlertWindows, got {kind!r}")


def _duration(value: Any, file: str, path: str) -> float:
    try:
        return parse_duration_seconds(value)
    except ValueError as exc:
        raise SpecError(file, path, str(exc)) from None


def _window(raw: Any, severity: str, period: float, file: str, path: str) -> BurnWindow:
    if not isinstance(raw, dict):
        raise SpecError(file, path, "expected a mapping")
    if severity not in conventions.SEVERITIES:
        raise SpecError(file, f"{path}.severity", f"must be one of {', '.join(conventions.SEVERITIES)}")
    short = _duration(raw.get("shortWindow"), file, f"{path}.shortWindow")
    long = _duration(raw.get("longWindow"), file, f"{path}.longWindow")
    if short >= long:
        raise SpecError(file, f"{path}.shortWindow", "must be shorter than longWindow")
    if long > period:
        raise SpecError(file, f"{path}.longWindow", "must not be longer than the period")
    if "factor" in raw:
        factor = raw["factor"]
        if not isinstance(factor, int | float) or isinstance(factor, bool) or not factor > 0:
            raise SpecError(file, f"{path}.factor", "must be a positive number")
    elif "errorBudgetPercent" in raw:
        pct = raw["errorBudgetPercent"]
        if not isinstance(pct, int | float) or isinstance(pct, bool) or not 0 < pct <= 100:
            raise SpecError(file, f"{path}.errorBudgetPercent", "must be a number in (0, 100]")
        factor = factor_from_budget(pct / 100.0, period, long)
    else:
        raise SpecError(file, path, "needs factor or errorBudgetPercent")
    return BurnWindow(severity, short, long, float(factor))


def _parse_burn_rate_policy(doc: dict[str, Any], spec: dict[str, Any], file: str) -> BurnRatePolicy:
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(file, "metadata.name", "missing")
    period = _duration(spec.get("period"), file, "spec.period")
    raws = spec.get("windows")
    if not isinstance(raws, list) or not raws:
        raise SpecError(file, "spec.windows", "must be a non-empty list")
    windows = tuple(
        _window(raw, str((raw or {}).get("severity")) if isinstance(raw, dict) else "", period, file, f"spec.windows[{i}]")
        for i, raw in enumerate(raws)
    )
    rollback = spec.get("rollback", [])
    if not isinstance(rollback, list) or any(s not in conventions.SEVERITIES for s in rollback):
        known = ", ".join(conventions.SEVERITIES)
        raise SpecError(file, "spec.rollback", f"must be a list of severities ({known})")
    return BurnRatePolicy(name, period, windows, tuple(rollback))


def _parse_sloth_alert_windows(spec: dict[str, Any], file: str) -> BurnRatePolicy:
    period = _duration(spec.get("sloPeriod"), file, "spec.sloPeriod")
    windows = []
    for severity in conventions.SEVERITIES:
        block = spec.get(severity)
        if not isinstance(block, dict):
            raise SpecError(file, f"spec.{severity}", "missing or not a mapping")
        for speed in ("quick", "slow"):
            windows.append(_window(block.get(speed), severity, period, file, f"spec.{severity}.{speed}"))
    name = Path(file).name.rsplit(".", 1)[0]
    return BurnRatePolicy(f"sloth-{name}", period, tuple(windows))
