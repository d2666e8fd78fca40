"""WAL record payloads: an applied batch in decoded, columnar form.

    b"C" <u32 header length> <header JSON> <sids i8 x blocks> <lengths i8 x blocks>
         <timestamps i8 x samples> <values f8 x samples x columns>        (little-endian)
    header = {"p": producer_id, "s": sequence, "new": [labels of series this batch
              created, in creation order], "b": blocks, "n": samples, "w": columns}

Replay needs no protobuf decoding or validation: it recreates the same series (ids are
assigned in creation order, so they come out identical) and adds the columns. Records of
type b"P" (a raw PushRequest, the first format) are still read.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sloengine.store._decode import SeriesLabels

COLUMNS = b"C"
PUSH = b"P"
_U32 = struct.Struct("<I")


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
    header = json.dumps(
        {
            "p": producer_id,
            "s": sequence,
            "new": [list(map(list, labels)) for labels in new_series],
            "b": int(sids.size),
            "n": int(timestamps_unix_ms.size),
            "w": int(values.shape[1]),
        },
        separators=(",", ":"),
    ).encode()
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
        values=values.reshape(samples, width).astype(np.float64),
    )
