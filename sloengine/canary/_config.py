"""The `canary:` section of the engine config: windows, alpha, per-service guards.

    canary:
      short_window: 5m            # reported beside the long window (current rates)
      long_window: 1h             # the sequential tests run on the analysis so far
      alpha: 0.01                 # per analysis, every look and guard (anytime-valid)
      watch_interval: 10s         # WatchVerdicts polling when the request sets none
      verdict_requires_token: false   # true: /api/v1/verdict needs the bearer token too
      defaults:                   # every service, unless overridden below
        max_error_ratio: 0.02
        max_p95_seconds: 1.5
        latency_quantile: 0.95
        max_burn_rate: 10         # per NativeSLI SLO of the service; 0 disables
        guards: [error_ratio, latency_p95, slo_burn]
        rollback_on_fail: false   # a FAIL verdict runs the service's rollback hook
        canary_variant: canary    # the request's default canary variant
        baseline_variant: ""      # "": the first of baseline, stable (Argo), primary
                                  # (Flagger) that has data for the service
      services:
        gateway: {max_error_ratio: 0.01, rollback_on_fail: true, selector: {route: /search}}
    audit:
      path: /var/lib/sloengine/audit.jsonl   # default: <data_dir>/audit.jsonl

Errors are SpecError lines naming the field path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sloengine import conventions
from sloengine.durations import parse_duration_seconds
from sloengine.errors import SpecError
from sloengine.judge import DEFAULT_ALPHA

__all__ = ["GUARD_KINDS", "CanaryConfig", "ServiceCanaryConfig", "parse_canary"]

GUARD_KINDS = ("error_ratio", "latency_p95", "slo_burn")


@dataclass(frozen=True)
class ServiceCanaryConfig:
    """Guards and actions for one service's canaries."""

    max_error_ratio: float = conventions.DEFAULT_CANARY_MAX_ERROR_RATIO
    max_p95_seconds: float = conventions.DEFAULT_CANARY_MAX_P95_SECONDS
    latency_quantile: float = 0.95
    max_burn_rate: float = conventions.DEFAULT_CANARY_MAX_BURN_RATE
    guards: tuple[str, ...] = GUARD_KINDS
    rollback_on_fail: bool = False
    selector: tuple[tuple[str, str], ...] = ()
    canary_variant: str = conventions.VARIANT_CANARY
    baseline_variant: str = ""


@dataclass(frozen=True)
class CanaryConfig:
    """Engine-wide canary settings and the per-service overrides."""

    short_window_seconds: float = 300.0
    long_window_seconds: float = 3600.0
    alpha: float = DEFAULT_ALPHA
    watch_interval_seconds: float = 10.0
    verdict_requires_token: bool = False
    defaults: ServiceCanaryConfig = ServiceCanaryConfig()
    services: Mapping[str, ServiceCanaryConfig] = field(default_factory=dict)

    def for_service(self, service: str) -> ServiceCanaryConfig:
        return self.services.get(service, self.defaults)


_SERVICE_KEYS = {f for f in ServiceCanaryConfig.__dataclass_fields__}
_VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _number(doc: Mapping[str, Any], key: str, path: str, file: str, lo: float, hi: float) -> float:
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise SpecError(
            file, f"{path}.{key}", f"must be a number in [{lo:g}, {hi:g}], got {value!r}"
        )
    return float(value)


def _duration(doc: Mapping[str, Any], key: str, default: float, path: str, file: str) -> float:
    if key not in doc:
        return default
    try:
        return parse_duration_seconds(str(doc[key]))
    except ValueError as exc:
        raise SpecError(file, f"{path}.{key}", str(exc)) from None


