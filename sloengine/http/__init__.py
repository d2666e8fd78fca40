"""The engine's HTTP side: health, readiness and metrics; plugins add their routes."""

from sloengine.http._app import STATE_KEY, create_http_app
from sloengine.http.auth import require_token
from sloengine.http.body import edge_errors, json_object, parse_json, request_params
from sloengine.http.metrics import EngineMetrics

__all__ = [
    "STATE_KEY",
    "EngineMetrics",
    "create_http_app",
    "edge_errors",
    "json_object",
    "parse_json",
    "request_params",
    "require_token",
]
