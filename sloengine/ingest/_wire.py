"""PushRequest wire bytes -> columns without the protobuf library (the ingest fast path).

Why: reading a batch through protobuf costs about 0.5 us per field per block (every
access builds a wrapper object), so a sidecar's 1,000 one-sample blocks cost ~14 ms. On
the wire, though, a packed `repeated double` is contiguous little-endian f8 and a packed
`repeated int64` is a run of varints, so the columns can be cut out of the raw bytes with
a few numpy calls per *batch*:

1. protobuf's C parser reads the message as `PushFrame` (blocks as `repeated bytes`, the
   same wire format), which yields each block's bytes (`_top_level`);
2. the fields inside all blocks are read in lock step, one numpy pass per field position
   (`_fields`): a block has at most six fields, so that is at most six passes (a few long
   blocks: a Python loop, `_fields_few`);
3. the arrays are gathered with one fancy index per column, varints decoded vectorised.

Several messages can be scanned in the same passes (`scan_columns(raws)`).

Only the encoding `SerializeToString` produces (and every protobuf library emits for
proto3: packed, each field once per block) is handled. Anything else (unpacked arrays,
unknown or repeated fields, malformed bytes, latency bounds other than the store's) raises
`UnsupportedEncoding`; `decode_wire` then returns None and the caller takes the protobuf
path, which accepts any valid encoding. Invalid batches also return None, so the protobuf
path names the error: the two paths never disagree on a message.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

from sloengine.errors import SloEngineError

__all__ = [
    "ScannedPushes",
    "UnsupportedEncoding",
    "packed_doubles",
    "scan_columns",
    "split_keys",
]

_U8 = npt.NDArray[np.uint8]
_I64 = npt.NDArray[np.int64]
_F64 = npt.NDArray[np.float64]

# SeriesBlock field numbers (engine.proto); all are length-delimited when packed.
_KEY, _TS, _REQ, _ERR, _BOUNDS, _COUNTS = 1, 2, 3, 4, 5, 6


class UnsupportedEncoding(SloEngineError):
    """An encoding (or malformed bytes) the fast path does not read: use protobuf.

    Private control flow: `WireDecoder` catches it and takes the protobuf path.
    """


@dataclass(frozen=True, eq=False)
class ScannedPushes:
    """The columns of one or more batches cut out of their wire bytes, before validation.

    Batch m has `message_blocks[m]` blocks, in order. `key_bytes` are all blocks'
    serialised SeriesKeys back to back (`key_lengths` bytes each); `lengths[i]` is block
    i's sample count; rows of `requests`, `errors`, `timestamps_unix_ms` are the blocks'
    samples in block order; `latency` is `(samples, bounds)` (zeros for blocks without a
    histogram) or None when no block has one.
    """

    producer_ids: list[str]
    sequences: list[int]
    message_blocks: list[int]
    key_lengths: _I64
    key_bytes: bytes
    lengths: _I64
    timestamps_unix_ms: _I64
    requests: _F64
    errors: _F64
    latency: _F64 | None


def split_keys(key_bytes: bytes, key_lengths: _I64) -> list[bytes]:
    """Each serialised SeriesKey of a key section."""
    ends = np.cumsum(key_lengths).tolist()
    return [key_bytes[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(raw) or shift > 63:
            raise UnsupportedEncoding
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _frame_class() -> type[Message]:
    """PushRequest with `blocks` read as `repeated bytes` (the same wire format).

    Why: protobuf's C parser then finds the blocks' byte ranges, which a Python loop
    would do one block at a time. Top-level semantics are the real message's: the same
    UTF-8 check of producer_id, unknown fields ignored alike.
    """
    file = descriptor_pb2.FileDescriptorProto(
        name="sloengine/ingest/push_frame.proto", package="sloengine.ingest", syntax="proto3"
    )
    message = file.message_type.add(name="PushFrame")
    field = descriptor_pb2.FieldDescriptorProto
    message.field.add(name="producer_id", number=1, type=field.TYPE_STRING)
    message.field.add(name="sequence", number=2, type=field.TYPE_UINT64)
    message.field.add(name="blocks", number=3, type=field.TYPE_BYTES, label=field.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("sloengine.ingest.PushFrame"))


_PushFrame = _frame_class()


def _top_level(raw: bytes) -> tuple[str, int, bytes, _I64]:
    """producer_id, sequence, the blocks' bytes back to back, and each block's length."""
    try:
        frame: Any = _PushFrame.FromString(raw)
    except DecodeError:
        raise UnsupportedEncoding from None
    blocks = list(frame.blocks)
    sizes = np.fromiter(map(len, blocks), dtype=np.int64, count=len(blocks))
    return frame.producer_id, frame.sequence, b"".join(blocks), sizes


# Tags of SeriesBlock fields 1-6 with wire type 2 (length-delimited, i.e. packed arrays).
_BLOCK_TAG = np.zeros(256, dtype=bool)
_BLOCK_TAG[[(f << 3) | 2 for f in range(1, 7)]] = True


# Up to this many blocks a Python loop over each block's fields beats the lock-step numpy
# passes (a numpy call costs ~1-2 us, a Python field read ~0.3 us).
_FEW_BLOCKS = 32


def _fields_few(buf: bytes, sizes: list[int]) -> tuple[_I64, _I64]:
    """`_fields` for a few (long) blocks, one Python step per field."""
    offsets = []
    lengths = []
    pos = 0
    for size in sizes:
        end = pos + size
        row_o = [-1] * 7
        row_l = [0] * 7
        while pos < end:
            tag = buf[pos]
            field = tag >> 3
            if tag & 7 != 2 or not 1 <= field <= 6 or row_o[field] >= 0:
                raise UnsupportedEncoding
            length, pos = _varint(buf, pos + 1)
            row_o[field] = pos
            row_l[field] = length
            pos += length
        if pos != end:
            raise UnsupportedEncoding
        offsets.append(row_o)
        lengths.append(row_l)
    return np.array(offsets, dtype=np.int64), np.array(lengths, dtype=np.int64)


def _fields(u8: _U8, starts: _I64, ends: _I64) -> tuple[_I64, _I64]:
    """Offsets and lengths `(blocks, 7)` of every block's fields 1-6 (-1 / 0: absent).

    All blocks are read in lock step: pass k reads the k-th field of every block that has
    one, so the Python work is per field position (at most six), not per block.
    """
    nblocks = starts.size
    offsets = np.full((nblocks, 7), -1, dtype=np.int64)
    lengths = np.zeros((nblocks, 7), dtype=np.int64)
    live = np.arange(nblocks)
    pos, end = starts, ends
    while live.size:
        tag = u8[pos]
        if not _BLOCK_TAG[tag].all():
            raise UnsupportedEncoding  # unpacked arrays, unknown fields, multi-byte tags
        field = (tag >> 3).astype(np.int64)
        first = u8[pos + 1]
        if (first < 0x80).all():  # every length fits one byte (the sidecar's blocks)
            length = first.astype(np.int64)
            data = pos + 2
        else:
            length, data = _lengths(u8, pos + 1)
        nxt = data + length
        if (nxt > end).any():
            raise UnsupportedEncoding  # truncated
        if (offsets[live, field] >= 0).any():
            raise UnsupportedEncoding  # a field twice in a block (protobuf merges those)
        offsets[live, field] = data
        lengths[live, field] = length
        more = nxt < end
        if more.all():
            pos = nxt
        else:
            live, pos, end = live[more], nxt[more], end[more]
    return offsets, lengths


def _lengths(u8: _U8, at: _I64) -> tuple[_I64, _I64]:
    """Varint lengths starting at `at`; returns them and where their data starts."""
    length = np.zeros(at.size, dtype=np.int64)
    data = at.copy()
    more = np.ones(at.size, dtype=bool)
    last = u8.size - 1
    for k in range(5):  # up to 2**35: far above any message size limit
        byte = u8[np.minimum(at + k, last)].astype(np.int64)
        length |= np.where(more, (byte & 0x7F) << (7 * k), 0)
        data += more
        more &= byte >= 0x80
        if not more.any():
            return length, data
    raise UnsupportedEncoding


def _gather(u8: _U8, offsets: _I64, lengths: _I64) -> _U8:
    """The concatenation of the byte ranges `[offsets[i], offsets[i] + lengths[i])`."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.uint8)
    if lengths.size <= _FEW_BLOCKS or total >= 64 * lengths.size:
        # Few or long ranges: slices (memcpy) beat an index array of 8 bytes per byte.
        return np.concatenate(
            [u8[o : o + n] for o, n in zip(offsets.tolist(), lengths.tolist(), strict=True)]
        )
    size = int(lengths[0])
    if total == size * lengths.size:  # equal lengths (both usual shapes): one 2-D index
        return u8[offsets[:, None] + np.arange(size)].ravel()
    out_start = np.cumsum(lengths) - lengths
    index = np.arange(total, dtype=np.int64) + np.repeat(offsets - out_start, lengths)
    return u8[index]


