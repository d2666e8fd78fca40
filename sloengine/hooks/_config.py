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

from sloengine.durations import parse_duration_seconds
from sloengine.errors import SpecError

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


_KEYS = {
    "command",
    "webhook",
    "timeout",
    "retries",
    "backoff",
    "max_backoff",
    "cooldown",
    "dry_run",
}


def _duration(doc: Mapping[str, Any], key: str, default: float, file: str, path: str) -> float:
    if key not in doc:
        return default
    if str(doc[key]).strip() in ("0", "0s"):
        return 0.0
    try:
        return parse_duration_seconds(str(doc[key]))
    except ValueError as exc:
        raise SpecError(file, f"{path}.{key}", str(exc)) from None


def _read_secret(doc: Mapping[str, Any], file: str, path: str) -> bytes | None:
    if "secret_file" in doc:
        try:
            return Path(str(doc["secret_file"])).read_bytes().strip()
        except OSError as exc:
            raise SpecError(file, f"{path}.secret_file", f"cannot read: {exc.strerror}") from None
    if "secret_env" in doc:
        value = os.environ.get(str(doc["secret_env"]))
        if not value:
            raise SpecError(file, f"{path}.secret_env", f"${doc['secret_env']} is not set")
        return value.encode()
    return None


def _parse_one(doc: Any, file: str, path: str) -> HookConfig:
    if not isinstance(doc, Mapping):
        raise SpecError(file, path, "must be a mapping")
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise SpecError(
            file, f"{path}.{unknown[0]}", f"unknown key; known: {', '.join(sorted(_KEYS))}"
        )
    action: CommandAction | WebhookAction
    if ("command" in doc) == ("webhook" in doc):
        raise SpecError(file, path, "needs exactly one of command or webhook")
    if "command" in doc:
        argv = doc["command"]
        if (
            not isinstance(argv, list)
            or not argv
            or not all(isinstance(a, str | int) for a in argv)
        ):
            raise SpecError(
                file, f"{path}.command", "must be a non-empty list of arguments (argv, no shell)"
            )
        action = CommandAction(tuple(str(a) for a in argv))
    else:
        hook = doc["webhook"]
        if not isinstance(hook, Mapping) or not str(hook.get("url", "")).startswith(
            ("http://", "https://")
        ):
            raise SpecError(file, f"{path}.webhook.url", "must be an http(s) URL")
        headers = hook.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise SpecError(file, f"{path}.webhook.headers", "must be a mapping")
        action = WebhookAction(
            url=str(hook["url"]),
            secret=_read_secret(hook, file, f"{path}.webhook"),
            headers=tuple(sorted((str(k), str(v)) for k, v in headers.items())),
        )
    retries = doc.get("retries", 3)
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise SpecError(file, f"{path}.retries", "must be an integer >= 0")
    dry_run = doc.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise SpecError(file, f"{path}.dry_run", "must be true or false")
    return HookConfig(
        action=action,
        timeout_seconds=_duration(doc, "timeout", 30.0, file, path),
        retries=retries,
        backoff_seconds=_duration(doc, "backoff", 1.0, file, path),
        max_backoff_seconds=_duration(doc, "max_backoff", 30.0, file, path),
        cooldown_seconds=_duration(doc, "cooldown", 300.0, file, path)
        if doc.get("cooldown") != 0
        else 0.0,
        dry_run=dry_run,
    )


def parse_hooks(section: Any, file: str = "") -> dict[str, HookConfig]:
    """Every service's hook from the `hooks:` section; SpecError naming the field path."""
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise SpecError(file, "hooks", "must be a mapping of service name to hook")
    return {
        str(service): _parse_one(doc, file, f"hooks.{service}") for service, doc in section.items()
    }
