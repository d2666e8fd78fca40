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
import contextlib
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sloengine.errors import WalFailedError

MAGIC = b"SLOWAL1\n"
_HEADER = struct.Struct("<II")
MAX_RECORD_BYTES = 256 * 1024 * 1024


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True)
class SegmentRead:
    """Valid records of one segment, where they end, and what stopped the read (if any).

    `torn` is True when the problem is a torn tail: an incomplete last record (or a zero
    fill after the last record), as a crash mid-write leaves it, with nothing valid after
    it. Anything else (a CRC mismatch of a complete record, a bad header, a damaged length
    followed by more records) is damage: `records_after` counts the valid records found by
    resynchronising past it, which a repair would lose.
    """

    records: list[bytes]
    valid_bytes: int
    problem: str | None
    torn: bool = False
    records_after: int = 0
    size: int = 0


_RECORD_TYPES = (ord("C"), ord("P"))


def _valid_at(data: bytes, pos: int) -> int:
    """End of a plausible, CRC-valid record starting at `pos`, or -1."""
    if len(data) - pos < _HEADER.size + 1:
        return -1
    length, crc = _HEADER.unpack_from(data, pos)
    start = pos + _HEADER.size
    if length == 0 or start + length > len(data) or data[start] not in _RECORD_TYPES:
        return -1
    return start + length if zlib.crc32(data[start : start + length]) == crc else -1


def count_records_after(data: bytes, pos: int) -> int:
    """Valid records found by scanning for CRC-valid framing after `pos` (damage resync)."""
    count = 0
    q = pos + 1
    while q < len(data):
        end = _valid_at(data, q)
        if end < 0:
            q += 1
        else:
            count += 1
            q = end
    return count


def read_segment(path: Path) -> SegmentRead:
    data = path.read_bytes()
    size = len(data)
    if size < len(MAGIC):
        # A crash between creating the file and writing its header.
        if MAGIC.startswith(data):
            return SegmentRead([], 0, "incomplete segment header", torn=True, size=size)
        return SegmentRead([], 0, "not a WAL segment (bad header)", size=size)
    if data[: len(MAGIC)] != MAGIC:
        return SegmentRead(
            [],
            0,
            "damaged segment header (bad magic)",
            records_after=count_records_after(data, len(MAGIC) - 1),
            size=size,
        )
    records: list[bytes] = []
    pos = len(MAGIC)
    while pos < size:
        problem = None
        incomplete = False
        if size - pos < _HEADER.size:
            problem, incomplete = f"torn record header at byte {pos}", True
        else:
            length, crc = _HEADER.unpack_from(data, pos)
            start = pos + _HEADER.size
            if length == 0 or length > MAX_RECORD_BYTES:
                problem = f"bad record length {length} at byte {pos}"
            elif start + length > size:
                problem, incomplete = f"torn record at byte {pos} ({length} bytes)", True
            elif zlib.crc32(data[start : start + length]) != crc:
                problem = f"CRC mismatch at byte {pos}"
            else:
                records.append(data[start : start + length])
                pos = start + length
                continue
        if not data[pos:].strip(b"\0"):
            # A zero fill after the last record (the file grew before its data was written).
            return SegmentRead(records, pos, problem, torn=True, size=size)
        after = count_records_after(data, pos)
        # Incomplete and nothing valid after it: the write that was cut by the crash.
        return SegmentRead(
            records, pos, problem, torn=incomplete and after == 0, records_after=after, size=size
        )
    return SegmentRead(records, pos, None, size=size)


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


