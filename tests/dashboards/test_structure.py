"""Structure of the generated dashboards: queries, variables, thresholds, uids, bytes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import promql_parser
import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard as SdkDashboard

from sloengine import conventions as c
from sloengine.errors import SpecError
from sloengine.generate.dashboards import CanaryGuards, dashboard_uid, render_dashboards
from sloengine.generate.dashboards_panels import Step
from sloengine.generate.dashboards_slo import burn_thresholds, window_pairs
from sloengine.model import SLO, BurnWindow, Catalog, NativeSLI, SourceRef
from sloengine.specs.policy import builtin_policy
from tests.dashboards import grafana
from tests.dashboards.catalogs import builtin_policies, examples_catalog, handmade_catalog

NOTE = "Do not edit; regenerate with `make generate`."


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    """Both test catalogs' dashboards, keyed "<catalog>/<file>"."""
    out = {}
    for case, catalog in (("examples", examples_catalog()), ("handmade", handmade_catalog())):
        for name, text in render_dashboards(catalog, builtin_policies()).items():
            out[f"{case}/{name}"] = json.loads(text)
    return out


def _steps(panel: Mapping[str, Any]) -> list[float]:
    steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
    return [s["value"] for s in steps if s["value"] is not None]


def _panel(board: Mapping[str, Any], title: str, slo: str | None = None) -> Mapping[str, Any]:
    """The panel titled `title`, within the row of SLO `slo` if given."""
    (found,) = [p for p in _in_row(board, slo) if p["title"] == title]
    return found


def _in_row(board: Mapping[str, Any], slo: str | None) -> list[Mapping[str, Any]]:
    if slo is None:
        return list(grafana.panels(board))
    out, inside = [], False
    for panel in board["panels"]:
        if panel["type"] == "row":
            inside = panel["title"].startswith(f"{slo}: ")
        elif inside:
            out.append(panel)
    return out


def test_every_panel_queries_prometheus_through_the_datasource_variable(
    boards: dict[str, dict[str, Any]],
) -> None:
    for key, board in boards.items():
        for panel in grafana.panels(board):
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, key
            targets = panel["targets"]
            assert targets and all(t["expr"].strip() for t in targets), (key, panel["title"])
            assert [t["refId"] for t in targets] == [chr(65 + i) for i in range(len(targets))]


def test_every_dashboard_has_datasource_and_service_variables(
    boards: dict[str, dict[str, Any]],
) -> None:
    for key, board in boards.items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", key
        assert variables["datasource"]["query"] == "prometheus", key
        assert variables["service"]["current"]["value"], key
    red = {v["name"]: v for v in boards["examples/red.json"]["templating"]["list"]}
    assert red["service"]["query"] == f"label_values({c.HTTP_REQUESTS_TOTAL}, {c.LABEL_SERVICE})"
    assert red["service"]["current"]["value"] == "docs-api"  # first service, sorted
    slo = {v["name"]: v for v in boards["examples/slo-gateway.json"]["templating"]["list"]}
    assert slo["service"]["current"]["value"] == "gateway"


def test_every_query_is_valid_promql_once_grafana_interpolates_it(
    boards: dict[str, dict[str, Any]],
) -> None:
    for key, board in boards.items():
        values = grafana.variable_defaults(board)
        for query in (*grafana.queries(board), *grafana.annotation_queries(board)):
            expr = grafana.interpolate(query.expr, values)
            assert "$" not in expr, (key, expr)
            promql_parser.parse(expr)  # raises on a syntax error


