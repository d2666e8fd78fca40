"""The locust run's exit code: 0 for a healthy service, non-zero (naming the breach) for a slow one.

A real locust process drives a small aiohttp stand-in of the gateway on loopback for a few
seconds; the stand-in's latency is the only difference between the two runs.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.http_app import serve_in_thread

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def gateway_stand_in(delay_s: float) -> Iterator[str]:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(delay_s)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/search", handler)
    app.router.add_get("/docs/{id}", handler)
    app.router.add_post("/ingest", handler)
    with serve_in_thread(app) as url:
        yield url


def run_locust(host: str, tmp_path: Path, p95_limit_s: float) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LOADTEST_WARMUP_S": "2",
        "LOADTEST_INTERVAL_S": "2",
        "LOADTEST_LAST_INTERVALS": "3",
        "LOADTEST_P95_LIMIT_S": str(p95_limit_s),
    }
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(REPO / "loadtests" / "locustfile.py"),
        "--headless",
        "-H",
        host,
        "-u",
        "8",
        "-r",
        "8",
        "-t",
        "11s",
        "--csv",
        str(tmp_path / "load"),
        "--html",
        str(tmp_path / "load.html"),
        "--only-summary",
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90, cwd=REPO)


@pytest.mark.integration
def test_healthy_run_exits_zero_and_writes_reports(tmp_path: Path) -> None:
    with gateway_stand_in(delay_s=0.005) as host:
        result = run_locust(host, tmp_path, p95_limit_s=1.5)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "loadtest: all thresholds met" in out
    assert (tmp_path / "load_stats.csv").exists() and (tmp_path / "load.html").exists()


@pytest.mark.integration
def test_slow_run_exits_nonzero_naming_the_endpoint(tmp_path: Path) -> None:
    with gateway_stand_in(delay_s=0.12) as host:
        result = run_locust(host, tmp_path, p95_limit_s=0.1)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "thresholds breached by: GET /docs/{id}, GET /search, POST /ingest" in out
    assert "BREACH: p95" in out
