"""OpenSLO Timeslices / RatioTimeslices specs: loaded with their slices, or refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloengine.cli import main
from sloengine.errors import SpecErrors
from sloengine.specs import load_catalog

SPEC = Path(__file__).parents[1] / "rules" / "specs_timeslices" / "openslo-timeslices.yaml"


def _spec(tmp_path: Path, objective: str, method: str = "Timeslices") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        SPEC.read_text()
        .split("---")[0]
        .replace("budgetingMethod: Timeslices", f"budgetingMethod: {method}")
        .replace(
            "objectives: [{target: 0.99, timeSliceTarget: 0.95, timeSliceWindow: 1m}]", objective
        )
    )
    return path


def test_slices_load_with_their_target_and_window() -> None:
    minutes, latency = load_catalog([SPEC]).slos
    assert (minutes.budgeting_method, minutes.timeslice_target_ratio) == ("Timeslices", 0.95)
    assert (minutes.timeslice_window_seconds, minutes.policy) == (60, "sre-workbook-28d")
    assert (latency.budgeting_method, latency.timeslice_window_seconds) == ("RatioTimeslices", 300)


@pytest.mark.parametrize(
    ("window", "reason"),
    [
        (
            "7m",
            "timeSliceWindow 7m must divide every burn-rate window and the period "
            "(5m, 30m, 1h, 2h, 6h, 1d, 3d, 28d); 5m, 30m, 1h, 2h, 6h, 1d, 3d do not",
        ),
        ("15s", "timeSliceWindow 15s must be a whole number of 10s"),
    ],
)
def test_a_slice_the_windows_cannot_hold_is_refused(
    tmp_path: Path, window: str, reason: str
) -> None:
    spec = _spec(
        tmp_path,
        f"objectives: [{{target: 0.99, timeSliceTarget: 0.95, timeSliceWindow: {window}}}]",
    )
    with pytest.raises(SpecErrors) as err:
        load_catalog([spec])
    assert str(err.value) == f"{spec}: metadata.name: {reason}"


def test_generate_renders_slice_groups_promtool_accepts(tmp_path: Path) -> None:
    assert main(["generate", str(SPEC), "--out", str(tmp_path), "--no-canary-guards"]) == 0
    rules = (tmp_path / "alerts" / "shop.rules.yml").read_text()
    assert "slo:timeslice_bad:bool" in rules and "> bool 0.05" in rules
    assert "interval: '1m'" in rules and "interval: '5m'" in rules
    assert "sum_over_time(slo:timeslice_bad:bool" in rules