def _doubles(u8: _U8, offsets: _I64, lengths: _I64) -> _F64:
    if (lengths & 7).any():
        raise UnsupportedEncoding
    return _gather(u8, np.maximum(offsets, 0), lengths).view("<f8").astype(np.float64)


_SHIFTS = np.arange(10, dtype=np.uint64) * np.uint64(7)
_WEIGHTS = 128.0 ** np.arange(7)
# _CONTINUES[w]: the continuation bits of a w-byte varint (set on all but its last byte).
_CONTINUES = [np.arange(w) < w - 1 for w in range(11)]


def _varints(u8: _U8, offsets: _I64, lengths: _I64) -> tuple[_I64, _I64]:
    """Decode packed varint runs; returns the values and how many each run held."""
    data = _gather(u8, np.maximum(offsets, 0), lengths)
    if not data.size:
        return np.zeros(0, dtype=np.int64), np.zeros(lengths.size, dtype=np.int64)
    # Usual case: every value has the same width (millisecond timestamps of one era all
    # take 6 bytes), so the bytes reshape to one value per row.
    width = int(np.argmax(data < 0x80)) + 1
    if width <= 10 and not (lengths % width).any():
        rows = data.reshape(-1, width)
        if ((rows >= 0x80) == _CONTINUES[width]).all():
            if width <= 7:  # < 2**49: exact in float64, and a matrix product is one call
                values = ((rows & 0x7F) @ _WEIGHTS[:width]).astype(np.int64)
            else:
                parts = (rows & 0x7F).astype(np.uint64) << _SHIFTS[:width]
                values = parts.sum(axis=1, dtype=np.uint64).view(np.int64)
            return values, lengths // width
    last = np.flatnonzero(data < 0x80)
    run_end = np.cumsum(lengths) - 1
    nonempty = lengths > 0
    if (data[run_end[nonempty]] >= 0x80).any():
        raise UnsupportedEncoding  # a run ends inside a varint
    first = np.concatenate(([0], last[:-1] + 1))
    widths = last - first + 1
    if (widths > 10).any():
        raise UnsupportedEncoding
    # Byte j of a value contributes (b & 0x7f) << 7j; uint64 wraps like two's complement.
    position = np.arange(data.size) - np.repeat(first, widths)
    parts = (data & 0x7F).astype(np.uint64) << _SHIFTS[position]
    values = np.add.reduceat(parts, first).view(np.int64)
    counts = np.zeros(lengths.size, dtype=np.int64)
    ends_before = np.searchsorted(last, run_end[nonempty], side="right")
    counts[nonempty] = np.diff(np.concatenate(([0], ends_before)))
    return values, counts


