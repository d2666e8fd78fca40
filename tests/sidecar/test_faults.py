"""Faults: upstream refusing / slow / resetting, bad and slow clients, huge bodies, drain."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.sidecar.harness import RecordingApp, SidecarProcess, raw_exchange
from tests.support.net import refused_port
from tests.support.wait import HANG_S, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def strict(app: RecordingApp) -> Iterator[SidecarProcess]:
    """A sidecar with short timeouts."""
    proc = SidecarProcess(
        app.url,
        "--upstream-timeout", "0.5",
        "--header-timeout", "0.6",
        "--idle-timeout", "0.6",
        "--body-timeout", "0.6",
        "--max-header-bytes", "8192",
    ).start()  # fmt: skip
    yield proc
    proc.terminate()


def test_refused_upstream_answers_502(app: RecordingApp) -> None:
    with refused_port() as port:
        proc = SidecarProcess(f"http://127.0.0.1:{port}").start()
        try:
            resp = httpx.get(proc.url + "/echo", timeout=5)
            assert resp.status_code == 502
            assert "unreachable" in resp.text
            assert proc.metric("http_requests_total", route="/echo", status="502") == 1
        finally:
            proc.terminate()


def test_slow_upstream_answers_504(strict: SidecarProcess) -> None:
    started = time.monotonic()
    resp = httpx.get(strict.url + "/slow", params={"s": "5"}, timeout=10)
    assert resp.status_code == 504
    assert time.monotonic() - started < 3
    assert strict.metric("http_requests_total", route="/slow", status="504") >= 1


def test_resetting_upstream_answers_502(strict: SidecarProcess) -> None:
    resp = httpx.get(strict.url + "/reset", timeout=5)
    assert resp.status_code == 502
    assert "reset" in resp.text or "closed" in resp.text


def test_the_proxy_keeps_serving_after_upstream_faults(strict: SidecarProcess) -> None:
    with httpx.Client() as client:
        assert client.get(strict.url + "/reset").status_code == 502
        assert client.get(strict.url + "/echo").status_code == 200


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
)
def test_malformed_requests_get_400_and_a_close(
    strict: SidecarProcess, request_bytes: bytes
) -> None:
    answer = raw_exchange(strict.ingress, request_bytes)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert b"connection: close" in answer


def test_partial_headers_held_open_get_408(strict: SidecarProcess) -> None:
    started = time.monotonic()
    answer = raw_exchange(strict.ingress, b"GET /echo HTTP/1.1\r\nHost: x\r\n", timeout_s=5)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 3


def test_slowloris_trickle_is_cut_at_the_header_deadline(strict: SidecarProcess) -> None:
    host, port = strict.ingress.rsplit(":", 1)
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\n")
        answer = b""
        for i in range(50):  # one header byte every 0.1 s: never finishes on its own
            try:
                sock.sendall(b"X-%d: y\r\n" % i)
            except OSError:
                break
            sock.settimeout(0.1)
            try:
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            if answer:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 3


def test_idle_keep_alive_connection_is_closed(strict: SidecarProcess) -> None:
    host, port = strict.ingress.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 204")
        started = time.monotonic()
        assert sock.recv(4096) == b"", "the idle connection is closed cleanly"
        assert time.monotonic() - started < 3


def test_oversized_headers_get_431(strict: SidecarProcess) -> None:
    answer = raw_exchange(
        strict.ingress, b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert strict.metric("sidecar_rejected_requests_total", status="431") >= 1


def test_stalled_request_body_gets_408(strict: SidecarProcess) -> None:
    answer = raw_exchange(
        strict.ingress,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
        timeout_s=5,
    )
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_upgrade_requests_are_refused_with_501(strict: SidecarProcess) -> None:
    answer = raw_exchange(
        strict.ingress,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 501"), answer


BIG = 200 * 1024 * 1024


def test_200mb_bodies_stream_both_ways_in_bounded_memory(app: RecordingApp) -> None:
    proc = SidecarProcess(app.url).start()
    try:
        httpx.get(proc.url + "/echo")
        rss_before = proc.rss_bytes()
        peak = [rss_before]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], proc.rss_bytes())
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            block = b"u" * (1 << 20)

            def upload() -> Iterator[bytes]:
                for _ in range(BIG // len(block)):
                    yield block

            up = httpx.post(
                proc.url + "/upload",
                content=upload(),
                headers={"Content-Length": str(BIG)},
                timeout=60,
            )
            assert up.json() == {"bytes": BIG, "chunked": False}
            received = 0
            with httpx.stream(
                "GET", proc.url + "/download", params={"bytes": str(BIG)}, timeout=60
            ) as resp:
                for chunk in resp.iter_raw():
                    received += len(chunk)
            assert received == BIG
        finally:
            done.set()
            watcher.join()
        assert peak[0] - rss_before < 48 * 1024 * 1024, (
            f"RSS grew by {(peak[0] - rss_before) >> 20} MiB"
        )
    finally:
        proc.terminate()


def test_sigterm_drains_in_flight_requests(app: RecordingApp) -> None:
    proc = SidecarProcess(app.url).start()
    result: list[int] = []

    def held_request() -> None:
        result.append(httpx.get(proc.url + "/held", timeout=60).status_code)

    # The request is surely in flight at the SIGTERM (held by the app until the sidecar has
    # stopped accepting), not just probably (a fixed 0.3 s sleep raced the request's start).
    app.hold()
    worker = threading.Thread(target=held_request)
    worker.start()
    assert proc.proc is not None
    try:
        try:
            assert app.held.wait(60), "the request never reached the app"
            proc.proc.send_signal(signal.SIGTERM)  # once: a second one could land after the
            # sidecar has restored the default handler on its way out (exit -15, not 0)
            wait_until(lambda: _refuses(proc.ingress), "the draining sidecar refusing connections")
        finally:
            app.release()
        assert proc.proc.wait(60) == 0
    finally:
        proc.kill()
    worker.join(60)
    assert result == [200]
    with pytest.raises(httpx.ConnectError):
        httpx.get(proc.url + "/echo", timeout=2)


@pytest.mark.parametrize(
    "args",
    [
        ["--listen", "nonsense"],
        ["--upstream", "https://x:1"],
        ["--variant", "blue"],
        ["--routes", "docs/{id}"],
        ["--header-timeout", "-1"],
        ["--max-header-bytes", "many"],
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str]) -> None:
    import subprocess
    import sys

    base = ["--upstream", "http://127.0.0.1:1", "--service", "svc"]
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", *base, *args], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sloengine-sidecar: error:"), proc.stderr


def test_slow_client_is_not_mistaken_for_a_slow_upstream(strict: SidecarProcess) -> None:
    size = 50 * 1024 * 1024
    received = 0
    with httpx.stream(
        "GET", strict.url + "/download", params={"bytes": str(size)}, timeout=30
    ) as resp:
        for i, chunk in enumerate(resp.iter_raw()):
            received += len(chunk)
            if i == 0:
                time.sleep(1.5)  # 3x the upstream timeout while the pipes are full
    assert received == size


def _refuses(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_client_gone_before_the_answer_counts_499(strict: SidecarProcess) -> None:
    host, port = strict.ingress.rsplit(":", 1)
    before = strict.metric("http_requests_total", route="/slow", status="499")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /slow?s=0.3 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        if strict.metric("http_requests_total", route="/slow", status="499") == before + 1:
            break
        time.sleep(0.05)
    assert strict.metric("http_requests_total", route="/slow", status="499") == before + 1
    assert httpx.get(strict.url + "/echo").status_code == 200


def test_egress_to_a_refusing_host_answers_502(strict: SidecarProcess) -> None:
    egress = strict.addresses["egress"]
    with refused_port() as port:
        resp = httpx.get(f"http://127.0.0.1:{port}/x", proxy=f"http://{egress}", timeout=5)
    assert resp.status_code == 502
    assert strict.metric("sidecar_egress_requests_total", status="502") >= 1


def test_egress_without_a_target_host_answers_400(strict: SidecarProcess) -> None:
    answer = raw_exchange(strict.addresses["egress"], b"GET /x HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400"), answer
