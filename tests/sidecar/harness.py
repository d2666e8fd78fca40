"""Real processes and servers for the sidecar tests: the sidecar as a subprocess (ports read
from its startup line) and a small recording app on loopback, run in a thread, that echoes
the headers it receives and sends its callbacks through the sidecar's egress listener.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[2]
ROUTES = "/echo,/docs/{id},/callback,/slow,/reset,/upload,/download,/status/{code}"


class RecordingApp:
    """An aiohttp app in its own thread and loop; see the handlers for its endpoints."""

    def __init__(self) -> None:
        self.port = 0
        self.egress: str | None = None  # "host:port" of the sidecar's egress listener
        self.peer_ports: list[int] = []
        self.held = threading.Event()  # a GET /held reached the app (see hold())
        self._release = asyncio.Event()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> RecordingApp:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        app = web.Application(client_max_size=1 << 40)
        app.router.add_route("*", "/callback", self._callback)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/held", self._held)
        app.router.add_get("/reset", self._reset)
        app.router.add_post("/upload", self._upload)
        app.router.add_get("/download", self._download)
        app.router.add_get("/status/{code}", self._status)
        app.router.add_get("/own-traceresponse", self._own_traceresponse)
        app.router.add_route("*", "/{tail:.*}", self._echo)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def _seen(self, request: web.Request) -> dict[str, Any]:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.peer_ports.append(peer[1])
        return {"headers": [[k, v] for k, v in request.headers.items()], "path": request.path_qs}

    async def _echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        seen = self._seen(request)
        seen["body_len"] = len(body)
        return web.json_response(seen)

    async def _own_traceresponse(self, request: web.Request) -> web.Response:
        """Answer with a traceresponse of the app's own, as an instrumented service would."""
        seen = self._seen(request)
        trace_id = request.headers.get("traceparent", "00-" + "1" * 32).split("-")[1]
        return web.json_response(seen, headers={"traceresponse": f"00-{trace_id}-{'ab' * 8}-01"})

    async def _callback(self, request: web.Request) -> web.Response:
        """Call `to` `n` times through the egress listener, forwarding trace headers."""
        seen = self._seen(request)
        to = request.query["to"]
        n = int(request.query.get("n", "1"))
        mode = request.query.get("mode", "absolute")
        forward = {
            k: v for k, v in request.headers.items() if k.lower() in ("traceparent", "tracestate")
        }
        if "send_traceparent" in request.query:
            forward["traceparent"] = request.query["send_traceparent"]
        calls = []
        async with aiohttp.ClientSession() as session:
            for _ in range(n):
                if mode == "absolute":
                    resp = await session.get(
                        f"{to}/echo", headers=forward, proxy=f"http://{self.egress}"
                    )
                else:  # origin-form request to the egress listener, target in the Host header
                    host = to.removeprefix("http://")
                    resp = await session.get(
                        f"http://{self.egress}/echo", headers={**forward, "Host": host}
                    )
                calls.append({"status": resp.status, "echo": await resp.json()})
                resp.release()
        return web.json_response({"seen": seen, "calls": calls})

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "1")))
        return web.json_response(self._seen(request))

    def hold(self) -> None:
        """From now on GET /held answers only after `release()`: a request the test knows is
        in flight (`held` is set once it reached the app), however slow the machine."""
        self.held.clear()
        asyncio.run_coroutine_threadsafe(self._clear_release(), self._loop).result(60)

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._release.set)

    async def _clear_release(self) -> None:
        self._release.clear()

    async def _held(self, request: web.Request) -> web.Response:
        self.held.set()
        await self._release.wait()
        return web.json_response(self._seen(request))

    async def _reset(self, request: web.Request) -> web.Response:
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()  # RST: the upstream "resets" mid-request
        await asyncio.sleep(1)
        return web.Response()

    async def _upload(self, request: web.Request) -> web.Response:
        total = 0
        async for chunk in request.content.iter_any():
            total += len(chunk)
        return web.json_response(
            {"bytes": total, "chunked": "chunked" in request.headers.get("Transfer-Encoding", "")}
        )

    async def _download(self, request: web.Request) -> web.StreamResponse:
        size = int(request.query["bytes"])
        chunked = request.query.get("chunked", "1") == "1"
        resp = web.StreamResponse()
        if not chunked:
            resp.content_length = size
        await resp.prepare(request)
        block = b"x" * 65536
        while size > 0:
            await resp.write(block[: min(size, len(block))])
            size -= len(block)
        await resp.write_eof()
        return resp

    async def _status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="as asked\n")


_LINE = re.compile(r"sidecar: listening (.*)")


class SidecarProcess:
    """`python -m sidecar` on loopback port 0; addresses parsed from its startup line."""

    def __init__(
        self,
        upstream: str,
        *args: str,
        env: Mapping[str, str] | None = None,
        service: str = "svc",
        variant: str = "canary",
    ) -> None:
        self.argv = [
            sys.executable, "-m", "sidecar",
            "--listen", "127.0.0.1:0",
            "--egress-listen", "127.0.0.1:0",
            "--admin-listen", "127.0.0.1:0",
            "--upstream", upstream,
            "--service", service,
            "--variant", variant,
            "--routes", ROUTES,
            *args,
        ]  # fmt: skip
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = str(REPO)
        self.addresses: dict[str, str] = {}
        self.proc: subprocess.Popen[str] | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (lives with the process)

    def start(self, timeout_s: float = 60.0) -> SidecarProcess:
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=self.env,
            cwd=REPO,
        )
        line_holder: list[str] = []
        reader = threading.Thread(target=lambda: line_holder.append(self.proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout_s)
        m = _LINE.match(line_holder[0]) if line_holder else None
        if m is None:
            self.kill()
            raise RuntimeError(f"sidecar did not start: {line_holder} {self.stderr()}")
        self.addresses = dict(part.split("=", 1) for part in m.group(1).split())
        return self

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()

    @property
    def ingress(self) -> str:
        return self.addresses["ingress"]

    @property
    def url(self) -> str:
        return f"http://{self.addresses['ingress']}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.addresses['admin']}"

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"{self.admin_url}/metrics", timeout=5) as resp:
            return resp.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels` (0 if none)."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            metric_name, _, label_text = head.partition("{")
            if metric_name != name:
                continue
            found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', label_text))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(value)
        return total

    def rss_bytes(self) -> int:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def terminate(self, timeout_s: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


def raw_exchange(
    address: str, data: bytes, *, timeout_s: float = 5.0, read_until_close: bool = True
) -> bytes:
    """Send raw bytes to `address` and read the answer (until close, or one read)."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if not read_until_close:
                break
        return b"".join(chunks)


def header_values(echo: Mapping[str, Any], name: str) -> list[str]:
    """Every value of header `name` the app received."""
    return [v for k, v in echo["headers"] if k.lower() == name.lower()]


def as_json(data: bytes) -> Any:
    return json.loads(data)


__all__: Sequence[str] = [
    "ROUTES",
    "RecordingApp",
    "SidecarProcess",
    "as_json",
    "header_values",
    "raw_exchange",
]
