"""Every HTTP route of the engine, fed malformed input: never a 5xx, never a traceback.

The routes are read from the running aiohttp application's router, so a route added later
is fuzzed too. Each test is bounded and derandomized (see `fuzz_settings`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.conftest import AUTH, RunningEngine, fuzz_settings
from tests.fuzz.strategies import (
    SERVICES,
    content_types,
    hostile_numbers,
    hostile_texts,
    json_objects,
    json_values,
    query_strings,
    raw_bodies,
    scalars,
)

VERDICTS = {"PASS", "FAIL", "INCONCLUSIVE"}
FLAGGER_GATES = (
    "confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase",
    "confirm-promotion", "rollback", "post-rollout", "event",
)  # fmt: skip
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
# Header values h11 can send (visible ASCII, obs-text, inner spaces), hostile to a token parser.
authorizations = st.one_of(
    st.none(),
    st.just(AUTH["Authorization"]),
    st.sampled_from(["Bearer", "bearer fuzz-token", "Basic Zm9vOmJhcg==", "Bearer a b"]),
    st.binary(max_size=40)
    .map(lambda b: bytes(c for c in b if c == 9 or (c >= 0x20 and c != 0x7F)))
    .map(lambda b: (b"Bearer " + b).rstrip(b" \t")),
)


@pytest.fixture(scope="module")
def client(running_engine: RunningEngine) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_engine.http_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def routes(running_engine: RunningEngine) -> list[tuple[str, str]]:
    """(method, path template) of every route, from the application's router."""
    app = running_engine.app.http_app
    assert app is not None
    found = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    return sorted(found)


def _fill(template: str, segment: str) -> str:
    """A concrete path for a template: `{name}` replaced by `segment`, static dirs by a file."""
    path = re.sub(r"\{[^}]+\}", segment, template)
    return path if not path.endswith("/static") else f"{path}/{segment}"


def assert_no_server_error(resp: httpx.Response) -> None:
    assert resp.status_code < 500, (
        f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text[:300]}"
    )
    is_json = resp.headers.get("content-type", "").startswith("application/json")
    if resp.status_code == 400 and is_json and resp.request.method != "HEAD":
        body = resp.json()
        # Ours: {"error": "field: reason"}; OTLP/HTTP: a google.rpc.Status with a message.
        error = body.get("error") or body.get("message")
        assert isinstance(error, str) and error, resp.text  # names what is wrong


def test_routes_cover_the_documented_endpoints(routes: list[tuple[str, str]]) -> None:
    listed = set(routes)
    for expected in (
        ("GET", "/api/v1/verdict"),
        ("POST", "/api/v1/verdict"),
        ("POST", "/api/v1/flagger/{gate}"),
        ("POST", "/api/v1/alertmanager"),
        ("GET", "/metrics"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/ui/api/slo"),
        ("GET", "/ui/api/canary"),
        ("GET", "/ui/api/audit"),
    ):
        assert expected in listed, expected


@fuzz_settings(300)
@given(data=st.data())
def test_every_route_survives_garbage(
    client: httpx.Client, routes: list[tuple[str, str]], data: st.DataObject
) -> None:
    method, template = data.draw(st.sampled_from(routes), label="route")
    method = data.draw(st.sampled_from([method] * 4 + list(METHODS)), label="method")
    segment = data.draw(
        st.one_of(st.sampled_from([*FLAGGER_GATES, "app.js", "x"]), st.text(min_size=1)).map(
            lambda s: quote(s, safe="")
        ),
        label="segment",
    )
    query = data.draw(query_strings(), label="query")
    headers: dict[str, Any] = {}
    authorization = data.draw(authorizations, label="authorization")
    if authorization is not None:
        headers["Authorization"] = authorization
    content_type = data.draw(content_types, label="content_type")
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = data.draw(raw_bodies, label="body") if method not in ("GET", "HEAD") else b""
    url = _fill(template, segment) + (f"?{query}" if query else "")
    assert_no_server_error(client.request(method, url, content=body, headers=headers))


@fuzz_settings(180)
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "service",
                "canary",
                "baseline",
                "revision",
                "eval_time",
                "short_window",
                "long_window",
            ]
        ),
        st.one_of(scalars, json_values),
        max_size=7,
    ),
    how=st.sampled_from(["query", "json", "form"]),
    service=st.sampled_from(SERVICES),
)
@example(params={"eval_time": 1e300}, how="json", service="checkout")
@example(params={"eval_time": "1e300"}, how="query", service="checkout")
@example(params={"eval_time": "nan"}, how="form", service="checkout")
@example(params={"eval_time": -1}, how="json", service="checkout")
@example(params={"eval_time": 2**70}, how="json", service="checkout")
def test_verdict_params_of_any_shape(
    client: httpx.Client, params: dict[str, Any], how: str, service: str
) -> None:
    params.setdefault("service", service)
    path = "/api/v1/verdict"
    if how == "json":
        resp = client.post(
            path, content=json.dumps(params), headers={"Content-Type": "application/json"}
        )
    else:
        flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        resp = client.get(path, params=flat) if how == "query" else client.post(path, data=flat)
    assert_no_server_error(resp)
    if resp.status_code == 200:
        assert resp.json()["verdict"] in VERDICTS


