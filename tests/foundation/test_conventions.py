"""The shared names are the contract DESIGN.md states; pin the ones outside clients rely on."""

from __future__ import annotations

from sloengine import conventions as c
from sloengine.proto.sloengine.v1 import engine_pb2 as pb


def test_latency_buckets_hold_every_design_threshold() -> None:
    for threshold in (0.1, 0.25, 0.5, 1, 1.5, 2.5, 5):
        assert threshold in c.DEFAULT_LATENCY_BUCKETS_SECONDS
    assert list(c.DEFAULT_LATENCY_BUCKETS_SECONDS) == sorted(c.DEFAULT_LATENCY_BUCKETS_SECONDS)


def test_canary_guard_defaults_are_the_designed_thresholds() -> None:
    assert c.DEFAULT_CANARY_MAX_ERROR_RATIO == 0.02
    assert c.DEFAULT_CANARY_MAX_P95_SECONDS == 1.5
    assert c.DEFAULT_CANARY_MAX_BURN_RATE == 10.0


def test_recording_rule_and_alert_names() -> None:
    assert c.sli_error_ratio_record("5m") == "slo:sli_error:ratio_rate5m"
    assert (c.SLO_BURN_ALERT, c.CANARY_ERROR_RATE_ALERT, c.CANARY_LATENCY_P95_ALERT) == (
        "SLOErrorBudgetBurn",
        "CanaryErrorRateHigh",
        "CanaryLatencyP95High",
    )
    assert (c.LABEL_SLO_SERVICE, c.LABEL_SLO_NAME, c.LABEL_SLO_WINDOW) == (
        "slo_service",
        "slo_name",
        "slo_window",
    )


def test_grpc_service_names_and_verdict_values_match_the_proto() -> None:
    services = {s.full_name for s in pb.DESCRIPTOR.services_by_name.values()}
    assert services == {c.GRPC_INGEST_SERVICE, c.GRPC_SLO_SERVICE, c.GRPC_CANARY_SERVICE}
    assert [pb.Verdict.Name(v) for v in (pb.PASS, pb.FAIL, pb.INCONCLUSIVE)] == list(c.VERDICTS)
