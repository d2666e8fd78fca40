"""The demo services as real processes on port 0: span file, metrics, linkage at 100%."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloengine.cli import main as sloengine_main

REPO = Path(__file__).resolve().parents[2]
KEY_ROUTES = "/search,/docs/{id},/ingest"


class Service:
    def __init__(self, module: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.stderr = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", "0", *args],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.module = module
        self.url = ""

    def wait_ready(self) -> Service:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the first line names the bound address
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            self.stop()
            raise RuntimeError(f"{self.module} did not start: {line!r}\n{self.log.read_text()}")
        self.url = match.group(1)
        return self

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


def _request(url: str, body: dict[str, object] | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tuple[dict[str, Service], Path]]:
    spans = tmp_path / "spans.jsonl"
    env = {"SLOENGINE_SPAN_FILE": str(spans), "SLOENGINE_USER_ID_KEY": "k"}
    started: dict[str, Service] = {}
    try:
        started["docs"] = Service("examples.services.docs_api", [], env, tmp_path / "docs.log")
        started["ingest"] = Service("examples.services.ingest", [], env, tmp_path / "ingest.log")
        started["docs"].wait_ready()
        started["ingest"].wait_ready()
        gw_env = {**env, "DOCS_API_URL": started["docs"].url, "INGEST_URL": started["ingest"].url}
        started["gateway"] = Service(
            "examples.services.gateway", ["--variant", "canary"], gw_env, tmp_path / "gw.log"
        ).wait_ready()
        yield started, spans
    finally:
        for service in reversed(list(started.values())):
            service.stop()


@pytest.mark.integration
def test_demo_run_links_every_request_gateway_service_db(
    services: tuple[dict[str, Service], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    procs, spans = services
    gw = procs["gateway"].url
    assert _request(f"{gw}/admin/faults", {"error_ratio": 0.2}) == 200
    statuses = []
    for i in range(1, 16):
        statuses.append(_request(f"{gw}/docs/{i}"))
        statuses.append(_request(f"{gw}/search?q=rate"))
        statuses.append(_request(f"{gw}/ingest", {"title": f"t{i}", "body": "b"}))
    assert {200, 201, 500} >= set(statuses) and 500 in statuses
    with urllib.request.urlopen(f"{gw}/metrics", timeout=5) as resp:
        metrics = resp.read().decode()
    assert 'http_requests_total{method="GET",route="/docs/{id}",service="gateway",' in metrics
    assert _request(f"{gw}/ready") == 200
    for service in procs.values():
        service.stop()  # SIGTERM: lifespan shutdown flushes the batched spans

    code = sloengine_main(
        ["traces", "linkage", str(spans), "--routes", KEY_ROUTES, "--fail-under", "100"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "covering gateway -> service -> DB: 45/45 (100.0%)" in out
    assert "(100.0%) of spans that have a parent" in out
    gateway_log = procs["gateway"].log.read_text()
    assert '"logger":"instrumentation.access"' in gateway_log
