"""History rows as the engine's ingest batches (`ingest.PushBatch`), and into a `SeriesStore`.

The canary replay loads a service's rows into a store exactly as a sidecar's pushes would
arrive, so the engine's own canary code reads them; tests push the same batches to a live
engine. `status_class` is summed away (the ingest key has no status); `revision` travels
as an extra label; cumulative `le_` columns become per-bucket counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from sloengine.ingest import PushBatch, SeriesBlock
from sloengine.replay._history import History, le_column

__all__ = ["step_batches"]

_KEY = ("service", "variant", "revision", "route", "method")


def _batch(rows: pd.DataFrame, les: list[str], bounds: tuple[float, ...], seq: int) -> PushBatch:
    blocks = []
    for key, block_rows in rows.groupby(list(_KEY), observed=True, sort=True):
        service, variant, revision, route, method = (str(k) for k in key)
        labels = {"service": service, "variant": variant, "route": route, "method": method}
        if revision:
            labels["revision"] = revision
        counts = (
            np.diff(block_rows[les].to_numpy(dtype=np.float64), axis=1, prepend=0.0).ravel()
            if les
            else np.zeros(0)
        )
        blocks.append(
            SeriesBlock(
                labels,
                np.round(block_rows["time"].to_numpy() * 1000).astype(np.int64),
                block_rows["requests"].tolist(),
                block_rows["errors"].tolist(),
                bounds if les else (),
                counts,
            )
        )
    return PushBatch("replay", seq, blocks)


def step_batches(
    history: History,
    selector: Mapping[str, str],
    times_s: Sequence[float] | npt.NDArray[np.float64],
) -> Iterator[tuple[float, PushBatch | None]]:
    """For each evaluation time t, the batch of samples in `(previous t, t]` (the first
    batch also holds everything before the first t), or None when there are none.

    In time order, as a producer pushes: the store keeps fine resolution only near its
    newest sample, so a replay must read each step before pushing the next.
    """
    rows = history.rows(selector)
    les = [le_column(b) for b in history.bounds_seconds]
    summed = (
        rows.groupby([*_KEY, "time"], observed=True, sort=True)[["requests", "errors", *les]]
        .sum()
        .reset_index()
        .sort_values("time", kind="stable")
    )
    times = summed["time"].to_numpy(dtype=np.float64)
    ends = np.searchsorted(times, np.asarray(times_s, dtype=np.float64), side="right")
    start = 0
    for seq, (t, end) in enumerate(zip(times_s, ends, strict=True)):
        if end > start:
            yield float(t), _batch(summed.iloc[start:end], les, history.bounds_seconds, seq)
        else:
            yield float(t), None
        start = max(start, int(end))
