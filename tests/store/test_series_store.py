"""SeriesStore: window sums equal an independent pandas computation for random streams."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.errors import CapacityError
from sloengine.ingest import decode_push
from sloengine.maths import burn
from sloengine.store import Level, SeriesStore
from tests.store.streams import SERIES, T0, Sample, frame, oracle, push_request

# Small rings so that a few thousand seconds of samples cross every level boundary.
SMALL_LEVELS = (Level(10, 8), Level(60, 12), Level(600, 10))
SELECTORS = (
    {"service": "gateway"},
    {"service": "gateway", "variant": "canary"},
    {"route": "/a"},
    {"service": "docs"},
    {"service": "nope"},
    {},
)


def decode(req, now_s=T0 + 10**6):  # type: ignore[no-untyped-def]
    return decode_push(req, now_s=now_s, max_age_s=math.inf, max_future_s=math.inf)


samples_st = st.lists(
    st.builds(
        lambda series, t, req, err_share, fast_share: Sample(
            series,
            T0 * 1000 + t,
            req,
            min(req, int(req * err_share)),
            min(req, int(req * fast_share)),
        ),
        st.integers(0, len(SERIES) - 1),
        st.integers(1, 5000 * 1000),  # ms after T0; within the top level's retention
        st.integers(0, 50),
        st.floats(0, 1),
        st.floats(0, 1),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(samples=samples_st, seed=st.integers(0, 2**16), batches=st.integers(1, 6))
def test_window_sums_match_pandas_for_random_out_of_order_streams(
    samples: list[Sample], seed: int, batches: int
) -> None:
    rng = random.Random(seed)
    shuffled = samples[:]
    rng.shuffle(shuffled)
    store = SeriesStore(levels=SMALL_LEVELS)
    for i in range(batches):
        chunk = shuffled[i::batches]
        if chunk:
            store.apply(decode(push_request("p", i, chunk)))
    df = frame(samples)
    newest = max(s.ts_ms for s in samples) / 1000
    for _ in range(12):
        at = T0 + 10 * rng.randint(0, int(newest - T0) // 10 + 30)
        window = 10 * rng.randint(1, 600)
        selector = rng.choice(SELECTORS)
        got = store.window_sum(selector, window, at)
        # The summed window is (start, end] after rounding: exact to 10 s while the finest
        # ring holds the edge, otherwise rounded to the nearest slot of a coarser ring.
        if at >= newest:
            assert got.end_unix_s == at
        if at - window >= newest - 70:
            assert got.start_unix_s == at - window
        assert abs(got.end_unix_s - at) <= 300
        assert abs(got.start_unix_s - (at - window)) <= 300
        want = oracle(df, selector, got.start_unix_s, got.end_unix_s)
        assert (got.requests, got.errors, got.count_at_or_below(0.25)) == want
        ratio = want[1] / want[0] if want[0] else 0.0
        assert burn.error_ratio(got.errors, got.requests) == ratio
        assert burn.burn_rate(burn.error_ratio(got.errors, got.requests), 0.999) == ratio / (
            1 - 0.999
        )


def test_fine_windows_are_exact_with_default_levels() -> None:
    rng = random.Random(7)
    samples = [
        Sample(rng.randrange(len(SERIES)), T0 * 1000 + rng.randrange(1, 3 * 86400 * 1000), 10, 1, 5)
        for _ in range(3000)
    ]
    store = SeriesStore()
    for i in range(0, len(samples), 500):
        store.apply(decode(push_request("p", i, samples[i : i + 500])))
    df = frame(samples)
    at = T0 + 3 * 86400
    # window -> resolution it must be exact to at the far edge
    for window, resolution in (
        (300, 10),
        (1800, 60),
        (3600, 60),
        (7200, 60),
        (21600, 600),
        (86400, 600),
        (2 * 86400, 3600),
    ):
        for shift in (0, 10, 60):
            got = store.window_sum({"service": "gateway"}, window, at - shift)
            start = at - shift - window
            assert abs(got.start_unix_s - start) <= resolution / 2, (window, shift)
            assert (got.requests, got.errors) == oracle(
                df, {"service": "gateway"}, got.start_unix_s, got.end_unix_s
            )[:2]


def test_thirty_day_window_counts_everything_retained() -> None:
    store = SeriesStore()
    samples = [Sample(0, T0 * 1000 + d * 86400 * 1000 + 5000, 100, 3, 90) for d in range(30)]
    store.apply(decode(push_request("p", 1, samples)))
    got = store.window_sum({"service": "gateway"}, 30 * 86400, T0 + 29 * 86400 + 10)
    assert (got.requests, got.errors, got.count_at_or_below(0.25)) == (3000, 90, 2700)


def test_empty_store_and_unknown_selector_sum_to_zero() -> None:
    store = SeriesStore()
    assert store.window_sum({"service": "x"}, 3600, T0).requests == 0
    store.apply(decode(push_request("p", 1, [Sample(0, T0 * 1000, 5, 1, 1)])))
    got = store.window_sum({"service": "x"}, 3600, T0)
    assert (got.requests, got.errors, got.series) == (0, 0, 0)


def test_views_follow_series_created_after_the_first_read() -> None:
    store = SeriesStore()
    assert store.window_sum({"service": "gateway"}, 600, T0 + 600).requests == 0
    store.apply(decode(push_request("p", 1, [Sample(0, (T0 + 5) * 1000, 5, 1, 1)])))
    store.apply(decode(push_request("p", 2, [Sample(1, (T0 + 15) * 1000, 7, 2, 1)])))
    got = store.window_sum({"service": "gateway"}, 600, T0 + 600)
    assert (got.requests, got.errors, got.series) == (12, 3, 2)


def test_capacity_error_rejects_the_whole_batch() -> None:
    store = SeriesStore(max_series=2)
    store.apply(decode(push_request("p", 1, [Sample(0, (T0 + 5) * 1000, 5, 1, 1)])))
    batch = decode(push_request("p", 2, [Sample(i, (T0 + 5) * 1000, 5, 1, 1) for i in range(3)]))
    with pytest.raises(CapacityError, match="max 2"):
        store.apply(batch)
    assert store.series_count() == 1
    assert store.window_sum({}, 600, T0 + 600).requests == 5


def test_snapshot_round_trip_keeps_every_sum() -> None:
    rng = random.Random(3)
    samples = [
        Sample(rng.randrange(len(SERIES)), T0 * 1000 + rng.randrange(1, 86400 * 1000), 4, 1, 2)
        for _ in range(500)
    ]
    store = SeriesStore()
    store.apply(decode(push_request("p", 1, samples)))
    copy = SeriesStore.loads(store.dumps())
    assert copy.series_labels() == store.series_labels()
    for window in (300, 3600, 86400):
        for sel in ({"service": "gateway"}, {"route": "/a"}):
            assert copy.window_sum(sel, window, T0 + 86400) == store.window_sum(
                sel, window, T0 + 86400
            )


def test_evicted_views_are_rebuilt_exactly() -> None:
    store = SeriesStore(max_views=2)
    samples = [Sample(i % len(SERIES), (T0 + 10 * i + 5) * 1000, 3, 1, 2) for i in range(40)]
    store.apply(decode(push_request("p", 1, samples[:20])))
    selectors = [{"service": "gateway"}, {"route": "/a"}, {"variant": "stable"}, {}]
    for sel in selectors:  # four selectors through two view slots
        store.window_sum(sel, 600, T0 + 600)
    store.apply(decode(push_request("p", 2, samples[20:])))
    df = frame(samples)
    for sel in selectors * 2:
        got = store.window_sum(sel, 600, T0 + 600)
        assert (got.requests, got.errors) == oracle(df, sel, T0, T0 + 600)[:2]
