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

Errors are SpecError lines naming the field path (the shared readers of `sloengine.settings.fields`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sloengine import conventions
from sloengine.maths.judge import DEFAULT_ALPHA
from sloengine.settings import fields as f
from sloengine.settings.fields import At

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


_SERVICE_KEYS = sorted(ServiceCanaryConfig.__dataclass_fields__)
_SECTION_KEYS = sorted(
    ("short_window", "long_window", "alpha", "watch_interval", "verdict_requires_token",
     "defaults", "services")
)  # fmt: skip
_VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _variant(value: Any, at: At, may_be_empty: bool) -> str:
    if not isinstance(value, str) or not _VARIANT_NAME.fullmatch(
        value or ("x" if may_be_empty else "")
    ):
        raise at.error("must be a variant name ([A-Za-z0-9._-], <= 63 chars)")
    return value


def _guards(value: Any, at: At) -> tuple[str, ...]:
    if not isinstance(value, list) or any(g not in GUARD_KINDS for g in value):
        raise at.error(f"must be a list of {', '.join(GUARD_KINDS)}")
    return tuple(value)


def _selector(value: Any, at: At) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping) or {"service", "variant"} & set(value):
        raise at.error("must map extra labels (not service/variant) to values")
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def _service(doc: Any, base: ServiceCanaryConfig, at: At) -> ServiceCanaryConfig:
    if doc is None:
        return base
    doc = f.mapping(doc, at)
    f.check_known(doc, _SERVICE_KEYS, at)
    read: dict[str, Any] = {
        "max_error_ratio": f.read(doc, "max_error_ratio", f.number_in, at, 1e-9, 0.999999),
        "max_p95_seconds": f.read(doc, "max_p95_seconds", f.number_in, at, 1e-9, 1e9),
        "latency_quantile": f.read(doc, "latency_quantile", f.number_in, at, 0.5, 0.9999),
        "max_burn_rate": f.read(doc, "max_burn_rate", f.number_in, at, 0, 1e6),
        "guards": f.read(doc, "guards", _guards, at),
        "rollback_on_fail": f.read(doc, "rollback_on_fail", f.boolean, at),
        "canary_variant": f.read(doc, "canary_variant", _variant, at, False),
        "baseline_variant": f.read(doc, "baseline_variant", _variant, at, True),
        "selector": f.read(doc, "selector", _selector, at),
    }
    return replace(base, **{k: v for k, v in read.items() if v is not None})


def parse_canary(section: Any, file: str = "") -> CanaryConfig:
    """The `canary:` section (None: every default)."""
    at = At(file, "canary")
    section = f.mapping(section, at)
    f.check_known(section, _SECTION_KEYS, at)
    short = f.read(section, "short_window", f.duration, at) or 300.0
    long = f.read(section, "long_window", f.duration, at) or 3600.0
    if short > long:
        raise at.key("short_window").error("must not be longer than long_window")
    defaults = _service(section.get("defaults"), ServiceCanaryConfig(), at.key("defaults"))
    services_doc = section.get("services") or {}
    if not isinstance(services_doc, Mapping):
        raise at.key("services").error("must be a mapping of service name to settings")
    services = {
        str(name): _service(doc, defaults, at.key("services").key(name))
        for name, doc in services_doc.items()
    }
    return CanaryConfig(
        verdict_requires_token=f.read(section, "verdict_requires_token", f.boolean, at) or False,
        short_window_seconds=short,
        long_window_seconds=long,
        alpha=f.read(section, "alpha", f.number_in, at, 1e-12, 0.5) or DEFAULT_ALPHA,
        watch_interval_seconds=f.read(section, "watch_interval", f.duration, at) or 10.0,
        defaults=defaults,
        services=services,
    )
