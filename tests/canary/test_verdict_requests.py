"""Verdict requests through the public gRPC and HTTP surfaces: unknown names are NOT_FOUND
and leave nothing behind, revisions scope the analysis and are validated before any hook,
replays are exact whatever is ingested later, live verdicts count the current 10 s slot."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from tests.canary.conftest import TOKEN, Harness, T
from tests.canary.test_service import actions, recorder_hooks, wait_for_lines
from tests.canary.traffic import block, push


def ingest(h: Harness, seq: int, *blocks: pb.SeriesBlock) -> None:
    h.state.ingest(push("test", seq, *blocks))


def steady(
    variant: str, *, end: float = T, seconds: float = 3600, errors: float = 0.0, **kw: Any
) -> pb.SeriesBlock:
    return block("gateway", variant, end_s=end, seconds=seconds, rps=20, error_ratio=errors, **kw)


async def test_unknown_service_is_not_found_and_leaves_no_trace(harness_factory: Any) -> None:
    h = await harness_factory()
    ingest(h, 1, steady("canary"), steady("baseline", seed=2))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.GetVerdict(pb.GetVerdictRequest(service="gatewya"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "gatewya" in (err.value.details() or "")
    async with httpx.AsyncClient(base_url=h.http_url) as client:
        for i in range(300):
            response = await client.get("/api/v1/verdict", params={"service": f"svc-{i}"})
            assert response.status_code == 404, response.text
            assert "unknown service" in response.json()["error"]
    assert h.state.verdicts == {}
    assert actions(h.audit_path) == ["config_loaded"]
    assert h.state.store.series_count() == 2


async def test_unknown_variant_is_not_found_but_a_silent_canary_is_inconclusive(
    harness_factory: Any,
) -> None:
    h = await harness_factory()
    ingest(h, 1, steady("stable", seed=2))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway", canary_variant="canry"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "canary_variant" in (err.value.details() or "")
    # The conventional canary name without data yet: the canary may just be starting.
    verdict = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    assert verdict.verdict == pb.INCONCLUSIVE and "no canary data" in verdict.reason
    # Argo's names: the baseline defaults to the variant that has data (stable here).
    assert verdict.baseline_variant == "stable"


async def test_flagger_primary_is_the_default_baseline_when_it_has_the_data(
    harness_factory: Any,
) -> None:
    h = await harness_factory()
    ingest(h, 1, steady("canary", errors=0.2), steady("primary", seed=2))
    verdict = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    assert verdict.baseline_variant == "primary"
    assert verdict.verdict == pb.FAIL, verdict.reason


async def test_configured_variant_names_are_the_defaults(harness_factory: Any) -> None:
    config = {
        "canary": {"services": {"gateway": {"canary_variant": "green", "baseline_variant": "blue"}}}
    }
    h = await harness_factory(config)
    ingest(h, 1, steady("green", errors=0.2), steady("blue", seed=2))
    verdict = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    assert (verdict.canary_variant, verdict.baseline_variant) == ("green", "blue")
    assert verdict.verdict == pb.FAIL, verdict.reason


async def test_a_revision_is_judged_on_its_own_requests_only(harness_factory: Any) -> None:
    h = await harness_factory()
    # Revision 1 failed for the first half hour; revision 2 replaced it and is healthy.
    ingest(
        h,
        1,
        steady("canary", end=T - 1800, seconds=1800, errors=0.3, revision="r1"),
        steady("canary", seconds=1800, errors=0.001, revision="r2", seed=3),
        steady("baseline", errors=0.001, seed=2),
    )
    r2 = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway", revision="r2"))
    assert r2.verdict == pb.PASS, r2.reason
    r1 = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway", revision="r1"))
    assert r1.verdict == pb.FAIL, r1.reason
    nothing = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway", revision="r3"))
    assert nothing.verdict == pb.INCONCLUSIVE


async def test_invented_revisions_never_reach_the_hook(
    harness_factory: Any, tmp_path: Path
) -> None:
    hooks, calls = recorder_hooks(tmp_path)
    h = await harness_factory(
        {"hooks": hooks, "canary": {"services": {"gateway": {"rollback_on_fail": True}}}}
    )
    ingest(h, 1, steady("canary", errors=0.2, revision="rev-1"), steady("baseline", seed=2))
    async with httpx.AsyncClient(base_url=h.http_url) as client:
        evil = await client.get(
            "/api/v1/verdict", params={"service": "gateway", "revision": "--evil-flag"}
        )
        assert evil.status_code == 400 and "revision" in evil.json()["error"]
        for i in range(20):  # new revisions without data cannot FAIL, so no new rollback
            await client.get("/api/v1/verdict", params={"service": "gateway", "revision": f"x{i}"})
        ok = await client.get("/api/v1/verdict", params={"service": "gateway", "revision": "rev-1"})
        assert ok.json()["verdict"] == "FAIL"
    await h.core.aclose()
    assert (await wait_for_lines(calls, 1)) == ["gateway rev-1"]
    assert len(h.state.verdicts) == 1


async def test_replay_is_exact_whatever_is_ingested_later(harness_factory: Any) -> None:
    h = await harness_factory()
    ingest(h, 1, steady("canary", errors=0.03), steady("baseline", errors=0.01, seed=2))
    request = pb.GetVerdictRequest(service="gateway")
    request.eval_time.FromSeconds(int(T) - 610)  # not on the minute: read on the minute grid
    before = await h.stub.GetVerdict(request)
    # Another service moves the rings an hour on: the 10 s slots of the replay are gone.
    h.state.now_s = T + 3600
    h.state.ingest(
        push(
            "other",
            1,
            block("other", "stable", end_s=T + 3600, seconds=600, rps=5, error_ratio=0.0),
        )
    )
    after = await h.stub.GetVerdict(request)
    assert after.reason == before.reason
    assert [g.canary_samples for g in after.guards] == [g.canary_samples for g in before.guards]


async def test_live_verdict_counts_the_current_partial_slot(harness_factory: Any) -> None:
    h = await harness_factory()
    ingest(h, 1, steady("canary", seconds=600), steady("baseline", seed=2))
    # A sample stamped 3 s ago lies in the current, unfinished 10 s slot.
    h.state.now_s = T + 4
    ingest(h, 2, block("gateway", "canary", end_s=T + 1, seconds=10, rps=50, error_ratio=0.0))
    live = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    request = pb.GetVerdictRequest(service="gateway")
    request.eval_time.FromSeconds(int(T))
    replay = await h.stub.GetVerdict(request)
    assert live.guards[0].canary_samples > replay.guards[0].canary_samples


async def test_unlabelled_canary_data_makes_the_revision_a_tag(harness_factory: Any) -> None:
    h = await harness_factory()
    ingest(h, 1, steady("canary", errors=0.2), steady("baseline", seed=2))
    verdict = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway", revision="6d8f"))
    assert verdict.verdict == pb.FAIL and verdict.revision == "6d8f"


async def test_watch_follows_one_revision(harness_factory: Any) -> None:
    h = await harness_factory()
    ingest(
        h,
        1,
        steady("canary", seconds=1800, errors=0.3, revision="r1"),
        steady("canary", seconds=1800, errors=0.0, revision="r2", seed=3),
        steady("baseline", seed=2),
    )
    request = pb.WatchVerdictsRequest(service="gateway", revision="r2", interval_seconds=0.05)
    call = h.stub.WatchVerdicts(request)
    first = await asyncio.wait_for(call.read(), 5)
    assert first.revision == "r2" and first.verdict == pb.PASS, first.reason
    call.cancel()
    bad = h.stub.WatchVerdicts(pb.WatchVerdictsRequest(service="nope"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await asyncio.wait_for(bad.read(), 5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_invented_revisions_do_not_flood_the_audit_log(harness_factory: Any) -> None:
    h = await harness_factory()
    ingest(h, 1, steady("canary", revision="r1"), steady("baseline", seed=2))
    async with httpx.AsyncClient(base_url=h.http_url) as client:
        for i in range(50):  # alternating with the real one: no flip-flop either
            for revision in (f"made-up-{i}", "r1"):
                params = {"service": "gateway", "revision": revision}
                assert (await client.get("/api/v1/verdict", params=params)).status_code == 200
    # One entry for the first live verdict of r1; invented revisions are answered only.
    assert actions(h.audit_path).count("verdict_changed") == 1
    assert len(h.state.verdicts) == 1


async def test_a_revision_only_tagging_unlabelled_data_is_no_change(harness_factory: Any) -> None:
    h = await harness_factory()
    ingest(h, 1, steady("canary"), steady("baseline", seed=2))
    for i in range(20):
        await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway", revision=f"tag-{i}"))
    # The first tag's verdict, then the first new tag's fresh analysis (no data since it
    # was first seen: INCONCLUSIVE); the other new tags change nothing more.
    assert actions(h.audit_path).count("verdict_changed") == 2
    # An older tag (data since it was first seen: PASS) asked in turn with newer ones is
    # answered, not recorded: no flip-flop in the audit log.
    h.state.now_s = T + 600
    fresh = steady("canary", end=T + 600, seconds=600, seed=4)
    ingest(h, 2, fresh, steady("baseline", end=T + 600, seconds=600, seed=5))
    for i in range(20):
        older = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway", revision="tag-19"))
        newer = await h.stub.GetVerdict(
            pb.GetVerdictRequest(service="gateway", revision=f"new-{i}")
        )
        assert (older.verdict, newer.verdict) == (pb.PASS, pb.INCONCLUSIVE), older.reason
    # tag-19's PASS while it was the newest, then new-0's fresh start; nothing after that.
    assert actions(h.audit_path).count("verdict_changed") == 4


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"canary_variant": ""}, "canary_variant"),
        ({"canary_variant": "-x"}, "canary_variant"),
        ({"baseline_variant": "a b"}, "baseline_variant"),
        ({"baseline_variant": 3}, "baseline_variant"),
    ],
)
def test_variant_names_in_the_config_are_checked(doc: dict[str, Any], field: str) -> None:
    from sloengine.canary import parse_canary
    from sloengine.errors import SpecError

    with pytest.raises(SpecError, match=rf"canary\.services\.gw\.{field}: must be a variant"):
        parse_canary({"services": {"gw": doc}}, "engine.yaml")
    ok = parse_canary({"defaults": {"baseline_variant": "primary"}}).for_service("gw")
    assert (ok.canary_variant, ok.baseline_variant) == ("canary", "primary")


async def test_a_shared_outage_after_the_canary_started_is_not_the_canary(
    harness_factory: Any,
) -> None:
    h = await harness_factory()
    # The stable variant has served for an hour; the canary (10% of traffic) for 5 minutes;
    # in the last 3 minutes a downstream outage fails 20% of everyone's requests.
    before = T - 180
    ingest(
        h,
        1,
        block("gateway", "baseline", end_s=before, seconds=3420, rps=90, error_ratio=0.002),
        block("gateway", "baseline", end_s=T, seconds=180, rps=90, error_ratio=0.2, seed=5),
        block("gateway", "canary", end_s=before, seconds=120, rps=10, error_ratio=0.002, seed=6),
        block("gateway", "canary", end_s=T, seconds=180, rps=10, error_ratio=0.2, seed=7),
    )
    verdict = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    assert verdict.verdict != pb.FAIL, verdict.reason
    guard = verdict.guards[0]
    assert guard.baseline_samples < 90 * 600  # compared over the canary's minutes only


async def test_an_outage_that_starts_with_the_canary_is_not_the_canary(
    harness_factory: Any,
) -> None:
    h = await harness_factory()
    # The canary's first 20 s coincide with a shared outage; the baseline ran for 20 min.
    ingest(
        h,
        1,
        block("gateway", "baseline", end_s=T - 20, seconds=1200, rps=90, error_ratio=0.002),
        block("gateway", "baseline", end_s=T, seconds=20, rps=90, error_ratio=0.15, seed=5),
        block("gateway", "canary", end_s=T, seconds=20, rps=10, error_ratio=0.15, seed=7),
    )
    verdict = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    assert verdict.verdict != pb.FAIL, verdict.reason


async def test_an_analysis_shorter_than_the_default_short_window_is_judged(
    harness_factory: Any,
) -> None:
    """A 2-minute analysis window (the seed's first step) with the default 5m short window:
    the short window shrinks to the long one instead of a 400 the caller cannot explain
    (it never set a short window), which Argo counts as an Error and Flagger's `rollout`
    gate as a failed check, towards rolling back a healthy canary."""
    h = await harness_factory()
    ingest(h, 1, steady("canary", seconds=120, errors=0.3), steady("primary", seed=2))
    reply = await h.stub.GetVerdict(
        pb.GetVerdictRequest(service="gateway", long_window_seconds=120)
    )
    assert reply.verdict == pb.FAIL, reply.reason
    assert {(g.short_window_seconds, g.long_window_seconds) for g in reply.guards} == {(120, 120)}
    async with httpx.AsyncClient(base_url=h.http_url) as client:
        argo = await client.get(
            "/api/v1/verdict", params={"service": "gateway", "long_window": "2m"}
        )
        assert argo.status_code == 200 and argo.json()["verdict"] == "FAIL", argo.text
        payload = {
            "name": "gateway", "namespace": "shop", "phase": "Progressing",
            "checksum": "6d8f7c9b5", "metadata": {"long_window": "2m"},
        }  # fmt: skip
        gate = await client.post(
            "/api/v1/flagger/rollout", json=payload, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert gate.status_code == 412 and gate.json()["verdict"] == "FAIL", gate.text
        # A short window the caller did give must still fit in the long one.
        bad = await client.get(
            "/api/v1/verdict",
            params={"service": "gateway", "short_window": "5m", "long_window": "2m"},
        )
        assert bad.status_code == 400 and "short_window" in bad.json()["error"]


async def test_a_shared_outage_in_a_slot_the_baseline_has_not_reported_is_not_the_canary(
    harness_factory: Any,
) -> None:
    """Sidecars push on their own schedules: the canary's newest 10 s slot can be in while
    the baseline's is still on the way. An outage that hits both in that slot must not look
    like the canary's (FAIL on every such look, before the fix); a bad canary still FAILs."""
    h = await harness_factory()
    young = steady("canary", seconds=60, end=T - 10)
    ingest(h, 1, young, steady("primary", end=T - 10, seconds=1800, seed=2))
    outage = block("gateway", "canary", end_s=T, seconds=10, rps=20, error_ratio=0.5, seed=3)
    ingest(h, 2, outage)
    early = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    assert early.verdict != pb.FAIL, early.reason
    # The canary's newest slot still counts (for the absolute test).
    assert early.guards[0].canary_samples == sum(young.requests) + sum(outage.requests)
    base = block("gateway", "primary", end_s=T, seconds=10, rps=20, error_ratio=0.5, seed=4)
    ingest(h, 3, base)
    late = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    assert late.verdict != pb.FAIL, late.reason
    # The canary alone failing, with the baseline one slot behind: FAIL.
    h.state.now_s = T + 60
    bad = steady("canary", seconds=60, end=T + 60, errors=0.3, seed=5)
    ingest(h, 4, bad, steady("primary", end=T + 50, seconds=60, seed=6))
    fail = await h.stub.GetVerdict(pb.GetVerdictRequest(service="gateway"))
    assert fail.verdict == pb.FAIL, fail.reason
