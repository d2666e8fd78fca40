"""Sidecar overhead, measured in one run against a direct baseline and nginx.

    .venv/bin/python bench/bench_sidecar.py [--quick]

1. Max throughput (wrk, keep-alive, closed loop): direct to the upstream, through the
   sidecar, through nginx as a reverse proxy (1 worker, upstream keep-alive), and through a
   minimal aiohttp proxy (the alternative I/O stack). The upstream is nginx `return 200`
   (C, never the bottleneck). Goal: sidecar >= 60% of nginx's requests/s.
2. Added latency at a fixed 1,000 requests/s, open loop: sends are scheduled on a fixed
   clock and latency is measured from the scheduled time (so queueing behind a slow
   response counts). Goal: added p50 <= 0.3 ms and p99 <= 1 ms vs direct.

Every figure is the median of several rounds, targets interleaved inside each round, so
that noise from other work on the machine hits all targets alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NGINX = "/usr/sbin/nginx"
WRK = shutil.which("wrk")
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} not listening")


# --- servers -----------------------------------------------------------------------------------


def start_nginx(tmp: Path, name: str, server_block: str) -> subprocess.Popen[bytes]:
    conf = tmp / f"{name}.conf"
    conf.write_text(
        f"""
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}.err warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/{name}-body;
    proxy_temp_path {tmp}/{name}-proxy;
    fastcgi_temp_path {tmp}/{name}-fcgi;
    uwsgi_temp_path {tmp}/{name}-uwsgi;
    scgi_temp_path {tmp}/{name}-scgi;
    keepalive_requests 1000000;
    {server_block}
}}
"""
    )
    return subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp)])


def upstream_block(port: int) -> str:
    return f"""server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok\\n"; }} }}"""


def nginx_proxy_block(port: int, upstream: int) -> str:
    return f"""
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; keepalive_requests 1000000; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
        }}
    }}"""


def start_sidecar(port: int, upstream: int) -> subprocess.Popen[bytes]:
    argv = [
        PY, "-m", "sidecar",
        "--listen", f"127.0.0.1:{port}",
        "--admin-listen", "127.0.0.1:0",
        "--upstream", f"http://127.0.0.1:{upstream}",
        "--service", "bench",
        "--routes", "/,/docs/{id}",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL)


def start_aiohttp_proxy(port: int, upstream: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([PY, __file__, "--aiohttp-proxy", str(port), str(upstream)])


def run_aiohttp_proxy(port: int, upstream: int) -> None:
    """The alternative I/O stack: aiohttp server + pooled ClientSession, streaming."""
    import aiohttp
    import uvloop
    from aiohttp import web

    async def main() -> None:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30), auto_decompress=False
        )
        base = f"http://127.0.0.1:{upstream}"

        async def handle(request: web.Request) -> web.StreamResponse:
            async with session.request(
                request.method,
                base + request.path_qs,
                headers=request.headers,
                data=request.content,
            ) as up:
                resp = web.StreamResponse(status=up.status, headers=up.headers)
                await resp.prepare(request)
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
                return resp

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    uvloop.run(main())


# --- load generators ---------------------------------------------------------------------------


