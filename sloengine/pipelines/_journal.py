"""The receivers' journal: every accepted request, durable before its rows reach the store.

Directory `<data_dir>/pipelines/`:
    journal-00000004.log   records `<u32 length><u32 crc32>payload` after a magic line
    state-00000004.json    the converter state after every record of segments < 4, and
                           the number of records it covers

A torn or corrupt tail of the last segment (a crash mid-append) is cut off on open, like the
store's WAL. Appends are group-committed: every waiter whose record was written before an
fsync starts shares it. A failed write or fsync poisons the journal (every later call
raises): the in-memory state may then be ahead of the disk, so only a restart is safe.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sloengine.errors import JournalError

__all__ = ["Journal", "JournalError", "Recovered"]

_MAGIC = b"SLOPIPE1\n"
_HEADER = struct.Struct("<II")
_MAX_RECORD = 256 * 1024 * 1024
_SEGMENT = re.compile(r"^journal-(\d{8})\.log$")
_STATE = re.compile(r"^state-(\d{8})\.json$")


@dataclass
class Recovered:
    """What `open` found: the saved state, and the records written after it, in order."""

    state: dict[str, Any] | None
    records_before: int  # records the state covers (the next record's sequence is this + 1)
    records: list[bytes]
    truncated: str | None


class Journal:
    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self._fsync = fsync
        self._fd = -1
        self._segment = 0
        self._appended = 0  # tickets: records appended since open
        self._durable = 0
        self._flushing: asyncio.Future[None] | None = None
        self._failed: BaseException | None = None
        self.bytes_in_segment = 0

    # --- open / recovery --------------------------------------------------------------------
    def open(self) -> Recovered:
        self.directory.mkdir(parents=True, exist_ok=True)
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink()
        states = self._numbered(_STATE)
        state: dict[str, Any] | None = None
        first = 1
        records_before = 0
        if states:
            first = max(states)
            path = self._state_path(first)
            try:
                doc = json.loads(path.read_text())
                state, records_before = doc["state"], int(doc["records"])
            except (ValueError, KeyError, TypeError) as exc:
                raise JournalError(f"{path}: not a state file ({exc!r})") from None
        segments = sorted(n for n in self._numbered(_SEGMENT) if n >= first)
        records: list[bytes] = []
        truncated = None
        for i, number in enumerate(segments):
            path = self._segment_path(number)
            got, valid, problem = _read(path)
            records.extend(got)
            if problem is not None:
                if i != len(segments) - 1:
                    raise JournalError(f"{path}: {problem}; later segments exist")
                truncated = f"{path.name}: {problem}"
                if valid < len(_MAGIC):
                    path.write_bytes(_MAGIC)
                else:
                    os.truncate(path, valid)
        self._segment = segments[-1] if segments else first
        self._open_segment(create=not segments)
        return Recovered(state, records_before, records, truncated)

    def _open_segment(self, *, create: bool) -> None:
        path = self._segment_path(self._segment)
        if create or not path.exists():
            with open(path, "wb") as f:
                f.write(_MAGIC)
                f.flush()
                if self._fsync:
                    os.fsync(f.fileno())
            self._fsync_dir()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self.bytes_in_segment = os.fstat(self._fd).st_size

    @property
    def failure(self) -> str | None:
        """Why the journal is poisoned (only a restart recovers), None when it is fine."""
        return None if self._failed is None else str(self._failed)

    # --- appends ----------------------------------------------------------------------------
    def append(self, payload: bytes) -> int:
        """Write one record (to the OS, not yet durable); returns its ticket for `wait_durable`."""
        if self._failed is not None:
            raise JournalError(f"journal failed earlier: {self._failed}")
        record = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        try:
            os.write(self._fd, record)
        except OSError as exc:
            self._failed = exc
            raise JournalError(f"journal write failed: {exc}") from exc
        self._appended += 1
        self.bytes_in_segment += len(record)
        return self._appended

    async def wait_durable(self, ticket: int) -> None:
        """Return once every record up to `ticket` is fsynced (raises JournalError if not)."""
        while self._durable < ticket:
            if self._failed is not None:
                raise JournalError(f"journal failed: {self._failed}")
            if self._flushing is None:
                self._flushing = asyncio.ensure_future(self._flush())
            await asyncio.shield(self._flushing)

    async def _flush(self) -> None:
        target, fd = self._appended, self._fd
        try:
            if self._fsync:
                await asyncio.to_thread(os.fsync, fd)
        except OSError as exc:
            self._failed = exc
            raise JournalError(f"journal fsync failed: {exc}") from exc
        finally:
            self._flushing = None
        self._durable = max(self._durable, target)

    # --- snapshots --------------------------------------------------------------------------
    async def rotate(self) -> int:
        """Make everything appended durable and start a new segment; returns its number.

        The switch itself runs without yielding (after any running flush finished), so the
        caller can take its state copy right after and know it matches the segment cut.
        """
        while self._flushing is not None:
            await asyncio.shield(self._flushing)
        if self._failed is not None:
            raise JournalError(f"journal failed: {self._failed}")
        try:
            if self._fsync:
                os.fsync(self._fd)  # a short stall, once per segment
        except OSError as exc:
            self._failed = exc
            raise JournalError(f"journal fsync failed: {exc}") from exc
        self._durable = self._appended
        os.close(self._fd)
        self._segment += 1
        self._open_segment(create=True)
        return self._segment

    def write_state(self, segment: int, state: dict[str, Any], records: int) -> None:
        """Save the state covering every segment below `segment`, then drop those segments."""
        path = self._state_path(segment)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump({"records": records, "state": state}, f, separators=(",", ":"))
            f.flush()
            if self._fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        self._fsync_dir()
        for old in self._numbered(_SEGMENT):
            if old < segment:
                self._segment_path(old).unlink(missing_ok=True)
        for old in self._numbered(_STATE):
            if old < segment:
                self._state_path(old).unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # --- paths ------------------------------------------------------------------------------
    def _fsync_dir(self) -> None:
        if not self._fsync:
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _numbered(self, pattern: re.Pattern[str]) -> list[int]:
        return [int(m.group(1)) for e in os.listdir(self.directory) if (m := pattern.match(e))]

    def _segment_path(self, number: int) -> Path:
        return self.directory / f"journal-{number:08d}.log"

    def _state_path(self, number: int) -> Path:
        return self.directory / f"state-{number:08d}.json"


def _read(path: Path) -> tuple[list[bytes], int, str | None]:
    data = path.read_bytes()
    if data[: len(_MAGIC)] != _MAGIC:
        if len(data) < len(_MAGIC) and _MAGIC.startswith(data):
            return [], 0, "missing header" if data else None
        raise JournalError(f"{path}: not a pipelines journal segment")
    records: list[bytes] = []
    pos = len(_MAGIC)
    while pos < len(data):
        if len(data) - pos < _HEADER.size:
            return records, pos, f"torn record header at byte {pos}"
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        if length > _MAX_RECORD or start + length > len(data):
            return records, pos, f"torn record at byte {pos}"
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            return records, pos, f"CRC mismatch at byte {pos}"
        records.append(payload)
        pos = start + length
    return records, pos, None
