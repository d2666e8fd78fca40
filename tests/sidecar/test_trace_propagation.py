"""W3C Trace Context rules through a real sidecar process and a recording app.

Ingress: the app sees what the sidecar forwarded. Egress: the app calls a downstream
service through the sidecar's egress listener and reports what the downstream saw.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sloengine.telemetry.tracecontext import FLAG_RANDOM, parse_traceparent
from tests.sidecar.harness import RecordingApp, SidecarProcess, header_values, raw_exchange

pytestmark = pytest.mark.integration

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{PARENT}-01"


def forwarded(
    sidecar: SidecarProcess, headers: list[tuple[str, str]], path: str = "/echo"
) -> dict[str, Any]:
    resp = httpx.get(sidecar.url + path, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def traceparent_seen(echo: dict[str, Any]) -> str:
    values = header_values(echo, "traceparent")
    assert len(values) == 1, values
    return values[0]


def assert_continued(echo: dict[str, Any], trace_id: str = TRACE, flags: str = "01") -> str:
    tp = traceparent_seen(echo)
    version, trace, parent, out_flags = tp.split("-")
    assert (version, trace, out_flags) == ("00", trace_id, flags)
    assert parent != PARENT, "every hop needs a new parent-id"
    return parent


def assert_restarted(echo: dict[str, Any]) -> None:
    tp = parse_traceparent(traceparent_seen(echo))
    assert tp is not None and tp.version == 0
    assert tp.trace_id != TRACE
    assert tp.flags & FLAG_RANDOM, "a trace the sidecar starts has the random flag"
    assert header_values(echo, "tracestate") == []


# --- traceparent on ingress ----------------------------------------------------------------


def test_response_carries_a_traceresponse_naming_the_sidecars_span(sidecar: SidecarProcess) -> None:
    resp = httpx.get(sidecar.url + "/echo", headers={"traceparent": VALID}, timeout=10)
    span_id = traceparent_seen(resp.json()).split("-")[2]
    assert resp.headers.get_list("traceresponse") == [f"00-{TRACE}-{span_id}-01"]


def test_an_upstream_traceresponse_is_replaced_by_the_sidecars(sidecar: SidecarProcess) -> None:
    resp = httpx.get(sidecar.url + "/own-traceresponse", headers={"traceparent": VALID}, timeout=10)
    span_id = traceparent_seen(resp.json()).split("-")[2]
    assert resp.headers.get_list("traceresponse") == [f"00-{TRACE}-{span_id}-01"]


def test_valid_traceparent_is_continued_with_a_new_parent_id(sidecar: SidecarProcess) -> None:
    assert_continued(forwarded(sidecar, [("traceparent", VALID)]))


def test_each_request_gets_its_own_parent_id(sidecar: SidecarProcess) -> None:
    parents = {assert_continued(forwarded(sidecar, [("traceparent", VALID)])) for _ in range(5)}
    assert len(parents) == 5


def test_missing_traceparent_starts_a_new_random_trace(sidecar: SidecarProcess) -> None:
    assert_restarted(forwarded(sidecar, [("tracestate", "a=1")]))


@pytest.mark.parametrize(
    "value",
    [
        VALID + "-extra",  # version 00 must be exactly 55 characters
        VALID[:-1],
        f"ff-{TRACE}-{PARENT}-01",  # version ff is invalid
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace-id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent-id
        f"00-{TRACE.upper()}-{PARENT}-01",  # uppercase hex
        f"00-{TRACE}-{PARENT.upper()}-01",
        f"00-{TRACE[:-1]}x-{PARENT}-01",  # not hex
        f"00-{TRACE}0-{PARENT}-01",  # wrong lengths
        f"00-{TRACE}-{PARENT}0-01",
        f"00-{TRACE}-{PARENT}-1",
        f"cc-{TRACE}-{PARENT}-01.x",  # future version: only '-' may follow the flags
        "garbage",
    ],
)
def test_invalid_traceparent_restarts_the_trace_and_drops_tracestate(
    sidecar: SidecarProcess, value: str
) -> None:
    assert_restarted(forwarded(sidecar, [("traceparent", value), ("tracestate", "a=1")]))


def test_future_version_is_continued_as_version_00(sidecar: SidecarProcess) -> None:
    echo = forwarded(sidecar, [("traceparent", f"cc-{TRACE}-{PARENT}-01-future-stuff")])
    assert_continued(echo)


@pytest.mark.parametrize(
    ("flags", "expected"), [("00", "00"), ("01", "01"), ("03", "03"), ("ff", "03"), ("04", "00")]
)
def test_flags_are_kept_and_unknown_bits_zeroed(
    sidecar: SidecarProcess, flags: str, expected: str
) -> None:
    echo = forwarded(sidecar, [("traceparent", f"00-{TRACE}-{PARENT}-{flags}")])
    assert_continued(echo, flags=expected)


def test_two_traceparent_headers_restart_the_trace(sidecar: SidecarProcess) -> None:
    other = f"00-{'1' * 32}-{PARENT}-01"
    assert_restarted(forwarded(sidecar, [("traceparent", VALID), ("traceparent", other)]))


def test_whitespace_around_traceparent_is_tolerated(sidecar: SidecarProcess) -> None:
    request = (
        f"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\ntraceparent: \t{VALID} \t\r\n\r\n"
    )
    answer = raw_exchange(sidecar.ingress, request.encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert_continued(json.loads(body))


# --- tracestate on ingress -------------------------------------------------------------------


def tracestate_seen(sidecar: SidecarProcess, *values: str) -> list[str]:
    headers = [("traceparent", VALID), *(("tracestate", v) for v in values)]
    echo = forwarded(sidecar, headers)
    assert_continued(echo)
    return header_values(echo, "tracestate")


def test_tracestate_is_propagated_in_order(sidecar: SidecarProcess) -> None:
    assert tracestate_seen(sidecar, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE") == [
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    ]


def test_several_tracestate_headers_are_combined(sidecar: SidecarProcess) -> None:
    assert tracestate_seen(sidecar, "a=1", "b=2") == ["a=1,b=2"]


def test_empty_tracestate_members_are_skipped(sidecar: SidecarProcess) -> None:
    assert tracestate_seen(sidecar, "a=1 , ,b=2,") == ["a=1,b=2"]


def test_multi_tenant_keys_are_valid(sidecar: SidecarProcess) -> None:
    assert tracestate_seen(sidecar, "tenant@vendor=x,0t@v=y") == ["tenant@vendor=x,0t@v=y"]


def test_level2_keys_starting_with_a_digit_or_holding_at_signs_are_valid(
    sidecar: SidecarProcess,
) -> None:
    # Level 2: key = ( lcalpha / DIGIT ) 0*255 keychar, `@` among the keychars.
    assert tracestate_seen(sidecar, "1a=b,t@=x,a@b@c=y") == ["1a=b,t@=x,a@b@c=y"]


def test_duplicated_key_keeps_the_left_most_member_not_dropping_the_list(
    sidecar: SidecarProcess,
) -> None:
    assert tracestate_seen(sidecar, "a=1,b=2", "a=3") == ["a=1,b=2"]


def test_32_members_pass_and_33_drop_the_tracestate(sidecar: SidecarProcess) -> None:
    members = [f"k{i}=v" for i in range(33)]
    assert tracestate_seen(sidecar, ",".join(members[:32])) == [",".join(members[:32])]
    assert tracestate_seen(sidecar, ",".join(members)) == []


@pytest.mark.parametrize(
    "value",
    [
        "A=1",
        "a",
        "a=",
        "a=b=c",
        "@v=x",
        "k=" + "v" * 257,
        "k" * 257 + "=v",
    ],
)
def test_invalid_tracestate_is_dropped_but_the_trace_continues(
    sidecar: SidecarProcess, value: str
) -> None:
    assert tracestate_seen(sidecar, value) == []


def test_long_tracestate_is_truncated_by_whole_entries_big_ones_first(
    sidecar: SidecarProcess,
) -> None:
    big = "big=" + "x" * 200
    members = ["a=1", big, *(f"k{i}={'v' * 100}" for i in range(4))]
    (seen,) = tracestate_seen(sidecar, ",".join(members))
    assert len(seen) <= 512
    assert big not in seen
    assert seen.split(",") == ["a=1", *(f"k{i}={'v' * 100}" for i in range(4))]


def test_truncation_drops_entries_from_the_end(sidecar: SidecarProcess) -> None:
    members = [f"k{i:02d}={'v' * 60}" for i in range(10)]
    (seen,) = tracestate_seen(sidecar, ",".join(members))
    assert seen.split(",") == members[:7]


# --- egress ----------------------------------------------------------------------------------


def callback(
    sidecar: SidecarProcess, downstream: RecordingApp, headers: list[tuple[str, str]], **query: str
) -> dict[str, Any]:
    params = {"to": downstream.url, **query}
    resp = httpx.get(sidecar.url + "/callback", params=params, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["absolute", "host"])
def test_each_egress_call_gets_a_new_parent_id_in_the_same_trace(
    sidecar: SidecarProcess, downstream: RecordingApp, mode: str
) -> None:
    result = callback(
        sidecar, downstream, [("traceparent", VALID), ("tracestate", "a=1")], n="3", mode=mode
    )
    app_parent = assert_continued(result["seen"])
    parents = set()
    for call in result["calls"]:
        assert call["status"] == 200
        parent = assert_continued(call["echo"])
        assert parent != app_parent, "the egress hop must not reuse the parent-id it was given"
        assert header_values(call["echo"], "tracestate") == ["a=1"]
        parents.add(parent)
    assert len(parents) == 3


def test_egress_restarts_an_invalid_traceparent_from_the_app(
    sidecar: SidecarProcess, downstream: RecordingApp
) -> None:
    result = callback(sidecar, downstream, [], send_traceparent=f"00-{TRACE.upper()}-{PARENT}-01")
    assert_restarted(result["calls"][0]["echo"])


def test_egress_strips_proxy_headers_and_sets_host(
    sidecar: SidecarProcess, downstream: RecordingApp
) -> None:
    result = callback(sidecar, downstream, [("traceparent", VALID)])
    echo = result["calls"][0]["echo"]
    assert header_values(echo, "host") == [downstream.url.removeprefix("http://")]
    assert header_values(echo, "proxy-connection") == []
    assert header_values(echo, "x-forwarded-for") == []
