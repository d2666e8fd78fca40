"""Rollback hook settings per service, parsed from the engine config's `hooks:` section.

    hooks:
      gateway:
        command: [kubectl, argo, rollouts, abort, "{service}"]   # argv, never a shell string
        timeout: 30s
        retries: 3            # attempts after the first
        backoff: 1s           # doubles each retry, capped at max_backoff
        max_backoff: 30s
        cooldown: 5m          # after a rollback, other revisions of the service wait this long
        dry_run: false        # audit what would run, run nothing
      docs-api:
        webhook:
          url: https://deploy.example/rollback
          secret_file: /etc/sloengine/hook-secret   # or secret_env: HOOK_SECRET
          headers: {X-Team: docs}

In argv elements, `{service}`, `{revision}` and `{reason}` are replaced by the values of
the trigger (each stays one argument: there is no shell to split or expand them).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sloengine.settings import fields as f
from sloengine.settings.fields import At

__all__ = ["CommandAction", "HookConfig", "WebhookAction", "parse_hooks"]


@dataclass(frozen=True)
class CommandAction:
    """Run `argv` (no shell); exit code 0 is success."""

    argv: tuple[str, ...]


@dataclass(frozen=True)
class WebhookAction:
    """POST a JSON body to `url`, signed with HMAC-SHA256 when a secret is set."""

    url: str
    secret: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class HookConfig:
    """How one service is rolled back, and how hard to try."""

    action: CommandAction | WebhookAction
    timeout_seconds: float = 30.0
    retries: int = 3
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    cooldown_seconds: float = 300.0
    dry_run: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)


_KEYS = sorted(
    ("command", "webhook", "timeout", "retries", "backoff", "max_backoff", "cooldown", "dry_run")
)


def _duration(value: Any, at: At) -> float:
    # `0` (a YAML int) and `0s` turn a wait off; Prometheus durations are positive.
    return 0.0 if str(value).strip() in ("0", "0s") else f.duration(value, at)


def _read_secret(doc: Mapping[str, Any], at: At) -> bytes | None:
    if "secret_file" in doc:
        try:
            return Path(str(doc["secret_file"])).read_bytes().strip()
        except OSError as exc:
            raise at.key("secret_file").error(f"cannot read: {exc.strerror}") from None
    if "secret_env" in doc:
        value = os.environ.get(str(doc["secret_env"]))
        if not value:
            raise at.key("secret_env").error(f"${doc['secret_env']} is not set")
        return value.encode()
    return None


def _command(argv: Any, at: At) -> CommandAction:
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str | int) for a in argv):
        raise at.error("must be a non-empty list of arguments (argv, no shell)")
    return CommandAction(tuple(str(a) for a in argv))


def _webhook(hook: Any, at: At) -> WebhookAction:
    if not isinstance(hook, Mapping) or not str(hook.get("url", "")).startswith(
        ("http://", "https://")
    ):
        raise at.key("url").error("must be an http(s) URL")
    headers = f.mapping(hook.get("headers"), at.key("headers"))
    return WebhookAction(
        url=str(hook["url"]),
        secret=_read_secret(hook, at),
        headers=tuple(sorted((str(k), str(v)) for k, v in headers.items())),
    )


def _parse_one(doc: Any, at: At) -> HookConfig:
    if not isinstance(doc, Mapping):
        raise at.error("must be a mapping")
    f.check_known(doc, _KEYS, at)
    if ("command" in doc) == ("webhook" in doc):
        raise at.error("needs exactly one of command or webhook")
    action: CommandAction | WebhookAction
    if "command" in doc:
        action = _command(doc["command"], at.key("command"))
    else:
        action = _webhook(doc["webhook"], at.key("webhook"))

    def wait(key: str, default: float) -> float:
        value = f.read(doc, key, _duration, at)
        return default if value is None else value

    retries = f.read(doc, "retries", f.non_negative_int, at)
    return HookConfig(
        action=action,
        timeout_seconds=wait("timeout", 30.0),
        retries=3 if retries is None else retries,
        backoff_seconds=wait("backoff", 1.0),
        max_backoff_seconds=wait("max_backoff", 30.0),
        cooldown_seconds=wait("cooldown", 300.0),
        dry_run=f.read(doc, "dry_run", f.boolean, at) or False,
    )


def parse_hooks(section: Any, file: str = "") -> dict[str, HookConfig]:
    """Every service's hook from the `hooks:` section; SpecError naming the field path."""
    at = At(file, "hooks")
    if section is not None and not isinstance(section, Mapping):
        raise at.error("must be a mapping of service name to hook")
    return {
        str(service): _parse_one(doc, at.key(service))
        for service, doc in f.mapping(section, at).items()
    }
