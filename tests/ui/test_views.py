"""The pure shaping of engine results into the UI's JSON (no browser, no server)."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from sloengine.engine.evaluate import evaluate_slo
from sloengine.ingest import decode_push
from sloengine.model import SLO, Alerting, NativeSLI, SeverityAlert
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.specs.policy import builtin_policy
from sloengine.store import SeriesStore, WindowSum
from sloengine.ui._canary_views import rollbacks_json, timeline_json, variant_point
from sloengine.ui._slo_views import (
    alert_state,
    history_json,
    num,
    policy_windows,
    slo_row_json,
    time_grid,
    window_key,
)

T0 = 1_800_000_000.0
POLICY = builtin_policy()
SLO_A = SLO(
    service="checkout",
    name="availability",
    objective_ratio=0.99,
    sli=NativeSLI("availability", selector=(("service", "checkout"),)),
)


def _store(error_ratio: float, minutes: int = 120) -> SeriesStore:
    store = SeriesStore()
    block = pb.SeriesBlock(
        key=pb.SeriesKey(service="checkout", variant="stable", route="/", method="GET")
    )
    for i in range(minutes):
        block.timestamps_unix_ms.append(int((T0 - i * 60) * 1000))
        block.requests.append(1000.0)
        block.errors.append(1000.0 * error_ratio)
    req = pb.PushRequest(producer_id="t", sequence=1, blocks=[block])
    store.apply(decode_push(req, now_s=T0, max_age_s=math.inf, max_future_s=math.inf))
    return store


def test_num_rounds_and_spells_infinity_for_json() -> None:
    assert num(0.123456789) == 0.123457
    assert num(math.inf) == "inf" and num(-math.inf) == "-inf"
    assert num(math.nan) is None and num(None) is None
    json.dumps([num(math.inf), num(math.nan)], allow_nan=False)


def test_time_grid_is_aligned_so_polls_reuse_points() -> None:
    a = time_grid(T0 + 7, 3600, 61)
    b = time_grid(T0 + 9, 3600, 61)
    assert a[:-1] == b[:-1] and a[-1] == T0 + 7 and b[-1] == T0 + 9
    assert all(t2 > t1 for t1, t2 in itertools.pairwise(a))
    assert a[-1] - a[0] <= 3600
    with pytest.raises(ValueError):
        time_grid(T0, 0, 10)


def test_row_carries_the_evaluations_numbers_and_page_state() -> None:
    status = evaluate_slo(SLO_A, POLICY, _store(0.2), T0)  # 20x the 1% budget
    columns = policy_windows([POLICY])
    row = slo_row_json(SLO_A, POLICY, status, columns)
    assert row["sli"] == num(1 - status.period_error_ratio)
    assert row["budget"] == num(status.error_budget_remaining_ratio)
    by_window = {w.window_seconds: w.burn_rate for w in status.windows}
    assert row["burn"] == [num(by_window[c]) for c in columns]
    assert row["state"] == alert_state(status) == "page"


def test_row_without_data_says_no_data_and_has_no_numbers() -> None:
    status = evaluate_slo(SLO_A, POLICY, SeriesStore(), T0)
    row = slo_row_json(SLO_A, POLICY, status, policy_windows([POLICY]))
    assert row["state"] == "no data"
    assert row["sli"] is None and row["budget"] is None and set(row["burn"]) == {None}


def test_disabled_page_alert_leaves_ticket_state() -> None:
    slo = SLO(
        service="checkout",
        name="availability",
        objective_ratio=0.99,
        sli=SLO_A.sli,
        alerting=Alerting(page=SeverityAlert(disable=True)),
    )
    status = evaluate_slo(slo, POLICY, _store(0.2, minutes=3 * 24 * 60), T0)
    assert alert_state(status) == "ticket"


def test_row_for_an_slo_that_cannot_be_evaluated_keeps_the_reason() -> None:
    row = slo_row_json(SLO_A, POLICY, None, [300.0], "no Prometheus configured")
    assert row["state"] == "error" and row["error"] == "no Prometheus configured"


def test_history_has_gaps_where_there_is_no_data() -> None:
    store = _store(0.01, minutes=30)
    times = [T0 - 7200, T0]
    statuses = [evaluate_slo(SLO_A, POLICY, store, t) for t in times]
    h = history_json(times, statuses, POLICY)
    assert h["sli"][0] is None and h["sli"][1] == num(1 - statuses[1].period_error_ratio)
    assert set(h["burn"]) == {window_key(w) for w in POLICY.window_seconds()}
    assert h["burn"][window_key(300)][0] is None


def test_window_key_matches_javascript_number_to_string() -> None:
    assert window_key(300.0) == "300" and window_key(2592000.0) == "2592000"
    assert window_key(1.5) == "1.5"


def test_latency_quantile_is_unknown_without_a_histogram() -> None:
    ws = WindowSum(requests=100, errors=5, latency_bounds_seconds=(0.1, 0.5), latency_counts=(0, 0))
    assert variant_point(ws, 0.95) == (0.05, None)
    ws = WindowSum(
        requests=100, errors=0, latency_bounds_seconds=(0.1, 0.5), latency_counts=(50, 50)
    )
    ratio, p95 = variant_point(ws, 0.95)
    assert ratio == 0 and p95 is not None and 0.1 < p95 <= 0.5
    assert variant_point(WindowSum(0, 0, (0.1,), (0,)), 0.95) == (None, None)


def test_timeline_and_rollbacks_come_from_matching_audit_entries() -> None:
    entries = [
        {"seq": 0, "action": "config_loaded", "details": {}},
        {"seq": 1, "action": "verdict_changed", "time": 1.0, "reason": "ok",
         "details": {"service": "checkout", "canary": "canary", "baseline": "baseline", "from": "none", "to": "PASS"}},
        {"seq": 2, "action": "verdict_changed", "time": 2.0, "reason": "other",
         "details": {"service": "search", "canary": "canary", "baseline": "baseline", "from": "none", "to": "FAIL"}},
        {"seq": 3, "action": "rollback_attempt_failed", "time": 3.0, "reason": "exit 1",
         "details": {"service": "checkout", "revision": "r1", "attempt": 1, "error": "exit 1"}},
        {"seq": 4, "action": "rollback_succeeded", "time": 4.0, "reason": "done",
         "details": {"service": "checkout", "revision": "r1", "attempt": 2}},
    ]  # fmt: skip
    timeline = timeline_json(entries, ("checkout", "canary", "baseline"))
    assert [(e["seq"], e["to"]) for e in timeline] == [(1, "PASS")]
    rollbacks = rollbacks_json(entries, "checkout")
    assert [(r["result"], r["attempt"], r["error"]) for r in rollbacks] == [
        ("attempt failed", 1, "exit 1"),
        ("succeeded", 2, ""),
    ]
