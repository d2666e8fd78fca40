"""HTTP/1.1 behaviour of the proxy: headers, framing, keep-alive, pipelining, RED metrics."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.sidecar.harness import RecordingApp, SidecarProcess, header_values, raw_exchange

pytestmark = pytest.mark.integration


def test_hop_by_hop_headers_are_removed(sidecar: SidecarProcess) -> None:
    headers = {
        "Connection": "keep-alive, X-Private",
        "X-Private": "secret",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Upgrade": "h2c",
        "Proxy-Authorization": "Basic eA==",
        "Proxy-Connection": "keep-alive",
        "X-Kept": "yes",
    }
    echo = httpx.get(sidecar.url + "/echo", headers=headers).json()
    names = {k.lower() for k, _ in echo["headers"]}
    for gone in (
        "x-private",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
    ):
        assert gone not in names
    assert header_values(echo, "x-kept") == ["yes"]


def test_forwarded_headers_are_set(sidecar: SidecarProcess) -> None:
    echo = httpx.get(
        sidecar.url + "/echo",
        headers={
            "X-Forwarded-For": "10.1.2.3",
            "X-Forwarded-Proto": "https",
            "Host": "api.example",
        },
    ).json()
    assert header_values(echo, "x-forwarded-for") == ["10.1.2.3, 127.0.0.1"]
    assert header_values(echo, "x-forwarded-proto") == ["http"]
    assert header_values(echo, "x-forwarded-host") == ["api.example"]
    assert header_values(echo, "host") == ["api.example"]


def test_upstream_connections_are_reused(sidecar: SidecarProcess, app: RecordingApp) -> None:
    with httpx.Client() as client:
        client.get(sidecar.url + "/echo")  # warm the pool
        app.peer_ports.clear()
        for _ in range(20):
            assert client.get(sidecar.url + "/echo").status_code == 200
    assert len(set(app.peer_ports)) == 1, "sequential requests share one pooled connection"


def test_chunked_request_body_is_streamed_chunked(sidecar: SidecarProcess) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(100):
            yield b"y" * 1000

    resp = httpx.post(sidecar.url + "/upload", content=body())
    assert resp.json() == {"bytes": 100_000, "chunked": True}


def test_content_length_request_body_is_passed_through(sidecar: SidecarProcess) -> None:
    resp = httpx.post(sidecar.url + "/upload", content=b"z" * 123_456)
    assert resp.json() == {"bytes": 123_456, "chunked": False}


def test_chunked_response_is_streamed_chunked(sidecar: SidecarProcess) -> None:
    resp = httpx.get(sidecar.url + "/download", params={"bytes": "1000000"})
    assert resp.headers["transfer-encoding"] == "chunked"
    assert len(resp.content) == 1_000_000


def test_content_length_response_keeps_its_length(sidecar: SidecarProcess) -> None:
    resp = httpx.get(sidecar.url + "/download", params={"bytes": "300000", "chunked": "0"})
    assert resp.headers["content-length"] == "300000"
    assert len(resp.content) == 300_000


def test_head_then_get_on_one_connection(sidecar: SidecarProcess) -> None:
    with httpx.Client() as client:
        head = client.head(sidecar.url + "/echo")
        assert head.status_code == 200 and int(head.headers["content-length"]) > 0
        assert client.get(sidecar.url + "/echo").status_code == 200


def test_pipelined_requests_are_answered_in_order(sidecar: SidecarProcess) -> None:
    request = b"GET /echo?n=%d HTTP/1.1\r\nHost: x\r\n\r\n"
    data = (
        request % 1
        + request % 2
        + (request % 3).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    )
    answer = raw_exchange(sidecar.ingress, data)
    bodies = [json.loads(part.split(b"\r\n\r\n", 1)[1]) for part in answer.split(b"HTTP/1.1 ")[1:]]
    assert [b["path"] for b in bodies] == ["/echo?n=1", "/echo?n=2", "/echo?n=3"]


def test_http_1_0_client_gets_a_close_delimited_answer(sidecar: SidecarProcess) -> None:
    answer = raw_exchange(sidecar.ingress, b"GET /download?bytes=1000 HTTP/1.0\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"connection: close" in head.lower()
    assert body == b"x" * 1000


def _read_answer(sock: socket.socket, end: bytes) -> bytes:
    """Read from a kept-alive connection until the answer ends with `end`."""
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


@pytest.mark.parametrize(
    ("request_head", "framing"),
    [
        # No Connection header: the version is inferred from llhttp's keep-alive answer.
        (b"GET /download?bytes=10 HTTP/1.1\r\nHost: a\r\n\r\n", b"transfer-encoding: chunked"),
        (
            b"GET /download?bytes=10 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
            b"transfer-encoding: chunked",
        ),
        (
            b"GET /download?bytes=10&chunked=0 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"connection: keep-alive",
        ),
    ],
)
def test_kept_alive_clients_get_framing_for_their_version(
    sidecar: SidecarProcess, request_head: bytes, framing: bytes
) -> None:
    host, port = sidecar.ingress.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request_head)
        end = b"x" * 10 + (b"\r\n0\r\n\r\n" if b"chunked" in framing else b"")
        first = _read_answer(sock, end)
        sock.sendall(request_head)  # the connection is still usable
        second = _read_answer(sock, end)
    for answer in (first, second):
        head = answer.partition(b"\r\n\r\n")[0].lower()
        assert head.startswith(b"http/1.1 200") and framing in head
        assert b"connection: close" not in head


def test_expect_100_continue_is_relayed(sidecar: SidecarProcess) -> None:
    data = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    host, port = sidecar.ingress.rsplit(":", 1)
    import socket

    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(data)
        interim = sock.recv(1024)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        sock.sendall(b"abc")
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    assert b'"bytes": 3' in rest


def test_red_metrics_use_route_templates(sidecar: SidecarProcess) -> None:
    before_docs = sidecar.metric("http_requests_total", route="/docs/{id}", status="200")
    before_unmatched = sidecar.metric("http_requests_total", route="__unmatched__", method="GET")
    for i in range(3):
        httpx.get(f"{sidecar.url}/docs/{i}")
    httpx.get(sidecar.url + "/no/such/route")
    httpx.get(sidecar.url + "/status/503")
    httpx.request("PURGE", sidecar.url + "/echo")
    assert (
        sidecar.metric("http_requests_total", route="/docs/{id}", status="200") == before_docs + 3
    )
    assert (
        sidecar.metric("http_requests_total", route="__unmatched__", method="GET")
        == before_unmatched + 1
    )
    assert sidecar.metric("http_requests_total", route="/status/{code}", status="503") >= 1
    assert sidecar.metric("http_requests_total", method="_OTHER", route="/echo") >= 1
    labels = {
        "service": "svc",
        "variant": "canary",
        "route": "/docs/{id}",
        "method": "GET",
        "status": "200",
    }
    assert sidecar.metric("http_request_duration_seconds_count", **labels) >= 3
    assert sidecar.metric("http_request_duration_seconds_bucket", le="+Inf", **labels) >= 3


def test_admin_health_and_readiness(sidecar: SidecarProcess) -> None:
    assert httpx.get(sidecar.admin_url + "/healthz").status_code == 200
    assert httpx.get(sidecar.admin_url + "/readyz").status_code == 200
