"""The canary parts' public facades (judge, canary, hooks, audit), pinned: every `__all__`
name exists, none private or doubled, and a change to one is deliberate."""

from __future__ import annotations

from tests.support.facade import assert_facade


def test_sloengine_judge_facade() -> None:
    assert_facade(
        "sloengine.judge",
        [
            "DEFAULT_ALPHA",
            "EMPTY",
            "ErrorRatioGuard",
            "Guard",
            "GuardOutcome",
            "Judgement",
            "LatencyQuantileGuard",
            "Observation",
            "VariantWindow",
            "Verdict",
            "combine",
            "evaluate_guard",
            "histogram_quantile",
            "judge",
            "min_samples_to_bound_ratio",
        ],
    )


def test_sloengine_canary_facade() -> None:
    assert_facade(
        "sloengine.canary",
        [
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
        ],
    )


def test_sloengine_hooks_facade() -> None:
    assert_facade(
        "sloengine.hooks",
        [
            "DEFAULT_TOLERANCE_SECONDS",
            "DELIVERY_HEADER",
            "SIGNATURE_HEADER",
            "SIGNATURE_V2_HEADER",
            "TIMESTAMP_HEADER",
            "CommandAction",
            "HookConfig",
            "RollbackHooks",
            "RollbackOutcome",
            "SeenDeliveries",
            "SignatureError",
            "WebhookAction",
            "parse_hooks",
            "sign",
            "sign_delivery",
            "verify_delivery",
        ],
    )


def test_sloengine_audit_facade() -> None:
    assert_facade(
        "sloengine.audit",
        [
            "GENESIS_HASH",
            "AuditLog",
            "AuditLogError",
            "AuditMetrics",
            "VerifyResult",
            "entry_hash",
            "hash52",
            "read_entries",
            "verify",
        ],
    )
