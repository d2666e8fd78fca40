"""Rollback hooks: argv commands, HMAC-signed webhooks to a real server, retries, idempotency."""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sloengine.audit import AuditLog, read_entries, verify
from sloengine.errors import SpecError
from sloengine.hooks import (
    SIGNATURE_HEADER,
    CommandAction,
    HookConfig,
    RollbackHooks,
    WebhookAction,
    parse_hooks,
    sign,
)

RECORDER = """
import json, os, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"argv": sys.argv[2:], "revision": os.environ["SLOENGINE_REVISION"]}) + "\\n")
"""


def actions(audit: AuditLog) -> list[str]:
    return [e["action"] for _, e in read_entries(audit.path)]


class Sleeps:
    """Records backoff delays instead of waiting them out."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl", clock=lambda: 1_800_000_000.0)


def recorder_hook(tmp_path: Path, **kwargs: Any) -> tuple[HookConfig, Path]:
    script = tmp_path / "record.py"
    script.write_text(RECORDER)
    calls = tmp_path / "calls.jsonl"
    argv = (sys.executable, str(script), str(calls), "rollback", "{service}", "--reason={reason}")
    return HookConfig(CommandAction(argv), **kwargs), calls


async def test_command_runs_argv_without_a_shell(tmp_path: Path, audit: AuditLog) -> None:
    hook, calls = recorder_hook(tmp_path)
    hooks = RollbackHooks({"gateway": hook}, audit)
    reason = "FAIL: 6% errors; $(touch pwned) `id`"
    outcome = await hooks.trigger("gateway", "rev-7", reason, source="verdict")
    assert outcome.status == "succeeded" and outcome.attempts == 1
    call = json.loads(calls.read_text())
    assert call == {"argv": ["rollback", "gateway", f"--reason={reason}"], "revision": "rev-7"}
    assert not (tmp_path / "pwned").exists()
    assert actions(audit) == ["rollback_attempt", "rollback_succeeded"]
    assert verify(audit.path).ok


async def test_second_trigger_for_same_revision_is_a_recorded_no_op(
    tmp_path: Path, audit: AuditLog
) -> None:
    hook, calls = recorder_hook(tmp_path, cooldown_seconds=0)
    hooks = RollbackHooks({"gateway": hook}, audit)
    first, second = await asyncio.gather(
        hooks.trigger("gateway", "rev-7", "alert", source="alertmanager"),
        hooks.trigger("gateway", "rev-7", "verdict", source="verdict"),
    )
    assert sorted([first.status, second.status]) == ["duplicate", "succeeded"]
    third = await hooks.trigger("gateway", "rev-7", "again", source="verdict")
    assert third.status == "duplicate"
    assert len(calls.read_text().splitlines()) == 1
    assert actions(audit).count("rollback_duplicate") == 2


async def test_idempotency_survives_a_restart_through_the_audit_log(
    tmp_path: Path, audit: AuditLog
) -> None:
    hook, calls = recorder_hook(tmp_path, cooldown_seconds=0)
    await RollbackHooks({"gateway": hook}, audit).trigger("gateway", "rev-7", "x", source="verdict")
    restarted = RollbackHooks({"gateway": hook}, AuditLog(audit.path))
    assert (
        await restarted.trigger("gateway", "rev-7", "x", source="verdict")
    ).status == "duplicate"
    assert len(calls.read_text().splitlines()) == 1


async def test_cooldown_holds_back_the_next_revision(tmp_path: Path, audit: AuditLog) -> None:
    now = [1000.0]
    hook, calls = recorder_hook(tmp_path, cooldown_seconds=300)
    hooks = RollbackHooks({"gateway": hook}, audit, clock=lambda: now[0])
    assert (await hooks.trigger("gateway", "rev-7", "x", source="verdict")).status == "succeeded"
    now[0] += 60
    assert (await hooks.trigger("gateway", "rev-8", "x", source="verdict")).status == "cooldown"
    now[0] += 300
    assert (await hooks.trigger("gateway", "rev-8", "x", source="verdict")).status == "succeeded"
    assert len(calls.read_text().splitlines()) == 2


async def test_failing_command_is_retried_with_exponential_backoff(
    tmp_path: Path, audit: AuditLog
) -> None:
    argv = (
        sys.executable,
        "-c",
        "import sys; sys.stderr.write('helm: release not found'); sys.exit(3)",
    )
    sleeps = Sleeps()
    hook = HookConfig(CommandAction(argv), retries=3, backoff_seconds=1, max_backoff_seconds=3)
    hooks = RollbackHooks({"gateway": hook}, audit, sleep=sleeps)
    outcome = await hooks.trigger("gateway", "rev-7", "x", source="verdict")
    assert outcome.status == "failed" and outcome.attempts == 4
    assert "exited 3: helm: release not found" in outcome.error
    assert sleeps.delays == [1, 2, 3]
    assert actions(audit)[-1] == "rollback_failed"
    assert actions(audit).count("rollback_attempt_failed") == 4


async def test_timeout_kills_the_command(tmp_path: Path, audit: AuditLog) -> None:
    marker = tmp_path / "finished"
    argv = (
        sys.executable,
        "-c",
        f"import time, pathlib; time.sleep(3); pathlib.Path({str(marker)!r}).touch()",
    )
    hook = HookConfig(CommandAction(argv), timeout_seconds=0.3, retries=0)
    outcome = await RollbackHooks({"gateway": hook}, audit).trigger(
        "gateway", "r", "x", source="verdict"
    )
    assert outcome.status == "failed" and "timed out after 0.3s" in outcome.error
    await asyncio.sleep(3.2)
    assert not marker.exists()


async def test_dry_run_runs_nothing_and_records_what_it_would_do(
    tmp_path: Path, audit: AuditLog
) -> None:
    hook, calls = recorder_hook(tmp_path, dry_run=True)
    outcome = await RollbackHooks({"gateway": hook}, audit).trigger(
        "gateway", "rev-7", "x", source="verdict"
    )
    assert outcome.status == "dry_run"
    assert not calls.exists()
    entry = [e for _, e in read_entries(audit.path)][-1]
    assert entry["action"] == "rollback_dry_run"
    assert entry["details"]["command"][-2:] == ["gateway", "--reason=x"]


async def test_service_without_hook_is_recorded(audit: AuditLog) -> None:
    outcome = await RollbackHooks({}, audit).trigger("gateway", "r", "x", source="alertmanager")
    assert outcome.status == "no_hook"
    assert actions(audit) == ["rollback_no_hook"]


# --- webhooks against a real aiohttp server on loopback ------------------------------------


class Receiver:
    def __init__(self, secret: bytes, failures: int, status: int = 503) -> None:
        self.secret = secret
        self.failures = failures
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not hmac.compare_digest(
            request.headers.get(SIGNATURE_HEADER, ""), sign(body, self.secret)
        ):
            self.bad_signatures += 1
            return web.Response(status=401)
        self.bodies.append(json.loads(body))
        if len(self.bodies) <= self.failures:
            return web.Response(status=self.status, text="try later")
        return web.Response(text="rolled back")


@pytest.fixture
async def receiver_factory() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def start(secret: bytes, failures: int = 0, status: int = 503) -> Receiver:
        receiver = Receiver(secret, failures, status)
        app = web.Application()
        app.router.add_post("/rollback", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/rollback"
        return receiver

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_webhook_is_hmac_signed_and_retried(receiver_factory: Any, audit: AuditLog) -> None:
    receiver = await receiver_factory(b"s3cret", failures=2)
    sleeps = Sleeps()
    hook = HookConfig(WebhookAction(receiver.url, b"s3cret"), retries=3, backoff_seconds=0.5)
    hooks = RollbackHooks({"docs-api": hook}, audit, sleep=sleeps)
    outcome = await hooks.trigger("docs-api", "rev-3", "FAIL: p95", source="verdict")
    assert outcome.status == "succeeded" and outcome.attempts == 3
    assert receiver.bad_signatures == 0
    assert (
        receiver.bodies[-1]["service"] == "docs-api" and receiver.bodies[-1]["revision"] == "rev-3"
    )
    assert sleeps.delays == [0.5, 1.0]


async def test_webhook_with_wrong_secret_fails_without_retrying(
    receiver_factory: Any, audit: AuditLog
) -> None:
    receiver = await receiver_factory(b"s3cret")
    hook = HookConfig(WebhookAction(receiver.url, b"wrong"), retries=3)
    outcome = await RollbackHooks({"docs-api": hook}, audit).trigger(
        "docs-api", "r", "x", source="verdict"
    )
    assert outcome.status == "failed" and outcome.attempts == 1
    assert "HTTP 401" in outcome.error and receiver.bad_signatures == 1


# --- config ----------------------------------------------------------------------------------


def test_parse_hooks_reads_command_and_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secret").write_text("abc\n")
    hooks = parse_hooks(
        {
            "gateway": {
                "command": ["kubectl", "argo", "rollouts", "abort", "{service}"],
                "timeout": "10s",
                "cooldown": 0,
            },
            "docs-api": {
                "webhook": {"url": "http://127.0.0.1:1/x", "secret_file": str(tmp_path / "secret")},
                "dry_run": True,
            },
        },
        "engine.yaml",
    )
    assert hooks["gateway"].action == CommandAction(
        ("kubectl", "argo", "rollouts", "abort", "{service}")
    )
    assert hooks["gateway"].timeout_seconds == 10 and hooks["gateway"].cooldown_seconds == 0
    assert hooks["docs-api"].action == WebhookAction("http://127.0.0.1:1/x", b"abc")
    assert hooks["docs-api"].dry_run


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"gateway": {"command": "helm rollback gateway"}},
            "hooks.gateway.command: must be a non-empty list",
        ),
        ({"gateway": {}}, "hooks.gateway: needs exactly one of command or webhook"),
        (
            {"gateway": {"command": ["x"], "retries": -1}},
            "hooks.gateway.retries: must be an integer",
        ),
        (
            {"gateway": {"command": ["x"], "timeout": "soon"}},
            "hooks.gateway.timeout: invalid duration",
        ),
        (
            {"gateway": {"webhook": {"url": "ftp://x"}}},
            "hooks.gateway.webhook.url: must be an http(s) URL",
        ),
        (
            {"gateway": {"webhook": {"url": "http://x", "secret_env": "SLOENGINE_TEST_UNSET"}}},
            "secret_env: $SLOENGINE_TEST_UNSET is not set",
        ),
        ({"gateway": {"command": ["x"], "shell": True}}, "hooks.gateway.shell: unknown key"),
    ],
)
def test_bad_hook_config_names_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_hooks(doc, "engine.yaml")
    assert str(err.value).startswith("engine.yaml: ")
    assert message in str(err.value)
