"""The engine's web UI: SLOs, burn rates, canary verdicts and the audit log, live.

`EngineApp` calls `register(http_app, ...)` after the canary is built, passing it the
canary's `CanaryCore` (None: an engine without canaries) and the audit log's path. The page
is served at `/ui/`, its JSON under `/ui/api/`; see docs/ui.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from sloengine.ui._audit import AuditReader
from sloengine.ui._backend import UIBackend, UIRequestError
from sloengine.ui._routes import UI_PATH, add_routes

if TYPE_CHECKING:
    from sloengine.canary import CanaryCore
    from sloengine.engine import StatusService, StoreHandle
    from sloengine.settings.credentials import Credentials

__all__ = ["UI_PATH", "UIBackend", "UIRequestError", "register"]


def register(
    http_app: web.Application,
    *,
    status: StatusService,
    store: StoreHandle,
    credentials: Credentials,
    canary: CanaryCore | None,
    audit_path: Path | None,
) -> UIBackend:
    """Serve the UI and its read-only JSON API from the engine's HTTP application."""
    backend = UIBackend(status, store, credentials, canary, AuditReader(audit_path))
    add_routes(http_app, backend)
    return backend
