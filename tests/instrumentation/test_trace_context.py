"""W3C Trace Context on the outbound side: continue valid traces, restart invalid ones."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from tests.instrumentation.conftest import Tracing, client_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{PARENT_ID}-01"


class Downstream:
    """Records the trace headers of every outbound call (httpx's MockTransport)."""

    def __init__(self) -> None:
        self.calls: list[httpx.Headers] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.headers)
        return httpx.Response(200, json={})

    def traceparents(self) -> list[tuple[str, str, str, str]]:
        parts = [tuple(h["traceparent"].split("-")) for h in self.calls]
        return parts  # type: ignore[return-value]


def _fanout_app(downstream: Downstream) -> FastAPI:
    app = FastAPI()
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(downstream.handler), base_url="http://d"
    )

    @app.get("/fanout")
    async def fanout() -> dict[str, bool]:
        await client.get("/a")
        await client.get("/b")
        return {"ok": True}

    return app


async def _call(app: FastAPI, headers: dict[str, str]) -> None:
    async with client_for(app) as client:
        assert (await client.get("/fanout", headers=headers)).status_code == 200


async def test_valid_traceparent_is_continued_with_a_new_parent_id_per_call(
    instrumented: Callable[..., FastAPI], tracing: Tracing
) -> None:
    downstream = Downstream()
    app = instrumented(_fanout_app(downstream))
    await _call(app, {"traceparent": VALID})

    (a, b) = downstream.traceparents()
    assert a[0] == b[0] == "00"
    assert a[1] == b[1] == TRACE_ID
    assert PARENT_ID not in (a[2], b[2])
    assert a[2] != b[2]  # each outbound call is its own client span
    assert a[3] == b[3] == "01"  # sampled flag carried on
    client_ids = {format(s.context.span_id, "016x") for s in tracing.spans() if s.name == "GET"}
    assert client_ids == {a[2], b[2]}
    (server,) = [s for s in tracing.spans() if s.name == "GET /fanout"]
    assert server.parent is not None and format(server.parent.span_id, "016x") == PARENT_ID
    assert server.parent.is_remote


async def test_higher_version_traceparent_with_extra_fields_is_continued(
    instrumented: Callable[..., FastAPI],
) -> None:
    downstream = Downstream()
    app = instrumented(_fanout_app(downstream))
    await _call(app, {"traceparent": f"01-{TRACE_ID}-{PARENT_ID}-01-what-the-future-holds"})
    assert {tp[1] for tp in downstream.traceparents()} == {TRACE_ID}
    assert {tp[0] for tp in downstream.traceparents()} == {"00"}  # we speak version 00


@pytest.mark.parametrize(
    "traceparent",
    [
        f"00-{'0' * 32}-{PARENT_ID}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",  # uppercase hex
        f"00-{TRACE_ID}-{PARENT_ID.upper()}-01",
        f"ff-{TRACE_ID}-{PARENT_ID}-01",  # forbidden version
        f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01",  # trace id too short
        f"00-{TRACE_ID}0-{PARENT_ID}-01",  # trace id too long
        f"00-{TRACE_ID}-{PARENT_ID[:-1]}-01",  # parent id too short
        f"00-{TRACE_ID}-{PARENT_ID}-1",  # flags too short
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",  # version 00 has exactly four fields
        f"0-{TRACE_ID}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-0g",  # not hex
        "garbage",
    ],
)
async def test_invalid_traceparent_restarts_the_trace(
    instrumented: Callable[..., FastAPI], tracing: Tracing, traceparent: str
) -> None:
    downstream = Downstream()
    app = instrumented(_fanout_app(downstream))
    await _call(app, {"traceparent": traceparent, "tracestate": "vendor=dropped"})

    (server,) = [s for s in tracing.spans() if s.name == "GET /fanout"]
    assert server.parent is None
    new_trace = format(server.context.trace_id, "032x")
    assert new_trace != TRACE_ID.lower()
    for version, trace_id, parent_id, flags in downstream.traceparents():
        assert (version, trace_id) == ("00", new_trace)
        assert len(parent_id) == 16 and parent_id != "0" * 16
        assert len(flags) == 2
    assert all("tracestate" not in h for h in downstream.calls)


