"""Recovery of a data directory: newest snapshot + WAL replay, torn tails, damage, repair.

Only a torn tail (an incomplete last record of the last segment, or a zero fill after it)
is cut without asking: it is a write a crash interrupted, never acknowledged. Any other
damage refuses to start (StoreCorruptError, one line) unless `repair`, which moves the
damaged bytes and every later segment to `quarantine/` and reports the records lost. An
unreadable or missing snapshot always refuses (the WAL it covered is gone).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sloengine.errors import StoreCorruptError
from sloengine.store._datadir import quarantine
from sloengine.store._dedupe import DedupeState
from sloengine.store._levels import Level
from sloengine.store._records import COLUMNS, decode_columns
from sloengine.store._series import SeriesStore
from sloengine.store._wal import MAGIC, create_segment, fsync_dir, read_segment

log = logging.getLogger("sloengine.store")

SEGMENT_RE = re.compile(r"^wal-(\d{8})\.log$")
SNAPSHOT_RE = re.compile(r"^snapshot-(\d{8})\.npz$")


@dataclass(frozen=True)
class RecoveryReport:
    snapshot: str | None
    segments_replayed: int
    records_replayed: int
    truncated: str | None
    series: int
    seconds: float
    repaired: str | None = None  # what a repair quarantined, and the records it lost
    lost_records: int = 0


def cut_segment(path: Path, valid_bytes: int, *, fsync: bool) -> None:
    """Keep the first `valid_bytes` of a segment (a fresh header when none are valid)."""
    if valid_bytes < len(MAGIC):
        path.unlink()
        create_segment(path, fsync=fsync)
        return
    os.truncate(path, valid_bytes)
    if fsync:
        fd = os.open(path, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class DataDirPaths:
    """File names in a data directory."""

    data_dir: Path

    def _numbered(self, pattern: re.Pattern[str]) -> list[int]:
        out = []
        for entry in os.listdir(self.data_dir):
            m = pattern.match(entry)
            if m:
                out.append(int(m.group(1)))
        return out

    def _segment_path(self, number: int) -> Path:
        return self.data_dir / f"wal-{number:08d}.log"

    def _snapshot_path(self, number: int) -> Path:
        return self.data_dir / f"snapshot-{number:08d}.npz"


class Recovery(DataDirPaths):
    """One recovery of `data_dir` (the caller holds its lock)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        levels: tuple[Level, ...],
        latency_bounds_seconds: Sequence[float],
        max_series: int | None,
        dedupe_window: int,
        fsync: bool,
        repair: bool,
    ) -> None:
        self.data_dir = data_dir
        self._levels = levels
        self._bounds = tuple(latency_bounds_seconds)
        self.max_series = max_series
        self._dedupe = DedupeState(window=dedupe_window)
        self._fsync = fsync
        self.repair = repair

    def run(self) -> tuple[SeriesStore, DedupeState, int, RecoveryReport]:
        """Load, replay, cut a torn tail, refuse or repair damage; the state and its segment."""
        started = time.perf_counter()
        for tmp in self.data_dir.glob("*.tmp"):
            tmp.unlink()
        store, first_segment, snapshot_name = self._load_snapshot()
        segments = sorted(n for n in self._numbered(SEGMENT_RE) if n >= first_segment)
        records = lost = 0
        truncated = repaired = None
        for i, number in enumerate(segments):
            path = self._segment_path(number)
            read = read_segment(path)
            for at, payload in enumerate(read.records):
                try:
                    self._replay(store, payload)
                except StoreCorruptError as exc:
                    raise StoreCorruptError(f"{path}: record {at + 1}: {exc}") from None
                records += 1
            if read.problem is None:
                continue
            later = segments[i + 1 :]
            if read.torn and not later:
                truncated = f"{path.name}: {read.problem}"
                log.warning(
                    "WAL %s: %s (a torn tail: a write cut by a crash, never acknowledged); "
                    "truncated to %d bytes (%d records kept)",
                    path,
                    read.problem,
                    read.valid_bytes,
                    len(read.records),
                )
                self._cut_segment(path, read.valid_bytes)
                break
            damaged_record = 0 if read.valid_bytes == 0 and not read.records else 1
            lost = damaged_record + read.records_after
            for n in later:
                later_read = read_segment(self._segment_path(n))
                lost += len(later_read.records) + later_read.records_after
            where = f"{path}: {read.problem}, with {read.records_after} valid records after it" + (
                f" and {len(later)} later segment(s)" if later else ""
            )
            if not self.repair:
                raise StoreCorruptError(
                    f"{where}: WAL damaged before its tail; refusing to start (acknowledged "
                    "data would be lost). Restore the data dir from a backup, or start with "
                    "--repair-wal to move the damaged bytes to quarantine/ and lose about "
                    f"{lost} record(s)"
                )
            repaired = self._quarantine(path, read.valid_bytes, later, lost, where)
            segments = segments[: i + 1]
            break
        segment = segments[-1] if segments else first_segment
        path = self._segment_path(segment)
        if not path.exists():
            create_segment(path, fsync=self._fsync)
        return (
            store,
            self._dedupe,
            segment,
            RecoveryReport(
                snapshot_name,
                len(segments),
                records,
                truncated,
                store.series_count(),
                time.perf_counter() - started,
                repaired,
                lost,
            ),
        )

    def _cut_segment(self, path: Path, valid_bytes: int) -> None:
        cut_segment(path, valid_bytes, fsync=self._fsync)

    def _quarantine(
        self, path: Path, valid_bytes: int, later: list[int], lost: int, where: str
    ) -> str:
        """Move the damaged bytes and every later segment to quarantine/; one log line."""
        data = path.read_bytes()
        moved = [quarantine(self.data_dir, path.name, data[valid_bytes:])]
        self._cut_segment(path, valid_bytes)
        for n in later:
            seg = self._segment_path(n)
            moved.append(quarantine(self.data_dir, seg.name, seg.read_bytes()))
            seg.unlink()
        if self._fsync:
            fsync_dir(self.data_dir)
        summary = (
            f"{where}: repaired: kept {valid_bytes} bytes of {path.name}, moved "
            f"{', '.join(str(m) for m in moved)}; {lost} record(s) lost"
        )
        log.error("WAL %s", summary)
        return summary

    def _new_store(self) -> SeriesStore:
        return SeriesStore(
            levels=self._levels, latency_bounds_seconds=self._bounds, max_series=self.max_series
        )

    def _load_snapshot(self) -> tuple[SeriesStore, int, str | None]:
        numbers = self._numbered(SNAPSHOT_RE)
        if not numbers:
            first = min(self._numbered(SEGMENT_RE), default=1)
            if first > 1:
                # Segments before `first` were deleted when snapshot `first` was written.
                raise StoreCorruptError(
                    f"{self._snapshot_path(first)}: snapshot missing (the WAL starts at "
                    f"segment {first}; everything before it lived only in that snapshot); "
                    "refusing to start: restore it, or move the data dir away to start empty"
                )
            return self._new_store(), first, None
        number = max(numbers)
        path = self._snapshot_path(number)
        try:
            if path.stat().st_size == 0:
                raise ValueError("empty file")
            with np.load(path, allow_pickle=False) as npz:
                arrays = dict(npz)
            store = SeriesStore.from_arrays(arrays, max_series=None)
            dedupe = DedupeState.from_json(json.loads(bytes(arrays["dedupe"]).decode()))
        except Exception as exc:
            # The WAL it covers is gone: starting without it would silently lose data.
            reason = str(exc) or type(exc).__name__
            raise StoreCorruptError(
                f"{path}: unreadable snapshot ({reason}); refusing to start: restore it "
                "from a backup, or move the data dir away to start empty"
            ) from None
        store.max_series = self.max_series
        self._dedupe = dedupe
        return store, number, path.name

    def _replay(self, store: SeriesStore, payload: bytes) -> None:
        try:
            self._replay_record(store, payload)
        except StoreCorruptError:
            raise
        except Exception as exc:
            raise StoreCorruptError(
                f"WAL record does not fit the state before it ({type(exc).__name__}: {exc})"
            ) from None

    def _replay_record(self, store: SeriesStore, payload: bytes) -> None:
        saved, store.max_series = store.max_series, None  # it was within the limit when written
        try:
            if payload[:1] == COLUMNS:
                try:
                    rec = decode_columns(payload)
                except (ValueError, KeyError) as exc:
                    raise StoreCorruptError(f"bad WAL record: {exc}") from None
                _, created = store.resolve(rec.new_series)
                if created != rec.new_series:
                    raise StoreCorruptError("WAL record creates series that already exist")
                store.apply_columns(
                    rec.sids, rec.block_of_sample, rec.timestamps_unix_ms, rec.values
                )
                producer, sequence = rec.producer_id, rec.sequence
            else:
                raise StoreCorruptError(f"unknown WAL record type {payload[:1]!r}")
        finally:
            store.max_series = saved
        self._dedupe.record(producer, sequence)
