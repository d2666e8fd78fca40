"""Rollback hooks: run a command (argv, no shell) or call an HMAC-signed webhook per service.

    hooks = RollbackHooks(parse_hooks(config.raw.get("hooks")), audit_log)
    outcome = await hooks.trigger("gateway", "rev-42", "FAIL: error ratio ...", source="verdict")

Receivers verify `X-Sloengine-Signature: sha256=<hex>` with `sign(raw_body, secret)`.
"""

from sloengine.hooks._config import CommandAction, HookConfig, WebhookAction, parse_hooks
from sloengine.hooks._runner import SIGNATURE_HEADER, RollbackHooks, RollbackOutcome, sign

__all__ = [
    "SIGNATURE_HEADER",
    "CommandAction",
    "HookConfig",
    "RollbackHooks",
    "RollbackOutcome",
    "WebhookAction",
    "parse_hooks",
    "sign",
]
