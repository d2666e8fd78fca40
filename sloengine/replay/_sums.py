"""Running totals of selected series, and window sums over them at many times at once.

`History.sums` builds one `SeriesSums` per selector; a replay reads every window at every
evaluation step from it as differences of two lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["SeriesSums"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SeriesSums:
    """Selected series summed per distinct time, ascending, with running totals.

    `cumulative[c][i]` is the total of column c over rows with time <= times[i-1]
    (`cumulative[c][0] == 0`), so any window `(a, b]` is a difference of two lookups.
    """

    times_s: F64
    cumulative: Mapping[str, F64]
    # (id of the evaluation grid, window) -> its edge indices: every column and every policy
    # replayed on the same grid reuses them (the searches are most of a replay's time).
    _edges: dict[tuple[int, float], npt.NDArray[np.intp]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _grid: list[F64] = field(default_factory=list, repr=False, compare=False)

    def _edge(self, at_s: F64, offset_s: float) -> npt.NDArray[np.intp]:
        """`searchsorted(times, at_s - offset_s)`, computed once per grid and offset.

        On an evenly spaced grid an offset of whole steps is the grid shifted by n steps:
        its indices are a slice of one search over the grid extended backwards.
        """
        if not self._grid or self._grid[0] is not at_s:
            self._grid[:] = [at_s]  # a new grid: forget the old one's edges
            self._edges.clear()
        key = (id(at_s), offset_s)
        if key in self._edges:
            return self._edges[key]
        step = float(at_s[1] - at_s[0])
        shift = round(offset_s / step)
        if abs(shift * step - offset_s) > 1e-9 or not _even(at_s, step):
            edge = np.searchsorted(self.times_s, at_s - offset_s, side="right")
        else:
            extended = self._edges.get((id(at_s), -1.0))
            if extended is None or len(extended) < len(at_s) + shift:
                back = max(shift, len(at_s))
                grid = at_s[0] + step * np.arange(-back, len(at_s), dtype=np.float64)
                extended = np.searchsorted(self.times_s, grid, side="right")
                self._edges[(id(at_s), -1.0)] = extended
            start = len(extended) - len(at_s) - shift
            edge = extended[start : start + len(at_s)]
        self._edges[key] = edge
        return edge

    def window_sums(self, column: str, at_s: F64, window_s: float) -> F64:
        """The column's sum over `(t - window_s, t]` for each t in `at_s`."""
        total = self.cumulative[column]
        if len(at_s) < 2:  # one-off lookups (incident spans): not worth remembering
            hi = np.searchsorted(self.times_s, at_s, side="right")
            lo = np.searchsorted(self.times_s, at_s - window_s, side="right")
        else:
            hi, lo = self._edge(at_s, 0.0), self._edge(at_s, window_s)
        return np.asarray(total[hi] - total[lo], dtype=np.float64)


def _even(a: F64, step: float) -> bool:
    """Whether `a` is `a[0] + step * k` (to float rounding)."""
    expected = a[0] + step * np.arange(len(a), dtype=np.float64)
    return bool(np.allclose(a, expected, rtol=0.0, atol=1e-6))
