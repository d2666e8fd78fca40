"""RFC 9112 on the request head: a Host header must be there (HTTP/1.1), once, and valid;
message framing must be unambiguous. Anything else is refused by the sidecar with a 400
(or 501 for a transfer coding it cannot forward) and a close, and never reaches the app."""

from __future__ import annotations

import pytest

from tests.sidecar.harness import RecordingApp, SidecarProcess, as_json, raw_exchange

pytestmark = pytest.mark.integration


def _refused(sidecar: SidecarProcess, app: RecordingApp, request: bytes, status: int) -> bytes:
    seen_before = len(app.peer_ports)
    answer = raw_exchange(sidecar.ingress, request)
    assert answer.startswith(b"HTTP/1.1 %d" % status), answer
    assert b"connection: close" in answer
    assert len(app.peer_ports) == seen_before, "the refused request reached the app"
    return answer


@pytest.mark.parametrize(
    "head",
    [
        b"GET /echo HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n",  # even equal
        b"GET /echo HTTP/1.0\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
    ],
)
def test_two_host_headers_are_a_400(
    sidecar: SidecarProcess, app: RecordingApp, head: bytes
) -> None:
    answer = _refused(sidecar, app, head, 400)
    assert b"more than one Host" in answer


def test_http11_without_host_is_a_400(sidecar: SidecarProcess, app: RecordingApp) -> None:
    answer = _refused(sidecar, app, b"GET /echo HTTP/1.1\r\nAccept: */*\r\n\r\n", 400)
    assert b"without a Host" in answer


@pytest.mark.parametrize(
    "host", [b"a b", b"a.example/evil", b"user@a.example", b"a.example:80x", b"[::1"]
)
def test_an_invalid_host_is_a_400(sidecar: SidecarProcess, app: RecordingApp, host: bytes) -> None:
    answer = _refused(sidecar, app, b"GET /echo HTTP/1.1\r\nHost: " + host + b"\r\n\r\n", 400)
    assert b"invalid Host" in answer


@pytest.mark.parametrize(
    "head",
    [
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ids=["cl-conflict", "cl-twice", "cl-list", "cl-and-te", "te-twice"],
)
def test_ambiguous_framing_is_a_400(
    sidecar: SidecarProcess, app: RecordingApp, head: bytes
) -> None:
    _refused(sidecar, app, head, 400)


def test_a_transfer_coding_other_than_chunked_is_a_501(
    sidecar: SidecarProcess, app: RecordingApp
) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
    _refused(sidecar, app, head, 501)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /echo HTTP/1.1\r\nHost: a.example:8080\r\nConnection: close\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",  # empty is allowed
        b"GET /echo HTTP/1.0\r\n\r\n",  # HTTP/1.0 may omit Host
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ],
)
def test_well_formed_heads_pass(sidecar: SidecarProcess, request_bytes: bytes) -> None:
    answer = raw_exchange(sidecar.ingress, request_bytes)
    assert answer.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")), answer
    assert as_json(answer.split(b"\r\n\r\n", 1)[1])["path"] == "/echo"
