"""The canary plugin inside the real EngineApp, configured from a YAML file: samples go in
through IngestService/Push, verdicts come out of CanaryService and the HTTP side door, a FAIL
runs the rollback hook, and `sloengine audit verify` accepts the resulting log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from sloengine.app import EngineApp
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import load_config
from tests.canary.conftest import TOKEN, T
from tests.canary.traffic import block, push

AUTH_METADATA = (("authorization", f"Bearer {TOKEN}"),)


def write_config(tmp_path: Path) -> tuple[Path, Path]:
    calls = tmp_path / "rollbacks.txt"
    script = tmp_path / "rollback.py"
    script.write_text("import sys\nopen(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')\n")
    (tmp_path / "token").write_text(TOKEN + "\n")
    config: dict[str, Any] = {
        "engine": {
            "grpc_listen": "127.0.0.1:0",
            "http_listen": "127.0.0.1:0",
            "data_dir": str(tmp_path / "data"),
            "token_file": str(tmp_path / "token"),
            "snapshot_interval": "1h",
        },
        "canary": {
            "short_window": "5m",
            "long_window": "1h",
            "services": {"gateway": {"rollback_on_fail": True, "guards": ["error_ratio"]}},
        },
        "hooks": {
            "gateway": {
                "command": [sys.executable, str(script), str(calls), "{service}", "{revision}"]
            }
        },
        "audit": {"path": str(tmp_path / "audit" / "audit.jsonl")},
    }
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, calls


@pytest.mark.integration
async def test_engine_judges_pushed_samples_and_rolls_back_a_failing_canary(tmp_path: Path) -> None:
    config_path, calls = write_config(tmp_path)
    app = EngineApp(load_config(config_path), clock=lambda: T, registry=CollectorRegistry())
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            ingest = pb_grpc.IngestServiceStub(channel).Push(metadata=AUTH_METADATA)
            await ingest.write(
                push(
                    "canary-test",
                    1,
                    block(
                        "gateway",
                        "canary",
                        end_s=T,
                        seconds=3600,
                        rps=20,
                        error_ratio=0.06,
                        seed=1,
                        revision="rev-21",
                    ),
                    block(
                        "gateway",
                        "baseline",
                        end_s=T,
                        seconds=3600,
                        rps=20,
                        error_ratio=0.0,
                        seed=2,
                    ),
                )
            )
            await ingest.done_writing()
            acks = [ack async for ack in ingest]
            assert [a.status for a in acks] == [pb.PushAck.ACCEPTED]

            canary = pb_grpc.CanaryServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await canary.GetVerdict(pb.GetVerdictRequest(service="gateway"))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            verdict = await canary.GetVerdict(
                pb.GetVerdictRequest(service="gateway", revision="rev-21"), metadata=AUTH_METADATA
            )
            assert verdict.verdict == pb.FAIL, verdict.reason
            assert [g.guard for g in verdict.guards] == ["error_ratio"]
            assert app.state.verdicts[("gateway", "canary", "baseline")].revision == "rev-21"

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{app.http_port}") as client:
            body = (await client.get("/api/v1/verdict", params={"service": "gateway"})).json()
            assert body["verdict"] == "FAIL"
            rollback = await client.post(
                "/api/v1/flagger/rollback",
                json={
                    "name": "gateway",
                    "namespace": "prod",
                    "phase": "Progressing",
                    "checksum": "rev-21",
                    "metadata": {},
                },
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert rollback.status_code == 200
            metrics = (await client.get("/metrics")).text
            assert 'sloengine_canary_verdicts_total{verdict="FAIL"}' in metrics
    finally:
        await app.stop(1.0)  # waits for the running rollback hook
    # One rollback for rev-21, however many FAIL verdicts asked for it.
    assert calls.read_text().splitlines() == ["gateway rev-21"]
    audit = tmp_path / "audit" / "audit.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "sloengine", "audit", "verify", str(audit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "sloengine", "audit", "show", str(audit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "config_loaded" in shown.stdout and "rollback_succeeded" in shown.stdout
