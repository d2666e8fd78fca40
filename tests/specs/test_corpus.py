"""Every spec in the shared conformance corpus loads, or fails with its exact expected reason.

The corpus sits beside the checkout (`../shared/corpus`) and is read in place.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sloengine.errors import SpecErrors
from sloengine.specs import load_catalog

CORPUS = Path(__file__).parents[2].parent / "shared" / "corpus"
SLOTH_EXAMPLES = CORPUS / "sloth" / "examples"
SLOTH_GEN = CORPUS / "sloth" / "_gen"
OPENSLO = CORPUS / "openslo"


def _corpus_files(folder: Path, *patterns: str) -> list[object]:
    if not folder.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"corpus not found at {folder}"))]
    files = sorted({p for pattern in patterns for p in folder.glob(pattern)})
    return [pytest.param(p, id=p.name) for p in files]


def _sloth_ids(generated: Path) -> set[str]:
    return set(re.findall(r"sloth_id: (\S+)", generated.read_text()))


@pytest.mark.parametrize("spec", _corpus_files(SLOTH_EXAMPLES, "*.yml"))
def test_sloth_example_loads_with_sloths_ids_and_objectives(spec: Path) -> None:
    catalog = load_catalog([spec])

    assert catalog.slos
    generated = SLOTH_GEN / spec.name
    if generated.exists():
        assert {slo.id for slo in catalog.slos} == _sloth_ids(generated)
        objectives = set(re.findall(r'sloth_objective: "([0-9.]+)"', generated.read_text()))
        assert {f"{slo.objective_ratio * 100:g}" for slo in catalog.slos} == objectives


@pytest.mark.parametrize("spec", _corpus_files(SLOTH_EXAMPLES, "windows-*.yaml"))
def test_sloth_alert_windows_load_as_policies(spec: Path) -> None:
    catalog = load_catalog([spec])

    assert catalog.slos == ()
    (policy,) = catalog.policies
    assert policy.name == f"sloth-{spec.stem}"
    assert len(policy.windows) == 4


def test_google_30d_windows_match_the_workbook_factors() -> None:
    if not SLOTH_EXAMPLES.is_dir():
        pytest.skip(f"corpus not found at {SLOTH_EXAMPLES}")
    (policy,) = load_catalog([SLOTH_EXAMPLES / "windows-google-30d.yaml"]).policies
    assert [round(w.factor, 6) for w in policy.windows] == [14.4, 6.0, 3.0, 1.0]


# The OpenSLO corpus uses placeholder sources (`type: Any`); each file must fail with
# exactly these reasons (paths relative to the file).
OPENSLO_EXPECTED = {
    "low-traffic-timeslices-slo.yaml": [
        "spec.indicator.spec.ratioMetric.good.metricSource.type: unsupported metric source 'Any' (supported: Prometheus)",
        "spec.indicator.spec.ratioMetric.total.metricSource.type: unsupported metric source 'Any' (supported: Prometheus)",
        "spec.timeWindow[0].calendar: calendar-aligned time windows are not supported; use a rolling window (isRolling: true, no calendar)",
    ],
    "occurrences-slo.yaml": [
        "spec.indicator.spec.thresholdMetric.metricSource.type: unsupported metric source 'Any' (supported: Prometheus)",
    ],
    "ratio-timeslices.yaml": [
        "spec.indicator.spec.ratioMetric.good.metricSource.type: unsupported metric source 'Any' (supported: Prometheus)",
        "spec.indicator.spec.ratioMetric.total.metricSource.type: unsupported metric source 'Any' (supported: Prometheus)",
    ],
    "timeslices-slo.yaml": [
        "spec.indicator.spec.ratioMetric.good.metricSource.type: unsupported metric source 'Any' (supported: Prometheus)",
        "spec.indicator.spec.ratioMetric.total.metricSource.type: unsupported metric source 'Any' (supported: Prometheus)",
        "spec.timeWindow[0].calendar: calendar-aligned time windows are not supported; use a rolling window (isRolling: true, no calendar)",
    ],
}


@pytest.mark.parametrize("spec", _corpus_files(OPENSLO, "*.yaml"))
def test_openslo_example_fails_with_its_specific_reasons(spec: Path) -> None:
    with pytest.raises(SpecErrors) as caught:
        load_catalog([spec])

    assert [e.line() for e in caught.value.errors] == [
        f"{spec}: {line}" for line in OPENSLO_EXPECTED[spec.name]
    ]


@pytest.mark.parametrize("spec", _corpus_files(OPENSLO, "*.yaml"))
def test_openslo_example_loads_once_given_a_prometheus_source(spec: Path, tmp_path: Path) -> None:
    # Only the placeholder source and the calendar window stand in the way: replace them and
    # every other part of each corpus spec (budgeting, objectives, timeslices) loads.
    text = spec.read_text().replace("type: Any", "type: Prometheus")
    if "thresholdMetric" in text:  # a histogram in milliseconds, so `value: 500` is a bound
        text = text.replace("query: Any", "query: search_duration_milliseconds")
    else:
        text = text.replace("query: Any", "query: 'sum(rate(requests_total[{{.window}}]))'")
    text = text.replace("isRolling: false", "isRolling: true").replace(
        "duration: 1m ", "duration: 30d "
    )
    text = "".join(
        line
        for line in text.splitlines(keepends=True)
        if not re.match(r"\s+(calendar|startTime|timeZone):", line)
    )
    fixed = tmp_path / spec.name
    fixed.write_text(text)

    catalog = load_catalog([fixed])

    assert catalog.slos
    assert all(
        slo.budgeting_method in ("Occurrences", "Timeslices", "RatioTimeslices")
        for slo in catalog.slos
    )
