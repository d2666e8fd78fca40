"""The engine's embedded metric store.

- `decode_push`: PushRequest -> validated numpy columns (`DecodedBatch`), or IngestError.
- `SeriesStore`: multi-resolution ring buffers per series; `window_sum` over label selectors.
- `DurableStore`: a SeriesStore behind a group-committed write-ahead log and snapshots,
  with (producer_id, sequence) dedupe that survives restarts.

See docs/store.md for resolutions, memory, the WAL format and recovery.
"""

from sloengine.store._decode import DecodedBatch, decode_push
from sloengine.store._levels import DEFAULT_LEVELS, Level
from sloengine.store._series import SeriesStore, WindowSum

__all__ = [
    "DEFAULT_LEVELS",
    "DecodedBatch",
    "Level",
    "SeriesStore",
    "WindowSum",
    "decode_push",
]
