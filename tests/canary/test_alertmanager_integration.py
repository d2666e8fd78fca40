"""A real prometheus-alertmanager, routed by the generated alerts/alertmanager.yml, delivers a
rollback="true" alert to the real engine's webhook receiver (bearer token from a file), which
runs the service's rollback hook; the resolved notification lands in the audit log."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from sloengine.app import EngineApp
from sloengine.audit import read_entries, verify
from sloengine.conventions import HTTP_ALERTMANAGER_PATH
from sloengine.settings.config import EngineConfig
from tests.canary.conftest import TOKEN, T
from tests.support.prometheus import AlertmanagerServer

GENERATED_ROUTE = Path(__file__).resolve().parents[2] / "alerts" / "alertmanager.yml"


def alertmanager_config(engine_url: str, token_file: Path) -> dict[str, Any]:
    """The generated route, pointed at this engine, with timers short enough for a test."""
    config = yaml.safe_load(GENERATED_ROUTE.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            if hook["url"].endswith(HTTP_ALERTMANAGER_PATH):
                hook["url"] = engine_url + HTTP_ALERTMANAGER_PATH
                hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    for route in [config["route"], *config["route"].get("routes", [])]:
        route.update(group_wait="1s", group_interval="1s")
    return config


async def wait_for_action(path: Path, action: str, timeout_s: float = 30) -> list[dict[str, Any]]:
    for _ in range(int(timeout_s / 0.1)):
        entries = [e for _, e in read_entries(path)] if path.exists() else []
        if any(e["action"] == action for e in entries):
            return entries
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {action} in {path} after {timeout_s}s")


@pytest.mark.integration
async def test_alertmanager_delivers_a_rollback_alert_that_runs_the_hook(tmp_path: Path) -> None:
    calls = tmp_path / "rollbacks.txt"
    script = tmp_path / "rollback.py"
    script.write_text("import sys\nopen(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')\n")
    argv = [sys.executable, str(script), str(calls), "{service}", "{revision}"]
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    config = EngineConfig(
        grpc_listen="127.0.0.1:0",
        http_listen="127.0.0.1:0",
        data_dir=tmp_path / "data",
        token_file=token_file,
        snapshot_interval_seconds=0,
        raw={"hooks": {"gateway": {"command": argv}}},
    )
    engine = EngineApp(config, clock=lambda: T, registry=CollectorRegistry())
    await engine.start()
    audit = tmp_path / "data" / "audit.jsonl"
    config_path = tmp_path / "alertmanager.yml"
    engine_url = f"http://127.0.0.1:{engine.http_port}"
    config_path.write_text(yaml.safe_dump(alertmanager_config(engine_url, token_file)))
    labels = {
        "alertname": "CanaryErrorRateHigh",
        "rollback": "true",
        "service": "gateway",
        "variant": "canary",
        "severity": "page",
        "revision": "rev-12",
    }
    now = dt.datetime.now(dt.UTC)
    try:
        with AlertmanagerServer(tmp_path / "am", config_path) as am:
            am.post_alerts(
                [
                    {
                        "labels": labels,
                        "annotations": {"summary": "canary 5xx"},
                        "startsAt": now.isoformat(),
                    }
                ]
            )
            entries = await wait_for_action(audit, "rollback_succeeded")
            assert calls.read_text().splitlines() == ["gateway rev-12"]
            attempt = next(e for e in entries if e["action"] == "rollback_attempt")
            assert attempt["actor"] == "alertmanager"
            assert attempt["details"]["alertname"] == "CanaryErrorRateHigh"
            # Resolve it: Alertmanager sends the resolved notification (send_resolved: true).
            ended = dt.datetime.now(dt.UTC)
            am.post_alerts(
                [{"labels": labels, "startsAt": now.isoformat(), "endsAt": ended.isoformat()}]
            )
            await wait_for_action(audit, "alert_resolved")
    finally:
        await engine.stop(1.0)
    assert calls.read_text().splitlines() == ["gateway rev-12"]  # resolved: no second rollback
    assert verify(audit).ok
