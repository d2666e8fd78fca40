"""The engine's embedded metric store.

- `DecodedBatch`: its input, a validated batch as numpy columns (`REQUESTS`, `ERRORS`,
  then one per latency bound from `LATENCY0`); decoding the wire format into one is the
  ingest service's work (`sloengine.ingest`), not the store's.
- `SeriesStore`: multi-resolution ring buffers per series; `window_sum` over label selectors.
- `DurableStore`: a SeriesStore behind a group-committed write-ahead log and snapshots,
  with (producer_id, sequence) dedupe that survives restarts.

See docs/store.md for resolutions, memory, the WAL format and recovery.
"""

from sloengine.store._batch import ERRORS, LATENCY0, REQUESTS, DecodedBatch, SeriesLabels
from sloengine.store._dedupe import DEFAULT_WINDOW as DEDUPE_WINDOW
from sloengine.store._durable import DurableStore, PushOutcome, PushStatus
from sloengine.store._levels import DEFAULT_LEVELS, Level
from sloengine.store._recovery import RecoveryReport, StoreCorruptError
from sloengine.store._series import SeriesStore, WindowSum

__all__ = [
    "DEDUPE_WINDOW",
    "DEFAULT_LEVELS",
    "ERRORS",
    "LATENCY0",
    "REQUESTS",
    "DecodedBatch",
    "DurableStore",
    "Level",
    "PushOutcome",
    "PushStatus",
    "RecoveryReport",
    "SeriesLabels",
    "SeriesStore",
    "StoreCorruptError",
    "WindowSum",
]