ROLLBACK_LABELS = {"alertname": "CanaryErrorRateHigh", "rollback": "true", "service": "checkout"}


def _alert(**fields: Any) -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": dict(ROLLBACK_LABELS),
        "annotations": {"summary": "canary errors"},
        "startsAt": "2027-01-15T08:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "abc",
    }
    alert.update(fields)
    return alert


def _payload(**fields: Any) -> dict[str, Any]:
    payload = {
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "sloengine",
        "groupLabels": {},
        "commonLabels": {"rollback": "true"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager",
        "alerts": [_alert()],
    }
    payload.update(fields)
    return payload


ALERT_FIELDS = (
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
)
TOP_FIELDS = ("version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
              "commonLabels", "commonAnnotations", "externalURL", "alerts")  # fmt: skip
WRONG_VALUES = ("a string", ["a", "list"], {"an": "object"}, 12.5, True, {"nested": {"x": 1}})


def _wrong_for(field: str, value: Any) -> bool:
    """Whether `value` has the wrong type for an Alertmanager field."""
    maps = ("labels", "annotations", "groupLabels", "commonLabels", "commonAnnotations")
    if field in maps:
        return not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values()))
    if field == "alerts":
        return not isinstance(value, list)
    if field == "truncatedAlerts":
        return not (isinstance(value, int) and not isinstance(value, bool))
    return not isinstance(value, str) or (field == "status" and value not in ("firing", "resolved"))


@pytest.mark.parametrize("field", ALERT_FIELDS)
@pytest.mark.parametrize("value", WRONG_VALUES, ids=lambda v: type(v).__name__)
def test_alert_field_of_the_wrong_type_is_a_400_naming_it(
    client: httpx.Client, field: str, value: Any
) -> None:
    resp = client.post(
        "/api/v1/alertmanager", json=_payload(alerts=[_alert(**{field: value})]), headers=AUTH
    )
    if _wrong_for(field, value):
        assert resp.status_code == 400, resp.text
        assert f"alerts[0].{field}" in resp.json()["error"]
    else:
        assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("field", TOP_FIELDS)
@pytest.mark.parametrize("value", WRONG_VALUES, ids=lambda v: type(v).__name__)
def test_payload_field_of_the_wrong_type_is_a_400_naming_it(
    client: httpx.Client, field: str, value: Any
) -> None:
    payload = _payload(**{field: value})
    payload["alerts"] = payload["alerts"] if field == "alerts" else []
    resp = client.post("/api/v1/alertmanager", json=payload, headers=AUTH)
    if _wrong_for(field, value) and not (field == "status" and isinstance(value, str)):
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"].startswith(field)
    else:
        assert_no_server_error(resp)