def wrk_rps(port: int, seconds: float, connections: int) -> float:
    assert WRK is not None
    out = subprocess.run(
        [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m is None or errors is not None:
        raise RuntimeError(f"wrk failed against :{port}: {out}")
    return float(m.group(1))


def open_loop(port: int, rate: float, seconds: float) -> dict[str, float]:
    """Run the open-loop generator in its own process; returns p50/p99 in ms."""
    out = subprocess.run(
        [PY, __file__, "--open-loop", str(port), str(rate), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def run_open_loop(port: int, rate: float, seconds: float) -> None:
    """Sends on a fixed clock over a pool of keep-alive connections; latency from schedule."""
    import httptools
    import uvloop

    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    latencies: list[float] = []
    waiting: deque[float] = deque()  # scheduled times not sent yet (all connections busy)

    class Conn(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpResponseParser(self)
            self.transport: asyncio.Transport | None = None
            self.scheduled = 0.0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            latencies.append(time.perf_counter() - self.scheduled)
            if waiting:
                self.send(waiting.popleft())
            else:
                idle.append(self)

        def send(self, scheduled: float) -> None:
            self.scheduled = scheduled
            assert self.transport is not None
            self.transport.write(request)

    idle: deque[Conn] = deque()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(32):
            _, conn = await loop.create_connection(Conn, "127.0.0.1", port)
            idle.append(conn)
        # warm-up: a few requests on every connection
        for _ in range(3):
            for conn in list(idle):
                idle.remove(conn)
                conn.send(time.perf_counter())
            while len(idle) < 32:
                await asyncio.sleep(0.001)
        latencies.clear()
        total = int(rate * seconds)
        interval = 1.0 / rate
        start = time.perf_counter() + 0.01
        for i in range(total):
            due = start + i * interval
            # coarse sleep, then yield to the loop until due (keeps serving responses)
            while (now := time.perf_counter()) < due:
                if due - now > 0.002:
                    await asyncio.sleep(due - now - 0.0015)
                else:
                    await asyncio.sleep(0)
            if idle:
                idle.popleft().send(due)
            else:
                waiting.append(due)
        deadline = time.perf_counter() + 5
        while len(latencies) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)

    uvloop.run(main())
    ms = sorted(x * 1000 for x in latencies)
    print(
        json.dumps(
            {
                "p50": ms[len(ms) // 2],
                "p99": ms[int(len(ms) * 0.99)],
                "n": len(ms),
            }
        )
    )


# --- the benchmark -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round (smoke run)")
    parser.add_argument("--aiohttp-proxy", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--open-loop", nargs=3, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.aiohttp_proxy:
        run_aiohttp_proxy(*args.aiohttp_proxy)
        return 0
    if args.open_loop:
        port, rate, seconds = args.open_loop
        run_open_loop(int(port), rate, seconds)
        return 0
    if WRK is None or not os.path.exists(NGINX):
        print("bench_sidecar: needs wrk and /usr/sbin/nginx (apt-get install wrk nginx-light)")
        return 2

    rounds, wrk_s, lat_s = (1, 2, 2) if args.quick else (3, 4, 4)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sidecar-"))
    ports = {name: free_port() for name in ("upstream", "nginx", "sidecar", "aiohttp")}
    procs = [
        start_nginx(tmp, "upstream", upstream_block(ports["upstream"])),
        start_nginx(tmp, "proxy", nginx_proxy_block(ports["nginx"], ports["upstream"])),
        start_sidecar(ports["sidecar"], ports["upstream"]),
        start_aiohttp_proxy(ports["aiohttp"], ports["upstream"]),
    ]
    try:
        for port in ports.values():
            wait_port(port)
        targets = {
            "direct": ports["upstream"],
            **{k: ports[k] for k in ("nginx", "sidecar", "aiohttp")},
        }
        for port in targets.values():  # warm up (pools, caches)
            wrk_rps(port, 1, 16)
        rps: dict[str, list[float]] = {name: [] for name in targets}
        lat: dict[str, list[dict[str, float]]] = {"direct": [], "sidecar": []}
        for r in range(rounds):
            for name, port in targets.items():
                rps[name].append(wrk_rps(port, wrk_s, 50))
            for name in lat:
                lat[name].append(open_loop(targets[name], 1000, lat_s))
            print(
                f"round {r + 1}/{rounds}: "
                + ", ".join(f"{k} {v[-1]:,.0f} rps" for k, v in rps.items()),
                flush=True,
            )
        med = {name: statistics.median(v) for name, v in rps.items()}
        p = {
            name: {q: statistics.median(run[q] for run in runs) for q in ("p50", "p99")}
            for name, runs in lat.items()
        }
        added50 = p["sidecar"]["p50"] - p["direct"]["p50"]
        added99 = p["sidecar"]["p99"] - p["direct"]["p99"]
        ratio = med["sidecar"] / med["nginx"]
        print()
        print(f"max throughput (wrk -c50, median of {rounds}), requests/s:")
        for name, value in med.items():
            print(f"  {name:8s} {value:10,.0f}   ({value / med['direct']:.2f}x direct)")
        print(
            f"  sidecar / nginx = {ratio:.2f}   (goal >= 0.60: {'met' if ratio >= 0.6 else 'MISSED'})"
        )
        print(f"  sidecar / aiohttp proxy = {med['sidecar'] / med['aiohttp']:.2f}")
        print(f"open loop at 1,000 requests/s (median of {rounds}), ms from the scheduled send:")
        for name, q in p.items():
            print(f"  {name:8s} p50 {q['p50']:.3f}   p99 {q['p99']:.3f}")
        print(
            f"  added p50 = {added50:+.3f} ms (goal <= 0.300: {'met' if added50 <= 0.3 else 'MISSED'})"
        )
        print(
            f"  added p99 = {added99:+.3f} ms (goal <= 1.000: {'met' if added99 <= 1.0 else 'MISSED'})"
        )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
