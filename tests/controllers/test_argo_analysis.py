"""Whole Argo Rollouts analyses against the real engine, with the shipped Rollout and
AnalysisTemplates: the Argo-rules simulator (argo_rules.py) walks the steps and evaluates
the templates' conditions on the engine's real answers, as Argo does."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.controllers.argo_rules import (
    ERROR,
    FAILED,
    INCONCLUSIVE,
    SUCCESSFUL,
    ArgoRollout,
    MetricRun,
    evaluate_result,
    json_path,
)
from tests.controllers.engine import DEPLOY, RunningEngine, Traffic, load_manifests

pytestmark = pytest.mark.integration

POD_TEMPLATE_HASH = "6d8f7c9b5"


def shipped() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    (rollout,) = load_manifests(DEPLOY / "argo" / "rollout.yaml")
    templates = {
        t["metadata"]["name"]: t for t in load_manifests(DEPLOY / "argo" / "analysistemplate.yaml")
    }
    return rollout, templates


def test_shipped_rollout_has_the_seed_steps() -> None:
    rollout, templates = shipped()
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    weights = [s["setWeight"] for s in steps if "setWeight" in s]
    pauses = [s["pause"]["duration"] for s in steps if "pause" in s]
    assert weights == [10, 30, 60] and pauses == ["2m", "2m", "2m"]
    for template in templates.values():
        for metric in template["spec"]["metrics"]:
            assert metric["interval"] == "1m"
            assert metric["provider"]["web"]["jsonPath"] == "{$.verdict}"
        assert {a["name"] for a in template["spec"]["args"]} >= {
            "service", "revision", "canary-variant", "baseline-variant",
        }  # fmt: skip
    gate = templates["sloengine-gate"]["spec"]["metrics"][0]
    assert gate["successCondition"] and gate["failureCondition"]


@pytest.mark.parametrize(
    ("body", "phase"),
    [({"verdict": "PASS"}, SUCCESSFUL), ({"verdict": "FAIL"}, FAILED),
     ({"verdict": "INCONCLUSIVE"}, INCONCLUSIVE)],
)  # fmt: skip
def test_gate_conditions_map_verdicts_onto_argo_phases(body: dict[str, str], phase: str) -> None:
    _, templates = shipped()
    metric = templates["sloengine-gate"]["spec"]["metrics"][0]
    assert evaluate_result(metric, json_path(body, metric["provider"]["web"]["jsonPath"])) == phase
    guard = templates["sloengine-guard"]["spec"]["metrics"][0]
    expected_guard = FAILED if body["verdict"] == "FAIL" else SUCCESSFUL
    assert evaluate_result(guard, body["verdict"]) == expected_guard


async def run_rollout(
    engine: RunningEngine, canary: Traffic, stable: Traffic, max_minutes: int
) -> ArgoRollout:
    rollout, templates = shipped()
    for _ in range(60):
        engine.now[0] += 60
        await engine.push_minute("gateway", {"stable": stable})
    async with httpx.AsyncClient() as client:
        sim = ArgoRollout(
            rollout, templates, client, engine.http_url,
            {("sloengine-read", "token"): engine.tokens["read"]}, POD_TEMPLATE_HASH,
        )  # fmt: skip
        for _ in range(max_minutes):
            share = sim.weight / 100
            await engine.push_minute(
                "gateway",
                {
                    "canary": Traffic(canary.rps * share, canary.error_ratio),
                    "stable": Traffic(stable.rps * (1 - share), stable.error_ratio),
                },
            )
            await sim.tick(engine.now[0])
            if sim.status != "Progressing":
                break
            engine.now[0] += 60
    return sim


async def test_healthy_rollout_is_promoted(engine: RunningEngine) -> None:
    sim = await run_rollout(engine, Traffic(40, 0.002), Traffic(40, 0.002), 90)
    assert sim.status == "Healthy" and sim.weight == 100, sim.history
    assert [phase for _, phase in sim.history] == [SUCCESSFUL] * 3
    assert sim.background is not None
    assert all(m.phase != ERROR for run in [sim.background] for m in run.metrics)


async def test_bad_rollout_is_aborted(engine: RunningEngine) -> None:
    sim = await run_rollout(engine, Traffic(40, 0.12), Traffic(40, 0.002), 60)
    assert sim.status == "Degraded" and sim.weight == 0, sim.history
    assert "aborted" in sim.history[-1][1]


async def test_low_traffic_rollout_waits_then_pauses_inconclusive(engine: RunningEngine) -> None:
    sim = await run_rollout(engine, Traffic(0.3, 0.002), Traffic(0.3, 0.002), 60)
    # The first gate never sees a PASS: after `count` measurements the run is Inconclusive
    # and Argo pauses the rollout for a human; it was neither promoted nor aborted.
    assert sim.status == "Paused" and sim.weight == 10, sim.history
    assert sim.history == [(2, INCONCLUSIVE)]


async def test_verdict_needs_the_read_token_and_never_answers_non_2xx_for_a_verdict(
    engine: RunningEngine,
) -> None:
    _, templates = shipped()
    engine.now[0] += 60
    await engine.push_minute("gateway", {"stable": Traffic(5, 0.0)})
    metric = dict(templates["sloengine-gate"]["spec"]["metrics"][0])
    url = f"{engine.http_url}/api/v1/verdict?service=gateway&canary=canary&baseline=stable"
    web = {**metric["provider"]["web"], "url": url, "headers": []}
    run = MetricRun({**metric, "provider": {"web": web}})
    async with httpx.AsyncClient() as client:
        assert (await run.measure(client)).status == 401  # an Error measurement, as Argo
        web["headers"] = [{"key": "Authorization", "value": f"Bearer {engine.tokens['read']}"}]
        measured = await run.measure(client)
    assert measured.status == 200 and measured.value == "INCONCLUSIVE"
    assert measured.phase == INCONCLUSIVE