async def test_tracestate_within_limits_is_passed_on_unchanged(
    instrumented: Callable[..., FastAPI],
) -> None:
    members = [f"v{i}=x{i}" for i in range(32)]
    tracestate = ",".join(members)
    assert len(tracestate) <= 512
    downstream = Downstream()
    app = instrumented(_fanout_app(downstream))
    await _call(app, {"traceparent": VALID, "tracestate": tracestate})
    assert [h["tracestate"] for h in downstream.calls] == [tracestate, tracestate]


async def test_tracestate_past_32_members_is_discarded_but_the_trace_continues(
    instrumented: Callable[..., FastAPI],
) -> None:
    # Level 2 allows at most 32 list-members; the official suite
    # (test_tracestate_member_count_limit) expects a 33-member list not to be inherited.
    members = [f"v{i}=x{i}" for i in range(33)]
    downstream = Downstream()
    app = instrumented(_fanout_app(downstream))
    await _call(app, {"traceparent": VALID, "tracestate": ",".join(members)})
    assert all("tracestate" not in h for h in downstream.calls)
    assert {t for _, t, _, _ in downstream.traceparents()} == {TRACE_ID}


async def test_tracestate_past_512_characters_is_truncated_by_whole_entries(
    instrumented: Callable[..., FastAPI],
) -> None:
    long_member = "big=" + "x" * 200
    small = [f"k{i}={'y' * 20}" for i in range(20)]  # 20 * 24 chars: past 512 with the big one
    downstream = Downstream()
    app = instrumented(_fanout_app(downstream))
    sent = ",".join([small[0], long_member, *small[1:]])
    await _call(app, {"traceparent": VALID, "tracestate": sent})
    kept = downstream.calls[0]["tracestate"].split(",")
    assert long_member not in kept  # entries over 128 characters go first...
    assert kept == small  # ...and then nothing else needs to go (20 * 24 + 19 = 499)


async def test_duplicated_tracestate_key_keeps_the_left_most_member(
    instrumented: Callable[..., FastAPI],
) -> None:
    downstream = Downstream()
    app = instrumented(_fanout_app(downstream))
    async with client_for(app) as client:
        await client.get(
            "/fanout",
            headers=[
                ("traceparent", VALID),
                ("tracestate", "foo=1,bar=2"),
                ("tracestate", "foo=2"),
            ],
        )
    assert [h["tracestate"] for h in downstream.calls] == ["foo=1,bar=2", "foo=1,bar=2"]


@pytest.mark.parametrize("key", ["t@", "1a", "a@b@c", "t" * 242 + "@v", "t@" + "v" * 15])
async def test_level2_keys_are_propagated(instrumented: Callable[..., FastAPI], key: str) -> None:
    # Level 1 (and the OTel API's TraceState) rejected these; Level 2's grammar accepts them.
    downstream = Downstream()
    app = instrumented(_fanout_app(downstream))
    await _call(app, {"traceparent": VALID, "tracestate": f"foo=1,{key}=v"})
    assert downstream.calls[0]["tracestate"] == f"foo=1,{key}=v"


@pytest.mark.parametrize("tracestate", ["@foo=1,bar=2", "foo=1," + "z" * 257 + "=1", "a=1,B=2"])
async def test_an_invalid_member_discards_the_whole_tracestate(
    instrumented: Callable[..., FastAPI], tracestate: str
) -> None:
    downstream = Downstream()
    app = instrumented(_fanout_app(downstream))
    await _call(app, {"traceparent": VALID, "tracestate": tracestate})
    assert all("tracestate" not in h for h in downstream.calls)


async def test_split_tracestate_headers_are_combined(
    instrumented: Callable[..., FastAPI],
) -> None:
    downstream = Downstream()
    app = instrumented(_fanout_app(downstream))
    async with client_for(app) as client:
        await client.get(
            "/fanout",
            headers=[("traceparent", VALID), ("tracestate", "a=1"), ("tracestate", "b=2")],
        )
    assert downstream.calls[0]["tracestate"] == "a=1,b=2"
