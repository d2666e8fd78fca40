"""Any body is either decoded or refused with PayloadError (a 400), never another error."""

from __future__ import annotations

import contextlib

import cramjam
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.pipelines import PayloadError, RedMapping, decode_write_request
from sloengine.pipelines._otlp import OtlpMapping, decode_export
from tests.pipelines.rw import write_request

label_values = st.text(max_size=8)
samples = st.lists(
    st.tuples(
        st.dictionaries(
            st.sampled_from(["__name__", "le", "service", "x"]), label_values, max_size=4
        ),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(samples)
def test_valid_requests_round_trip(points: list[tuple[dict[str, str], int, float]]) -> None:
    decoded, bad = decode_write_request(write_request(points))
    good = [p for p in points if p[0].get("__name__")]
    assert bad == len(points) - len(good)
    assert [(dict(p.labels), p.ts_ms) for p in decoded] == [(lab, ts) for lab, ts, _ in good]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_garbage_is_a_payload_error(raw: bytes, compress: bool) -> None:
    body = bytes(cramjam.snappy.compress_raw(raw)) if compress else raw
    with contextlib.suppress(PayloadError):
        decode_write_request(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_otlp_garbage_is_a_payload_error_or_nothing(raw: bytes) -> None:
    try:
        points, _ = decode_export(raw, RedMapping(), OtlpMapping())
    except PayloadError:
        return
    assert all(p.labels.get("__name__") for p in points)
