"""Malformed specs: each one fails with its exact error lines, and never with a traceback.

Every case is an inline file written into tmp_path; errors name paths relative to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sloengine.errors import SpecErrors
from sloengine.specs import load_catalog

NATIVE = """apiVersion: sloengine/v1
kind: ServiceSLOs
service: gateway
"""

# (case id, file name, content, expected error lines)
CASES: list[tuple[str, str, str | bytes, list[str]]] = [
    (
        "yaml_syntax",
        "bad.yaml",
        "service: gateway\nslos:\n  - name: a\n    objective: 99: 9\n",
        [
            "bad.yaml: line 4 column 18: invalid YAML: mapping values are not allowed here",
        ],
    ),
    (
        "yaml_unclosed",
        "bad.yaml",
        "service: [gateway\n",
        [
            "bad.yaml: line 2 column 1: invalid YAML: expected ',' or ']', but got '<stream end>'",
        ],
    ),
    (
        "duplicate_key",
        "dup.yaml",
        NATIVE + "service: other\n",
        [
            "dup.yaml: line 4 column 1: invalid YAML: found duplicate key 'service'",
        ],
    ),
    (
        "empty_file",
        "empty.yaml",
        "",
        [
            "empty.yaml: empty file: no YAML documents",
        ],
    ),
    (
        "comments_only",
        "empty.yaml",
        "# nothing here\n",
        [
            "empty.yaml: empty file: no YAML documents",
        ],
    ),
    (
        "not_a_mapping",
        "list.yaml",
        "- a\n- b\n",
        [
            "list.yaml: expected a mapping (a spec document), got list",
        ],
    ),
    (
        "scalar_doc_in_multi",
        "multi.yaml",
        NATIVE + "slos: [{name: a, objective: 99, availability: {}}]\n---\njust text\n",
        [
            "multi.yaml: documents[1]: expected a mapping (a spec document), got string",
        ],
    ),
    (
        "binary",
        "junk.yaml",
        b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe",
        [
            "junk.yaml: not UTF-8 text (byte 0)",
        ],
    ),
    (
        "unknown_api",
        "x.yaml",
        "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n",
        [
            "x.yaml: apiVersion: unsupported apiVersion 'monitoring.coreos.com/v1' (supported: sloengine/v1, openslo/v1, openslo/v1alpha, sloth.slok.dev/v1, or Sloth's version: prometheus/v1)",
        ],
    ),
    (
        "no_api",
        "x.yaml",
        "service: gateway\n",
        [
            "x.yaml: not a spec document: no apiVersion (supported: sloengine/v1, openslo/v1, openslo/v1alpha, sloth.slok.dev/v1, or Sloth's version: prometheus/v1)",
        ],
    ),
    (
        "native_unknown_kind",
        "x.yaml",
        "apiVersion: sloengine/v1\nkind: SLO\n",
        [
            "x.yaml: kind: unsupported kind 'SLO' for sloengine/v1 (supported: ServiceSLOs, BurnRatePolicy)",
        ],
    ),
    (
        "objective_100",
        "n.yaml",
        NATIVE + "slos:\n  - {name: a, objective: 100, availability: {}}\n",
        [
            "n.yaml: slos[0].objective: must be a percentage in (0, 100), got 100",
        ],
    ),
    (
        "objective_string",
        "n.yaml",
        NATIVE + "slos:\n  - {name: a, objective: '99.9%', availability: {}}\n",
        [
            "n.yaml: slos[0].objective: expected a number, got string",
        ],
    ),
    (
        "objective_ratio_in_native",
        "n.yaml",
        NATIVE + "slos:\n  - {name: a, objective: 0, availability: {}}\n",
        [
            "n.yaml: slos[0].objective: must be a percentage in (0, 100), got 0",
        ],
    ),
    (
        "latency_not_bucket",
        "n.yaml",
        NATIVE + "slos:\n  - {name: a, objective: 99, latency: {threshold: 0.3}}\n",
        [
            "n.yaml: slos[0].latency.threshold: 0.3s is not a bucket bound of http_request_duration_seconds (seconds: 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10)",
        ],
    ),
    (
        "latency_ms",
        "n.yaml",
        NATIVE + "slos:\n  - {name: a, objective: 99, latency: {threshold: 500}}\n",
        [
            "n.yaml: slos[0].latency.threshold: 500s is not a bucket bound of http_request_duration_seconds (seconds: 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10)",
        ],
    ),
    (
        "native_typo_top",
        "n.yaml",
        NATIVE + "slo:\n  - {name: a, objective: 99, availability: {}}\n",
        [
            "n.yaml: slo: unknown field (known: apiVersion, kind, service, policy, period, labels, slos)",
            "n.yaml: slos: missing required field",
        ],
    ),
    (
        "native_typo_slo",
        "n.yaml",
        NATIVE + "slos:\n  - {name: a, objectve: 99, availability: {}}\n",
        [
            "n.yaml: slos[0].objectve: unknown field (known: name, description, objective, availability, latency, selector, labels)",
            "n.yaml: slos[0].objective: missing required field",
        ],
    ),
    (
        "unknown_policy",
        "n.yaml",
        NATIVE
        + "policy: sre-workbook-31d\nslos:\n  - {name: a, objective: 99, availability: {}}\n",
        [
            "n.yaml: policy: unknown policy 'sre-workbook-31d' (known: fast-slow, sre-workbook-28d, sre-workbook-30d, sre-workbook-7d)",
        ],
    ),
    (
        "bad_period",
        "n.yaml",
        NATIVE + "period: 30 days\nslos:\n  - {name: a, objective: 99, availability: {}}\n",
        [
            "n.yaml: period: invalid duration '30 days' (expected e.g. 5m, 1h, 30d)",
        ],
    ),
    (
        "period_vs_policy",
        "n.yaml",
        NATIVE
        + "policy: sre-workbook-7d\nperiod: 30d\nslos:\n  - {name: a, objective: 99, availability: {}}\n",
        [
            "n.yaml: period: 30d differs from the period of policy 'sre-workbook-7d' (7d)",
        ],
    ),
    (
        "both_slis",
        "n.yaml",
        NATIVE
        + "slos:\n  - {name: a, objective: 99, availability: {}, latency: {threshold: 0.5}}\n",
        [
            "n.yaml: slos[0]: needs exactly one of availability, latency (got availability, latency)",
        ],
    ),
    (
        "no_sli",
        "n.yaml",
        NATIVE + "slos:\n  - {name: a, objective: 99}\n",
        [
            "n.yaml: slos[0]: needs exactly one of availability, latency (got none)",
        ],
    ),
    (
        "selector_service",
        "n.yaml",
        NATIVE
        + "slos:\n  - {name: a, objective: 99, availability: {}, selector: {service: other}}\n",
        [
            "n.yaml: slos[0].selector.service: label 'service' is set by the spec, not the selector",
        ],
    ),
    (
        "bad_name",
        "n.yaml",
        NATIVE + "slos:\n  - {name: 'search latency', objective: 99, availability: {}}\n",
        [
            "n.yaml: slos[0].name: invalid name 'search latency': use letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
        ],
    ),
    (
        "bad_service_name",
        "n.yaml",
        "apiVersion: sloengine/v1\nkind: ServiceSLOs\nservice: ../etc\nslos:\n  - {name: a, objective: 99, availability: {}}\n",
        [
            "n.yaml: service: invalid name '../etc': use letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
        ],
    ),
    (
        "duplicate_names",
        "n.yaml",
        NATIVE
        + "slos:\n  - {name: a, objective: 99, availability: {}}\n  - {name: a, objective: 99.9, availability: {}}\n",
        [
            "n.yaml: slos[1]: duplicate SLO 'a' for service 'gateway' (first defined in n.yaml slos[0])",
        ],
    ),
    (
        "bad_error_status",
        "n.yaml",
        NATIVE + "slos:\n  - {name: a, objective: 99, availability: {errorStatus: '5(..'}}\n",
        [
            "n.yaml: slos[0].availability.errorStatus: invalid regular expression: missing ), unterminated subpattern at position 1",
        ],
    ),
    (
        "sloth_bad_promql",
        "s.yml",
        "version: prometheus/v1\nservice: svc\nslos:\n  - name: a\n    objective: 99.9\n    sli:\n      events:\n        error_query: sum(rate(errors_total[{{.window}}])\n        total_query: sum(rate(requests_total[{{.window}}]))\n",
        [
            "s.yml: slos[0].sli.events.error_query: invalid PromQL: unclosed left parenthesis",
        ],
    ),
    (
        "sloth_no_window",
        "s.yml",
        "version: prometheus/v1\nservice: svc\nslos:\n  - name: a\n    objective: 99.9\n    sli:\n      events:\n        error_query: sum(rate(errors_total[5m]))\n        total_query: sum(rate(requests_total[{{.window}}]))\n",
        [
            "s.yml: slos[0].sli.events.error_query: must use the {{.window}} template variable for the window",
        ],
    ),
    (
        "sloth_other_template",
        "s.yml",
        'version: prometheus/v1\nservice: svc\nslos:\n  - name: a\n    objective: 99.9\n    sli:\n      raw:\n        error_ratio_query: 1 - avg_over_time(up{job="{{.service}}"}[{{.window}}])\n',
        [
            "s.yml: slos[0].sli.raw.error_ratio_query: unsupported template '{{.service}}' (only {{.window}} is supported)",
        ],
    ),
    (
        "sloth_range_vector",
        "s.yml",
        "version: prometheus/v1\nservice: svc\nslos:\n  - name: a\n    objective: 99.9\n    sli:\n      events:\n        error_query: errors_total[{{.window}}]\n        total_query: sum(rate(requests_total[{{.window}}]))\n",
        [
            "s.yml: slos[0].sli.events.error_query: must return an instant vector, not a range vector",
        ],
    ),
    (
        "sloth_version",
        "s.yml",
        "version: prometheus/v2\nservice: svc\nslos: []\n",
        [
            "s.yml: version: unsupported Sloth version 'prometheus/v2' (supported: prometheus/v1)",
        ],
    ),
    (
        "sloth_plugin",
        "s.yml",
        "version: prometheus/v1\nservice: svc\nslos:\n  - name: a\n    objective: 99.9\n    sli:\n      plugin:\n        id: sloth-common/kubernetes/apiserver/availability\n",
        [
            "s.yml: slos[0].sli.plugin: Sloth SLI plugins are not supported; use events or raw",
        ],
    ),
    (
        "sloth_alert_name",
        "s.yml",
        "version: prometheus/v1\nservice: svc\nslos:\n  - name: a\n    objective: 99.9\n    sli:\n      raw:\n        error_ratio_query: 1 - avg_over_time(up[{{.window}}])\n    alerting:\n      name: My Alert\n",
        [
            "s.yml: slos[0].alerting.name: invalid alert name 'My Alert' (Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]*)",
        ],
    ),
    (
        "sloth_label_name",
        "s.yml",
        "version: prometheus/v1\nservice: svc\nlabels:\n  team-name: x\nslos:\n  - name: a\n    objective: 99.9\n    sli:\n      raw:\n        error_ratio_query: 1 - avg_over_time(up[{{.window}}])\n",
        [
            "s.yml: labels.team-name: invalid label name 'team-name' (Prometheus: [a-zA-Z_][a-zA-Z0-9_]*, no '__')",
        ],
    ),
    (
        "sloth_disable_not_bool",
        "s.yml",
        'version: prometheus/v1\nservice: svc\nslos:\n  - name: a\n    objective: 99.9\n    sli:\n      raw:\n        error_ratio_query: 1 - avg_over_time(up[{{.window}}])\n    alerting:\n      page_alert:\n        disable: "yes"\n',
        [
            "s.yml: slos[0].alerting.page_alert.disable: expected true or false, got string",
        ],
    ),
    (
        "sloth_alerting_disable",
        "s.yml",
        "version: prometheus/v1\nservice: svc\nslos:\n  - name: a\n    objective: 99.9\n    sli:\n      raw:\n        error_ratio_query: 1 - avg_over_time(up[{{.window}}])\n    alerting:\n      disable: true\n",
        [
            "s.yml: slos[0].alerting.disable: unknown field (known: name, labels, annotations, page_alert, ticket_alert)",
        ],
    ),
    (
        "openslo_target",
        "o.yaml",
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  service: svc\n  indicator:\n    spec:\n      ratioMetric:\n        counter: true\n        good: {metricSource: {type: Prometheus, spec: {query: 'ok_total'}}}\n        total: {metricSource: {type: Prometheus, spec: {query: 'all_total'}}}\n  timeWindow: [{duration: 28d, isRolling: true}]\n  budgetingMethod: Occurrences\n  objectives: [{target: 99.9}]\n",
        [
            "o.yaml: spec.objectives[0].target: must be a ratio in (0, 1), got 99.9",
        ],
    ),
    (
        "openslo_no_counter",
        "o.yaml",
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  service: svc\n  indicator:\n    spec:\n      ratioMetric:\n        good: {metricSource: {type: Prometheus, spec: {query: 'ok_total'}}}\n        total: {metricSource: {type: Prometheus, spec: {query: 'all_total'}}}\n  timeWindow: [{duration: 28d, isRolling: true}]\n  budgetingMethod: Occurrences\n  objectives: [{target: 0.999}]\n",
        [
            "o.yaml: spec.indicator.spec.ratioMetric.good.metricSource.spec.query: a bare selector is read as a counter and needs counter: true (or write a query template using {{.window}})",
            "o.yaml: spec.indicator.spec.ratioMetric.total.metricSource.spec.query: a bare selector is read as a counter and needs counter: true (or write a query template using {{.window}})",
        ],
    ),
    (
        "openslo_month",
        "o.yaml",
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  service: svc\n  indicatorRef: missing-sli\n  timeWindow: [{duration: 1M, isRolling: true}]\n  budgetingMethod: Occurrences\n  objectives: [{target: 0.999}]\n",
        [
            "o.yaml: spec.indicatorRef: no SLI named 'missing-sli' in the loaded files",
            "o.yaml: spec.timeWindow[0].duration: '1M': months, quarters and years are calendar units; give days (e.g. 30d)",
        ],
    ),
    (
        "openslo_threshold_gt",
        "o.yaml",
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  service: svc\n  indicator:\n    spec:\n      thresholdMetric: {metricSource: {type: Prometheus, spec: {query: 'http_request_duration_seconds{service=\"svc\"}'}}}\n  timeWindow: [{duration: 28d, isRolling: true}]\n  budgetingMethod: Occurrences\n  objectives: [{op: gt, value: 0.5, target: 0.99}, {op: lte, value: 0.3, target: 0.99}]\n",
        [
            "o.yaml: spec.objectives[0].op: must be lt or lte for a thresholdMetric, got 'gt' (good events are observations at or below value)",
            "o.yaml: spec.objectives[1].value: 0.3s is not a bucket bound of http_request_duration_seconds (seconds: 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2.5, 5, 10)",
        ],
    ),
    (
        "openslo_timeslices",
        "o.yaml",
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  service: svc\n  indicator:\n    spec:\n      ratioMetric:\n        counter: true\n        bad: {metricSource: {type: Prometheus, spec: {query: 'bad_total'}}}\n        total: {metricSource: {type: Prometheus, spec: {query: 'all_total'}}}\n  timeWindow: [{duration: 28d, isRolling: true}]\n  budgetingMethod: Timeslices\n  objectives: [{target: 0.999}]\n",
        [
            "o.yaml: spec.objectives[0].timeSliceWindow: missing required field",
        ],
    ),
    (
        "openslo_kind",
        "o.yaml",
        "apiVersion: openslo/v1\nkind: AlertPolicy\nmetadata: {name: p}\nspec: {}\n",
        [
            "o.yaml: kind: unsupported kind 'AlertPolicy' for openslo/v1 (supported: SLO, SLI, Service; alerts come from burn-rate policies)",
        ],
    ),
    (
        "policy_windows",
        "p.yaml",
        "apiVersion: sloengine/v1\nkind: BurnRatePolicy\nmetadata: {name: mine}\nspec:\n  period: 30d\n  windows:\n    - {severity: page, shortWindow: 1h, longWindow: 5m, factor: 14.4}\n",
        [
            "p.yaml: spec.windows[0].shortWindow: must be shorter than longWindow",
        ],
    ),
    (
        "policy_in_multi_doc",
        "p.yaml",
        "apiVersion: sloengine/v1\nkind: BurnRatePolicy\nmetadata: {name: a}\nspec: {period: 30d, windows: [{severity: page, shortWindow: 5m, longWindow: 1h, factor: 10}]}\n---\napiVersion: sloengine/v1\nkind: BurnRatePolicy\nmetadata: {name: a}\nspec: {period: 30d, windows: [{severity: urgent, shortWindow: 5m, longWindow: 1h, factor: 10}]}\n---\napiVersion: sloengine/v1\nkind: BurnRatePolicy\nmetadata: {name: a}\nspec: {period: 30d, windows: [{severity: page, shortWindow: 5m, longWindow: 1h, factor: 10}]}\n",
        [
            "p.yaml: documents[1].spec.windows[0].severity: must be one of page, ticket",
            "p.yaml: documents[2].metadata.name: duplicate policy name 'a'",
        ],
    ),
    (
        "policy_shadows_builtin",
        "p.yaml",
        "apiVersion: sloengine/v1\nkind: BurnRatePolicy\nmetadata: {name: fast-slow}\nspec: {period: 30d, windows: [{severity: page, shortWindow: 5m, longWindow: 1h, factor: 10}]}\n",
        [
            "p.yaml: metadata.name: policy 'fast-slow' shadows a built-in policy",
        ],
    ),
    (
        "openslo_unknown_top",
        "o.yaml",
        "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: svc, owner: me}\nspec: {description: x, tier: 1}\nstatus: {}\n",
        [
            "o.yaml: status: unknown field (known: apiVersion, kind, metadata, spec)",
            "o.yaml: metadata.owner: unknown field (known: name, displayName, labels, annotations)",
            "o.yaml: spec.tier: unknown field (known: description)",
        ],
    ),
    (
        "openslo_target_and_percent",
        "o.yaml",
        "apiVersion: openslo/v1\nkind: SLI\nmetadata: {name: s}\nspec:\n  ratioMetric:\n    counter: true\n    good: {metricSource: {type: Prometheus, spec: {query: ok_total}}}\n    total: {metricSource: {type: Prometheus, spec: {query: all_total}}}\n---\napiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  service: svc\n  indicatorRef: s\n  timeWindow: [{duration: 30d, isRolling: true}]\n  budgetingMethod: Occurrences\n  objectives: [{target: 0.99, targetPercent: 99}]\n",
        [
            "o.yaml: documents[1].spec.objectives[0]: needs exactly one of target, targetPercent (got target, targetPercent)",
        ],
    ),
    (
        "openslo_duplicate_sli",
        "o.yaml",
        "apiVersion: openslo/v1\nkind: SLI\nmetadata: {name: s}\nspec: {ratioMetric: {raw: {metricSource: {type: Prometheus, spec: {query: 'x'}}}, rawType: failure}}\n---\napiVersion: openslo/v1\nkind: SLI\nmetadata: {name: s}\nspec: {ratioMetric: {raw: {metricSource: {type: Prometheus, spec: {query: 'x'}}}, rawType: failure}}\n",
        [
            "o.yaml: documents[1].metadata.name: duplicate SLI name 's'",
        ],
    ),
    (
        "native_label_not_scalar",
        "n.yaml",
        "apiVersion: sloengine/v1\nkind: ServiceSLOs\nservice: gateway\nlabels: {team: {name: search}}\nslos: [{name: a, objective: 99, availability: {}}]\n",
        [
            "n.yaml: labels.team: expected a string, got mapping",
        ],
    ),
    (
        "sloth_no_slos",
        "s.yml",
        "version: prometheus/v1\nservice: svc\n",
        [
            "s.yml: slos: missing required field",
        ],
    ),
    (
        "null_bytes",
        "z.yaml",
        "service: a\x00b\n",
        [
            "z.yaml: line 1 column 11: invalid YAML: special characters are not allowed (U+0000)",
        ],
    ),
    (
        "python_tag",
        "t.yaml",
        "!!python/object/apply:os.system ['true']\n",
        [
            "t.yaml: line 1 column 1: invalid YAML: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'",
        ],
    ),
]


@pytest.mark.parametrize(
    ("file", "content", "expected"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_malformed_spec_fails_with_exact_lines(
    file: str,
    content: str | bytes,
    expected: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    path = Path(file)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)

    with pytest.raises(SpecErrors) as caught:
        load_catalog([file])

    assert [e.line() for e in caught.value.errors] == expected
    assert str(caught.value) == "\n".join(expected)


def test_table_has_at_least_fifteen_cases() -> None:
    assert len(CASES) >= 15
