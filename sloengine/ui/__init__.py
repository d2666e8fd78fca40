"""The engine's web UI: SLOs, burn rates, canary verdicts and the audit log, live.

`EngineApp` calls `register(state, http_app)` after the canary service, so the UI finds
its `CanaryCore` on the application (and works without it: no canaries, and the audit log
at its default place if one exists). The page is served at `/ui/`, its
JSON under `/ui/api/`; see docs/ui.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sloengine.ui._audit import AuditReader
from sloengine.ui._backend import UIBackend, UIRequestError
from sloengine.ui._routes import UI_PATH, add_routes

if TYPE_CHECKING:
    from sloengine.app import EngineState

__all__ = ["UI_PATH", "UIBackend", "UIRequestError", "register"]


def _canary_core(http_app: web.Application) -> Any:
    try:
        from sloengine.http.canary import CANARY_CORE_KEY
    except ImportError:
        return None
    return http_app.get(CANARY_CORE_KEY)


def _audit_path(state: EngineState, core: Any) -> Path | None:
    if core is not None and core.audit is not None:
        return Path(core.audit.path)
    try:
        from sloengine.canary import audit_path
    except ImportError:
        return None
    return audit_path(dict(state.config.raw or {}), state.data_dir)


def register(state: EngineState, http_app: web.Application) -> UIBackend:
    """Serve the UI and its read-only JSON API from the engine's HTTP application."""
    core = _canary_core(http_app)
    backend = UIBackend(state, core, AuditReader(_audit_path(state, core)))
    add_routes(http_app, backend)
    return backend