def test_burn_rate_panels_draw_exactly_the_policy_factors(
    boards: dict[str, dict[str, Any]],
) -> None:
    workbook = builtin_policy("sre-workbook-30d")
    board = boards["examples/slo-gateway.json"]
    burn = [p for p in _in_row(board, "requests-availability") if "&" in p["title"]]
    # One panel per (short, long) window pair of the policy, each with its own factor.
    assert len(burn) == len(window_pairs(workbook)) == 4
    assert [_steps(p) for p in burn] == [[w.factor] for w in workbook.windows]
    assert sorted({v for p in burn for v in _steps(p)}) == [1.0, 3.0, 6.0, 14.4]
    page_fast = burn[0]
    assert page_fast["title"] == "Burn rate 5m & 1h (page above 14.4x)"
    assert page_fast["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"
    assert [t["legendFormat"] for t in page_fast["targets"]] == ["5m", "1h"]


def test_alerts_sharing_windows_share_a_panel_with_both_factors(
    boards: dict[str, dict[str, Any]],
) -> None:
    board = boards["handmade/slo-checkout.json"]
    shared = _panel(board, "Burn rate 5m & 1h (page above 10x, ticket above 2x)")
    assert _steps(shared) == [2.0, 10.0]
    colors = [s["color"] for s in shared["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert colors == ["green", "orange", "red"]


def test_burn_rate_queries_divide_the_recorded_ratio_by_the_error_budget(
    boards: dict[str, dict[str, Any]],
) -> None:
    board = boards["examples/slo-docs-api.json"]
    burn = _panel(board, "Burn rate 6h & 3d (ticket above 1x)", slo="read-latency")
    exprs = [t["expr"] for t in burn["targets"]]
    assert exprs[1] == (
        'slo:sli_error:ratio_rate3d{slo_service="$service", slo_name="read-latency"} / 0.01'
    )


def test_alerts_are_annotated_on_slo_and_canary_dashboards(
    boards: dict[str, dict[str, Any]],
) -> None:
    slo = boards["examples/slo-gateway.json"]["annotations"]["list"]
    assert [a["expr"] for a in slo] == ['ALERTS{slo_service="$service", alertstate="firing"}']
    canary = boards["examples/canary.json"]["annotations"]["list"]
    assert [a["expr"] for a in canary] == [
        'ALERTS{rollback="true", service=~"$service", alertstate="firing"}'
    ]


def test_slo_panels_read_only_recording_rules(boards: dict[str, dict[str, Any]]) -> None:
    for key, board in boards.items():
        if "/slo-" not in key:
            continue
        for query in grafana.queries(board):
            assert "http_request" not in query.expr, (key, query.expr)
            assert "slo:" in query.expr, (key, query.expr)


def test_canary_panels_draw_the_guard_thresholds(boards: dict[str, dict[str, Any]]) -> None:
    board = boards["examples/canary.json"]
    errors = _panel(board, "Error ratio (guard 2%)")
    p95 = _panel(board, "p95 latency (guard 1.5s)")
    assert _steps(errors) == [c.DEFAULT_CANARY_MAX_ERROR_RATIO]
    assert _steps(p95) == [c.DEFAULT_CANARY_MAX_P95_SECONDS]
    assert [t["legendFormat"] for t in errors["targets"]] == ["canary", "baseline"]
    assert 'variant="canary"' in errors["targets"][0]["expr"]
    assert 'variant="baseline"' in errors["targets"][1]["expr"]
    # Side by side on one line of the grid.
    assert errors["gridPos"]["y"] == p95["gridPos"]["y"]
    assert errors["gridPos"]["x"] + errors["gridPos"]["w"] == p95["gridPos"]["x"]


def test_guard_thresholds_are_configurable() -> None:
    text = render_dashboards(
        examples_catalog(),
        builtin_policies(),
        guards=CanaryGuards(max_error_ratio=0.05, max_p95_seconds=2.5),
    )["canary.json"]
    board = json.loads(text)
    assert _steps(_panel(board, "Error ratio (guard 5%)")) == [0.05]
    assert _steps(_panel(board, "p95 latency (guard 2.5s)")) == [2.5]


def test_red_panels_use_convention_names_and_service_variable(
    boards: dict[str, dict[str, Any]],
) -> None:
    board = boards["examples/red.json"]
    titles = [p["title"] for p in grafana.panels(board)]
    assert titles == [
        "Request rate by route",
        "Error ratio by route",
        "Requests by status",
        "p50 latency by route",
        "p95 latency by route",
        "p99 latency by route",
        "Requests in flight by variant",
    ]
    for query in grafana.queries(board):
        assert 'service=~"$service"' in query.expr
    exprs = {q.panel_title: q.expr for q in grafana.queries(board)}
    assert exprs["p99 latency by route"] == (
        "histogram_quantile(0.99, sum by (route, le) (rate("
        f'{c.HTTP_REQUEST_DURATION_SECONDS}_bucket{{service=~"$service"}}[$__rate_interval])))'
    )
    assert c.HTTP_REQUESTS_IN_FLIGHT in exprs["Requests in flight by variant"]


def test_uids_are_derived_from_names_only() -> None:
    rendered = render_dashboards(examples_catalog(), builtin_policies())
    uids = {name: json.loads(text)["uid"] for name, text in rendered.items()}
    assert uids["red.json"] == dashboard_uid("red") == "sloe-78988010b890ce6f"
    assert uids["slo-gateway.json"] == dashboard_uid("slo/gateway")
    assert len(set(uids.values())) == len(uids)
    assert all(len(uid) <= 40 for uid in uids.values())
    # Another service in the catalog changes no existing uid.
    catalog = examples_catalog()
    extra = SLO("zebra", "up", 0.99, NativeSLI("availability", (("service", "zebra"),)))
    bigger = Catalog((*catalog.slos, extra), catalog.policies)
    again = render_dashboards(bigger, builtin_policies())
    assert {n: json.loads(again[n])["uid"] for n in uids} == uids


def test_output_is_deterministic_sorted_json_without_timestamps() -> None:
    first = render_dashboards(examples_catalog(), builtin_policies())
    second = render_dashboards(examples_catalog(), builtin_policies())
    assert first == second
    for text in first.values():
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
        board = json.loads(text)
        assert not {"id", "version", "created", "updated"} & set(board)


def test_description_says_generated_from_which_spec_and_not_to_edit(
    boards: dict[str, dict[str, Any]],
) -> None:
    for key, board in boards.items():
        assert board["description"].endswith(NOTE), key
        assert board["editable"] is False, key
    assert "from demo-services.yaml." in boards["examples/slo-docs-api.json"]["description"]
    red = boards["examples/red.json"]["description"]
    assert "from demo-services.yaml, openslo-ingest.yaml, sloth-gateway.yml." in red


def test_absolute_spec_paths_do_not_leak_into_the_output() -> None:
    slo = SLO(
        "svc",
        "up",
        0.99,
        NativeSLI("availability", (("service", "svc"),)),
        source=SourceRef("/home/someone/specs/svc.yaml"),
    )
    text = render_dashboards(Catalog((slo,)), builtin_policies())["slo-svc.json"]
    assert "/home/someone" not in text
    assert "from svc.yaml." in json.loads(text)["description"]


def test_panel_ids_are_unique_and_panels_fit_the_grid(boards: dict[str, dict[str, Any]]) -> None:
    for key, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert ids == list(range(1, len(ids) + 1)), key
        for panel in board["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, (key, panel["title"])


def test_unknown_policy_is_a_spec_error_naming_the_slo() -> None:
    slo = SLO(
        "svc",
        "up",
        0.99,
        NativeSLI("availability", (("service", "svc"),)),
        policy="no-such-policy",
        source=SourceRef("specs/svc.yaml", "documents[0].slos[0]"),
    )
    with pytest.raises(SpecError) as err:
        render_dashboards(Catalog((slo,)), builtin_policies())
    assert str(err.value).startswith(
        "specs/svc.yaml: documents[0].slos[0].policy: unknown burn-rate policy 'no-such-policy'"
    )


def test_catalog_policies_override_builtins_by_name() -> None:
    fast = builtin_policy("fast-slow")
    slo = SLO("svc", "up", 0.99, NativeSLI("availability", (("service", "svc"),)), policy="mine")
    custom = type(fast)("mine", fast.period_seconds, fast.windows)
    board = json.loads(render_dashboards(Catalog((slo,)), {"mine": custom})["slo-svc.json"])
    # The default policy applies only to SLOs that name none; this one names its own.
    assert "(policy mine)" in board["panels"][0]["title"]
    assert sorted({v for p in grafana.panels(board) if "&" in p["title"] for v in _steps(p)}) == [
        2,
        10,
    ]


def test_empty_catalog_still_renders_red_and_canary() -> None:
    assert sorted(render_dashboards(Catalog(()), {})) == ["canary.json", "red.json"]


def test_default_policy_applies_to_slos_that_name_none() -> None:
    slo = SLO("svc", "up", 0.99, NativeSLI("availability", (("service", "svc"),)))
    rendered = render_dashboards(Catalog((slo,)), builtin_policies(), default_policy="fast-slow")
    board = json.loads(rendered["slo-svc.json"])
    assert "(policy fast-slow)" in board["panels"][0]["title"]
    burn = [p for p in grafana.panels(board) if "&" in p["title"]]
    assert [_steps(p) for p in burn] == [[2.0, 10.0]]


def test_dashboards_round_trip_through_the_sdk_schema_unchanged() -> None:
    # The SDK's typed model is generated from Grafana's schema: a field it does not know, or
    # a value of the wrong shape, would not survive from_json -> to_json.
    register_default_plugins()
    for name, text in render_dashboards(handmade_catalog(), builtin_policies()).items():
        raw = json.loads(text)
        again = json.loads(json.dumps(SdkDashboard.from_json(raw), cls=JSONEncoder))
        assert again == raw, name


def test_a_factor_shared_by_page_and_ticket_is_drawn_once_as_page() -> None:
    windows = [
        BurnWindow("ticket", 300, 3600, 5.0),
        BurnWindow("page", 300, 3600, 5.0),
        BurnWindow("ticket", 300, 3600, 2.0),
    ]
    assert burn_thresholds(windows) == [Step(2.0, "orange"), Step(5.0, "red")]


def test_services_whose_file_names_collide_are_a_spec_error() -> None:
    slos = tuple(
        SLO(name, "up", 0.99, NativeSLI("availability", (("service", name),)))
        for name in ("a/b", "a_b")
    )
    with pytest.raises(SpecError, match=r"share slo-a_b\.json"):
        render_dashboards(Catalog(slos), builtin_policies())
