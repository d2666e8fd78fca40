"""The engine's Timeslices ledgers on disk: `<data_dir>/slices.npz`, written beside each
store snapshot and at shutdown, read at start.

Slices are derived data, but the store keeps them exactly for about 2 hours only (its
1-minute ring), so without this file a restart would forget every older slice of the
period. A file that is missing, unreadable or for another slice length is ignored (its
slices count as idle, as they would without it); writes go through a temp file and a
rename, so a crash leaves the previous file whole.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np

from sloengine.maths.timeslices import SliceLedger
from sloengine.model import SLO

__all__ = ["FILE_NAME", "load_ledgers", "save_ledgers"]

FILE_NAME = "slices.npz"
log = logging.getLogger(__name__)


def save_ledgers(data_dir: Path, ledgers: dict[str, SliceLedger]) -> None:
    """Write every ledger (by SLO id) to `data_dir/slices.npz`, atomically."""
    if not ledgers:
        return
    arrays = {
        f"{slo_id}/{name}": array
        for slo_id, ledger in ledgers.items()
        for name, array in ledger.to_arrays().items()
    }
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    path = Path(data_dir) / FILE_NAME
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        f.write(buf.getvalue())
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def load_ledgers(data_dir: Path, slos: tuple[SLO, ...]) -> dict[str, SliceLedger]:
    """The saved ledgers of the catalog's Timeslices SLOs whose slices still fit."""
    path = Path(data_dir) / FILE_NAME
    if not path.exists():
        return {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            stored = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}
    ledgers = {}
    for slo in slos:
        prefix = f"{slo.id}/"
        arrays = {k[len(prefix) :]: v for k, v in stored.items() if k.startswith(prefix)}
        if slo.timeslice_window_seconds is None or len(arrays) != 3:
            continue
        if float(np.asarray(arrays["slice_seconds"])[0]) != slo.timeslice_window_seconds:
            continue
        ledger = SliceLedger.from_arrays(arrays, slo.period_seconds)
        if ledger is not None:
            ledgers[slo.id] = ledger
    return ledgers
