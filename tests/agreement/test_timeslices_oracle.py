"""The engine's Timeslices numbers against a plain-Python oracle, over arbitrary traffic.

Random per-minute request and error counts (including idle minutes and pushes arriving in
uneven batches) go into the store; after each batch the engine evaluates the SLO with its
persistent slice ledger. The oracle recomputes every window from the minute counts alone:
a minute is bad when errors/requests > 1 - timeSliceTarget, idle minutes are good, a
window's ratio is bad minutes over its minutes (or the mean minute error ratio).
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.engine.evaluate import evaluate_slo, new_slice_ledger
from sloengine.ingest import decode_push
from sloengine.model import SLO, NativeSLI
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.specs.policy import builtin_policy
from sloengine.store import SeriesStore
from tests.agreement.harness import BASE_UNIX_S

POLICY = builtin_policy("fast-slow")  # 5m and 1h windows, 30d period
SLO_MINUTES = SLO(
    service="shop",
    name="minutes",
    objective_ratio=0.99,
    sli=NativeSLI("availability", (("service", "shop"),)),
    budgeting_method="Timeslices",
    timeslice_target_ratio=0.9,
    timeslice_window_seconds=60,
)

minute = st.one_of(
    st.just((0, 0)),
    st.integers(1, 500).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
)


def _oracle(slo: SLO, minutes: list[tuple[int, int]], upto: int, window_min: int) -> float:
    errors = 0.0
    for m in range(max(1, upto - window_min + 1), upto + 1):
        requests, bad = minutes[m - 1]
        if requests == 0:
            continue
        ratio = bad / requests
        if slo.budgeting_method == "RatioTimeslices":
            errors += ratio
        else:
            errors += 1.0 if ratio > 0.1 else 0.0
    return errors / window_min


@settings(max_examples=40, deadline=None)
@given(
    minutes=st.lists(minute, min_size=1, max_size=90),
    batch=st.integers(1, 7),
    ratio_method=st.booleans(),
)
def test_engine_windows_equal_the_oracle(
    minutes: list[tuple[int, int]], batch: int, ratio_method: bool
) -> None:
    slo = (
        dataclasses.replace(
            SLO_MINUTES, budgeting_method="RatioTimeslices", timeslice_target_ratio=None
        )
        if ratio_method
        else SLO_MINUTES
    )
    store = SeriesStore()
    ledger = new_slice_ledger(slo)
    for first in range(1, len(minutes) + 1, batch):
        last = min(first + batch - 1, len(minutes))
        req = pb.PushRequest(producer_id="p", sequence=first)
        block = req.blocks.add()
        block.key.service = "shop"
        for m in range(first, last + 1):
            block.timestamps_unix_ms.append((BASE_UNIX_S + m * 60) * 1000)
            block.requests.append(minutes[m - 1][0])
            block.errors.append(minutes[m - 1][1])
        at = BASE_UNIX_S + last * 60
        store.apply(decode_push(req, now_s=at, max_age_s=store.retention_seconds, max_future_s=0))
        status = evaluate_slo(slo, POLICY, store, at, ledger)
        for window_min in (5, 60, 30 * 1440):
            w = status.window(window_min * 60)
            assert w is not None
            expected = _oracle(slo, minutes, last, window_min)
            assert abs(w.error_ratio - expected) <= 1e-12, (window_min, last)
            traffic = any(minutes[m - 1][0] for m in range(max(1, last - window_min + 1), last + 1))
            assert (w.requests > 0) == traffic


def test_a_late_push_updates_a_recent_slice() -> None:
    store = SeriesStore()
    ledger = new_slice_ledger(SLO_MINUTES)

    def push(seq: int, minute: int, requests: int, errors: int) -> None:
        req = pb.PushRequest(producer_id=f"p{seq}", sequence=seq)
        block = req.blocks.add()
        block.key.service = "shop"
        block.timestamps_unix_ms.append((BASE_UNIX_S + minute * 60) * 1000)
        block.requests.append(requests)
        block.errors.append(errors)
        at = BASE_UNIX_S + 12 * 60
        store.apply(decode_push(req, now_s=at, max_age_s=store.retention_seconds, max_future_s=0))

    push(1, 10, 100, 1)  # a good minute so far
    at = BASE_UNIX_S + 10 * 60
    assert evaluate_slo(SLO_MINUTES, POLICY, store, at, ledger).window(300).errors == 0  # type: ignore[union-attr]
    push(2, 10, 100, 60)  # another producer's share of minute 10 arrives late: 61/200 bad
    later = evaluate_slo(SLO_MINUTES, POLICY, store, at + 120, ledger).window(300)
    assert later is not None and later.errors == 1
