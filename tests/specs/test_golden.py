"""The model each format loads into, field by field (golden values for a few specs)."""

from __future__ import annotations

from pathlib import Path

import promql_parser
import pytest

from sloengine import conventions
from sloengine.errors import SpecErrors
from sloengine.model import (
    SLO,
    Alerting,
    EventsSLI,
    NativeSLI,
    RawSLI,
    SeverityAlert,
    SourceRef,
)
from sloengine.specs import WINDOW, load_catalog, render

REPO = Path(__file__).parents[2]
DAY = 86400


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_native_demo_services_expand_with_service_in_every_selector() -> None:
    catalog = load_catalog([REPO / "examples/slos/demo-services.yaml"])

    slo = catalog.find("gateway", "search-latency")
    assert slo == SLO(
        service="gateway",
        name="search-latency",
        objective_ratio=0.99,
        sli=NativeSLI("latency", (("route", "/search"), ("service", "gateway")), 0.5),
        period_seconds=30 * DAY,
        description="Searches answer within 500 ms.",
        labels=(("team", "search"), ("tier", "1")),
        policy="sre-workbook-30d",  # chosen by the loader for the 30d period
    )
    assert slo.source == SourceRef(
        str(REPO / "examples/slos/demo-services.yaml"), "documents[0].slos[1]"
    )
    availability = catalog.find("ingest", "requests-availability")
    assert availability is not None
    assert availability.objective_ratio == 0.999  # exactly, not 0.9990000000000001
    assert availability.sli == NativeSLI("availability", (("service", "ingest"),))
    assert [s.id for s in catalog.slos] == [
        "gateway-requests-availability",
        "gateway-search-latency",
        "docs-api-requests-availability",
        "docs-api-read-latency",
        "ingest-requests-availability",
    ]


def test_sloth_spec_keeps_its_alert_name_labels_and_annotations() -> None:
    (slo,) = load_catalog([REPO / "examples/slos/sloth-gateway.yml"]).slos

    assert slo == SLO(
        service="gateway",
        name="search-availability",
        objective_ratio=0.995,
        sli=EventsSLI(
            total_query=f'sum(rate(http_requests_total{{service="gateway",route="/search"}}[{WINDOW}]))',
            error_query=(
                'sum(rate(http_requests_total{service="gateway",route="/search",status=~"5.."}'
                f"[{WINDOW}]))"
            ),
        ),
        period_seconds=30 * DAY,
        description="Searches answer without a server error.",
        labels=(("category", "availability"), ("team", "search")),
        alerting=Alerting(
            name="GatewaySearchErrorBudgetBurn",
            labels=(("category", "availability"),),
            annotations=(("summary", "Gateway searches are burning their error budget"),),
            page=SeverityAlert(labels=(("routing_key", "search-oncall"),)),
            ticket=SeverityAlert(labels=(("slack_channel", "#search"),)),
        ),
        policy="sre-workbook-30d",
    )


def test_sloth_disabled_alerts_and_default_alert_name(tmp_path: Path) -> None:
    spec = _write(
        tmp_path,
        "s.yml",
        """version: prometheus/v1
service: svc
slos:
  - name: a
    objective: 99
    sli: {raw: {error_ratio_query: "1 - avg_over_time(up[{{ .window }}])"}}
    alerting: {page_alert: {disable: true}, ticket_alert: {disable: true}}
""",
    )
    (slo,) = load_catalog([spec]).slos

    assert slo.sli == RawSLI(f"1 - avg_over_time(up[{WINDOW}])")  # Go spacing normalised
    assert slo.alerting == Alerting(
        name=conventions.SLO_BURN_ALERT,
        page=SeverityAlert(disable=True),
        ticket=SeverityAlert(disable=True),
    )


def test_openslo_counter_selectors_are_wrapped_and_latency_over_conventions_is_native() -> None:
    catalog = load_catalog([REPO / "examples/slos/openslo-ingest.yaml"])

    availability = catalog.find("ingest", "writes-availability")
    assert availability is not None
    assert availability.sli == EventsSLI(
        total_query=f'sum(rate(http_requests_total{{service="ingest",method="POST"}}[{WINDOW}]))',
        error_query=(
            'sum(rate(http_requests_total{service="ingest",method="POST",status=~"5.."}'
            f"[{WINDOW}]))"
        ),
    )
    assert availability.objective_ratio == 0.995
    assert availability.labels == (("team", "ingest"),)
    latency = catalog.find("ingest", "writes-latency")
    assert latency is not None
    assert latency.sli == NativeSLI("latency", (("method", "POST"), ("service", "ingest")), 0.25)
    assert latency.period_seconds == 30 * DAY


