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
from functools import partial
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
    return subprocess.Popen(
        [PY, __file__, "--aiohttp-proxy", str(port), str(upstream)], stderr=subprocess.DEVNULL
    )


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


# --- in-process cost ---------------------------------------------------------------------------


class _NullTransport:
    """Accepts writes and flow-control calls; no socket, so no kernel time is measured."""

    def write(self, data: bytes) -> None:
        pass

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else None

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def run_in_process(batches: int) -> float:
    """Microseconds of the sidecar's own work per request (parsing, routing, trace context,
    head building, RED metrics), without sockets: the wrk request and nginx's answer are fed
    straight into one client connection and one pooled upstream connection. The minimum over
    batches of 1,000 requests: the least disturbed figure on a shared machine."""
    import uvloop

    sys.path.append(str(REPO))  # after PYTHONPATH: another checkout can be measured
    from sidecar.proxy import INGRESS, ProxyListener, ProxySettings
    from sidecar.routes import RouteMatcher
    from sidecar.telemetry import Telemetry, red_collector
    from sidecar.upstream import ConnectionPool, UpstreamConnection
    from sloengine.telemetry.tracecontext import IdGenerator

    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
    response = (
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 15:00:00 GMT\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: 3\r\n"
        b"Connection: keep-alive\r\n\r\nok\n"
    )

    async def main() -> float:
        loop = asyncio.get_running_loop()
        pool = ConnectionPool(loop, connect_timeout_s=5, idle_timeout_s=60, max_idle_per_key=8)
        key = ("127.0.0.1", 9)
        listener = ProxyListener(
            INGRESS,
            loop,
            pool,
            ProxySettings(),
            Telemetry(red_collector().recorder("bench", "stable"), spans=None),
            IdGenerator(),
            upstream=key,
            routes=RouteMatcher(["/", "/docs/{id}"]),
        )
        up = UpstreamConnection(pool, key)
        up.connection_made(_NullTransport())  # type: ignore[arg-type]
        pool.release(up)
        conn = listener.protocol()
        conn.connection_made(_NullTransport())  # type: ignore[arg-type]
        best = float("inf")
        for _ in range(batches):
            t0 = time.perf_counter()
            for _ in range(1000):
                conn.data_received(request)
                up.data_received(response)
            best = min(best, (time.perf_counter() - t0) / 1000 * 1e6)
        return best

    return uvloop.run(main())


