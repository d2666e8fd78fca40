"""`POST /api/v1/write`: cumulative RED series in, exact increments in the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sloengine.app import EngineApp
from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from tests.pipelines.rw import HEADERS, STALE_NAN, histogram_scrape, write_request
from tests.server.conftest import T0

pytestmark = pytest.mark.asyncio

CANARY = {"service": "checkout", "variant": "canary", "route": "/pay", "method": "POST",
          "revision": "abc123", "instance": "10.0.0.1:8000", "job": "checkout"}  # fmt: skip
MS = int(T0 * 1000)
SERIES = len(BOUNDS) + 1  # bucket series per scrape of one histogram


def scrape(ts_ms: int, fast: float, slow: float, total: float, status: str = "200") -> list[Any]:
    """The conventions' buckets: `fast` up to 0.1 s, `slow` up to 0.5 s, `total` above."""
    les = [(f"{b:g}", fast if b <= 0.1 else slow if b <= 0.5 else total) for b in BOUNDS]
    return histogram_scrape({**CANARY, "status": status}, ts_ms, [*les, ("+Inf", total)])


@pytest.fixture
async def engine(start_engine: Any) -> EngineApp:
    app: EngineApp = await start_engine()
    return app


@pytest.fixture
async def post(engine: EngineApp) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession() as session:

        async def send(body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
            url = f"http://127.0.0.1:{engine.http_port}/api/v1/write"
            async with session.post(url, data=body, headers=headers or HEADERS) as resp:
                return resp.status, await resp.text()

        yield send


def totals(engine: EngineApp, **selector: str) -> tuple[float, float, tuple[float, ...]]:
    w = engine.state.store.window_sum(selector or {"service": "checkout"}, 3600, T0 + 60)
    return w.requests, w.errors, w.latency_counts


def metric(engine: EngineApp, outcome: str) -> float:
    value = engine.state.registry.get_sample_value(
        "sloengine_pipeline_samples_total", {"protocol": "remote_write", "outcome": outcome}
    )
    return value or 0.0


async def test_cumulative_histogram_becomes_exact_increments(engine: EngineApp, post: Any) -> None:
    assert await post(write_request(scrape(MS - 30_000, 3, 4, 5))) == (204, "")
    assert (await post(write_request(scrape(MS - 15_000, 10, 12, 15))))[0] == 204
    assert (await post(write_request(scrape(MS, 10, 12, 16, "200")
                                      + scrape(MS, 1, 1, 2, "503"))))[0] == 204  # fmt: skip
    requests, errors, latency = totals(engine)
    assert (requests, errors) == (18, 2)
    bounds = engine.state.store.latency_bounds_seconds
    fast = sum(c for b, c in zip(bounds, latency, strict=False) if b <= 0.1)
    under_half = sum(c for b, c in zip(bounds, latency, strict=False) if b <= 0.5)
    assert (fast, under_half) == (11, 13)
    # The canary's revision is an engine label; instance and job are not.
    assert totals(engine, revision="abc123", variant="canary")[0] == 18


async def test_counter_reset_counts_from_zero(engine: EngineApp, post: Any) -> None:
    await post(write_request(scrape(MS - 30_000, 5, 5, 10)))
    await post(write_request(scrape(MS - 15_000, 1, 2, 3)))  # the process restarted
    assert totals(engine)[0] == 13
    assert metric(engine, "reset") == SERIES


async def test_stale_marker_then_resume_is_not_counted_twice(engine: EngineApp, post: Any) -> None:
    await post(write_request(scrape(MS - 45_000, 5, 5, 10)))
    stale = [(labels, ts, STALE_NAN) for labels, ts, _ in scrape(MS - 30_000, 0, 0, 0)]
    assert (await post(write_request(stale)))[0] == 204
    await post(write_request(scrape(MS - 15_000, 6, 6, 12)))
    assert totals(engine)[0] == 12
    assert metric(engine, "stale") == SERIES


async def test_resend_is_accepted_and_not_counted_again(engine: EngineApp, post: Any) -> None:
    body = write_request(scrape(MS - 15_000, 5, 5, 10))
    assert (await post(body))[0] == 204
    assert (await post(body))[0] == 204  # a retry after a lost response
    assert totals(engine)[0] == 10
    assert metric(engine, "resent") == SERIES


async def test_out_of_order_and_conflicting_samples_are_dropped_with_400(
    engine: EngineApp, post: Any
) -> None:
    await post(write_request(scrape(MS - 15_000, 5, 5, 10)))
    status, text = await post(
        write_request(scrape(MS - 30_000, 1, 1, 1) + scrape(MS - 15_000, 5, 5, 11))
    )
    assert status == 400
    # Only the buckets above 0.5 s (5 of them) and +Inf conflict: the others are resends.
    assert f"{SERIES} out of order" in text and "6 duplicate" in text
    assert totals(engine)[0] == 10
    assert metric(engine, "out_of_order") == SERIES
    assert metric(engine, "duplicate") == 6


async def test_buckets_split_across_requests_join_into_one_row(
    engine: EngineApp, post: Any
) -> None:
    # remote_write shards by series: a scrape's buckets may arrive in separate requests.
    first = scrape(MS - 30_000, 3, 4, 5)
    await post(write_request(first))
    second = scrape(MS - 15_000, 10, 12, 15)
    assert (await post(write_request(second[:1])))[0] == 204
    assert totals(engine)[0] == 5  # waiting for the rest of the scrape
    assert (await post(write_request(second[1:])))[0] == 204
    requests, _, latency = totals(engine)
    assert requests == 15 and sum(latency[: BOUNDS.index(0.1) + 1]) == 10


@pytest.mark.parametrize(
    ("body", "headers", "code", "message"),
    [
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", None, 400, "snappy"),
        (b"\x05garbage", None, 400, "snappy"),
        (None, {**HEADERS, "Content-Encoding": "gzip"}, 415, "gzip"),
        (None, {**HEADERS, "Content-Type": "application/json"}, 415, "application/json"),
        (None, {**HEADERS, "Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"},
         415, "2.0"),
    ],
)  # fmt: skip
async def test_malformed_requests_get_4xx_naming_the_problem(
    engine: EngineApp, post: Any, body: bytes | None, headers: Any, code: int, message: str
) -> None:
    status, text = await post(body or write_request(scrape(MS, 1, 1, 1)), headers)
    assert status == code and message in text
    assert totals(engine)[0] == 0


async def test_not_a_protobuf_is_400(engine: EngineApp, post: Any) -> None:
    import cramjam

    status, text = await post(bytes(cramjam.snappy.compress_raw(b"\x0a\xff\xff")))
    assert status == 400 and "WriteRequest" in text


async def test_restart_neither_loses_nor_double_counts(
    start_engine: Any,
    tmp_path: Any,
) -> None:
    data = tmp_path / "restart"
    url = "/api/v1/write"
    for round_, (total, resend) in enumerate([(10, False), (15, True), (20, True)]):
        app: EngineApp = await start_engine(data_dir=data)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{app.http_port}") as s:
            ts = MS - 60_000 + round_ * 15_000
            if resend and round_:  # the previous request again, as after a lost response
                prev = scrape(ts - 15_000, total - 5, total - 5, total - 5)
                async with s.post(url, data=write_request(prev), headers=HEADERS) as r:
                    assert r.status == 204
            body = write_request(scrape(ts, total, total, total))
            async with s.post(url, data=body, headers=HEADERS) as r:
                assert r.status == 204
        assert totals(app)[0] == total
        await app.stop(0)
