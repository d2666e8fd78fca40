"""The engine's embedded metric store.

- `decode_push`: PushRequest -> validated numpy columns (`DecodedBatch`), or IngestError;
  `decode_wire`: the same straight from the wire bytes (the fast path; None: use decode_push).
- `SeriesStore`: multi-resolution ring buffers per series; `window_sum` over label selectors.
- `DurableStore`: a SeriesStore behind a group-committed write-ahead log and snapshots,
  with (producer_id, sequence) dedupe that survives restarts.

See docs/store.md for resolutions, memory, the WAL format and recovery.
"""

from sloengine.store._decode import DecodedBatch, decode_push
from sloengine.store._decode_wire import decode_wire, decode_wire_many
from sloengine.store._dedupe import DEFAULT_WINDOW as DEDUPE_WINDOW
from sloengine.store._durable import DurableStore, PushOutcome, PushStatus
from sloengine.store._levels import DEFAULT_LEVELS, Level
from sloengine.store._recovery import RecoveryReport, StoreCorruptError
from sloengine.store._series import SeriesStore, WindowSum

__all__ = [
    "DEDUPE_WINDOW",
    "DEFAULT_LEVELS",
    "DecodedBatch",
    "DurableStore",
    "Level",
    "PushOutcome",
    "PushStatus",
    "RecoveryReport",
    "SeriesStore",
    "StoreCorruptError",
    "WindowSum",
    "decode_push",
    "decode_wire",
    "decode_wire_many",
]