OPENSLO_HISTOGRAM = """apiVersion: openslo/v1
kind: SLI
metadata: {name: search-speed}
spec:
  thresholdMetric:
    metricSource:
      type: Prometheus
      spec: {query: 'search_duration_milliseconds_bucket{shop="eu",tier!="free"}'}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: search}
spec:
  service: web-shop
  indicatorRef: search-speed
  timeWindow: [{duration: 2w, isRolling: true}]
  budgetingMethod: Timeslices
  objectives:
    - {op: lt, value: 500, target: 0.99, timeSliceTarget: 0.95, timeSliceWindow: 1m}
    - {op: lte, value: 0.25, targetPercent: 99.9, timeSliceTarget: 1, timeSliceWindow: 5m}
"""


def test_openslo_threshold_over_any_histogram_counts_observations_at_or_below_value(
    tmp_path: Path,
) -> None:
    catalog = load_catalog([_write(tmp_path, "o.yaml", OPENSLO_HISTOGRAM)])

    first, second = catalog.slos
    assert (first.name, second.name) == ("search-0", "search-1")
    assert first.sli == EventsSLI(
        total_query=f'sum(rate(search_duration_milliseconds_count{{shop="eu",tier!="free"}}[{WINDOW}]))',
        good_query=(
            'sum(rate(search_duration_milliseconds_bucket{shop="eu",tier!="free",'
            f'le=~"500|500\\\\.0"}}[{WINDOW}]))'
        ),
    )
    assert isinstance(second.sli, EventsSLI)
    assert second.sli.good_query is not None and 'le="0.25"' in second.sli.good_query
    assert (first.period_seconds, first.budgeting_method) == (14 * DAY, "Timeslices")
    assert (first.timeslice_target_ratio, first.timeslice_window_seconds) == (0.95, 60)
    assert (second.objective_ratio, second.timeslice_target_ratio) == (0.999, 1)
    assert second.source == SourceRef(str(tmp_path / "o.yaml"), "documents[1].spec.objectives[1]")
    for slo in catalog.slos:
        assert isinstance(slo.sli, EventsSLI)
        for query in (slo.sli.total_query, slo.sli.good_query):
            assert query is not None
            promql_parser.parse(render(query, "5m"))


def test_openslo_raw_success_ratio_becomes_an_error_ratio(tmp_path: Path) -> None:
    spec = _write(
        tmp_path,
        "o.yaml",
        """apiVersion: openslo/v1
kind: SLO
metadata: {name: wifi}
spec:
  service: home
  indicator:
    spec:
      ratioMetric:
        rawType: success
        raw: {metricSource: {type: Prometheus, spec: {query: 'avg_over_time(ok_ratio[{{.window}}])'}}}
  timeWindow: [{duration: 7d}]
  budgetingMethod: RatioTimeslices
  objectives: [{target: 0.95, timeSliceWindow: 1m}]
""",
    )
    (slo,) = load_catalog([spec]).slos

    assert slo.sli == RawSLI(f"1 - (avg_over_time(ok_ratio[{WINDOW}]))")
    assert (slo.budgeting_method, slo.timeslice_target_ratio) == ("RatioTimeslices", None)
    assert (slo.period_seconds, slo.timeslice_window_seconds) == (7 * DAY, 60)


POLICIES = """apiVersion: sloengine/v1
kind: BurnRatePolicy
metadata: {name: weekly-fast}
spec:
  period: 7d
  windows:
    - {severity: page, shortWindow: 5m, longWindow: 1h, factor: 10}
---
apiVersion: sloengine/v1
kind: ServiceSLOs
service: checkout
policy: weekly-fast
slos:
  - {name: pay, objective: 99.95, availability: {errorStatus: "5..|429"}}
---
apiVersion: sloengine/v1
kind: ServiceSLOs
service: cart
policy: fast-slow
slos:
  - {name: add, objective: 99, latency: {threshold: 1}, selector: {route: /cart, method: POST}}
"""


