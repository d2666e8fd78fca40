"""Rollback hooks: run a command (argv, no shell) or call an HMAC-signed webhook per service.

    hooks = RollbackHooks(parse_hooks(config.raw.get("hooks")), audit_log)
    outcome = await hooks.trigger("gateway", "rev-42", "FAIL: error ratio ...", source="verdict")

Receivers check a delivery with `verify_delivery(headers, raw_body, secret, now=time.time(),
seen=SeenDeliveries())`: the signature covers the timestamp, the delivery id and the body;
old timestamps are refused and a repeated delivery id is reported (see `_signing`).
"""

from sloengine.hooks._config import CommandAction, HookConfig, WebhookAction, parse_hooks
from sloengine.hooks._runner import RollbackHooks, RollbackOutcome
from sloengine.hooks._signing import (
    DEFAULT_TOLERANCE_SECONDS,
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_V2_HEADER,
    TIMESTAMP_HEADER,
    SeenDeliveries,
    SignatureError,
    sign,
    sign_delivery,
    verify_delivery,
)

__all__ = [
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
]
