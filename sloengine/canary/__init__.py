"""The engine's canary plugin: CanaryService (gRPC), the HTTP side door, rollback hooks.

`EngineApp` calls `register(state, grpc_server, http_app)` after building both servers.
It reads the config's `canary:`, `hooks:` and `audit:` sections (see `_config.py`,
`sloengine.hooks`), opens the audit log (default `<data_dir>/audit.jsonl`), records the
config load there, and keeps the latest live verdicts in `state.verdicts`, keyed
(service, canary variant, baseline variant), as `CanaryVerdict` messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
from aiohttp import web

from sloengine.audit import AuditLog
from sloengine.canary._config import CanaryConfig, ServiceCanaryConfig, parse_canary
from sloengine.canary._convert import verdict_to_json, verdict_to_pb
from sloengine.canary._core import CanaryCore, VerdictRequest
from sloengine.canary._grpc import CanaryServicer
from sloengine.canary._http import add_routes
from sloengine.canary.errors import CanaryRequestError
from sloengine.credentials import Scope
from sloengine.errors import SpecError
from sloengine.hooks import RollbackHooks, parse_hooks
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc

__all__ = [
    "CANARY_CORE_KEY",
    "CanaryConfig",
    "CanaryCore",
    "CanaryRequestError",
    "CanaryServicer",
    "ServiceCanaryConfig",
    "VerdictRequest",
    "audit_path",
    "parse_canary",
    "register",
    "verdict_to_json",
    "verdict_to_pb",
]

CANARY_CORE_KEY = web.AppKey("sloengine_canary_core", CanaryCore)


def audit_path(raw: Any, data_dir: Path | None, file: str = "") -> Path | None:
    """`audit.path` from the config, else `<data_dir>/audit.jsonl`, else None (no audit)."""
    section = raw.get("audit") if isinstance(raw, dict) else None
    if section is not None and not isinstance(section, dict):
        raise SpecError(file, "audit", "must be a mapping")
    if section and section.get("path"):
        return Path(str(section["path"]))
    return None if data_dir is None else Path(data_dir) / "audit.jsonl"


def register(state: Any, grpc_server: grpc.aio.Server, http_app: web.Application) -> CanaryCore:
    """Add CanaryService to `grpc_server` and the side-door routes to `http_app`."""
    from sloengine.audit import AuditMetrics, read_entries
    from sloengine.canary._override_http import add_override_routes
    from sloengine.credentials import credentials_of
    from sloengine.http.auth import require_token

    raw = dict(state.config.raw or {})
    file = str(getattr(state.config, "path", "") or "")
    config = parse_canary(raw.get("canary"), file)
    hooks_config = parse_hooks(raw.get("hooks"), file)
    path = audit_path(raw, state.data_dir, file)
    replica = getattr(state.config, "role", "leader") == "replica"
    audit = None
    if path is not None and not replica:
        audit_metrics = AuditMetrics(state.registry)
        audit = AuditLog(path, clock=state.now, observer=audit_metrics.observe)
        if audit.chain_break is not None:
            audit_metrics.chain_breaks.inc()
    hooks = RollbackHooks(hooks_config, audit, clock=state.now)

    def slos(service: str) -> list[Any]:
        return [s for s in state.catalog.slos if s.service == service]

    core = CanaryCore(state, config, hooks, audit, slos, registry=state.registry)
    pb_grpc.add_CanaryServiceServicer_to_server(CanaryServicer(core), grpc_server)
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
    credentials = credentials_of(state)

    def check_token(request: web.Request, scope: Scope) -> None:
        require_token(credentials, request, scope)

    add_routes(http_app, core, check_token, credentials)
    add_override_routes(http_app, core, check_token)
    http_app[CANARY_CORE_KEY] = core

    async def close(_app: web.Application) -> None:
        await core.aclose()

    http_app.on_cleanup.append(close)
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