def _service(doc: Any, base: ServiceCanaryConfig, path: str, file: str) -> ServiceCanaryConfig:
    if doc is None:
        return base
    if not isinstance(doc, Mapping):
        raise SpecError(file, path, "must be a mapping")
    unknown = sorted(set(doc) - _SERVICE_KEYS)
    if unknown:
        raise SpecError(
            file, f"{path}.{unknown[0]}", f"unknown key; known: {', '.join(sorted(_SERVICE_KEYS))}"
        )
    out = base
    if "max_error_ratio" in doc:
        out = replace(
            out, max_error_ratio=_number(doc, "max_error_ratio", path, file, 1e-9, 0.999999)
        )
    if "max_p95_seconds" in doc:
        out = replace(out, max_p95_seconds=_number(doc, "max_p95_seconds", path, file, 1e-9, 1e9))
    if "latency_quantile" in doc:
        out = replace(
            out, latency_quantile=_number(doc, "latency_quantile", path, file, 0.5, 0.9999)
        )
    if "max_burn_rate" in doc:
        out = replace(out, max_burn_rate=_number(doc, "max_burn_rate", path, file, 0, 1e6))
    if "guards" in doc:
        guards = doc["guards"]
        if not isinstance(guards, list) or any(g not in GUARD_KINDS for g in guards):
            raise SpecError(file, f"{path}.guards", f"must be a list of {', '.join(GUARD_KINDS)}")
        out = replace(out, guards=tuple(guards))
    if "rollback_on_fail" in doc:
        if not isinstance(doc["rollback_on_fail"], bool):
            raise SpecError(file, f"{path}.rollback_on_fail", "must be true or false")
        out = replace(out, rollback_on_fail=doc["rollback_on_fail"])
    for key in ("canary_variant", "baseline_variant"):
        if key in doc:
            value = doc[key]
            if not isinstance(value, str) or not _VARIANT_NAME.fullmatch(
                value or ("" if key == "canary_variant" else "x")
            ):
                raise SpecError(
                    file, f"{path}.{key}", "must be a variant name ([A-Za-z0-9._-], <= 63 chars)"
                )
            if key == "canary_variant":
                out = replace(out, canary_variant=value)
            else:
                out = replace(out, baseline_variant=value)
    if "selector" in doc:
        selector = doc["selector"]
        if not isinstance(selector, Mapping) or {"service", "variant"} & set(selector):
            raise SpecError(
                file, f"{path}.selector", "must map extra labels (not service/variant) to values"
            )
        out = replace(out, selector=tuple(sorted((str(k), str(v)) for k, v in selector.items())))
    return out


def parse_canary(section: Any, file: str = "") -> CanaryConfig:
    """The `canary:` section (None: every default)."""
    if section is None:
        return CanaryConfig()
    if not isinstance(section, Mapping):
        raise SpecError(file, "canary", "must be a mapping")
    known = {
        "short_window", "long_window", "alpha", "watch_interval", "verdict_requires_token",
        "defaults", "services",
    }  # fmt: skip
    unknown = sorted(set(section) - known)
    if unknown:
        raise SpecError(
            file, f"canary.{unknown[0]}", f"unknown key; known: {', '.join(sorted(known))}"
        )
    short = _duration(section, "short_window", 300.0, "canary", file)
    long = _duration(section, "long_window", 3600.0, "canary", file)
    if short > long:
        raise SpecError(file, "canary.short_window", "must not be longer than long_window")
    alpha = (
        _number(section, "alpha", "canary", file, 1e-12, 0.5)
        if "alpha" in section
        else DEFAULT_ALPHA
    )
    defaults = _service(section.get("defaults"), ServiceCanaryConfig(), "canary.defaults", file)
    services_doc = section.get("services") or {}
    if not isinstance(services_doc, Mapping):
        raise SpecError(file, "canary.services", "must be a mapping of service name to settings")
    services = {
        str(name): _service(doc, defaults, f"canary.services.{name}", file)
        for name, doc in services_doc.items()
    }
    requires_token = section.get("verdict_requires_token", False)
    if not isinstance(requires_token, bool):
        raise SpecError(file, "canary.verdict_requires_token", "must be true or false")
    return CanaryConfig(
        verdict_requires_token=requires_token,
        short_window_seconds=short,
        long_window_seconds=long,
        alpha=alpha,
        watch_interval_seconds=_duration(section, "watch_interval", 10.0, "canary", file),
        defaults=defaults,
        services=services,
    )
