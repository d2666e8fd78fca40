"""Loopback ports, readiness waits and shutdown for tests that start real servers."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS just handed out; for servers (like Prometheus) that cannot take :0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerExited(RuntimeError):
    """The server being waited for exited before it answered."""


@contextlib.contextmanager
def refused_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port where connections are refused while the block runs: bound, not listening.

    For "nothing listens there" tests: a free_port() is closed again at once, and on a busy
    machine another process's server may take it before the test connects.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        yield int(s.getsockname()[1])


def wait_http_ok(
    url: str, timeout_s: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `url` until it answers 200, or raise TimeoutError naming it (ServerExited as
    soon as `proc`, the server, has exited)."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerExited(f"{url}: the server exited ({proc.returncode}) before answering")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout_s}s: {last}")


def stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str] | None) -> None:
    """SIGTERM a server still running, give it 10 s to finish, then SIGKILL it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_on_free_port(
    launch: Callable[[int], subprocess.Popen[bytes]],
    port: int,
    ready_path: str,
    log_path: Path,
    timeout_s: float = 60.0,
    attempts: int = 3,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server that cannot listen on port 0 (Prometheus, Alertmanager, VictoriaMetrics):
    `launch(port)`, from `port` (a free_port()), until http://127.0.0.1:port`ready_path`
    answers 200.

    free_port() then the server's bind is a race: on a busy machine another process may take
    the port in between, and the server exits with "address already in use". It is started
    again on a new free port. Returns the process and the port it listens on; RuntimeError
    with the log's tail when it does not start.
    """
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            port = free_port()
        proc = launch(port)
        try:
            wait_http_ok(f"http://127.0.0.1:{port}{ready_path}", timeout_s, proc)
            if proc.poll() is None:  # not another process's server answering on the port
                return proc, port
        except ServerExited:
            pass
        except TimeoutError:
            stop_process(proc)
            raise RuntimeError(f"not ready in {timeout_s:g}s:\n{_tail(log_path)}") from None
        stop_process(proc)
        if attempt == attempts or b"address already in use" not in log_path.read_bytes():
            raise RuntimeError(f"exited ({proc.returncode}):\n{_tail(log_path)}")
    raise AssertionError("unreachable")


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
