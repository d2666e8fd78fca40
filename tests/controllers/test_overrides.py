"""Manual overrides through the admin API and the CLI, on the real engine: each needs a
reason, is audited (who, what, why, when) before it applies, survives a restart, and
changes what the controllers see."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from sloengine.audit import read_entries, verify
from tests.controllers.engine import RunningEngine, Traffic, start_engine

pytestmark = pytest.mark.integration


def hooks_section(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    calls = tmp_path / "rollbacks.txt"
    script = tmp_path / "rollback.py"
    script.write_text("import sys\nopen(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')\n")
    hooks = {
        "gateway": {"command": [sys.executable, str(script), str(calls), "{service}", "{revision}"]}
    }
    return {"hooks": hooks}, calls


async def cli(*args: str) -> tuple[int, str, str]:
    """`python -m sloengine ARGS` without blocking the loop the engine runs on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sloengine", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode(), err.decode()


def audit_entries(engine: RunningEngine) -> list[dict[str, Any]]:
    path = Path(engine.app.config.raw["audit"]["path"])
    assert verify(path).ok
    return [entry for _, entry in read_entries(path)]


def firing(service: str) -> dict[str, Any]:
    return {"alerts": [{"status": "firing", "labels": {"alertname": "CanaryErrorRateHigh",
            "rollback": "true", "service": service}, "annotations": {}}]}  # fmt: skip


async def test_changes_need_a_reason_and_an_actor(engine: RunningEngine) -> None:
    admin = {"Authorization": f"Bearer {engine.tokens['admin']}"}
    async with httpx.AsyncClient(base_url=engine.http_url, headers=admin) as client:
        for body, field in (
            ({"service": "gateway", "actor": "alice"}, "reason"),
            ({"service": "gateway", "reason": "  ", "actor": "alice"}, "reason"),
            ({"service": "gateway", "reason": "why"}, "actor"),
            ({"reason": "why", "actor": "alice"}, "service"),
        ):
            answer = await client.post("/api/v1/overrides/pause-rollback", json=body)
            assert answer.status_code == 400 and answer.json()["error"].startswith(field), body
        bad = {"service": "gateway", "verdict": "MAYBE", "reason": "r", "actor": "alice"}
        answer = await client.post("/api/v1/overrides/force-verdict", json=bad)
        assert answer.status_code == 400 and "verdict" in answer.json()["error"]
        answer = await client.post("/api/v1/overrides/promote", json={})
        assert answer.status_code == 404
        hostile = {"service": "gateway", "revision": "--help", "reason": "r", "actor": "alice"}
        answer = await client.post("/api/v1/overrides/rollback", json=hostile)
        assert answer.status_code == 400 and answer.json()["error"].startswith("revision")
    assert not [e for e in audit_entries(engine) if e["action"].startswith("override_")]


async def test_forced_verdict_is_what_every_controller_sees_for_that_revision(
    engine: RunningEngine,
) -> None:
    engine.now[0] += 60
    await engine.push_minute("gateway", {"stable": Traffic(20, 0.0), "canary": Traffic(20, 0.0)})
    admin = {"Authorization": f"Bearer {engine.tokens['admin']}"}
    read = {"Authorization": f"Bearer {engine.tokens['read']}"}
    async with httpx.AsyncClient(base_url=engine.http_url) as client:
        body = {"service": "gateway", "revision": "bad1", "verdict": "FAIL",
                "reason": "known bad build", "actor": "alice"}  # fmt: skip
        answer = await client.post("/api/v1/overrides/force-verdict", json=body, headers=admin)
        assert answer.status_code == 200, answer.text
        url = "/api/v1/verdict?service=gateway&baseline=stable&revision="
        forced = (await client.get(url + "bad1", headers=read)).json()
        assert forced["verdict"] == "FAIL" and "known bad build" in forced["reason"]
        other = (await client.get(url + "good2", headers=read)).json()
        assert other["verdict"] != "FAIL"
        flagger = {"name": "gateway", "namespace": "shop", "phase": "Progressing",
                   "checksum": "bad1", "metadata": {"baseline": "stable",
                                                    "token": engine.tokens["read"]}}  # fmt: skip
        assert (await client.post("/api/v1/flagger/pre-rollout", json=flagger)).status_code == 412
        assert (await client.post("/api/v1/flagger/rollback", json=flagger)).status_code == 200
        clear = {"service": "gateway", "revision": "bad1", "reason": "rebuilt", "actor": "bob"}
        answer = await client.post("/api/v1/overrides/clear-verdict", json=clear, headers=admin)
        assert answer.json()["cleared"] is True
        assert (await client.post("/api/v1/flagger/pre-rollout", json=flagger)).status_code == 200
    actions = [(e["actor"], e["action"], e["reason"]) for e in audit_entries(engine)]
    assert ("admin:alice", "override_verdict_forced", "known bad build") in actions
    assert ("admin:bob", "override_verdict_cleared", "rebuilt") in actions


