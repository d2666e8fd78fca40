"""The transports' public facades (gRPC, HTTP), pinned."""

from __future__ import annotations

from tests.support.facade import assert_facade


def test_sloengine_grpc_facade() -> None:
    assert_facade(
        "sloengine.grpc",
        [
            "ENGINE_SERVICES",
            "BearerTokenInterceptor",
            "CanaryServicer",
            "EngineGrpcServer",
            "add_canary_service",
            "create_grpc_server",
            "slo_info",
            "status_to_pb",
            "verdict_to_pb",
        ],
    )


def test_sloengine_http_facade() -> None:
    assert_facade(
        "sloengine.http",
        [
            "STATE_KEY",
            "EngineMetrics",
            "create_http_app",
            "edge_errors",
            "json_object",
            "parse_json",
            "request_params",
            "require_token",
        ],
    )


def test_sloengine_http_canary_facade() -> None:
    assert_facade(
        "sloengine.http.canary",
        [
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
        ],
    )
