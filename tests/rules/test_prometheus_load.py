"""A real Prometheus loads the generated rules and evaluates every group without error,
while scraping live RED metrics for a canary and a baseline (so ratios, quantiles and the
guards' query templates all run on data, not only on empty results)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sloengine import conventions as c
from sloengine.generate import GenerateOptions, render_alert_files
from sloengine.specs import load_catalog
from tests.support.prometheus import PrometheusServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "slos"
SPECS = Path(__file__).parent / "specs"


class _Metrics:
    """Counters that grow with wall time: 10 req/s per variant, 1% (canary 5%) errors."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def text(self) -> str:
        elapsed = time.monotonic() - self.start
        lines = [
            f"# TYPE {c.HTTP_REQUESTS_TOTAL} counter",
            f"# TYPE {c.HTTP_REQUEST_DURATION_SECONDS} histogram",
        ]
        for service in ("gateway", "docs-api", "ingest", "checkout", "payments"):
            for variant, error_ratio in (("baseline", 0.01), ("canary", 0.05)):
                total = 10 * elapsed
                base = f'service="{service}",variant="{variant}",route="/search",method="GET"'
                lines.append(
                    f'{c.HTTP_REQUESTS_TOTAL}{{{base},status="200"}} {total * (1 - error_ratio):.3f}'
                )
                lines.append(
                    f'{c.HTTP_REQUESTS_TOTAL}{{{base},status="500"}} {total * error_ratio:.3f}'
                )
                for le in c.DEFAULT_LATENCY_BUCKETS_SECONDS:
                    share = min(1.0, le / 2)
                    lines.append(
                        f'{c.HTTP_REQUEST_DURATION_SECONDS}_bucket{{{base},le="{le}"}} {total * share:.3f}'
                    )
                lines.append(
                    f'{c.HTTP_REQUEST_DURATION_SECONDS}_bucket{{{base},le="+Inf"}} {total:.3f}'
                )
                lines.append(f"{c.HTTP_REQUEST_DURATION_SECONDS}_count{{{base}}} {total:.3f}")
                lines.append(f"{c.HTTP_REQUEST_DURATION_SECONDS}_sum{{{base}}} {total * 0.4:.3f}")
        return "\n".join(lines) + "\n"


@pytest.fixture
def metrics_target() -> Iterator[str]:
    metrics = _Metrics()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = metrics.text().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
def test_prometheus_evaluates_every_generated_group_without_errors(
    tmp_path: Path, metrics_target: str
) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    # Period groups at the global 1s interval: at 5m their first evaluation could take 5m.
    options = GenerateOptions(period_interval=None)
    for name, text in render_alert_files(load_catalog([EXAMPLES, SPECS]), options).items():
        (rules_dir / name).write_text(text)
    rule_files = sorted(rules_dir.glob("*.rules.yml"))
    scrape = [{"job_name": "red", "static_configs": [{"targets": [metrics_target]}]}]
    with PrometheusServer(
        tmp_path / "prom",
        rule_files=rule_files,
        scrape_configs=scrape,
        evaluation_interval="1s",
        scrape_interval="1s",
    ) as prom:
        canary_alert = f'ALERTS{{alertname="{c.CANARY_ERROR_RATE_ALERT}",service="gateway"}}'
        current = (
            'slo:sli_error:ratio_rate5m{slo_service="gateway",slo_name="requests-availability"}'
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if prom.query(current)["result"] and prom.query(canary_alert)["result"]:
                break
            time.sleep(0.5)
        groups = prom.wait_rules_evaluated()
        names = {g["name"] for g in groups}
        assert "sloengine-slo-gateway-requests-availability" in names
        assert "sloengine-canary-gateway" in names
        problems = [
            f"{g['name']}/{r.get('name')}: {r.get('health')} {r.get('lastError')}"
            for g in groups
            for r in g["rules"]
            if r.get("health") != "ok" or r.get("lastError")
        ]
        assert problems == []
        ratio = prom.query(current)
        # 1% baseline + 5% canary errors over equal traffic: 3%.
        assert float(ratio["result"][0]["value"][1]) == pytest.approx(0.03, rel=0.05)
        alerts = prom.query(canary_alert)["result"]
        assert alerts and alerts[0]["metric"][c.LABEL_ROLLBACK] == c.ROLLBACK_LABEL_VALUE