class GroupCommitWriter:
    """Appends framed records to one open segment; `wait_durable` resolves after fsync.

    The buffer and the file are guarded by a lock so a flush (in a worker thread) and a
    synchronous `rotate`/`flush_now` never interleave: a record always lands in the
    segment that was current when it was appended.
    """

    def __init__(
        self,
        path: Path,
        *,
        fsync: bool = True,
        fsync_observer: Callable[[float], None] | None = None,
    ) -> None:
        self.path = path
        self._fsync = fsync
        self._observe = fsync_observer
        self._lock = threading.Lock()
        self._file = open(path, "ab")  # noqa: SIM115 - owned for the writer's lifetime
        self._buffer = bytearray()
        self._appended = 0
        self._written = 0  # guarded by the lock: records durable on disk
        self._durable = 0  # loop-side copy of _written, for waking waiters
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None
        self.bytes_in_segment = self._file.tell()
        self.flushes = 0

    def append(self, payload: bytes) -> int:
        """Buffer one record; returns the ticket to pass to `wait_durable`."""
        self._check()
        record = frame(payload)
        with self._lock:
            self._buffer += record
            self._appended += 1
            return self._appended

    @property
    def last_ticket(self) -> int:
        """The ticket of the latest append: waiting for it waits for everything so far."""
        return self._appended

    def _check(self) -> None:
        if self._failed is not None:
            raise WalFailedError(f"write-ahead log failed earlier: {self._failed}")

    @property
    def failure(self) -> BaseException | None:
        """The error that poisoned the writer, if any."""
        return self._failed

    async def wait_durable(self, ticket: int) -> None:
        self._check()
        if self._durable >= ticket:
            return
        self._loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append((ticket, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_loop())
        await future

    async def _flush_loop(self) -> None:
        try:
            while self._waiters:
                written = await asyncio.to_thread(self.flush_now)
                self._durable = max(self._durable, written)
                self._wake(None)
        except BaseException as exc:
            if self._failed is None:
                self._failed = exc
            self._wake(self._failed)
            raise
        finally:
            self._flusher = None

    def flush_now(self) -> int:
        """Write and fsync whatever is buffered (any thread); returns the records durable."""
        with self._lock:
            self._check()
            if self._buffer:
                data = bytes(self._buffer)
                self._buffer.clear()
                upto = self._appended
                started = time.perf_counter()
                try:
                    self._file.write(data)
                    self._file.flush()
                    if self._fsync:
                        os.fsync(self._file.fileno())
                except BaseException as exc:
                    # The buffer is gone and the file may hold part of it: nothing from here
                    # on may be acknowledged (a later successful flush would otherwise
                    # release the waiters of these lost records).
                    self._failed = exc
                    raise WalFailedError(f"write-ahead log write failed: {exc}") from exc
                if self._observe is not None:
                    self._observe(time.perf_counter() - started)
                self.bytes_in_segment += len(data)
                self.flushes += 1
                self._written = upto
            return self._written

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

    def _after_sync_flush(self, durable: int) -> None:
        """Wake the waiters a synchronous flush satisfied, on the loop's thread."""

        def wake() -> None:
            self._durable = max(self._durable, durable)
            self._wake(None)

        loop = self._loop
        if loop is None or loop.is_closed():
            self._durable = max(self._durable, durable)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake()
        else:
            loop.call_soon_threadsafe(wake)

    def rotate(self, new_path: Path) -> None:
        """Make everything appended so far durable, then continue in a new segment.

        Synchronous: call it from the event loop's thread (so no batch is applied
        meanwhile) or when no pushes can run.
        """
        self._check()
        durable = self.flush_now()
        with self._lock:
            if self._buffer:  # appended from another thread in between: keep it here
                raise RuntimeError("rotate() raced with append(); call it from the loop thread")
            try:
                create_segment(new_path, fsync=self._fsync)
                self._file.close()
                self._file = open(new_path, "ab")  # noqa: SIM115
            except BaseException as exc:
                # Half a rotation (disk full): poison, so the store is rebuilt from disk.
                self._failed = exc
                raise WalFailedError(f"write-ahead log rotation failed: {exc}") from exc
            self.path = new_path
            self.bytes_in_segment = self._file.tell()
        self._after_sync_flush(durable)

    def close(self) -> None:
        """Flush what is buffered and close the file (synchronous)."""
        if self._failed is None:
            self._after_sync_flush(self.flush_now())
        # A failed writer's file may still hold buffered bytes it cannot write.
        with contextlib.suppress(OSError):
            self._file.close()