# --- load generators ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def wrk_run(port: int, seconds: float, connections: int) -> tuple[float, int]:
    """(requests/s, requests) of one wrk run; raises on any non-2xx answer."""
    assert WRK is not None
    out = subprocess.run(
        [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m is None or n is None or errors is not None:
        raise RuntimeError(f"wrk failed against :{port}: {out}")
    return float(m.group(1)), int(n.group(1))


def latency(ports: dict[str, int], rate: float, seconds: float) -> dict[str, dict[str, float]]:
    """Run the latency generator in its own process; {target: {p50, p99}} in ms.

    rate > 0: open loop, `rate` requests/s to EACH target, sends interleaved on one clock
    so that every target sees the same moments of machine noise (a paired measurement);
    rate == 0: one connection per target, back to back, targets taking turns.
    """
    spec = ",".join(f"{name}={port}" for name, port in ports.items())
    out = subprocess.run(
        [PY, __file__, "--latency", spec, str(rate), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, dict[str, float]] = json.loads(out)
    return result


def run_latency(spec: str, rate: float, seconds: float) -> None:
    """Open loop: latency measured from the scheduled time (waiting for a free keep-alive
    connection counts). Prints {target: {p50, p99, n}} as JSON."""
    import httptools
    import uvloop

    ports = {name: int(port) for name, port in (x.split("=") for x in spec.split(","))}
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    latencies: dict[str, list[float]] = {name: [] for name in ports}
    waiting: dict[str, deque[float]] = {name: deque() for name in ports}
    idle: dict[str, deque[Conn]] = {name: deque() for name in ports}

    class Conn(asyncio.Protocol):
        def __init__(self, target: str) -> None:
            self.target = target
            self.parser = httptools.HttpResponseParser(self)
            self.transport: asyncio.Transport | None = None
            self.scheduled = 0.0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            latencies[self.target].append(time.perf_counter() - self.scheduled)
            if waiting[self.target]:
                self.send(waiting[self.target].popleft())
            else:
                idle[self.target].append(self)

        def send(self, scheduled: float) -> None:
            self.scheduled = scheduled
            assert self.transport is not None
            self.transport.write(request)

    async def connect(per_target: int) -> None:
        loop = asyncio.get_running_loop()
        for name, port in ports.items():
            for _ in range(per_target):
                _, conn = await loop.create_connection(partial(Conn, name), "127.0.0.1", port)
                idle[name].append(conn)

    async def back_to_back() -> None:
        await connect(1)
        end = time.perf_counter() + seconds
        rounds = 0
        while time.perf_counter() < end:
            for name in ports:
                idle[name].popleft().send(time.perf_counter())
                while not idle[name]:
                    await asyncio.sleep(0)
            rounds += 1
            if rounds == 200:
                for values in latencies.values():
                    values.clear()  # warm-up

    async def open_loop() -> None:
        await connect(32)
        for _ in range(3):  # warm-up: a few requests on every connection
            for name in ports:
                for conn in list(idle[name]):
                    idle[name].remove(conn)
                    conn.send(time.perf_counter())
            while any(len(idle[name]) < 32 for name in ports):
                await asyncio.sleep(0.001)
        for values in latencies.values():
            values.clear()
        names = list(ports)
        total = int(rate * seconds) * len(names)
        interval = 1.0 / (rate * len(names))
        start = time.perf_counter() + 0.01
        for i in range(total):
            due = start + i * interval
            # coarse sleep, then yield to the loop until due (responses keep being read)
            while (now := time.perf_counter()) < due:
                if due - now > 0.002:
                    await asyncio.sleep(due - now - 0.0015)
                else:
                    await asyncio.sleep(0)
            name = names[i % len(names)]
            if idle[name]:
                idle[name].popleft().send(due)
            else:
                waiting[name].append(due)
        deadline = time.perf_counter() + 5
        while sum(map(len, latencies.values())) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)

    uvloop.run(back_to_back() if rate <= 0 else open_loop())
    result = {}
    for name, values in latencies.items():
        ms = sorted(x * 1000 for x in values)
        result[name] = {"p50": ms[len(ms) // 2], "p99": ms[int(len(ms) * 0.99)], "n": len(ms)}
    print(json.dumps(result))


# --- the benchmark -------------------------------------------------------------------------------


def _quantiles(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {
        name: {q: statistics.median(run[q] for run in r) for q in ("p50", "p99")}
        for name, r in runs.items()
    }


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(
    rounds: int,
    rps: dict[str, list[float]],
    cpu_us: dict[str, list[float]],
    user_us: dict[str, list[float]],
    lat: dict[str, list[dict[str, float]]],
    seq: dict[str, list[dict[str, float]]],
) -> None:
    med = {name: statistics.median(v) for name, v in rps.items()}
    cpu = {name: statistics.median(v) for name, v in cpu_us.items()}
    user = {name: statistics.median(v) for name, v in user_us.items()}
    # Paired: each round measures nginx and the sidecar moments apart, so the ratio of each
    # round is less exposed to the machine's load swings than a ratio of medians.
    ratio = statistics.median(s / n for s, n in zip(rps["sidecar"], rps["nginx"], strict=True))
    print()
    print(f"max throughput (wrk -t1 -c50, keep-alive; median of {rounds}):")
    for name, value in med.items():
        extra = f"   {cpu[name]:5.1f} us CPU/request ({user[name]:.1f} user)" if name in cpu else ""
        print(f"  {name:8s} {value:10,.0f} req/s  ({value / med['direct']:.2f}x direct){extra}")
    print(
        f"  sidecar / nginx requests/s = {ratio:.2f}, median of per-round ratios"
        f"   (goal >= 0.60: {_verdict(ratio >= 0.6)})"
    )
    print(f"  nginx / sidecar CPU per request = {cpu['nginx'] / cpu['sidecar']:.2f}")
    print(f"  sidecar / aiohttp-proxy requests/s = {med['sidecar'] / med['aiohttp']:.2f}")
    for title, runs in (
        (
            f"open loop, 1,000 req/s to each target, sends interleaved on one clock, "
            f"ms from the scheduled send (median of {rounds}):",
            lat,
        ),
        ("one connection per target, back to back, targets taking turns, ms:", seq),
    ):
        q = _quantiles(runs)
        print(title)
        for name, v in q.items():
            print(f"  {name:8s} p50 {v['p50']:.3f}   p99 {v['p99']:.3f}")
        for proxy in ("sidecar", "nginx"):
            added50 = q[proxy]["p50"] - q["direct"]["p50"]
            added99 = q[proxy]["p99"] - q["direct"]["p99"]
            goals = (
                f"  (goals <= 0.300 / <= 1.000: {_verdict(added50 <= 0.3)} / "
                f"{_verdict(added99 <= 1.0)})"
                if proxy == "sidecar"
                else "  (reference: the machine's own noise on one more hop)"
            )
            print(f"  {proxy:8s} added p50 {added50:+.3f} ms, p99 {added99:+.3f} ms{goals}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round (smoke run)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds for the medians")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="only the sidecar's own work per request, without sockets (noise-robust)",
    )
    parser.add_argument("--aiohttp-proxy", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--latency", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.aiohttp_proxy:
        run_aiohttp_proxy(*args.aiohttp_proxy)
        return 0
    if args.latency:
        spec, rate, seconds = args.latency
        run_latency(spec, float(rate), float(seconds))
        return 0
    if args.in_process:
        runs = [run_in_process(20) for _ in range(5)]
        print(f"in-process: {statistics.median(runs):.2f} us/request (median of 5 minima)")
        return 0
    if WRK is None or not os.path.exists(NGINX):
        print("bench_sidecar: needs wrk and /usr/sbin/nginx (apt-get install wrk nginx-light)")
        return 2

    rounds, wrk_s, lat_s = (1, 2, 2) if args.quick else (args.rounds, 4, 4)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sidecar-"))
    ports = {name: free_port() for name in ("upstream", "nginx", "sidecar", "aiohttp")}
    procs = {
        "upstream": start_nginx(tmp, "upstream", upstream_block(ports["upstream"])),
        "nginx": start_nginx(tmp, "proxy", nginx_proxy_block(ports["nginx"], ports["upstream"])),
        "sidecar": start_sidecar(ports["sidecar"], ports["upstream"]),
        "aiohttp": start_aiohttp_proxy(ports["aiohttp"], ports["upstream"]),
    }
    try:
        for port in ports.values():
            wait_port(port)
        targets = {"direct": ports["upstream"]} | {
            k: ports[k] for k in ("nginx", "sidecar", "aiohttp")
        }
        for port in targets.values():  # warm up (pools, caches)
            wrk_run(port, 1, 16)
        rps: dict[str, list[float]] = {name: [] for name in targets}
        cpu_us: dict[str, list[float]] = {name: [] for name in ("nginx", "sidecar", "aiohttp")}
        user_us: dict[str, list[float]] = {name: [] for name in cpu_us}
        lat: dict[str, list[dict[str, float]]] = {"direct": [], "sidecar": [], "nginx": []}
        seq: dict[str, list[dict[str, float]]] = {"direct": [], "sidecar": [], "nginx": []}
        for r in range(rounds):
            for name, port in targets.items():
                pid = procs[name].pid if name in cpu_us else None
                before = cpu_seconds(pid) if pid else (0.0, 0.0)
                value, count = wrk_run(port, wrk_s, 50)
                rps[name].append(value)
                if pid:
                    user, system = cpu_seconds(pid)
                    user_us[name].append((user - before[0]) / count * 1e6)
                    cpu_us[name].append((user + system - sum(before)) / count * 1e6)
            paired = {name: targets[name] for name in lat}
            for name, q in latency(paired, 1000, lat_s).items():
                lat[name].append(q)
            for name, q in latency(paired, 0, 1).items():
                seq[name].append(q)
            line = ", ".join(f"{k} {v[-1]:,.0f} req/s" for k, v in rps.items())
            print(f"round {r + 1}/{rounds}: {line}", flush=True)
        report(rounds, rps, cpu_us, user_us, lat, seq)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
