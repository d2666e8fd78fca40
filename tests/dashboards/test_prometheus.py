"""Every dashboard query, run against a real Prometheus holding the generated rules.

Prometheus (loopback, temp dir) scrapes a synthetic RED target every second and evaluates
the rules `sloengine generate` wrote for examples/slos; each panel's query is interpolated
as Grafana would and run as the panel runs it (instant for stats, range for time series).
"""

from __future__ import annotations

import json
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sloengine.cli import main as sloengine_main
from sloengine.model import Catalog, NativeSLI
from tests.dashboards import grafana
from tests.dashboards.catalogs import EXAMPLES, examples_catalog
from tests.dashboards.synthetic import Endpoint, ScrapeTarget
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.integration

# Panels (and every annotation) may rightly be empty: alerts exist only while active.
MAY_BE_EMPTY = {"Guard alerts"}
READY_TIMEOUT_S = 90


def endpoints(catalog: Catalog) -> list[Endpoint]:
    """For each service: "/" and every route its SLOs select, with GET and any selected method."""
    routes: dict[str, set[str]] = {}
    methods: dict[str, set[str]] = {}
    for slo in catalog.slos:
        routes.setdefault(slo.service, {"/"})
        methods.setdefault(slo.service, {"GET"})
        if isinstance(slo.sli, NativeSLI):
            selector = dict(slo.sli.selector)
            routes[slo.service].update([selector["route"]] if "route" in selector else [])
            methods[slo.service].update([selector["method"]] if "method" in selector else [])
    # Sloth and OpenSLO imports select by route / method inside their queries.
    routes.setdefault("gateway", {"/"}).add("/search")
    methods.setdefault("ingest", {"GET"}).add("POST")
    return [
        Endpoint(service, route, method)
        for service in sorted(routes)
        for route in sorted(routes[service])
        for method in sorted(methods.get(service, {"GET"}))
    ]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    # The period group runs every 5m by default; a test cannot wait for its first round.
    assert (
        sloengine_main(["generate", str(EXAMPLES), "--out", str(out), "--period-interval", "5s"])
        == 0
    )
    return out


@pytest.fixture(scope="module")
def prometheus(
    generated: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    with ScrapeTarget(endpoints(examples_catalog())) as target:
        server = PrometheusServer(
            tmp_path_factory.mktemp("prometheus"),
            rule_files=sorted((generated / "alerts").glob("*.rules.yml")),
            scrape_configs=[
                {"job_name": "synthetic", "static_configs": [{"targets": [target.address]}]}
            ],
            evaluation_interval="1s",
            scrape_interval="1s",
        )
        with server:
            server.wait_rules_evaluated()
            yield server


def dashboards(generated: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name: json.loads(p.read_text()) for p in sorted((generated / "dashboards").glob("*.json"))
    }


def services(board: dict[str, Any], catalog: Catalog) -> list[str]:
    """The `$service` values to try: every catalog service where the variable is a query."""
    (variable,) = [v for v in board["templating"]["list"] if v["name"] == "service"]
    if variable["type"] == "query":
        return sorted({slo.service for slo in catalog.slos})
    return [variable["current"]["value"]]


def run(prom: PrometheusServer, query: grafana.PanelQuery, expr: str, now: float) -> list[Any]:
    """Run `expr` as the panel would; raise AssertionError naming the panel on any error."""
    try:
        if query.instant:
            data = prom.api("query", query=expr, time=now)
        else:
            data = prom.api("query_range", query=expr, start=now - 60, end=now, step=5)
    except (RuntimeError, urllib.error.HTTPError) as exc:
        detail = exc.read().decode() if isinstance(exc, urllib.error.HTTPError) else str(exc)
        raise AssertionError(f"{query.panel_title} [{query.ref_id}]: {expr}: {detail}") from None
    return list(data["result"])


def empty_panels(prom: PrometheusServer, generated: Path) -> list[str]:
    """Run every query of every dashboard; return the non-alert ones with no series."""
    catalog = examples_catalog()
    now = time.time()
    empty = []
    for name, board in dashboards(generated).items():
        values = grafana.variable_defaults(board)
        for service in services(board, catalog):
            values["service"] = service
            for query in (*grafana.queries(board), *grafana.annotation_queries(board)):
                expr = grafana.interpolate(query.expr, values)
                may_be_empty = query.panel_type == "annotation" or query.panel_title in MAY_BE_EMPTY
                if not run(prom, query, expr, now) and not may_be_empty:
                    empty.append(f"{name} ({service}) {query.panel_title} [{query.ref_id}]: {expr}")
    return empty


@pytest.fixture(scope="module")
def settled(prometheus: PrometheusServer, generated: Path) -> list[str]:
    """Poll until every panel has data (rates need two scrapes, long-window rules a few
    evaluations); return the panels still empty at the deadline. Any query error fails."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        empty = empty_panels(prometheus, generated)
        if not empty or time.monotonic() > deadline:
            return empty
        time.sleep(1)


def test_every_dashboard_query_runs_without_error_and_finds_data(settled: list[str]) -> None:
    assert not settled, "queries without data:\n" + "\n".join(settled)


def test_generated_rules_evaluate_without_errors(prometheus: PrometheusServer) -> None:
    for group in prometheus.rule_groups():
        for rule in group["rules"]:
            assert rule.get("health") != "err", (
                group["name"],
                rule.get("name"),
                rule.get("lastError"),
            )


def test_the_harness_reports_bad_promql_and_misnamed_rules(prometheus: PrometheusServer) -> None:
    # Guards against a vacuous pass: a typo in a rule name must show up as "no data", and
    # invalid PromQL as an error naming the panel.
    now = time.time()
    misnamed = grafana.PanelQuery("Typo", "stat", "A", "", instant=True)
    assert (
        run(prometheus, misnamed, 'slo:sli_error:ratio_rate5min{slo_service="gateway"}', now) == []
    )
    broken = grafana.PanelQuery("Broken", "timeseries", "A", "", instant=False)
    with pytest.raises(AssertionError, match=r"Broken \[A\]"):
        run(prometheus, broken, "sum(rate(http_requests_total[$__rate_interval]))", now)


def _instant_values(
    prom: PrometheusServer, board: dict[str, Any], title: str, service: str
) -> list[float]:
    values = {**grafana.variable_defaults(board), "service": service}
    out = []
    for query in grafana.queries(board):
        if query.panel_title == title:
            expr = grafana.interpolate(query.expr, values)
            (sample,) = prom.query(expr)["result"]
            out.append(float(sample["value"][1]))
    return out


def test_panels_show_the_known_synthetic_values(
    prometheus: PrometheusServer, generated: Path, settled: list[str]
) -> None:
    # The synthetic canary fails 10% and has p95 2.5s; the baseline fails 0% (no 5xx series
    # at all) with p95 0.175s. Gateway availability errors are 5% of all its requests.
    boards = dashboards(generated)
    canary = boards["canary.json"]
    assert _instant_values(prometheus, canary, "Error ratio (guard 2%)", "gateway") == (
        pytest.approx([0.1, 0.0])
    )
    assert _instant_values(prometheus, canary, "p95 latency (guard 1.5s)", "gateway") == (
        pytest.approx([2.5, 0.175])
    )
    slo = boards["slo-gateway.json"]
    burn = _instant_values(prometheus, slo, "Burn rate 5m & 1h (page above 14.4x)", "gateway")
    assert burn[:2] == pytest.approx([0.05 / 0.001] * 2)
