"""Whole Flagger analyses against the real engine, with the shipped Canary object.

The Flagger-rules simulator (flagger_rules.py) calls the engine's gates as Flagger does:
exact payloads, no header but Content-Type, the read token only in `metadata.token`.
Each interval pushes one minute of traffic split by the canary weight.
"""

from __future__ import annotations

import httpx
import pytest

from sloengine.audit import verify
from tests.controllers.engine import DEPLOY, RunningEngine, Traffic, load_manifests
from tests.controllers.flagger_rules import (
    FAILED,
    PROGRESSING,
    SUCCEEDED,
    WAITING_PROMOTION,
    CanarySpec,
    FlaggerCanary,
)

pytestmark = pytest.mark.integration

CHECKSUM = "5f7c9d6b8d"
TOKEN_PLACEHOLDER = "REPLACE_WITH_READ_TOKEN"


def shipped_canary(engine: RunningEngine) -> CanarySpec:
    """deploy/kubernetes/flagger/canary.yaml with the read token filled in, as the docs say."""
    (doc,) = load_manifests(DEPLOY / "flagger" / "canary.yaml")
    for hook in doc["spec"]["analysis"]["webhooks"]:
        assert hook["metadata"]["token"] == TOKEN_PLACEHOLDER
        hook["metadata"] = {**hook["metadata"], "token": engine.tokens["read"]}
    return CanarySpec.from_manifest(doc, engine.http_url)


async def run_analysis(
    engine: RunningEngine, canary_traffic: Traffic, primary: Traffic, max_intervals: int
) -> FlaggerCanary:
    spec = shipped_canary(engine)
    meta = spec.webhooks[0].metadata
    service, canary_variant, primary_variant = meta["service"], meta["canary"], meta["baseline"]
    # The primary served the old revision for an hour before the new one arrived.
    for _ in range(60):
        engine.now[0] += 60
        await engine.push_minute(service, {primary_variant: primary})
    async with httpx.AsyncClient(timeout=10) as client:
        sim = FlaggerCanary(spec, client, CHECKSUM)
        for _ in range(max_intervals):
            if sim.phase in (SUCCEEDED, FAILED):
                break
            engine.now[0] += spec.interval_seconds
            share = sim.canary_weight / 100
            await engine.push_minute(
                service,
                {
                    canary_variant: Traffic(
                        canary_traffic.rps * share, canary_traffic.error_ratio,
                        canary_traffic.median_latency_s,
                    ),
                    primary_variant: Traffic(
                        primary.rps * (1 - share), primary.error_ratio, primary.median_latency_s
                    ),
                },
            )  # fmt: skip
            await sim.tick()
    return sim


def assert_no_token_in_headers(sim: FlaggerCanary) -> None:
    for call in sim.calls:
        assert "authorization" not in call.request_headers
        assert set(call.request_headers) <= {
            "content-type", "content-length", "host", "accept", "accept-encoding",
            "connection", "user-agent",
        }  # fmt: skip


async def test_healthy_canary_is_promoted(engine: RunningEngine) -> None:
    sim = await run_analysis(
        engine, Traffic(rps=40, error_ratio=0.002), Traffic(rps=40, error_ratio=0.002), 60
    )
    assert sim.phase == SUCCEEDED, [(c.type, c.status) for c in sim.calls]
    assert sim.failed_checks == 0
    types = [c.type for c in sim.calls]
    assert types[0] == "confirm-rollout" and "pre-rollout" in types
    assert types.count("confirm-promotion") >= 1 and types[-1] == "post-rollout"
    assert_no_token_in_headers(sim)
    # The read token authenticated the gates and was kept out of the audit log.
    audit = engine.app.config.raw["audit"]["path"]
    assert verify(audit).ok
    with open(audit) as f:
        text = f.read()
    assert "flagger_event" in text and engine.tokens["read"] not in text


async def test_bad_canary_is_rolled_back(engine: RunningEngine) -> None:
    sim = await run_analysis(
        engine, Traffic(rps=40, error_ratio=0.12), Traffic(rps=40, error_ratio=0.002), 30
    )
    assert sim.phase == FAILED, [(c.type, c.status) for c in sim.calls]
    assert sim.canary_weight == 0
    # Rolled back by the rollback gate (200 = roll back) or by `threshold` failed checks.
    rolled_by_gate = any(c.type == "rollback" and c.ok for c in sim.calls)
    assert rolled_by_gate or sim.failed_checks >= sim.spec.threshold
    assert not any(c.type == "confirm-promotion" and c.ok for c in sim.calls)
    assert_no_token_in_headers(sim)


async def test_low_traffic_canary_waits(engine: RunningEngine) -> None:
    sim = await run_analysis(
        engine, Traffic(rps=0.3, error_ratio=0.002), Traffic(rps=0.3, error_ratio=0.002), 30
    )
    # Never promoted and never rolled back: INCONCLUSIVE is not a failed check.
    assert sim.phase in (PROGRESSING, WAITING_PROMOTION), [(c.type, c.status) for c in sim.calls]
    assert sim.failed_checks == 0
    rollout_statuses = {c.status for c in sim.calls if c.type == "rollout"}
    assert rollout_statuses <= {200, 202}
    waits = [c for c in sim.calls if c.type.startswith("confirm-") and not c.ok]
    assert waits and all(c.status == 425 for c in waits)
    assert_no_token_in_headers(sim)


async def test_gates_refuse_calls_without_the_read_token(engine: RunningEngine) -> None:
    spec = shipped_canary(engine)
    engine.now[0] += 60
    await engine.push_minute("gateway", {"primary": Traffic(5, 0.0)})
    async with httpx.AsyncClient(base_url=engine.http_url) as client:
        payload = {"name": "gateway", "namespace": "shop", "phase": "Progressing",
                   "checksum": CHECKSUM, "metadata": {"service": "gateway"}}  # fmt: skip
        assert (await client.post("/api/v1/flagger/rollout", json=payload)).status_code == 401
        for scope in ("ingest", "admin"):
            wrong = {**payload, "metadata": {"service": "gateway", "token": engine.tokens[scope]}}
            answer = await client.post("/api/v1/flagger/rollout", json=wrong)
            assert answer.status_code == 403, scope
            assert engine.tokens[scope] not in answer.text
        good = {**payload, "metadata": dict(spec.webhooks[0].metadata)}
        assert (await client.post("/api/v1/flagger/rollout", json=good)).status_code == 202