def test_native_period_defaults_to_the_named_policys_period(tmp_path: Path) -> None:
    catalog = load_catalog([_write(tmp_path, "p.yaml", POLICIES)])

    assert [p.name for p in catalog.policies] == ["weekly-fast"]
    pay = catalog.find("checkout", "pay")
    add = catalog.find("cart", "add")
    assert pay is not None and add is not None
    assert (pay.policy, pay.period_seconds, pay.objective_ratio) == ("weekly-fast", 7 * DAY, 0.9995)
    assert pay.sli == NativeSLI("availability", (("service", "checkout"),), None, "5..|429")
    assert (add.policy, add.period_seconds) == ("fast-slow", 30 * DAY)
    assert add.sli == NativeSLI(
        "latency", (("method", "POST"), ("route", "/cart"), ("service", "cart")), 1.0
    )


def test_errors_from_every_file_are_collected_in_one_run(tmp_path: Path) -> None:
    good = _write(tmp_path, "a-good.yaml", POLICIES)
    bad_sloth = _write(
        tmp_path,
        "b.yml",
        "version: prometheus/v1\nservice: svc\nslos:\n"
        "  - {name: x, objective: 101, sli: {raw: {error_ratio_query: 'up'}}}\n"
        "  - {name: y, objective: 99, sli: {events: {error_query: 'e[{{.window}}]', total_query: ''}}}\n",
    )
    bad_native = _write(
        tmp_path,
        "c.yaml",
        "apiVersion: sloengine/v1\nkind: ServiceSLOs\nservice: checkout\npolicy: nope\n"
        "slos: [{name: pay, objective: 99, latency: {threshold: 0.2}}]\n",
    )

    with pytest.raises(SpecErrors) as caught:
        load_catalog([tmp_path])

    assert [e.line() for e in caught.value.errors] == [
        f"{bad_sloth}: slos[0].objective: must be a percentage in (0, 100), got 101",
        f"{bad_sloth}: slos[0].sli.raw.error_ratio_query: must use the {WINDOW} template variable for the window",
        f"{bad_sloth}: slos[1].sli.events.error_query: must return an instant vector, not a range vector",
        f"{bad_sloth}: slos[1].sli.events.total_query: expected a non-empty PromQL query string",
        f"{bad_native}: slos[0].latency.threshold: 0.2s is not a bucket bound of "
        "http_request_duration_seconds (seconds: 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, "
        "2.5, 5, 10)",
        # Catalog-wide checks run once every file is read; the policy in a.yaml counts.
        f"{bad_native}: policy: unknown policy 'nope' (known: fast-slow, sre-workbook-28d, "
        "sre-workbook-30d, sre-workbook-7d, weekly-fast)",
    ]
    assert good.exists()


def test_same_id_from_different_service_and_name_is_refused(tmp_path: Path) -> None:
    spec = _write(
        tmp_path,
        "n.yaml",
        "apiVersion: sloengine/v1\nkind: ServiceSLOs\nservice: a-b\n"
        "slos: [{name: c, objective: 99, availability: {}}]\n---\n"
        "apiVersion: sloengine/v1\nkind: ServiceSLOs\nservice: a\n"
        "slos: [{name: b-c, objective: 99, availability: {}}]\n",
    )
    with pytest.raises(SpecErrors) as caught:
        load_catalog([spec])

    assert [e.line() for e in caught.value.errors] == [
        f"{spec}: documents[1].slos[0]: duplicate SLO id 'a-b-c' (service-name; first defined "
        f"in {spec} documents[0].slos[0])"
    ]


def test_openslo_raw_gauge_selector_is_averaged_over_the_window(tmp_path: Path) -> None:
    spec = _write(
        tmp_path,
        "o.yaml",
        """apiVersion: openslo/v1
kind: SLO
metadata: {name: ratio}
spec:
  service: svc
  indicator:
    spec:
      ratioMetric:
        rawType: failure
        raw: {metricSource: {type: Prometheus, spec: {query: 'job:error_ratio{job="api"}'}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{targetPercent: 99.5}]
""",
    )
    (slo,) = load_catalog([spec]).slos

    assert slo.sli == RawSLI(f'avg_over_time(job:error_ratio{{job="api"}}[{WINDOW}])')
    assert (slo.objective_ratio, slo.period_seconds) == (0.995, 28 * DAY)
