"""The canary service over HTTP: the verdict side door, Flagger's gates, Alertmanager's
webhook and the manual override API (paths in DESIGN.md: a contract).

`add_canary_routes(app, core, check_token, credentials)` adds them to the engine's aiohttp
application; the verdict JSON is `sloengine.canary.verdict_to_json`, the one mapping the UI
shows too. `app[CANARY_CORE_KEY]` is the core, for the UI.
"""

from __future__ import annotations

from aiohttp import web

from sloengine.canary import CanaryCore
from sloengine.http.canary._overrides import OVERRIDES_PATH, add_override_routes
from sloengine.http.canary._payloads import AlertmanagerAlert, alertmanager_alerts
from sloengine.http.canary._routes import (
    GO_GATES,
    NOTIFY_GATES,
    ROLLBACK_GATE,
    TokenCheck,
    add_routes,
    gate_status,
)
from sloengine.settings.credentials import Credentials

__all__ = [
    "CANARY_CORE_KEY",
    "GO_GATES",
    "NOTIFY_GATES",
    "OVERRIDES_PATH",
    "ROLLBACK_GATE",
    "AlertmanagerAlert",
    "TokenCheck",
    "add_canary_routes",
    "alertmanager_alerts",
    "gate_status",
]

CANARY_CORE_KEY = web.AppKey("sloengine_canary_core", CanaryCore)


def add_canary_routes(
    app: web.Application,
    core: CanaryCore,
    check_token: TokenCheck,
    credentials: Credentials | None = None,
) -> None:
    """Serve `core` on `app`: verdicts, Flagger gates, Alertmanager, overrides."""
    add_routes(app, core, check_token, credentials)
    add_override_routes(app, core, check_token)
    app[CANARY_CORE_KEY] = core