async def test_paused_rollback_survives_a_restart_and_a_manual_one_still_runs(
    tmp_path: Path,
) -> None:
    extra, calls = hooks_section(tmp_path)
    engine = await start_engine(tmp_path, extra=extra)
    tokens = engine.tokens
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    try:
        async with httpx.AsyncClient(base_url=engine.http_url, headers=admin) as client:
            body = {"service": "gateway", "reason": "INC-42 under investigation", "actor": "alice"}
            assert (
                await client.post("/api/v1/overrides/pause-rollback", json=body)
            ).status_code == 200
    finally:
        await engine.channel.close()
        await engine.app.stop(1.0)

    engine = await start_engine(tmp_path, extra=extra, tokens=tokens)
    try:
        async with httpx.AsyncClient(base_url=engine.http_url, headers=admin) as client:
            listed = (await client.get("/api/v1/overrides")).json()
            assert [p["service"] for p in listed["rollback_pauses"]] == ["gateway"]
            answer = await client.post("/api/v1/alertmanager", json=firing("gateway"))
            assert answer.json()["triggered"] == [] and answer.json()["ignored"] == 1
        token_file = tmp_path / "tokens" / "admin"
        code, out, err = await cli(
            "override", "rollback", "--engine", engine.http_url, "--token-file",
            str(token_file), "--service", "gateway", "--revision", "r7",
            "--reason", "roll back by hand", "--actor", "carol",
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["rollback"] == "succeeded"
        assert tokens["admin"] not in out + err
        code, _, err = await cli(
            "override", "pause-rollback", "--engine", engine.http_url, "--token-file",
            str(token_file), "--service", "gateway",
        )  # fmt: skip
        assert code == 2 and "--reason" in err
    finally:
        await engine.channel.close()
        await engine.app.stop(1.0)
    assert calls.read_text().splitlines() == ["gateway r7"]
    entries = audit_entries(engine)
    manual = [e for e in entries if e["action"] == "override_rollback_triggered"]
    assert manual[0]["actor"] == "admin:carol" and manual[0]["reason"] == "roll back by hand"
    assert manual[0]["time"] > 0 and manual[0]["details"]["revision"] == "r7"
    assert any(e["action"] == "alert_ignored" and "paused" in e["reason"] for e in entries)


async def test_ui_shows_the_overrides_in_force_and_needs_the_read_token(
    engine: RunningEngine,
) -> None:
    engine.now[0] += 60
    await engine.push_minute("gateway", {"stable": Traffic(5, 0.0), "canary": Traffic(5, 0.0)})
    admin = {"Authorization": f"Bearer {engine.tokens['admin']}"}
    read = {"Authorization": f"Bearer {engine.tokens['read']}"}
    async with httpx.AsyncClient(base_url=engine.http_url) as client:
        for action, body in (
            ("pause-rollback", {"service": "gateway", "reason": "INC-7", "actor": "dana"}),
            ("force-verdict", {"service": "gateway", "revision": "r9", "verdict": "PASS",
                               "reason": "hotfix approved", "actor": "erin"}),
        ):  # fmt: skip
            answer = await client.post(f"/api/v1/overrides/{action}", json=body, headers=admin)
            assert answer.status_code == 200, answer.text
        url = "/ui/api/canary?service=gateway&canary=canary&baseline=stable"
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers={"Authorization": "Bearer nope"})).status_code == 403
        detail = (await client.get(url, headers=read)).json()
    pauses, forced = detail["overrides"]["rollback_pauses"], detail["overrides"]["forced_verdicts"]
    assert [(p["actor"], p["reason"]) for p in pauses] == [("admin:dana", "INC-7")]
    assert [(f["revision"], f["verdict"], f["actor"]) for f in forced] == [
        ("r9", "PASS", "admin:erin")
    ]
    assert all(p["at_unix_s"] > 0 for p in pauses)
