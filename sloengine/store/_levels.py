"""The ring-buffer resolutions and the pure arithmetic of covering a window with them.

Time is counted in *base buckets*: base bucket `b` covers the half-open interval
`(b * r0, (b + 1) * r0]` seconds, where `r0` is the finest resolution (10 s). A sample whose
interval ends at `t` lands in base bucket `ceil(t / r0) - 1`, so a window `(at - w, at]` with
`at` and `w` multiples of `r0` is exactly the base buckets `[at/r0 - w/r0, at/r0)`.

Level `k` groups `multiple_k` base buckets per slot and keeps `slots_k` slots. A window is
summed from the coarsest slots that fit inside it, with finer slots at both edges
(`cover`), so its near edge is always exact to 10 s; its far edge is exact to the finest
level that still retains it and is otherwise rounded to the nearest slot boundary.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    """One ring: `slots` buckets of `resolution_seconds` each."""

    resolution_seconds: int
    slots: int

    @property
    def span_seconds(self) -> int:
        return self.resolution_seconds * self.slots


# Chosen so that each policy window of the SRE Workbook table is exact at a useful resolution
# while 554 slots x (2 + 12 latency buckets) x 8 bytes = 60.6 KiB per series:
#   5m at 10 s, 30m/1h/2h at 1 min, 6h/1d at 10 min, 3d at 1 h, 30d at 6 h.
# Each level keeps its longest exact window plus one slot of the next level (the margin the
# near-edge decomposition needs).
DEFAULT_LEVELS: tuple[Level, ...] = (
    Level(10, 64),  # 10 min 40 s
    Level(60, 136),  # 2 h 16 min
    Level(600, 150),  # 25 h
    Level(3600, 80),  # 3 d 8 h
    Level(21600, 124),  # 31 d
)


def validate_levels(levels: tuple[Level, ...]) -> tuple[int, ...]:
    """Check the levels nest; return each level's multiple of the base resolution."""
    if not levels:
        raise ValueError("at least one level is needed")
    base = levels[0].resolution_seconds
    multiples = []
    for i, level in enumerate(levels):
        if level.resolution_seconds <= 0 or level.slots < 2:
            raise ValueError(f"levels[{i}]: resolution and slots must be positive (slots >= 2)")
        if i and level.resolution_seconds % levels[i - 1].resolution_seconds:
            raise ValueError(f"levels[{i}]: resolution must be a multiple of the previous one")
        if i and level.span_seconds <= levels[i - 1].span_seconds + level.resolution_seconds:
            raise ValueError(f"levels[{i}]: must retain longer than the previous level")
        multiples.append(level.resolution_seconds // base)
    return tuple(multiples)


Piece = tuple[int, int, int]  # (level, first bucket of that level, end bucket exclusive)


def cover(lo: int, hi: int, multiples: tuple[int, ...], top: int) -> list[Piece]:
    """Decompose base buckets `[lo, hi)` into slots of levels `<= top`, coarsest in the middle.

    `lo` and `hi` must be aligned to the multiple of the finest level allowed at each edge
    (the caller rounds them); the result uses the fewest slots.
    """
    if lo >= hi:
        return []
    if top == 0:
        return [(0, lo, hi)]
    m = multiples[top]
    first = -(-lo // m)
    end = hi // m
    if first >= end:
        return cover(lo, hi, multiples, top - 1)
    return [
        *cover(lo, first * m, multiples, top - 1),
        (top, first, end),
        *cover(end * m, hi, multiples, top - 1),
    ]


def round_to(x: int, m: int) -> int:
    """`x` rounded to the nearest multiple of `m` (halves round down: the window grows)."""
    return ((x + (m - 1) // 2) // m) * m


def plan(
    lo: int, hi: int, multiples: tuple[int, ...], slots: tuple[int, ...], heads: list[int]
) -> tuple[int, int, list[Piece]]:
    """Round `[lo, hi)` to what the rings retain and cover it; returns (lo', hi', pieces).

    `heads[k]` is the newest bucket written at level `k` (rings hold `(head - slots, head]`).
    Each edge is rounded to the finest level whose decomposition only reads retained slots.
    """
    top = len(multiples) - 1
    oldest = [(heads[k] - slots[k] + 1) * multiples[k] for k in range(top + 1)]

    def left(x: int) -> int:
        # Pieces at levels >= k start at or after the rounded edge.
        for k in range(top + 1):
            x2 = round_to(x, multiples[k])
            if all(x2 >= oldest[j] for j in range(k, top + 1)):
                return x2
        return round_to(x, multiples[top])

    def right(x: int) -> int:
        # The piece at level j >= k starts at the edge rounded down to level j + 1.
        for k in range(top + 1):
            x2 = round_to(x, multiples[k])
            if all((x2 // multiples[j + 1]) * multiples[j + 1] >= oldest[j] for j in range(k, top)):
                return x2
        return round_to(x, multiples[top])

    lo2, hi2 = left(lo), right(hi)
    return lo2, hi2, cover(lo2, hi2, multiples, top)
