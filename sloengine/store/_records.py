"""WAL record payloads: an applied batch in decoded, columnar form.

    b"C" <u32 header length> <header JSON> <sids i8 x blocks> <lengths i8 x blocks>
         <timestamps i8 x samples> <values f8 x samples x columns>        (little-endian)
    header = {"p": producer_id, "s": sequence, "new": [labels of series this batch
              created, in creation order], "b": blocks, "n": samples, "w": columns
              stored, "W": columns of the store when the record omits the all-zero
              latency columns (absent: "w")}

Replay needs no protobuf decoding or validation: it recreates the same series (ids are
assigned in creation order, so they come out identical) and adds the columns. This is the
only record type: the pre-release b"P" records (a raw PushRequest) are no longer read.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sloengine.store._batch import SeriesLabels

COLUMNS = b"C"
_U32 = struct.Struct("<I")
_KEPT = 2  # requests, errors: the columns every record stores


@dataclass(frozen=True, eq=False)
class ColumnsRecord:
    producer_id: str
    sequence: int
    new_series: list[SeriesLabels]
    sids: npt.NDArray[np.int64]
    block_of_sample: npt.NDArray[np.int64]
    timestamps_unix_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]


def encode_columns(
    producer_id: str,
    sequence: int,
    new_series: list[SeriesLabels],
    sids: npt.NDArray[np.int64],
    block_of_sample: npt.NDArray[np.int64],
    timestamps_unix_ms: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
) -> bytes:
    lengths = np.bincount(block_of_sample, minlength=sids.size).astype("<i8")
    width = int(values.shape[1])
    fields = {
        "p": producer_id,
        "s": sequence,
        "new": [list(map(list, labels)) for labels in new_series],
        "b": int(sids.size),
        "n": int(timestamps_unix_ms.size),
        "w": width,
    }
    if width > _KEPT and not values[:, _KEPT:].any():
        # No latency histogram in the batch: store requests and errors only. Why: the 12
        # zero columns were 85% of such a record (WAL bytes, CRC, fsync, snapshot churn).
        values = values[:, :_KEPT]
        fields["w"], fields["W"] = _KEPT, width
    header = json.dumps(fields, separators=(",", ":")).encode()
    return b"".join(
        (
            COLUMNS,
            _U32.pack(len(header)),
            header,
            sids.astype("<i8").tobytes(),
            lengths.tobytes(),
            timestamps_unix_ms.astype("<i8").tobytes(),
            np.ascontiguousarray(values, dtype="<f8").tobytes(),
        )
    )


def decode_columns(payload: bytes) -> ColumnsRecord:
    """Inverse of encode_columns; raises ValueError on a malformed payload."""
    if payload[:1] != COLUMNS:
        raise ValueError(f"not a columns record: type {payload[:1]!r}")
    (size,) = _U32.unpack_from(payload, 1)
    start = 1 + _U32.size
    header = json.loads(payload[start : start + size])
    blocks, samples, width = int(header["b"]), int(header["n"]), int(header["w"])
    full_width = int(header.get("W", width))
    pos = start + size
    expected = pos + 8 * (2 * blocks + samples + samples * width)
    if len(payload) != expected:
        raise ValueError(f"columns record has {len(payload)} bytes, expected {expected}")
    sids = np.frombuffer(payload, dtype="<i8", count=blocks, offset=pos).astype(np.int64)
    pos += 8 * blocks
    lengths = np.frombuffer(payload, dtype="<i8", count=blocks, offset=pos)
    pos += 8 * blocks
    ts = np.frombuffer(payload, dtype="<i8", count=samples, offset=pos).astype(np.int64)
    pos += 8 * samples
    values = np.frombuffer(payload, dtype="<f8", count=samples * width, offset=pos)
    return ColumnsRecord(
        producer_id=str(header["p"]),
        sequence=int(header["s"]),
        new_series=[tuple((str(k), str(v)) for k, v in labels) for labels in header["new"]],
        sids=sids,
        block_of_sample=np.repeat(np.arange(blocks, dtype=np.int64), lengths),
        timestamps_unix_ms=ts,
        values=_widen(values.reshape(samples, width), full_width),
    )


def _widen(values: npt.NDArray[np.float64], width: int) -> npt.NDArray[np.float64]:
    """A copy of `values` with zero columns appended up to `width` (dropped by encode)."""
    out = np.zeros((values.shape[0], width))
    out[:, : values.shape[1]] = values
    return out
