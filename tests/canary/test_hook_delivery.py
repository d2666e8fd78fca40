"""Rollback hooks end cleanly and deliver verifiably: a timed-out command's whole process group
is killed, and webhook deliveries carry a signed delivery id and timestamp that a receiver
uses to refuse replays (real processes, a real aiohttp receiver on loopback)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sloengine.audit import AuditLog
from sloengine.hooks import (
    DELIVERY_HEADER,
    SIGNATURE_V2_HEADER,
    TIMESTAMP_HEADER,
    CommandAction,
    HookConfig,
    RollbackHooks,
    SeenDeliveries,
    SignatureError,
    WebhookAction,
    sign_delivery,
    verify_delivery,
)

SECRET = b"hook-secret"

# Starts a grandchild that would run for 60 s, writes its pid, then ("wait") waits for it.
# A shell, not Python: it must write the pid before the hook's timeout, and a Python start-up
# on a loaded machine can take longer than a short timeout.
SPAWNER = 'sleep 60 >/dev/null 2>&1 & echo $! > "$1"; if [ "$2" = wait ]; then wait; fi'


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_ended(pid: int, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl", clock=time.time)


async def _spawn_hook(tmp_path: Path, audit: AuditLog, mode: str, timeout_s: float) -> Any:
    pid_file = tmp_path / "child.pid"
    argv = ("/bin/sh", "-c", SPAWNER, "spawner", str(pid_file), mode)
    hook = HookConfig(CommandAction(argv), timeout_seconds=timeout_s, retries=0)
    outcome = await RollbackHooks({"gateway": hook}, audit).trigger(
        "gateway", "rev-1", "FAIL", source="verdict"
    )
    assert pid_file.exists(), f"the hook was ended before it started its child: {outcome}"
    return outcome, int(pid_file.read_text())


async def test_timeout_kills_the_commands_children_too(tmp_path: Path, audit: AuditLog) -> None:
    outcome, child = await _spawn_hook(tmp_path, audit, "wait", timeout_s=3.0)
    try:
        assert outcome.status == "failed" and "timed out" in outcome.error
        assert _wait_ended(child), f"the hook's child {child} outlived the timeout"
    finally:
        if _alive(child):
            os.kill(child, 9)


async def test_a_child_left_behind_by_a_finished_command_is_ended(
    tmp_path: Path, audit: AuditLog
) -> None:
    outcome, child = await _spawn_hook(tmp_path, audit, "leave", timeout_s=10.0)
    try:
        assert outcome.status == "succeeded", outcome
        assert _wait_ended(child), f"the hook's background child {child} was left running"
    finally:
        if _alive(child):
            os.kill(child, 9)


# --- webhook deliveries --------------------------------------------------------------------


class Receiver:
    """A receiver written as docs/canary.md says: verify, refuse old or forged deliveries,
    act once per delivery id. The first `lose_answers` deliveries are acted on but answered
    503, as if the answer had been lost on the way back."""

    def __init__(self, lose_answers: int = 0) -> None:
        self.lose_answers = lose_answers
        self.seen = SeenDeliveries()
        self.headers: list[dict[str, str]] = []
        self.actions: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.headers.append(dict(request.headers))
        try:
            _, repeated = verify_delivery(
                request.headers, body, SECRET, now=time.time(), seen=self.seen
            )
        except SignatureError as exc:
            self.refused.append(str(exc))
            return web.Response(status=401, text=str(exc))
        if not repeated:
            self.actions.append(json.loads(body))
        if self.lose_answers > 0:
            self.lose_answers -= 1
            return web.Response(status=503)
        return web.Response(text="done")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver(lose_answers=2)
    app = web.Application()
    app.router.add_post("/rollback", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/rollback"
    yield rec
    await runner.cleanup()


async def _no_sleep(_seconds: float) -> None:
    return None


async def test_retries_keep_the_delivery_id_and_the_receiver_acts_once(
    receiver: Receiver, audit: AuditLog
) -> None:
    hook = HookConfig(WebhookAction(receiver.url, SECRET), retries=3, cooldown_seconds=0)
    hooks = RollbackHooks({"docs-api": hook}, audit, sleep=_no_sleep)
    outcome = await hooks.trigger("docs-api", "rev-7", "FAIL", source="verdict")
    assert outcome.status == "succeeded" and outcome.attempts == 3
    ids = {h[DELIVERY_HEADER] for h in receiver.headers}
    assert len(receiver.headers) == 3 and len(ids) == 1  # stable across retries
    assert receiver.refused == []
    assert len(receiver.actions) == 1  # the retries were recognised, not acted on
    assert receiver.actions[0]["delivery_id"] == ids.pop()

    other = await hooks.trigger("docs-api", "rev-8", "FAIL", source="verdict")
    assert other.status == "succeeded"
    assert receiver.headers[-1][DELIVERY_HEADER] != receiver.headers[0][DELIVERY_HEADER]
    assert len(receiver.actions) == 2


def _delivery(
    body: bytes, *, delivery_id: str = "d-1", timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_V2_HEADER: sign_delivery(body, SECRET, timestamp=ts, delivery_id=delivery_id),
    }


def test_a_replayed_delivery_is_recognised() -> None:
    seen = SeenDeliveries()
    body = b'{"service": "x"}'
    headers = _delivery(body)
    now = time.time()
    assert verify_delivery(headers, body, SECRET, now=now, seen=seen) == ("d-1", False)
    assert verify_delivery(headers, body, SECRET, now=now + 1, seen=seen) == ("d-1", True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({TIMESTAMP_HEADER: "1"}, "signature does not match"),  # re-dated capture
        ({DELIVERY_HEADER: "d-2"}, "signature does not match"),  # a fresh id on a capture
        ({SIGNATURE_V2_HEADER: "sha256=00"}, "signature does not match"),
        ({TIMESTAMP_HEADER: "soon"}, "integer unix seconds"),
        ({DELIVERY_HEADER: ""}, "missing X-Sloengine-Delivery"),
    ],
)
def test_a_forged_delivery_is_refused(change: dict[str, str], message: str) -> None:
    body = b'{"service": "x"}'
    headers = {**_delivery(body), **change}
    with pytest.raises(SignatureError, match=message):
        verify_delivery(headers, body, SECRET, now=time.time())


def test_an_old_delivery_is_refused_even_when_correctly_signed() -> None:
    body = b'{"service": "x"}'
    headers = _delivery(body, timestamp=int(time.time()) - 3600)
    with pytest.raises(SignatureError, match="too old"):
        verify_delivery(headers, body, SECRET, now=time.time(), tolerance_seconds=300)


def test_an_altered_body_is_refused() -> None:
    headers = _delivery(b'{"service": "x"}')
    with pytest.raises(SignatureError, match="signature does not match"):
        verify_delivery(headers, b'{"service": "y"}', SECRET, now=time.time())
