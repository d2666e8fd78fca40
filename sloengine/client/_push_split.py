"""Fit series blocks into PushRequests under a message size limit (for EngineClient).

gRPC refuses a message over the receiver's `max_receive_message_length` by failing the
whole stream, so one oversized batch, resent after every reconnect, would block every
batch behind it. The client therefore packs blocks by their encoded size, and a block
that cannot fit even alone is reported, never sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sloengine.proto.sloengine.v1 import engine_pb2 as pb

__all__ = ["block_wire_bytes", "pack_blocks", "refused_size_limit", "request_overhead_bytes"]

# The longest varint (a uint64 sequence) is 10 bytes.
_MAX_SEQUENCE_BYTES = 1 + 10
# grpc-core's text when a peer refuses a message: "... larger than max (5000040 vs. 4194304)".
_LIMIT_TEXT = re.compile(r"larger than max \((\d+) vs\. (\d+)\)")


def _varint_bytes(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def block_wire_bytes(block: pb.SeriesBlock) -> int:
    """A block's bytes inside a PushRequest: tag, length prefix, body."""
    n = block.ByteSize()
    return 1 + _varint_bytes(n) + n


def request_overhead_bytes(producer_id: str) -> int:
    """A PushRequest's bytes besides its blocks (producer id and any sequence)."""
    n = len(producer_id.encode())
    return 1 + _varint_bytes(n) + n + _MAX_SEQUENCE_BYTES


def pack_blocks(
    blocks: Iterable[pb.SeriesBlock], producer_id: str, max_message_bytes: int
) -> tuple[list[list[pb.SeriesBlock]], list[pb.SeriesBlock]]:
    """Blocks in order, grouped so each group's PushRequest is at most `max_message_bytes`;
    and the blocks too big to be sent even alone."""
    budget = max_message_bytes - request_overhead_bytes(producer_id)
    groups: list[list[pb.SeriesBlock]] = []
    too_big: list[pb.SeriesBlock] = []
    current: list[pb.SeriesBlock] = []
    used = 0
    for block in blocks:
        size = block_wire_bytes(block)
        if size > budget:
            too_big.append(block)
            continue
        if current and used + size > budget:
            groups.append(current)
            current, used = [], 0
        current.append(block)
        used += size
    if current:
        groups.append(current)
    return groups, too_big


def refused_size_limit(details: str) -> int | None:
    """The peer's message size limit named in a RESOURCE_EXHAUSTED status, if it says."""
    match = _LIMIT_TEXT.search(details or "")
    return int(match.group(2)) if match else None
