"""Overhead of `instrumentation.instrument()` on a minimal FastAPI app under uvicorn.

Variants, each its own uvicorn process (uvloop + httptools, one worker, no access log):
  bare         the app alone
  instrument   instrumentation.instrument(app): server span, RED metrics, in-flight gauge
  otel+prom    opentelemetry-instrumentation-fastapi + prometheus-client by hand
               (a BaseHTTPMiddleware doing .labels() per request, /metrics mounted): the
               setup most users copy from the docs
  fastapi-otel FastAPI's own native telemetry (FastAPI(telemetry=...)), when available

Every variant that traces gets the same TracerProvider: a BatchSpanProcessor in front of an
exporter that drops spans, so span creation and processing are paid, network export is not.
Logging is not configured (INFO access lines are filtered out before formatting).

Load: `wrk` (keep-alive, 1 thread, 16 connections) when installed, else a Python keep-alive
client in another process. Variants are measured in interleaved rounds (so drift in the
machine's load hits all of them alike); the report gives medians, ratios to bare, and the
per-request overhead in microseconds.

    .venv/bin/python bench/bench_instrumentation.py [--quick] [--rounds N] [--duration S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PATH = "/items/42"
VARIANTS = ("bare", "instrument", "otel+prom", "fastapi-otel")


# --- the servers ----------------------------------------------------------------------------


def _tracer_provider() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class DropExporter(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter()))
    return provider


def _add_routes(app: Any) -> None:
    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        return {"item_id": item_id, "name": "widget"}


def build_app(variant: str) -> Any:
    """The benchmarked app for one variant."""
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    if variant == "fastapi-otel":
        app = FastAPI(telemetry={"tracer_provider": _tracer_provider()})
        _add_routes(app)
        return app
    app = FastAPI()
    _add_routes(app)
    if variant == "instrument":
        from instrumentation import instrument

        instrument(app, service="bench", registry=CollectorRegistry(),
                   tracer_provider=_tracer_provider())  # fmt: skip
    elif variant == "otel+prom":
        _by_hand(app)
    elif variant != "bare":
        raise SystemExit(f"--serve: unknown variant {variant!r}")
    return app


def _by_hand(app: Any) -> None:
    """OTel's FastAPI instrumentor plus prometheus-client, wired the way tutorials show."""
    import time as _time

    from fastapi import Request
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app

    registry = CollectorRegistry()
    labels = ["service", "variant", "route", "method", "status"]
    requests = Counter("http_requests_total", "Requests.", labels, registry=registry)
    latency = Histogram("http_request_duration_seconds", "Latency.", labels, registry=registry)

    @app.middleware("http")
    async def red_metrics(request: Request, call_next: Any) -> Any:
        start = _time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = route.path_format if route is not None else "__unmatched__"
        values = ("bench", "stable", template, request.method, str(response.status_code))
        requests.labels(*values).inc()
        latency.labels(*values).observe(_time.perf_counter() - start)
        return response

    app.mount("/metrics", make_asgi_app(registry=registry))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=_tracer_provider())