def scan_columns(raws: Sequence[bytes], bounds_bytes: bytes) -> ScannedPushes:
    """Cut the columns of the PushRequests `raws` out of their bytes, all at once.

    Raises UnsupportedEncoding when any of them is not in the usual encoding (IndexError:
    a length pointing past the end). Why many at once: the numpy passes cost the same for
    one batch's blocks or many batches' blocks, so a group of small batches (200
    producers) shares them. `bounds_bytes` are the store's latency bounds packed as f8: a
    block whose bounds are byte-identical has its histogram taken as is; any other bounds
    need mapping (the protobuf path).
    """
    producers, sequences, bufs, all_sizes = [], [], [], []
    for raw in raws:
        producer, sequence, blocks_bytes, block_sizes = _top_level(raw)
        if not block_sizes.size:
            raise UnsupportedEncoding  # no blocks: rare, and the protobuf path is exact
        producers.append(producer)
        sequences.append(sequence)
        bufs.append(blocks_bytes)
        all_sizes.append(block_sizes)
    buf = bufs[0] if len(bufs) == 1 else b"".join(bufs)
    sizes = all_sizes[0] if len(all_sizes) == 1 else np.concatenate(all_sizes)
    u8 = np.frombuffer(buf, dtype=np.uint8)
    if sizes.size <= _FEW_BLOCKS:
        offsets, lengths = _fields_few(buf, sizes.tolist())
    else:
        ends = np.cumsum(sizes)
        offsets, lengths = _fields(u8, ends - sizes, ends)
    if (offsets[:, _KEY] < 0).any():
        raise UnsupportedEncoding  # a block without a key: the protobuf path names it
    key_lengths = lengths[:, _KEY]
    key_bytes = _gather(u8, offsets[:, _KEY], key_lengths).tobytes()
    ts, n = _varints(u8, offsets[:, _TS], lengths[:, _TS])
    if ((lengths[:, _REQ] >> 3) != n).any() or ((lengths[:, _ERR] >> 3) != n).any():
        raise UnsupportedEncoding  # mismatched arrays: the protobuf path names them
    requests = _doubles(u8, offsets[:, _REQ], lengths[:, _REQ])
    errors = _doubles(u8, offsets[:, _ERR], lengths[:, _ERR])
    latency = None
    with_bounds = lengths[:, _BOUNDS] > 0
    if with_bounds.any() or (lengths[:, _COUNTS] > 0).any():
        latency = _histograms(buf, u8, offsets, lengths, n, bounds_bytes)
    return ScannedPushes(
        producers,
        sequences,
        [s.size for s in all_sizes],
        key_lengths,
        key_bytes,
        n,
        ts,
        requests,
        errors,
        latency,
    )


