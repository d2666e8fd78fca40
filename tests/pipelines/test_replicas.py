"""Stateless replicas: a leader and a replica in pull mode against one VictoriaMetrics.

Both answer the same verdicts; only the leader (`engine.role: leader`, the default) writes
the audit log and runs the rollback hook. The replica (`engine.role: replica`) says, in
gRPC metadata, an HTTP header and its log, that it did not act, and refuses admin changes.
"""

from __future__ import annotations

import asyncio
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import httpx
import pytest
import yaml
from google.protobuf.json_format import MessageToDict

from sloengine.app import EngineApp
from sloengine.audit import read_entries
from sloengine.conventions import HTTP_ALERTMANAGER_PATH, HTTP_VERDICT_PATH
from sloengine.errors import SpecError
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import load_config
from tests.pipelines.rw import HEADERS
from tests.pipelines.test_pull_verdicts import start, traffic
from tests.support.victoriametrics import VictoriaMetricsServer
from tests.support.wait import until

pytestmark = pytest.mark.integration

# The hook appends the revision to a file named after the engine that ran it.
_HOOK = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"


def _config(tmp: Path, name: str, vm_url: str, role: str | None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "pipelines": {"verdict_source": "prometheus"},
        "canary": {"services": {"pay": {"rollback_on_fail": True}}},
        "hooks": {
            "pay": {"command": [sys.executable, "-c", _HOOK, str(tmp / f"{name}.hook"),
                                "{revision}"], "timeout": "10s"},
        },
    }  # fmt: skip
    return {"prometheus_url": vm_url, "raw": raw, **({"role": role} if role else {})}


async def _verdict(
    app: EngineApp, at: float | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The verdict (live without `at`: recorded and acted on) and the call's metadata."""
    request = pb.GetVerdictRequest(
        service="pay",
        canary_variant="canary",
        revision="rev-9",
        baseline_variant="stable",
        short_window_seconds=120,
        long_window_seconds=540,
    )
    if at is not None:
        request.eval_time.FromMilliseconds(int(at * 1000))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as ch:
        call = pb_grpc.CanaryServiceStub(ch).GetVerdict(request)
        msg = await call
        metadata = {k: str(v) for k, v in (await call.initial_metadata() or ())}
    return MessageToDict(msg), metadata


def _actions(audit_log: Path) -> list[str]:
    try:
        return [e["action"] for _, e in read_entries(audit_log)]
    except ValueError:  # a line being appended right now: the next poll reads it whole
        return []


async def test_leader_acts_replica_answers_the_same_and_does_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with VictoriaMetricsServer(tmp_path / "vm") as vm:
        leader = await start(tmp_path, "leader", **_config(tmp_path, "leader", vm.url, None))
        replica = await start(
            tmp_path, "replica", **_config(tmp_path, "replica", vm.url, "replica")
        )
        try:
            now_ms = int(time.time() * 1000)
            async with aiohttp.ClientSession() as session:
                for body in traffic(now_ms):
                    async with session.post(
                        f"{vm.url}/api/v1/write", data=body, headers=HEADERS
                    ) as r:
                        assert r.status in (200, 204), await r.text()
            urllib.request.urlopen(f"{vm.url}/internal/force_flush").close()

            caplog.set_level("INFO", logger="sloengine.canary._core")
            # At one evaluation time, the same verdict, reason and guards, to the last field.
            at = now_ms / 1000 + 1
            led, led_meta = await _verdict(leader, at)
            rep, rep_meta = await _verdict(replica, at)
            assert led["verdict"] == "FAIL" and rep == led
            assert rep_meta.get("sloengine-role") == "replica"
            assert "sloengine-role" not in led_meta
            # Live (each at its own "now", so compared by verdict): recorded and acted on.
            live = [(await _verdict(app))[0]["verdict"] for app in (leader, replica)]
            assert live == ["FAIL", "FAIL"]
            assert any("replica: verdict FAIL for pay" in r.message for r in caplog.records)

            # The leader's hook runs once; the replica's never does. The hook has finished (its
            # file written, not just created) once the leader records rollback_succeeded.
            leader_audit = tmp_path / "leader" / "audit.jsonl"
            await until(
                lambda: "rollback_succeeded" in _actions(leader_audit), "the leader's hook finished"
            )
            assert (tmp_path / "leader.hook").read_text() == "rev-9\n"
            assert not (tmp_path / "replica.hook").exists()

            # The leader alone writes the audit log.
            actions = _actions(leader_audit)
            assert "verdict_changed" in actions and "rollback_succeeded" in actions
            assert not (tmp_path / "replica" / "audit.jsonl").exists()

            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{replica.http_port}") as c:
                # HTTP verdicts say it too.
                r = await c.get(HTTP_VERDICT_PATH, params={"service": "pay",
                                                           "canary": "canary",
                                                           "baseline": "stable"})  # fmt: skip
                assert r.status_code == 200 and r.json()["verdict"] == "FAIL"
                assert r.headers["x-sloengine-role"].startswith("replica")
                # A rollback alert sent to a replica is answered, not acted on.
                alert = {"status": "firing", "labels": {"alertname": "CanaryErrors",
                         "rollback": "true", "service": "pay", "revision": "rev-10"},
                         "annotations": {}, "startsAt": "2027-01-15T08:00:00Z",
                         "fingerprint": "f"}  # fmt: skip
                r = await c.post(HTTP_ALERTMANAGER_PATH, json={"version": "4", "alerts": [alert]})
                assert r.status_code == 200
                assert r.json()["acted"] is False and r.json()["triggered"] == []
                assert r.json()["not_acted"] == [{"service": "pay", "alertname": "CanaryErrors"}]
                # Admin changes go to the leader.
                r = await c.post("/api/v1/overrides/pause-rollback",
                                 json={"service": "pay", "reason": "x", "actor": "ops"})  # fmt: skip
                assert r.status_code == 400 and "replica" in r.text and "leader" in r.text
            await asyncio.sleep(0.5)
            assert not (tmp_path / "replica.hook").exists()
        finally:
            for app in (leader, replica):
                await app.stop(0)


@pytest.mark.parametrize(("role", "want"), [("leader", "leader"), ("replica", "replica")])
def test_engine_role_is_read_from_the_config(tmp_path: Path, role: str, want: str) -> None:
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump({"engine": {"role": role}}))
    assert load_config(path).role == want


def test_engine_role_defaults_to_leader_and_refuses_others(tmp_path: Path) -> None:
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump({"engine": {}}))
    assert load_config(path).role == "leader"
    path.write_text(yaml.safe_dump({"engine": {"role": "follower"}}))
    with pytest.raises(SpecError, match=r"engine\.role.*leader, replica"):
        load_config(path)


def test_serve_role_flag_overrides_the_file(tmp_path: Path) -> None:
    from sloengine.cli import build_parser
    from sloengine.cli.serve import config_from_args

    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump({"engine": {"role": "leader", "data_dir": str(tmp_path)}}))
    args = build_parser().parse_args(["serve", "--config", str(path), "--role", "replica"])
    assert config_from_args(args).role == "replica"
    args = build_parser().parse_args(["serve", "--config", str(path)])
    assert config_from_args(args).role == "leader"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--role", "boss"])