@fuzz_settings(120)
@given(
    payload=st.one_of(
        json_objects,
        st.builds(
            _payload,
            alerts=st.lists(
                st.one_of(
                    json_values,
                    st.builds(
                        _alert,
                        labels=st.one_of(
                            st.just(ROLLBACK_LABELS),
                            json_values,
                            st.dictionaries(st.text(max_size=8), scalars),
                        ),
                        annotations=json_values,
                        status=st.one_of(scalars, st.sampled_from(["firing", "resolved"])),
                    ),
                ),
                max_size=3,
            ),
        ),
    )
)
@example(payload=_payload(alerts=[_alert(annotations="a string")]))
@example(payload=_payload(alerts=[_alert(annotations=["a", "list"])]))
def test_alertmanager_payloads_of_any_shape(client: httpx.Client, payload: dict[str, Any]) -> None:
    resp = client.post("/api/v1/alertmanager", json=payload, headers=AUTH)
    assert_no_server_error(resp)


@fuzz_settings(120)
@given(
    gate=st.one_of(st.sampled_from(FLAGGER_GATES), st.text(min_size=1, max_size=20)),
    payload=st.one_of(
        json_objects,
        st.fixed_dictionaries(
            {
                "name": st.one_of(st.sampled_from(SERVICES), scalars),
                "namespace": st.one_of(st.just("prod"), scalars),
                "phase": st.one_of(st.just("Progressing"), scalars),
                "checksum": st.one_of(st.just("abc123"), scalars),
                "metadata": st.one_of(
                    json_values,
                    st.dictionaries(
                        st.sampled_from(
                            [
                                "service",
                                "canary",
                                "baseline",
                                "revision",
                                "short_window",
                                "long_window",
                                "token",
                            ]
                        ),
                        st.one_of(hostile_texts, scalars),
                    ),
                ),
            }
        ),
    ),
)
def test_flagger_payloads_of_any_shape(
    client: httpx.Client, gate: str, payload: dict[str, Any]
) -> None:
    resp = client.post(f"/api/v1/flagger/{quote(gate, safe='')}", json=payload, headers=AUTH)
    assert_no_server_error(resp)


@fuzz_settings(100)
@given(
    path=st.sampled_from(
        ["/ui/api/slo", "/ui/api/canary", "/ui/api/audit", "/ui/api/slos", "/ui/api/canaries"]
    ),
    params=st.dictionaries(
        st.sampled_from(["service", "name", "range", "canary", "baseline", "limit"]),
        st.one_of(hostile_texts, st.text(max_size=20), hostile_numbers.map(str)),
        max_size=6,
    ),
)
def test_ui_api_params(client: httpx.Client, path: str, params: dict[str, str]) -> None:
    assert_no_server_error(client.get(path, params=params))


# Bodies that break naive parsers, sent to every POST route (the router's list) in turn.
HOSTILE_BODIES = {
    "nested-100k": b"[" * 100_000 + b"]" * 100_000,
    "nested-objects-5k": b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    "nan": b'{"service": NaN, "eval_time": Infinity}',
    "huge-float": b'{"service": "checkout", "eval_time": 1e999}',
    "huge-int": b'{"service": "checkout", "eval_time": ' + b"9" * 5000 + b"}",
    "not-utf8": b'{"service": "\xff\xfe"}',
    "truncated": b'{"service": "checkout", "metadata": {',
}


@pytest.mark.parametrize("body", list(HOSTILE_BODIES.values()), ids=list(HOSTILE_BODIES))
def test_every_post_route_survives_hostile_json(
    client: httpx.Client, routes: list[tuple[str, str]], body: bytes
) -> None:
    for method, template in routes:
        if method != "POST":
            continue
        for segment in ("rollout", "pause-rollback", "force-verdict", "rollback", "x"):
            resp = client.post(
                _fill(template, segment),
                content=body,
                headers={**AUTH, "Content-Type": "application/json"},
            )
            assert_no_server_error(resp)
            if "{" not in template:
                break


@pytest.mark.parametrize(
    "path", ["/api/v1/verdict", "/api/v1/alertmanager", "/api/v1/flagger/rollout"]
)
def test_oversized_body_is_413(client: httpx.Client, path: str) -> None:
    body = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    resp = client.post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == 413, resp.text[:200]