def _histograms(
    buf: bytes, u8: _U8, offsets: _I64, lengths: _I64, n: _I64, bounds_bytes: bytes
) -> _F64:
    """`(samples, bounds)` latency counts; zeros for blocks without a histogram."""
    nbounds = len(bounds_bytes) // 8
    with_bounds = lengths[:, _BOUNDS] > 0
    if ((lengths[:, _COUNTS] > 0) != with_bounds).any():
        raise UnsupportedEncoding
    if (lengths[:, _COUNTS] >> 3 != n * nbounds * with_bounds).any():
        raise UnsupportedEncoding
    sized = lengths[:, _BOUNDS] == len(bounds_bytes)
    if (with_bounds & ~sized).any():
        raise UnsupportedEncoding  # other bounds: mapped by the protobuf path
    # Every block's bounds must be the store's, byte for byte: compare all at once.
    blocks = np.flatnonzero(with_bounds)
    sent = _gather(u8, offsets[blocks, _BOUNDS], lengths[blocks, _BOUNDS])
    if sent.tobytes() != bounds_bytes * blocks.size:
        raise UnsupportedEncoding
    latency = np.zeros((int(n.sum()), nbounds))
    rows = np.repeat(with_bounds, n)
    counts = _doubles(u8, offsets[:, _COUNTS], lengths[:, _COUNTS])
    latency[rows] = counts.reshape(-1, nbounds)
    return latency


_F8 = struct.Struct("<d")


def packed_doubles(values: tuple[float, ...]) -> bytes:
    """`values` as a packed `repeated double` payload (to compare bounds byte for byte)."""
    return b"".join(_F8.pack(v) for v in values)
