"""CanaryService over a real grpc.aio server and the HTTP side door over a real aiohttp server."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from sloengine.audit import read_entries, verify
from sloengine.canary import Verdict
from sloengine.model import SLO, Catalog, NativeSLI
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from tests.canary.conftest import TOKEN, Harness, T
from tests.canary.traffic import block, push

AUTH = {"Authorization": f"Bearer {TOKEN}"}
# A service named in the canary config is known before it sends data.
GATEWAY_CONFIGURED: dict[str, Any] = {"canary": {"services": {"gateway": {}}}}


def traffic(
    h: Harness,
    *,
    canary_errors: float,
    baseline_errors: float = 0.0,
    canary_latency: float = 0.2,
    end: float = T,
    rps: float = 20,
    revision: str = "",
) -> None:
    h.state.ingest(
        push(
            "test",
            int(end),
            block(
                "gateway",
                "canary",
                end_s=end,
                seconds=3600,
                rps=rps,
                error_ratio=canary_errors,
                median_latency_s=canary_latency,
                seed=1,
                revision=revision,
            ),
            block(
                "gateway",
                "baseline",
                end_s=end,
                seconds=3600,
                rps=rps,
                error_ratio=baseline_errors,
                seed=2,
            ),
        )
    )


def actions(path: Path) -> list[str]:
    return [e["action"] for _, e in read_entries(path)]


def recorder_hooks(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    calls = tmp_path / "rollbacks.txt"
    script = tmp_path / "rollback.py"
    script.write_text("import sys\nopen(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')\n")
    hook = {
        "command": [sys.executable, str(script), str(calls), "{service}", "{revision}"],
        "cooldown": 0,
    }
    return {"gateway": hook}, calls


async def wait_for_lines(path: Path, n: int, timeout_s: float = 60) -> list[str]:
    for _ in range(int(timeout_s / 0.05)):
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return path.read_text().splitlines()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} has fewer than {n} lines")


# --- gRPC --------------------------------------------------------------------------------------


async def test_get_verdict_fails_a_canary_with_errors_against_a_clean_baseline(
    harness_factory: Any,
) -> None:
    h = await harness_factory()
    traffic(h, canary_errors=0.06, revision="rev-2")
    verdict = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway", revision="rev-2"))
    assert verdict.verdict == pb.FAIL, verdict.reason
    assert verdict.reason.startswith("FAIL: error ratio")
    guard = {g.guard: g for g in verdict.guards}["error_ratio"]
    assert guard.absolute_breached and guard.relative_breached
    assert (guard.short_window_seconds, guard.long_window_seconds) == (300, 3600)
    assert verdict.eval_time.seconds == int(T)
    assert h.state.verdicts[("gateway", "canary", "baseline")].verdict == Verdict.FAIL
    assert actions(h.audit_path) == ["config_loaded", "verdict_changed"]


async def test_get_verdict_without_data_is_inconclusive(harness_factory: Any) -> None:
    h = await harness_factory(GATEWAY_CONFIGURED)
    verdict = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    assert verdict.verdict == pb.INCONCLUSIVE
    assert "no canary data" in verdict.reason


async def test_get_verdict_healthy_canary_passes(harness_factory: Any) -> None:
    h = await harness_factory()
    traffic(h, canary_errors=0.002, baseline_errors=0.002)
    verdict = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    assert verdict.verdict == pb.PASS, verdict.reason
    assert [g.guard for g in verdict.guards] == ["error_ratio", "latency_p95"]


async def test_slo_burn_guard_comes_from_the_catalog(harness_factory: Any) -> None:
    slo = SLO(
        service="gateway",
        name="availability",
        objective_ratio=0.999,
        sli=NativeSLI(kind="availability", selector=(("service", "gateway"),)),
    )
    h = await harness_factory(catalog=Catalog(slos=(slo,)))
    traffic(h, canary_errors=0.03)
    verdict = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    burn = {g.guard: g for g in verdict.guards}["slo_burn:availability"]
    assert burn.verdict == pb.FAIL and burn.threshold == pytest.approx(10)
    assert burn.canary_value_long == pytest.approx(30, rel=0.2)


async def test_latency_slo_burn_counts_requests_slower_than_its_threshold(
    harness_factory: Any,
) -> None:
    slo = SLO(
        service="gateway",
        name="search-latency",
        objective_ratio=0.99,
        sli=NativeSLI(
            kind="latency", selector=(("service", "gateway"),), latency_threshold_seconds=0.5
        ),
    )
    h = await harness_factory(catalog=Catalog(slos=(slo,)))
    traffic(h, canary_errors=0.0, canary_latency=0.45)  # about 40% slower than 0.5 s
    verdict = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    burn = {g.guard: g for g in verdict.guards}["slo_burn:search-latency"]
    assert burn.verdict == pb.FAIL, burn.reason
    assert burn.threshold == pytest.approx(10)
    assert 30 < burn.canary_value_long < 50  # 30-50% slow requests over a 1% budget
    assert burn.baseline_value_long < 10
    assert burn.reason.startswith("FAIL: burn rate of SLO search-latency 4")


async def test_eval_time_replays_without_recording(harness_factory: Any) -> None:
    h = await harness_factory()
    traffic(h, canary_errors=0.06)
    request = pb.GetVerdictRequest(
        service="gateway", short_window_seconds=60, long_window_seconds=600
    )
    request.eval_time.FromSeconds(int(T) - 1800)
    verdict = await h.stub.GetVerdict(request)
    assert verdict.verdict == pb.FAIL and verdict.eval_time.seconds == int(T) - 1800
    assert h.state.verdicts == {}
    assert actions(h.audit_path) == ["config_loaded"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.GetVerdictRequest(), "service: required"),
        (
            pb.GetVerdictRequest(service="gateway", short_window_seconds=7200),
            "short_window_seconds",
        ),
        (
            pb.GetVerdictRequest(
                service="gateway", canary_variant="stable", baseline_variant="stable"
            ),
            "baseline_variant",
        ),
        (pb.GetVerdictRequest(service="gateway", revision="--evil-flag"), "revision"),
        (pb.GetVerdictRequest(service="gateway", revision="a b;rm"), "revision"),
        (pb.GetVerdictRequest(service="gateway", revision="r" * 129), "revision"),
    ],
)
async def test_bad_request_is_invalid_argument_naming_the_field(
    harness_factory: Any, request_: pb.GetVerdictRequest, field: str
) -> None:
    h = await harness_factory()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.GetVerdict(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (err.value.details() or "")


async def test_watch_sends_the_current_verdict_then_each_change(harness_factory: Any) -> None:
    h = await harness_factory()
    traffic(h, canary_errors=0.0)
    call = h.stub.WatchVerdicts(pb.WatchVerdictsRequest(service="gateway", interval_seconds=0.05))
    first = await asyncio.wait_for(call.read(), 5)
    assert first.verdict == pb.PASS
    # Ten minutes later the canary has been failing for the whole short window.
    h.state.ingest(
        push(
            "test",
            2,
            block("gateway", "canary", end_s=T + 600, seconds=600, rps=20, error_ratio=0.5, seed=3),
        )
    )
    h.state.ingest(
        push(
            "test",
            3,
            block(
                "gateway", "baseline", end_s=T + 600, seconds=600, rps=20, error_ratio=0.0, seed=4
            ),
        )
    )
    h.state.now_s = T + 600
    second = await asyncio.wait_for(call.read(), 5)
    assert second.verdict == pb.FAIL
    call.cancel()


async def test_fail_runs_the_rollback_hook_once_per_revision(
    harness_factory: Any, tmp_path: Path
) -> None:
    hooks, calls = recorder_hooks(tmp_path)
    h = await harness_factory(
        {"hooks": hooks, "canary": {"services": {"gateway": {"rollback_on_fail": True}}}}
    )
    traffic(h, canary_errors=0.06, revision="rev-9")
    for _ in range(3):
        await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway", revision="rev-9"))
    await h.core.aclose()
    assert (await wait_for_lines(calls, 1)) == ["gateway rev-9"]
    assert actions(h.audit_path).count("rollback_succeeded") == 1
    assert actions(h.audit_path).count("rollback_duplicate") == 2
    assert verify(h.audit_path).ok


# --- HTTP: Argo Rollouts ---------------------------------------------------------------------


async def test_http_verdict_is_argo_web_metric_json(harness_factory: Any) -> None:
    h = await harness_factory()
    traffic(h, canary_errors=0.06)
    async with httpx.AsyncClient(base_url=h.http_url) as client:
        got = await client.get(
            "/api/v1/verdict",
            params={"service": "gateway", "short_window": "5m", "long_window": "3600"},
        )
        posted = await client.post("/api/v1/verdict", json={"service": "gateway"})
        bad = await client.get(
            "/api/v1/verdict", params={"service": "gateway", "short_window": "soon"}
        )
    assert got.status_code == 200
    body = got.json()
    assert body["verdict"] == "FAIL" and body["reason"].startswith("FAIL:")
    guard = body["guards"][0]
    assert {"guard", "p_value", "effect_size", "canary_samples", "min_samples", "test"} <= set(
        guard
    )
    assert posted.json()["verdict"] == "FAIL"
    assert bad.status_code == 400 and bad.json()["error"].startswith(
        "short_window: invalid duration"
    )


# --- HTTP: Flagger -----------------------------------------------------------------------------


def flagger_payload(**metadata: str) -> dict[str, Any]:
    return {
        "name": "gateway",
        "namespace": "prod",
        "phase": "Progressing",
        "checksum": "6d8f",
        "metadata": metadata,
    }


async def test_flagger_gates_go_only_on_pass_and_rollback_only_on_fail(
    harness_factory: Any,
) -> None:
    h = await harness_factory(GATEWAY_CONFIGURED)
    async with httpx.AsyncClient(base_url=h.http_url, headers=AUTH) as client:
        early = await client.post("/api/v1/flagger/confirm-promotion", json=flagger_payload())
        assert early.status_code == 425 and early.json()["verdict"] == "INCONCLUSIVE"
        assert (
            await client.post("/api/v1/flagger/rollback", json=flagger_payload())
        ).status_code == 412
        traffic(h, canary_errors=0.001, baseline_errors=0.001, revision="6d8f")
        ok = await client.post("/api/v1/flagger/rollout", json=flagger_payload())
        assert ok.status_code == 200 and ok.json()["verdict"] == "PASS"
        assert ok.json()["revision"] == "6d8f"  # Flagger's checksum identifies the revision
        traffic(h, canary_errors=0.2, end=T + 600, revision="6d8f")
        h.state.now_s = T + 600
        failing = await client.post(
            "/api/v1/flagger/confirm-promotion", json=flagger_payload(service="gateway")
        )
        assert failing.status_code == 412 and "FAIL" in failing.json()["reason"]
        assert (
            await client.post("/api/v1/flagger/rollback", json=flagger_payload())
        ).status_code == 200
        event = await client.post("/api/v1/flagger/event", json=flagger_payload())
        assert event.status_code == 200
        unknown = await client.post("/api/v1/flagger/promote-now", json=flagger_payload())
        assert unknown.status_code == 404
    assert "flagger_event" in actions(h.audit_path)


async def test_mutating_endpoints_need_the_bearer_token(harness_factory: Any) -> None:
    h = await harness_factory()
    async with httpx.AsyncClient(base_url=h.http_url) as client:
        for path in ("/api/v1/flagger/rollout", "/api/v1/alertmanager"):
            assert (await client.post(path, json={})).status_code == 401
            wrong = {"Authorization": "Bearer nope"}
            assert (await client.post(path, json={}, headers=wrong)).status_code == 403


async def test_verdict_endpoint_can_require_the_token(harness_factory: Any) -> None:
    h = await harness_factory(
        {"canary": {"verdict_requires_token": True, "services": {"gateway": {}}}}
    )
    async with httpx.AsyncClient(base_url=h.http_url) as client:
        params = {"service": "gateway"}
        assert (await client.get("/api/v1/verdict", params=params)).status_code == 401
        ok = await client.get("/api/v1/verdict", params=params, headers=AUTH)
        assert ok.status_code == 200 and ok.json()["verdict"] == "INCONCLUSIVE"


async def test_flagger_bad_payload_is_400(harness_factory: Any) -> None:
    h = await harness_factory()
    async with httpx.AsyncClient(base_url=h.http_url, headers=AUTH) as client:
        resp = await client.post(
            "/api/v1/flagger/rollout",
            content=b"[1,2]",
            headers={"Content-Type": "application/json"},
        )
        assert resp.status_code == 400 and resp.json()["error"] == "body: must be a JSON object"
        resp = await client.post("/api/v1/flagger/rollout", json={"namespace": "x"})
        assert resp.status_code == 400 and resp.json()["error"] == "service: required"


# --- HTTP: Alertmanager ------------------------------------------------------------------------


def am_payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": "{}:{}",
        "status": "firing",
        "receiver": "sloengine",
        "alerts": list(alerts),
    }


def am_alert(status: str, **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": "canary 5xx ratio above 2%"},
        "startsAt": "2027-01-15T08:00:00Z",
        "fingerprint": "abc",
    }


async def test_alertmanager_firing_rollback_alert_runs_the_hook(
    harness_factory: Any, tmp_path: Path
) -> None:
    hooks, calls = recorder_hooks(tmp_path)
    h = await harness_factory({"hooks": hooks})
    payload = am_payload(
        am_alert(
            "firing",
            alertname="CanaryErrorRateHigh",
            rollback="true",
            service="gateway",
            revision="rev-4",
        ),
        am_alert("firing", alertname="SLOErrorBudgetBurn", service="gateway"),
        am_alert("resolved", alertname="CanaryLatencyP95High", rollback="true", service="gateway"),
    )
    async with httpx.AsyncClient(base_url=h.http_url, headers=AUTH) as client:
        resp = await client.post("/api/v1/alertmanager", json=payload)
    assert resp.status_code == 200
    assert resp.json() == {
        "triggered": [{"service": "gateway", "alertname": "CanaryErrorRateHigh"}],
        "resolved": ["CanaryLatencyP95High"],
        "ignored": 1,
    }
    assert await wait_for_lines(calls, 1) == ["gateway rev-4"]
    await h.core.aclose()
    entries = [e for _, e in read_entries(h.audit_path)]
    assert [e["action"] for e in entries] == [
        "config_loaded",
        "alert_resolved",
        "rollback_attempt",
        "rollback_succeeded",
    ]
    assert (
        entries[2]["actor"] == "alertmanager"
        and "CanaryErrorRateHigh firing" in entries[2]["reason"]
    )


async def test_alertmanager_bad_payload_names_the_field(harness_factory: Any) -> None:
    h = await harness_factory()
    async with httpx.AsyncClient(base_url=h.http_url, headers=AUTH) as client:
        resp = await client.post("/api/v1/alertmanager", json={"alerts": [{"labels": "x"}]})
    assert resp.status_code == 400 and resp.json()["error"].startswith("alerts[0].labels")


def test_config_errors_name_the_field() -> None:
    from sloengine.canary import parse_canary
    from sloengine.errors import SpecError

    with pytest.raises(
        SpecError, match=r"canary\.services\.gateway\.max_error_ratio: must be a number"
    ):
        parse_canary({"services": {"gateway": {"max_error_ratio": 2}}}, "engine.yaml")
    with pytest.raises(SpecError, match=r"canary\.short_window: must not be longer"):
        parse_canary({"short_window": "2h"}, "engine.yaml")
    assert json.dumps(parse_canary(None).short_window_seconds) == "300.0"