def serve(variant: str) -> None:
    """Child process: bind port 0, print it, serve the variant until SIGTERM."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    app = build_app(variant)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, loop="uvloop", http="httptools", access_log=False,
                            log_level="warning", lifespan="off")  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


def asgi_cpu_us(variant: str, requests: int, repeats: int) -> float:
    """Child process: CPU microseconds per request calling the ASGI app directly (no
    sockets, no HTTP parsing), best of `repeats`: the most stable view of the overhead."""
    app = build_app(variant)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def run(n: int) -> None:
        for _ in range(n):
            await app(dict(scope), receive, send)

    asyncio.run(run(min(requests, 2000)))  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        asyncio.run(run(requests))
        best = min(best, (time.process_time() - started) / requests * 1e6)
    return best


# --- the load generators --------------------------------------------------------------------


def wrk_rps(port: int, duration_s: float, connections: int) -> tuple[float, int]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
         f"http://127.0.0.1:{port}{PATH}"],
        capture_output=True, text=True, check=True, timeout=duration_s + 30,
    ).stdout  # fmt: skip
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if match is None or total is None or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk run failed:\n{out}")
    return float(match.group(1)), int(total.group(1))


async def _python_load(port: int, duration_s: float, connections: int) -> int:
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    deadline = time.perf_counter() + duration_s
    done = 0

    async def one_connection() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            done += 1
        writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return done


def python_rps(port: int, duration_s: float, connections: int) -> tuple[float, int]:
    """Fallback load generator: a keep-alive asyncio client in a child process."""
    here = str(Path(__file__).parent)
    code = (
        f"import asyncio,sys;sys.path.insert(0,{here!r});import bench_instrumentation as b;"
        f"print(asyncio.run(b._python_load({port},{duration_s},{connections})))"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    total = int(out.stdout.strip())
    return total / max(duration_s, time.perf_counter() - started - 0.3), total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the run --------------------------------------------------------------------------------


def _start(variant: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", variant],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.isdigit():
        proc.kill()
        raise RuntimeError(f"{variant} server did not start")
    return proc, int(line)


def _asgi_cpu(variant: str, requests: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--asgi-cpu", variant, "--asgi-requests", str(requests)],
        cwd=REPO, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def _available(variant: str) -> bool:
    if variant == "fastapi-otel":
        import fastapi

        return (
            hasattr(fastapi, "telemetry") or Path(fastapi.__file__).with_name("telemetry").exists()
        )
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--asgi-cpu", help=argparse.SUPPRESS)
    parser.add_argument("--asgi-requests", type=int, default=5000, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    if args.asgi_cpu:
        print(f"{asgi_cpu_us(args.asgi_cpu, args.asgi_requests, 3):.3f}")
        return 0
    rounds, duration = (2, 1.0) if args.quick else (args.rounds, args.duration)
    measure = wrk_rps if shutil.which("wrk") else python_rps
    variants = [v for v in VARIANTS if _available(v)]
    print(f"load: {'wrk' if measure is wrk_rps else 'python keep-alive client'}, "
          f"{args.connections} connections, {duration:g}s x {rounds} rounds per variant")  # fmt: skip
    servers = {v: _start(v) for v in variants}
    rps: dict[str, list[float]] = {v: [] for v in variants}
    cpu_us: dict[str, list[float]] = {v: [] for v in variants}
    try:
        for _, port in servers.values():  # warm-up: imports, caches, first-request paths
            measure(port, 1.0, args.connections)
        for r in range(rounds):
            order = variants[r % len(variants) :] + variants[: r % len(variants)]
            for variant in order:
                proc, port = servers[variant]
                cpu_before = cpu_seconds(proc.pid)
                per_s, total = measure(port, duration, args.connections)
                rps[variant].append(per_s)
                cpu_us[variant].append((cpu_seconds(proc.pid) - cpu_before) / total * 1e6)
            print(f"  round {r + 1}: " + "  ".join(f"{v}={rps[v][-1]:,.0f}/s" for v in variants),
                  flush=True)  # fmt: skip
    finally:
        for proc, _ in servers.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _ in servers.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    rate = {v: statistics.median(xs) for v, xs in rps.items()}
    cpu = {v: statistics.median(xs) for v, xs in cpu_us.items()}
    print(
        f"\n{'variant':<14}{'req/s':>9}{'vs bare':>9}{'server CPU/req':>16}{'vs bare':>9}"
        f"{'CPU overhead':>14}"
    )
    for v in variants:
        print(
            f"{v:<14}{rate[v]:>9,.0f}{rate[v] / rate['bare']:>9.1%}{cpu[v]:>13.1f} us"
            f"{cpu['bare'] / cpu[v]:>9.1%}{cpu[v] - cpu['bare']:>11.1f} us"
        )
    print(
        "\n(req/s is wall-clock throughput on a shared machine; server CPU/req is the server"
        "\n process's own CPU time per request, far less sensitive to neighbours' load.)"
    )
    # Interleaved child processes, each best of 3, then the best per variant: a burst of
    # load from neighbours hits one sample of every variant rather than all of one.
    samples: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(rounds):
        for v in variants:
            samples[v].append(_asgi_cpu(v, 1000 if args.quick else 3000))
    asgi = {v: min(xs) for v, xs in samples.items()}
    print(f"\nin-process ASGI (no sockets), CPU per request, best of {3 * rounds} runs:")
    for v in variants:
        print(f"  {v:<14}{asgi[v]:>8.1f} us   {asgi['bare'] / asgi[v]:>6.1%} of bare"
              f"   overhead {asgi[v] - asgi['bare']:>6.1f} us")  # fmt: skip
    print(f"\ninstrument vs bare:      throughput {rate['instrument'] / rate['bare']:.1%}, "
          f"server CPU {cpu['bare'] / cpu['instrument']:.1%}, "
          f"in-process CPU {asgi['bare'] / asgi['instrument']:.1%}  (goal >= 80%)")  # fmt: skip
    print(f"instrument vs otel+prom: throughput {rate['instrument'] / rate['otel+prom']:.2f}x, "
          f"server CPU {cpu['otel+prom'] / cpu['instrument']:.2f}x, "
          f"in-process CPU {asgi['otel+prom'] / asgi['instrument']:.2f}x cheaper  (goal > 1)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
