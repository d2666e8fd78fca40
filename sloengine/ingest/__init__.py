"""The ingest service: the wire codec, and batches from the wire into the durable store.

- `IngestService`: serialised PushRequests -> `DurableStore.submit_many` -> `Submission`
  (acknowledge once `wait_durable(ticket)` returns) or `Rejection` (a precise reason).
  Plain typed Python; gRPC's `IngestServicer` is a thin adapter over it.
- `decode_push`: PushRequest -> validated numpy columns (the store's `DecodedBatch`), or
  IngestError naming the first bad field; `decode_wire` / `decode_wire_many`: the same
  straight from the wire bytes (the fast path; None: use decode_push); `WireDecoder`: the
  fast path with its own key caches (what the service uses).
- `PushBatch` / `SeriesBlock`: a batch as plain Python, for producers inside the engine
  (replay, the pipelines' receivers); `push_request` makes the wire message of one,
  `decode_batch` the store's columns (the same validation as `decode_push`).

See docs/store.md (validation, the wire fast path) and docs/architecture.md.
"""

from sloengine.ingest._blocks import PushBatch, SeriesBlock, decode_batch, push_request
from sloengine.ingest._decode import decode_push
from sloengine.ingest._decode_wire import WireDecoder, decode_wire, decode_wire_many
from sloengine.ingest._service import IngestService, Rejection, RejectionKind, Submission
from sloengine.ingest._validate import MAX_SAMPLE_COUNT

__all__ = [
    "MAX_SAMPLE_COUNT",
    "IngestService",
    "PushBatch",
    "Rejection",
    "RejectionKind",
    "SeriesBlock",
    "Submission",
    "WireDecoder",
    "decode_batch",
    "decode_push",
    "decode_wire",
    "decode_wire_many",
    "push_request",
]
