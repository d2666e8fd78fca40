"""The engine's canary service: verdicts, overrides, the audit log and rollback hooks.

`open_canary(config, ...)` builds the `CanaryCore` from the config's `canary:`, `hooks:` and
`audit:` sections (see `_config.py`, `sloengine.hooks`), opens the audit log (default
`<data_dir>/audit.jsonl`), records the config load there, and keeps the latest live
verdicts in `core.latest`, keyed (service, canary variant, baseline variant). The
transports serve it: `sloengine.grpc.add_canary_service` (CanaryService) and
`sloengine.http.canary.add_canary_routes` (the HTTP side door, Flagger, Alertmanager,
overrides); the wiring (`sloengine.app`) connects them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from sloengine.audit import AuditLog, AuditMetrics, read_entries
from sloengine.canary._config import CanaryConfig, ServiceCanaryConfig, parse_canary
from sloengine.canary._core import CanaryCore, VerdictRequest, validate_revision
from sloengine.canary._json import verdict_to_json
from sloengine.canary._overrides import ForcedVerdict, check_revision, check_text
from sloengine.canary._verdict import CanaryVerdict, Verdict, VerdictKey
from sloengine.canary.errors import CanaryRequestError
from sloengine.engine import WindowSource
from sloengine.hooks import RollbackHooks, parse_hooks
from sloengine.model import SLO, Catalog
from sloengine.settings import fields as f
from sloengine.settings.config import ROLE_REPLICA, EngineConfig
from sloengine.settings.fields import At

__all__ = [
    "CanaryConfig",
    "CanaryCore",
    "CanaryRequestError",
    "CanaryVerdict",
    "ForcedVerdict",
    "ServiceCanaryConfig",
    "Verdict",
    "VerdictKey",
    "VerdictRequest",
    "audit_path",
    "check_revision",
    "check_text",
    "open_canary",
    "parse_canary",
    "validate_revision",
    "verdict_to_json",
]


def audit_path(raw: Any, data_dir: Path | None, file: str = "") -> Path | None:
    """`audit.path` from the config, else `<data_dir>/audit.jsonl`, else None (no audit)."""
    at = At(file, "audit")
    section = f.mapping(raw.get("audit") if isinstance(raw, dict) else None, at)
    f.check_known(section, ("path",), at)
    if (path := f.read(section, "path", f.string, at)) is not None:
        return Path(path)
    return None if data_dir is None else Path(data_dir) / "audit.jsonl"


def open_canary(
    engine_config: EngineConfig,
    *,
    catalog: Catalog,
    windows: WindowSource,
    now: Callable[[], float],
    registry: CollectorRegistry,
    latest: dict[VerdictKey, CanaryVerdict] | None = None,
) -> CanaryCore:
    """The canary service of a running engine (transports are added by the wiring): judged
    from `windows` (the store, or the query API in pull mode) at `now`, with the SLO burn
    guards of `catalog`; `latest` receives the live verdicts (shared with the UI)."""
    raw = dict(engine_config.raw or {})
    file = str(engine_config.path or "")
    config = parse_canary(raw.get("canary"), file)
    hooks_config = parse_hooks(raw.get("hooks"), file)
    path = audit_path(raw, engine_config.data_dir, file)
    replica = engine_config.role == ROLE_REPLICA
    audit = None
    if path is not None and not replica:
        audit_metrics = AuditMetrics(registry)
        audit = AuditLog(path, clock=now, observer=audit_metrics.observe)
        if audit.chain_break is not None:
            audit_metrics.chain_breaks.inc()
    hooks = RollbackHooks(hooks_config, audit, clock=now)

    def slos(service: str) -> list[SLO]:
        return [s for s in catalog.slos if s.service == service]

    core = CanaryCore(windows, now, config, hooks, audit, slos, registry=registry, latest=latest)
    if replica:
        # Single writer: a replica never opens the audit log for writing nor runs hooks. It
        # reads the overrides of an audit log it can see (the leader's, on shared storage),
        # so forced verdicts answer the same; changes go to the leader.
        core.acts = False
        core.overrides.read_only_reason = (
            "this engine is a replica (engine.role: replica): send overrides and manual"
            " rollbacks to the leader"
        )
    if path is not None and (not replica or path.exists()):
        # Overrides live in the audit log: replay them so a restart keeps them.
        core.overrides.restore(entry for _line, entry in read_entries(path))
    if audit is not None:
        audit.append(
            "sloengine",
            "config_loaded",
            "engine started with canary settings and rollback hooks",
            {
                "config_file": file,
                "short_window_seconds": config.short_window_seconds,
                "long_window_seconds": config.long_window_seconds,
                "alpha": config.alpha,
                "services": sorted(config.services),
                "hooks": {
                    name: {"kind": type(h.action).__name__, "dry_run": h.dry_run}
                    for name, h in sorted(hooks_config.items())
                },
            },
        )
    return core
