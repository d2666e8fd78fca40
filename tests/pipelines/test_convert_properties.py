"""The converter against a plain oracle: whatever the sharding, resends and resets, the
requests and latency buckets of a conventions histogram come out exact."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS
from sloengine.pipelines import RedConverter, RedMapping, SourcePoint

# The conventions' buckets, as prometheus_client writes them; "fast" requests take <= 0.1 s,
# "mid" ones <= 0.5 s, "slow" ones longer.
LES = (*(f"{b:g}" for b in DEFAULT_LATENCY_BUCKETS_SECONDS), "+Inf")
BASE = {"__name__": "http_request_duration_seconds_bucket", "service": "s", "variant": "canary",
        "route": "/r", "method": "GET", "status": "200"}  # fmt: skip


def scrapes(
    draw_counts: list[tuple[int, int, int]], resets: set[int]
) -> list[tuple[int, dict[str, float]]]:
    """Cumulative bucket values per scrape (fast <= slow-ish <= all), restarting at `resets`."""
    out, cum = [], [0, 0, 0]
    for i, (fast, mid, slow) in enumerate(draw_counts):
        after = [fast, fast + mid, fast + mid + slow]
        if i in resets and any(a < c for a, c in zip(after, cum, strict=True)):
            cum = after  # a restart some bucket shows (an invisible one is no restart to anyone)
        else:
            cum = [c + a for c, a in zip(cum, after, strict=True)]
        values = {le: float(cum[0] if float(le) <= 0.1 else cum[1] if float(le) <= 0.5 else cum[2])
                  for le in LES}  # fmt: skip
        out.append(((i + 1) * 15_000, values))
    return out


@settings(max_examples=150, deadline=None)
@given(
    counts=st.lists(st.tuples(*[st.integers(0, 20)] * 3), min_size=1, max_size=12),
    resets=st.sets(st.integers(1, 11), max_size=2),
    shards=st.integers(1, 4),
    resend=st.floats(0, 0.5),
    seed=st.integers(0, 2**32),
)
def test_totals_match_the_oracle(
    counts: list[tuple[int, int, int]], resets: set[int], shards: int, resend: float, seed: int
) -> None:
    rng = random.Random(seed)
    series = scrapes(counts, resets)
    # Prometheus keeps each series' order within its shard; shards interleave freely.
    queues: list[list[SourcePoint]] = [[] for _ in range(shards)]
    for ts, values in series:
        for j, le in enumerate(LES):
            queues[j % shards].append(SourcePoint({**BASE, "le": le}, ts, values[le]))
    requests: list[list[SourcePoint]] = []
    while any(queues):
        # Shards interleave freely, within two scrapes of each other (one lagging further
        # behind on a new histogram's first scrape makes latency conservative, not exact).
        oldest = min(q[0].ts_ms for q in queues if q)
        q = rng.choice([q for q in queues if q and q[0].ts_ms <= oldest + 30_000])
        n = rng.randint(1, 4)
        requests.append(q[:n])
        del q[:n]
        if rng.random() < resend:
            requests.append(list(requests[rng.randrange(len(requests))]))  # a retry
    conv = RedConverter(RedMapping())
    rows = [r for req in requests for r in conv.convert(req, oldest_ms=0, newest_ms=10**15).rows]
    # A drop of any bucket is a restart of the process (a restart whose every bucket ends
    # at or above its old value cannot be seen by anyone without a start time).
    truth = {le: 0.0 for le in LES}
    prev = {le: 0.0 for le in LES}
    for _, values in series:
        restarted = any(values[le] < prev[le] for le in LES)  # one bucket shows it for all
        for le in LES:
            truth[le] += values[le] if restarted else values[le] - prev[le]
        prev = values
    truth_requests, truth_fast, truth_mid = truth["+Inf"], truth["0.1"], truth["0.5"]
    got_requests = sum(r.requests for r in rows)
    got_fast = sum(
        c
        for r in rows
        for b, c in zip(r.latency_bounds_seconds, r.latency_counts, strict=True)
        if b <= 0.1
    )
    got_mid = sum(
        c
        for r in rows
        for b, c in zip(r.latency_bounds_seconds, r.latency_counts, strict=True)
        if b <= 0.5
    )
    assert got_requests == truth_requests
    for r in rows:  # every row is valid for the store
        assert r.requests >= 0 and all(c >= 0 for c in r.latency_counts)
        assert sum(r.latency_counts) <= r.requests
    assert (got_fast, got_mid) == (truth_fast, truth_mid)


def test_delta_points_are_taken_as_they_are() -> None:
    conv = RedConverter(RedMapping())
    bounds = frozenset((0.1, 0.5, math.inf))
    pts = [
        SourcePoint({**BASE, "le": le}, 1000, v, cumulative=False, bounds=bounds)
        for le, v in zip(("0.1", "0.5", "+Inf"), (1, 2, 3), strict=True)
    ]
    (row,) = conv.convert(pts, oldest_ms=0, newest_ms=10**9).rows
    assert (row.requests, row.latency_counts) == (3, (1, 1))
    later = [SourcePoint(p.labels, 2000, p.value, cumulative=False, bounds=bounds) for p in pts]
    (row,) = conv.convert(later, oldest_ms=0, newest_ms=10**9).rows
    assert row.requests == 3


def test_histogram_with_other_bounds_is_learned_within_five_scrapes() -> None:
    conv = RedConverter(RedMapping())
    rows = []
    for i in range(1, 6):  # other bounds than the conventions'
        pts = [SourcePoint({**BASE, "le": le}, i * 1000, float(i * v))
               for le, v in (("0.2", 1), ("0.7", 2), ("+Inf", 3))]  # fmt: skip
        rows += conv.convert(pts, oldest_ms=0, newest_ms=10**9).rows
    assert [r.ts_ms for r in rows] == [4000, 5000]  # merged once learned, then one by one
    assert sum(r.requests for r in rows) == 15
    assert tuple(map(sum, zip(*(r.latency_counts for r in rows), strict=True))) == (5, 5)


def test_state_round_trips_through_json() -> None:
    import json

    conv = RedConverter(RedMapping())
    pts = [SourcePoint({**BASE, "le": le}, 1000, float(j)) for j, le in enumerate(LES)]
    conv.convert(pts[:-1], oldest_ms=0, newest_ms=10**9)  # an open group, waiting for +Inf
    copy = RedConverter(RedMapping())
    copy.load_json(json.loads(json.dumps(conv.to_json())))
    rows = copy.convert(pts[-1:], oldest_ms=0, newest_ms=10**9).rows
    assert rows == conv.convert(pts[-1:], oldest_ms=0, newest_ms=10**9).rows
    assert rows[0].requests == len(LES) - 1
