"""The array forms in `sloengine.maths.burn` are the scalar formulas element by element: the replay
and the live engine share one definition of ratio, burn rate, budget and alert firing."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.maths import burn

counts = st.lists(
    st.tuples(st.floats(0, 1e9, allow_nan=False), st.floats(0, 1, allow_nan=False)),
    min_size=1,
    max_size=30,
)
objectives = st.one_of(
    st.sampled_from([0.9, 0.99, 0.999, 0.9995, 1.0, 0.0]), st.floats(0, 1, allow_nan=False)
)


@settings(max_examples=200, deadline=None)
@given(rows=counts, objective=objectives, factor=st.floats(0.1, 100, allow_nan=False))
def test_array_forms_equal_the_scalar_functions(
    rows: list[tuple[float, float]], objective: float, factor: float
) -> None:
    requests = np.array([r for r, _ in rows])
    errors = np.array([r * share for r, share in rows])
    ratios = burn.error_ratio_array(errors, requests)
    assert ratios.tolist() == [
        burn.error_ratio(e, r) for e, r in zip(errors, requests, strict=True)
    ]
    burns = burn.burn_rate_array(ratios, objective)
    assert burns.tolist() == [burn.burn_rate(x, objective) for x in ratios]
    shifted = np.roll(ratios, 1)
    fires = burn.multiwindow_firing_array(ratios, shifted, factor, objective)
    assert fires.tolist() == [
        burn.multiwindow_firing(a, b, factor, objective)
        for a, b in zip(ratios, shifted, strict=True)
    ]


def test_zero_traffic_is_a_zero_ratio_not_nan() -> None:
    ratios = burn.error_ratio_array(np.array([0.0, 5.0]), np.array([0.0, 10.0]))
    assert ratios.tolist() == [0.0, 0.5]
    assert burn.burn_rate_array(np.array([0.0, 0.1]), 1.0).tolist() == [0.0, float("inf")]
