"""The burn-rate policy of an SLO that names none follows its period, chosen once by the loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloengine.cli import main
from sloengine.errors import SpecErrors
from sloengine.specs import load_catalog
from sloengine.specs.policy import builtin_policy, period_policy

DAY = 86400


def _openslo(tmp_path: Path, duration: str, name: str = "x") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"""apiVersion: openslo/v1
kind: SLO
metadata: {{name: {name}}}
spec:
  service: shop
  indicator:
    spec:
      ratioMetric:
        counter: true
        good: {{metricSource: {{type: Prometheus, spec: {{query: 'ok_total'}}}}}}
        total: {{metricSource: {{type: Prometheus, spec: {{query: 'all_total'}}}}}}
  timeWindow: [{{duration: {duration}, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{target: 0.99}}]
"""
    )
    return path


@pytest.mark.parametrize(
    ("duration", "policy"),
    [("28d", "sre-workbook-28d"), ("7d", "sre-workbook-7d"), ("30d", "sre-workbook-30d")],
)
def test_a_shipped_period_gets_its_shipped_policy(
    tmp_path: Path, duration: str, policy: str
) -> None:
    (slo,) = load_catalog([_openslo(tmp_path, duration)]).slos
    assert slo.policy == policy


def test_another_period_gets_factors_derived_from_it(tmp_path: Path) -> None:
    catalog = load_catalog([_openslo(tmp_path, "14d")])
    (slo,) = catalog.slos
    assert slo.policy == "sre-workbook-14d"
    (policy,) = [p for p in catalog.policies if p.name == slo.policy]
    # The 30d table's budget shares (2%, 5%, 10%, 10%) over a 14-day period.
    assert [round(w.factor, 6) for w in policy.windows] == [6.72, 2.8, 1.4, 0.466667]
    assert policy.period_seconds == 14 * DAY


def test_a_period_shorter_than_the_longest_window_is_refused(tmp_path: Path) -> None:
    spec = _openslo(tmp_path, "1d")
    with pytest.raises(SpecErrors) as err:
        load_catalog([spec])
    assert str(err.value) == (
        f"{spec}: metadata.name: no burn-rate policy for a 1d period: the derived SRE Workbook "
        "table needs a period of at least 3d; give a policy for this period (`policy:` in a "
        "native spec, or --policy NAME|FILE)"
    )


def test_the_shipped_28d_table_is_what_the_derivation_gives() -> None:
    assert period_policy(28 * DAY) == builtin_policy("sre-workbook-28d")


def test_a_policy_named_by_the_spec_wins(tmp_path: Path) -> None:
    spec = tmp_path / "n.yaml"
    spec.write_text(
        "apiVersion: sloengine/v1\nkind: ServiceSLOs\nservice: s\npolicy: fast-slow\n"
        "slos: [{name: a, objective: 99, availability: {}}]\n"
    )
    (slo,) = load_catalog([spec], default_policy="sre-workbook-7d").slos
    assert slo.policy == "fast-slow"


def test_a_default_policy_overrides_the_choice_when_its_period_matches(tmp_path: Path) -> None:
    (slo,) = load_catalog([_openslo(tmp_path, "30d")], default_policy="fast-slow").slos
    assert slo.policy == "fast-slow"


def test_a_default_policy_for_another_period_is_refused(tmp_path: Path) -> None:
    spec = _openslo(tmp_path, "28d")
    with pytest.raises(SpecErrors) as err:
        load_catalog([spec], default_policy="sre-workbook-30d")
    assert str(err.value) == (
        f"{spec}: metadata.name: the SLO's period 28d differs from the period of the default "
        "policy 'sre-workbook-30d' (30d); name a policy for this period"
    )


def test_generate_uses_the_28d_factors_for_a_28d_slo(tmp_path: Path) -> None:
    assert main(["generate", str(_openslo(tmp_path, "28d")), "--out", str(tmp_path / "o")]) == 0
    rules = (tmp_path / "o" / "alerts" / "shop.rules.yml").read_text()
    assert "(13.44 * 0.01)" in rules and "14.4 *" not in rules
