"""Write-ahead log segments: CRC-framed records, group-committed appends, torn-tail reads.

Segment file = `SLOWAL1\\n` then records; record = `<u32 length><u32 crc32(payload)>payload`
(little-endian). A record is valid only when its whole payload is present and its CRC
matches, so a crash mid-write leaves a detectable torn tail.

`GroupCommitWriter` batches concurrent appends: every `wait_durable` caller whose record
was appended before a flush starts shares that flush's single `write` + `fsync`, which runs
in a worker thread so the event loop keeps accepting batches meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"SLOWAL1\n"
_HEADER = struct.Struct("<II")
MAX_RECORD_BYTES = 256 * 1024 * 1024


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True)
class SegmentRead:
    """Valid records of one segment, where they end, and what stopped the read (if any)."""

    records: list[bytes]
    valid_bytes: int
    problem: str | None


def read_segment(path: Path) -> SegmentRead:
    data = path.read_bytes()
    if len(data) < len(MAGIC):
        # A crash between creating the file and writing its header.
        return SegmentRead([], 0, "missing header" if data else None)
    if data[: len(MAGIC)] != MAGIC:
        return SegmentRead([], 0, "not a WAL segment (bad magic)")
    records: list[bytes] = []
    pos = len(MAGIC)
    while pos < len(data):
        if len(data) - pos < _HEADER.size:
            return SegmentRead(records, pos, f"torn record header at byte {pos}")
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        if length > MAX_RECORD_BYTES or start + length > len(data):
            return SegmentRead(records, pos, f"torn record at byte {pos} ({length} bytes)")
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            return SegmentRead(records, pos, f"CRC mismatch at byte {pos}")
        records.append(payload)
        pos = start + length
    return SegmentRead(records, pos, None)


def create_segment(path: Path, *, fsync: bool = True) -> None:
    with open(path, "xb") as f:
        f.write(MAGIC)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    if fsync:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WalFailedError(OSError):
    """A WAL write or fsync failed; nothing after it can be acknowledged."""


class GroupCommitWriter:
    """Appends framed records to one open segment; `wait_durable` resolves after fsync."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self._fsync = fsync
        self._file = open(path, "ab")  # noqa: SIM115 - owned for the writer's lifetime
        self._buffer = bytearray()
        self._appended = 0
        self._durable = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None
        self.bytes_in_segment = self._file.tell()
        self.flushes = 0

    def append(self, payload: bytes) -> int:
        """Buffer one record; returns the ticket to pass to `wait_durable`."""
        if self._failed is not None:
            raise WalFailedError(f"write-ahead log failed earlier: {self._failed}")
        self._buffer += frame(payload)
        self._appended += 1
        return self._appended

    async def wait_durable(self, ticket: int) -> None:
        if self._failed is not None:
            raise WalFailedError(f"write-ahead log failed earlier: {self._failed}")
        if self._durable >= ticket:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((ticket, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop())
        await future

    async def barrier(self) -> None:
        """Wait until every record appended so far is durable."""
        await self.wait_durable(self._appended)

    async def _flush_loop(self) -> None:
        try:
            while self._buffer:
                data = bytes(self._buffer)
                self._buffer.clear()
                upto = self._appended
                await asyncio.to_thread(self._write, data)
                self.bytes_in_segment += len(data)
                self.flushes += 1
                self._durable = upto
                self._wake(None)
        except BaseException as exc:
            self._failed = exc
            self._wake(exc)
            raise
        finally:
            self._flusher = None

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def _wake(self, exc: BaseException | None) -> None:
        pending = []
        for ticket, future in self._waiters:
            if future.done():
                continue
            if exc is not None:
                future.set_exception(WalFailedError(f"write-ahead log write failed: {exc}"))
            elif ticket <= self._durable:
                future.set_result(None)
            else:
                pending.append((ticket, future))
        self._waiters = pending

    async def rotate(self, new_path: Path) -> None:
        """Make everything appended so far durable, then continue in a new segment."""
        while self._buffer or self._flusher is not None or self._durable < self._appended:
            await self.barrier()
        # No await from here on: no record can slip in between the two segments.
        create_segment(new_path, fsync=self._fsync)
        self._file.close()
        self._file = open(new_path, "ab")  # noqa: SIM115
        self.path = new_path
        self.bytes_in_segment = self._file.tell()

    async def close(self) -> None:
        if self._failed is None:
            await self.barrier()
        self._file.close()
