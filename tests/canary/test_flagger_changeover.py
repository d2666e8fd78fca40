"""Flagger's revision changeover over unlabelled canary data, through the HTTP gates.

Flagger's workload sidecar sends no revision label: the gates get Flagger's `checksum` as
a tag. A failed revision rolled back, then a healthy one started within the hour, must not
be judged on the failed one's errors (before the fix: 412 on `rollout` and 200 on
`rollback` at once, so Flagger rolled the healthy revision back). The first checksum the
engine sees for a service still judges the whole windows.
"""

from __future__ import annotations

from typing import Any

import httpx

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from tests.canary.conftest import TOKEN, Harness, T
from tests.canary.traffic import block, push

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def ingest(h: Harness, seq: int, *blocks: pb.SeriesBlock) -> None:
    h.state.ingest(push("test", seq, *blocks))


def traffic(
    variant: str, *, end: float, seconds: float, errors: float, seed: int
) -> pb.SeriesBlock:
    return block(
        "gateway", variant, end_s=end, seconds=seconds, rps=20, error_ratio=errors, seed=seed
    )


async def gate(client: httpx.AsyncClient, name: str, checksum: str) -> httpx.Response:
    payload = {
        "name": "gateway", "namespace": "shop", "phase": "Progressing",
        "checksum": checksum, "metadata": {},
    }  # fmt: skip
    return await client.post(f"/api/v1/flagger/{name}", json=payload, headers=AUTH)


def canary_samples(response: httpx.Response) -> set[float]:
    return {g["canary_samples"] for g in response.json()["guards"]}


async def test_a_new_checksum_is_not_judged_on_the_rolled_back_one(harness_factory: Any) -> None:
    h = await harness_factory()
    # (The store's rings advance with the newest sample: the primary is pushed as time goes.)
    ingest(h, 1, traffic("primary", end=T + 600, seconds=3600 + 600, errors=0.0, seed=1))
    # Revision A: 10 minutes, 30% errors, up to 4 s before B is first seen (same 10 s slot).
    bad = traffic("canary", end=T + 304, seconds=600, errors=0.3, seed=2)
    ingest(h, 2, bad)
    async with httpx.AsyncClient(base_url=h.http_url) as client:
        h.state.now_s = T + 100
        first = await gate(client, "rollout", "aaaa1")
        assert first.status_code == 412, first.text
        assert (await gate(client, "rollback", "aaaa1")).status_code == 200
        # Flagger rolled A back; B (a new checksum) starts within the hour, mid-slot.
        h.state.now_s = T + 305
        for name in ("confirm-rollout", "pre-rollout"):
            assert (await gate(client, name, "bbbb2")).status_code == 200
        rollout = await gate(client, "rollout", "bbbb2")
        assert rollout.status_code == 202, rollout.text  # no data of B yet: not A's errors
        assert canary_samples(rollout) == {0}
        assert (await gate(client, "confirm-traffic-increase", "bbbb2")).status_code == 200
        rollback = await gate(client, "rollback", "bbbb2")
        assert rollback.status_code == 412, rollback.text
        # B serves healthy traffic: judged on B's data alone (to the 10 s slot while the
        # store keeps 10 s slots, to the minute after; never a slot of A).
        early = traffic("canary", end=T + 600, seconds=290, errors=0.0, seed=3)
        ingest(h, 3, early)
        h.state.now_s = T + 600
        rollout = await gate(client, "rollout", "bbbb2")
        assert rollout.status_code != 412, rollout.text
        assert canary_samples(rollout) == {sum(early.requests)}  # none of A's requests
        late = traffic("canary", end=T + 1500, seconds=900, errors=0.0, seed=5)
        ingest(h, 5, late, traffic("primary", end=T + 1500, seconds=900, errors=0.0, seed=6))
        h.state.now_s = T + 1500
        rollout = await gate(client, "rollout", "bbbb2")
        assert rollout.status_code == 200, rollout.text
        after_minute = sum(
            n for t, n in zip(early.timestamps_unix_ms, early.requests, strict=True)
            if t > (T + 360) * 1000
        )  # fmt: skip
        assert canary_samples(rollout) == {after_minute + sum(late.requests)}
        promotion = await gate(client, "confirm-promotion", "bbbb2")
        assert promotion.status_code == 200, promotion.text
        assert (await gate(client, "rollback", "bbbb2")).status_code == 412
        # B failing later is still caught (the analysis is B's, not switched off).
        worse = traffic("canary", end=T + 1800, seconds=300, errors=0.5, seed=4)
        ingest(h, 4, worse, traffic("primary", end=T + 1800, seconds=300, errors=0.0, seed=7))
        h.state.now_s = T + 1800
        assert (await gate(client, "rollout", "bbbb2")).status_code == 412
        assert (await gate(client, "rollback", "bbbb2")).status_code == 200


async def test_the_first_checksum_seen_judges_the_whole_windows(harness_factory: Any) -> None:
    h = await harness_factory()
    ingest(h, 1, traffic("primary", end=T, seconds=3600, errors=0.0, seed=1))
    old = traffic("canary", end=T - 600, seconds=600, errors=0.3, seed=2)
    ingest(h, 2, old)
    async with httpx.AsyncClient(base_url=h.http_url) as client:
        for _ in range(2):  # and asked again: still the whole windows
            rollout = await gate(client, "rollout", "cafe1")
            assert rollout.status_code == 412, rollout.text
            assert canary_samples(rollout) == {sum(old.requests)}
        # A replay (explicit eval time) of a later checksum changes nothing either.
        replay = await client.get(
            "/api/v1/verdict",
            params={"service": "gateway", "revision": "beef2", "eval_time": str(T)},
            headers=AUTH,
        )
        assert replay.status_code == 200 and replay.json()["verdict"] == "FAIL", replay.text
        assert (await gate(client, "rollout", "cafe1")).status_code == 412


async def test_revision_labelled_data_keeps_its_per_revision_analysis(
    harness_factory: Any,
) -> None:
    h = await harness_factory()
    ingest(h, 1, traffic("primary", end=T, seconds=3600, errors=0.0, seed=1))
    a = block("gateway", "canary", end_s=T - 300, seconds=600, rps=20, error_ratio=0.3,
              seed=2, revision="aaaa1")  # fmt: skip
    b = block("gateway", "canary", end_s=T, seconds=290, rps=20, error_ratio=0.0,
              seed=3, revision="bbbb2")  # fmt: skip
    ingest(h, 2, a, b)
    async with httpx.AsyncClient(base_url=h.http_url) as client:
        assert (await gate(client, "rollout", "aaaa1")).status_code == 412
        h.state.now_s = T + 5  # B asked about after A: its own labelled data, all of it
        rollout = await gate(client, "rollout", "bbbb2")
        assert rollout.status_code != 412, rollout.text
        assert canary_samples(rollout) == {sum(b.requests)}
