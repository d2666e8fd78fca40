"""The Prometheus source against crafted API answers (httpx.MockTransport): counter resets,
gaps, chunk edges, and every malformed answer as one ReplayError naming the flag."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from sloengine.replay import ReplayError, fetch_history
from sloengine.replay import _prometheus as prom_source

URL = "http://prom.test"


def _transport(answer: Callable[[str, float, float], Any]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        q = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        body = answer(q["query"], float(q["start"]), float(q["end"]))
        if isinstance(body, httpx.Response):
            return body
        return httpx.Response(200, text=json.dumps(body))

    return httpx.MockTransport(handle)


def _matrix(series: list[tuple[dict[str, str], list[tuple[float, float]]]]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": m, "values": [[t, str(v)] for t, v in values]} for m, values in series
            ],
        },
    }


def _counter(start: float, end: float, values: dict[float, float]) -> list[tuple[float, float]]:
    return [(t, v) for t, v in sorted(values.items()) if start <= t <= end]


def test_growth_per_step_with_a_reset_and_a_gap_across_chunk_edges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prom_source, "MAX_POINTS_PER_QUERY", 3)
    # Counter every minute: 0, 10, 30, reset to 5, 15, (no sample at 300), 40, 50
    ok = {0: 0, 60: 10, 120: 30, 180: 5, 240: 15, 360: 40, 420: 50}
    bad = {0: 0, 60: 1, 120: 1, 180: 2, 240: 2, 360: 3, 420: 3}
    key = {"service": "gw", "variant": "stable", "route": "/", "method": "GET"}

    def answer(query: str, start: float, end: float) -> Any:
        if query == "http_requests_total":
            return _matrix(
                [
                    ({**key, "status": "200"}, _counter(start, end, ok)),
                    ({**key, "status": "503"}, _counter(start, end, bad)),
                ]
            )
        return _matrix([])

    messages: list[str] = []
    h = fetch_history(URL, 60, 420, 60, progress=messages.append, transport=_transport(answer))
    assert len(messages) >= 3 and messages[0].startswith("fetching chunk 1/")
    got = {t: (r, e) for t, r, e in h.frame[["time", "requests", "errors"]].itertuples(index=False)}
    # 60: +10 +1; 120: +20 +0; 180: reset -> 5 new, +1; 240: +10 +0; 300/360: no difference
    # across the gap (the growth up to 360 is unknown); 420: +10 +0
    assert got == {60: (11, 1), 120: (20, 0), 180: (6, 1), 240: (10, 0), 420: (10, 0)}


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(200, text="<html>proxy error</html>"), "not a Prometheus API answer"),
        (httpx.Response(400, text=json.dumps({"status": "error", "error": "bad query"})),
         "bad query"),
        (httpx.Response(200, text=json.dumps({"status": "success"})), "no matrix result"),
        (httpx.Response(200, text=json.dumps([1, 2])), "not a Prometheus API answer"),
        (httpx.Response(200, text=json.dumps(
            {"status": "success", "data": {"result": [{"metric": {}, "values": [["x", "y"]]}]}}
        )), "not numbers"),
        (httpx.Response(200, text=json.dumps(
            {"status": "success", "data": {"result": [{"metric": "gw", "values": []}]}}
        )), "malformed series"),
    ],
)  # fmt: skip
def test_malformed_answers_are_one_clear_error(response: httpx.Response, message: str) -> None:
    with pytest.raises(ReplayError, match=message) as err:
        fetch_history(URL, 60, 120, 60, transport=_transport(lambda *_: response))
    assert str(err.value).startswith("--prometheus-url: ")


def test_nan_samples_are_skipped_not_counted() -> None:
    key = {"service": "gw", "status": "200"}

    def answer(query: str, start: float, end: float) -> Any:
        if query != "http_requests_total":
            return _matrix([])
        values = [(0.0, 0.0), (60.0, 5.0), (120.0, float("nan")), (180.0, 9.0)]
        return _matrix([(key, [(t, v) for t, v in values if start <= t <= end])])

    h = fetch_history(URL, 60, 180, 60, transport=_transport(answer))
    assert h.frame[["time", "requests"]].values.tolist() == [[60.0, 5.0]]
