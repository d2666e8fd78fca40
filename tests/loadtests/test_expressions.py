"""k6 threshold expressions: the forms k6 accepts parse, the rest fail with a message that says
what is wrong and where."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtests.expressions import (
    ThresholdError,
    parse_duration_seconds,
    parse_expression,
    parse_metric_key,
    parse_thresholds,
)
from loadtests.thresholds import default_thresholds

DUR, FAIL = "http_req_duration", "http_req_failed"


@pytest.mark.parametrize(
    ("text", "metric", "aggregation", "operator", "value"),
    [
        ("p(95)<1500", DUR, "p(95)", "<", 1500.0),
        (" p( 99.9 ) <= 2e3 ", DUR, "p(99.9)", "<=", 2000.0),
        ("avg<200", DUR, "avg", "<", 200.0),
        ("med===150", DUR, "med", "===", 150.0),
        ("max!=0", DUR, "max", "!=", 0.0),
        ("rate<0.02", FAIL, "rate", "<", 0.02),
        ("rate>=.5", FAIL, "rate", ">=", 0.5),
    ],
)
def test_k6_expressions_parse(
    text: str, metric: str, aggregation: str, operator: str, value: float
) -> None:
    limit = parse_expression(text, metric)
    assert (limit.aggregation, limit.operator, limit.value) == (aggregation, operator, value)


@pytest.mark.parametrize(
    ("text", "metric", "message"),
    [
        ("p95<1500", DUR, "unknown aggregation 'p95'"),
        ("p(0)<1", DUR, "percentile in 'p(0)<1' must be in (0, 100]"),
        ("p(101)<1", DUR, "must be in (0, 100]"),
        ("rate<0.02", DUR, "'rate' does not apply here"),
        ("p(95)<1500", FAIL, "'p(95)' does not apply here"),
        ("p(95)<", DUR, "cannot parse threshold"),
        ("p(95)=<1500", DUR, "cannot parse threshold"),
        ("count>100", DUR, "unknown aggregation 'count'"),
    ],
)
def test_bad_expressions_say_what_is_wrong(text: str, metric: str, message: str) -> None:
    with pytest.raises(ThresholdError, match=re.escape(message)):
        parse_expression(text, metric)


def test_sub_metric_names_keep_their_braces() -> None:
    assert parse_metric_key("http_req_failed{name:GET /docs/{id}}") == (FAIL, "GET /docs/{id}")
    assert parse_metric_key("http_req_duration{name: 'GET /search'}") == (DUR, "GET /search")
    assert parse_metric_key("http_req_duration") == (DUR, None)
    for bad, message in [
        ("http_reqs", "unknown metric 'http_reqs'"),
        ("http_req_duration{status:500}", "only the 'name' tag"),
        ("http_req_duration{name:}", "endpoint name is empty"),
        ("http_req_duration{name:x", "metric{name:<endpoint>}"),
    ]:
        with pytest.raises(ThresholdError, match=re.escape(message)):
            parse_metric_key(bad)


def test_a_k6_thresholds_mapping_with_abort_on_fail() -> None:
    ts = parse_thresholds(
        {
            DUR: ["p(95)<1500", "avg<500"],
            FAIL: "rate<0.02",
            "http_req_duration{name:GET /search}": [
                {"threshold": "p(95)<800", "abortOnFail": True, "delayAbortEval": "10s"}
            ],
        }
    )
    search = {lim.expression: lim for lim in ts.limits_for("GET /search")}
    # The named endpoint's p(95) replaces the general one; the other limits still apply.
    assert set(search) == {"p(95)<800", "avg<500", "rate<0.02"}
    assert search["p(95)<800"].abort_on_fail
    assert search["p(95)<800"].delay_abort_eval_seconds == 10.0
    assert {lim.expression for lim in ts.limits_for("POST /ingest")} == {
        "p(95)<1500",
        "avg<500",
        "rate<0.02",
    }


def test_expressions_override_the_option_defaults_per_aggregation() -> None:
    ts = default_thresholds(1.5, 0.01).overlay(parse_thresholds({FAIL: ["rate<0.05"]}))
    assert {lim.expression for lim in ts.limits_for("x")} == {"p(95)<1500", "rate<0.05"}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (["p(95)<1"], "must be a mapping"),
        ({DUR: []}, "expected a list of thresholds"),
        ({DUR: [{"abortOnFail": True}]}, "needs a 'threshold' field"),
        (
            {DUR: [{"threshold": "p(95)<1", "abortOnFail": "yes"}]},
            "abortOnFail must be true or false",
        ),
        ({DUR: [{"threshold": "p(95)<1", "delayAbortEval": "soon"}]}, "delayAbortEval"),
        (
            {DUR: [{"threshold": "p(95)<1", "abortonfail": True}]},
            "unknown field(s) ['abortonfail']",
        ),
        ({DUR: [42]}, "a threshold is a string or an object"),
    ],
)
def test_bad_mappings_name_the_key(mapping: object, message: str) -> None:
    with pytest.raises(ThresholdError, match=re.escape(message)):
        parse_thresholds(mapping)


def test_durations_in_k6_and_locust_forms() -> None:
    assert parse_duration_seconds("10s", "x") == 10
    assert parse_duration_seconds("1m30s", "x") == 90
    assert parse_duration_seconds("500ms", "x") == 0.5
    assert parse_duration_seconds("2.5", "x") == 2.5
    assert parse_duration_seconds(3, "x") == 3
    for bad in ("10 s", "s", "-1", "1d", "nan", True):
        with pytest.raises(ThresholdError):
            parse_duration_seconds(bad, "x")


@given(st.text(max_size=30))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    for metric in (DUR, FAIL):
        try:
            limit = parse_expression(text, metric)
        except ThresholdError:
            continue
        assert limit.holds(limit.value) in (True, False)
