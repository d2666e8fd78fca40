"""Fault injection into the data directory: what a damaged WAL, snapshot or disk does.

The promise under test: only a torn tail (a write cut by a crash, never acknowledged) is
dropped silently-but-logged; any other damage refuses to start with one line, unless the
operator asks for `repair`, which quarantines the damaged bytes and says how many records
were lost. A full disk never acknowledges a batch, is reported, and heals once space is free.
"""

from __future__ import annotations

import errno
import math
import os
import struct
from pathlib import Path

import pytest

from sloengine.ingest import decode_push
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import DurableStore, PushStatus, StoreCorruptError
from sloengine.store._datadir import DataDirLockedError

T0 = 1_800_000_000
HEADER = 8  # b"SLOWAL1\n"
FRAME = 8  # <u32 length><u32 crc>


def request(seq: int, requests: int = 10) -> pb.PushRequest:
    req = pb.PushRequest(producer_id="p", sequence=seq)
    block = req.blocks.add()
    block.key.service = "svc"
    block.key.route = f"/r{seq % 3}"
    block.timestamps_unix_ms.append((T0 + seq) * 1000)
    block.requests.append(requests)
    block.errors.append(1)
    return req


async def push(store: DurableStore, seq: int) -> PushStatus:
    batch = decode_push(request(seq), now_s=T0 + 60, max_age_s=math.inf, max_future_s=math.inf)
    return (await store.push(batch)).status


def total(store: DurableStore) -> float:
    return store.store.window_sum({}, 86400, T0 + 3600).requests


async def written(data_dir: Path, count: int) -> list[int]:
    """Push `count` batches of 10 requests, close without snapshot; the record offsets."""
    store = DurableStore(data_dir)
    store.open()
    for seq in range(1, count + 1):
        assert await push(store, seq) is PushStatus.ACCEPTED
    store.close()
    data = wal(data_dir).read_bytes()
    offsets, pos = [], HEADER
    while pos < len(data):
        offsets.append(pos)
        (length,) = struct.unpack_from("<I", data, pos)
        pos += FRAME + length
    assert len(offsets) == count
    return offsets


def wal(data_dir: Path) -> Path:
    return sorted(data_dir.glob("wal-*.log"))[-1]


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


# --- torn tail: truncated, the acked records before it kept -------------------------------
@pytest.mark.parametrize("keep", [1, FRAME - 3, FRAME + 1, -1])
async def test_a_torn_tail_is_truncated_and_every_earlier_record_kept(
    tmp_path: Path, keep: int
) -> None:
    offsets = await written(tmp_path, 5)
    path = wal(tmp_path)
    size = path.stat().st_size
    cut = offsets[-1] + keep if keep > 0 else size + keep
    os.truncate(path, cut)
    store = DurableStore(tmp_path)
    report = store.open()
    assert report.truncated is not None and report.repaired is None
    assert total(store) == 40  # the 5th record was torn: never acknowledged
    store.close()
    assert path.stat().st_size == offsets[-1]


async def test_a_zero_filled_tail_is_a_torn_tail(tmp_path: Path) -> None:
    await written(tmp_path, 3)
    with wal(tmp_path).open("ab") as f:
        f.write(b"\0" * 100)  # the file grew before its data reached the disk
    store = DurableStore(tmp_path)
    assert store.open().truncated is not None
    assert total(store) == 30
    store.close()


# --- damage before the tail: refuse, or repair with a count of what was lost --------------
def damage_cases(offsets: list[int]) -> dict[str, tuple[int, int, int]]:
    """name -> (byte offset to flip, records kept by a repair, records lost)."""
    mid = offsets[2]
    return {
        "segment header": (3, 0, 5),
        "record length, first record": (offsets[0], 0, 5),
        "record crc, middle record": (mid + 5, 2, 3),
        "payload, middle record": (mid + FRAME + 20, 2, 3),
        "payload, last record": (offsets[-1] + FRAME + 20, 4, 1),
    }


CASE_NAMES = list(damage_cases([HEADER] * 5))


@pytest.mark.parametrize("case", CASE_NAMES)
async def test_damage_refuses_to_start_with_one_line(tmp_path: Path, case: str) -> None:
    offsets = await written(tmp_path, 5)
    offset, _, lost = damage_cases(offsets)[case]
    flip(wal(tmp_path), offset)
    before = wal(tmp_path).read_bytes()
    with pytest.raises(StoreCorruptError) as info:
        DurableStore(tmp_path).open()
    message = str(info.value)
    assert "\n" not in message and "refusing to start" in message and "--repair-wal" in message
    assert f"lose about {lost} record(s)" in message
    assert wal(tmp_path).read_bytes() == before  # nothing was truncated or deleted


@pytest.mark.parametrize("case", CASE_NAMES)
async def test_repair_quarantines_the_damage_and_reports_the_loss(
    tmp_path: Path, case: str
) -> None:
    offsets = await written(tmp_path, 5)
    offset, kept, lost = damage_cases(offsets)[case]
    flip(wal(tmp_path), offset)
    size = wal(tmp_path).stat().st_size
    store = DurableStore(tmp_path, repair=True)
    report = store.open()
    assert report.lost_records == lost and report.repaired is not None
    assert total(store) == 10 * kept
    quarantined = list((tmp_path / "quarantine").iterdir())
    assert len(quarantined) == 1
    assert wal(tmp_path).stat().st_size + quarantined[0].stat().st_size >= size - HEADER
    # The store works on: a new batch is accepted and survives a restart.
    assert await push(store, 100) is PushStatus.ACCEPTED
    store.close()
    again = DurableStore(tmp_path)
    again.open()
    assert total(again) == 10 * kept + 10
    again.close()


async def test_damage_in_an_earlier_segment_quarantines_every_later_one(tmp_path: Path) -> None:
    store = DurableStore(tmp_path, snapshot_every_bytes=1 << 40)
    store.open()
    await push(store, 1)
    store._wal.rotate(tmp_path / "wal-00000002.log")  # type: ignore[union-attr]
    store._segment = 2
    await push(store, 2)
    await push(store, 3)
    store.close()
    first = sorted(tmp_path.glob("wal-*.log"))[0]
    flip(first, HEADER + FRAME + 20)
    with pytest.raises(StoreCorruptError, match="1 later segment"):
        DurableStore(tmp_path).open()
    repaired = DurableStore(tmp_path, repair=True)
    report = repaired.open()
    assert report.lost_records == 3 and total(repaired) == 0
    assert len(list((tmp_path / "quarantine").iterdir())) == 2
    repaired.close()


# --- snapshots ---------------------------------------------------------------------------
async def snapshotted(data_dir: Path) -> Path:
    store = DurableStore(data_dir)
    store.open()
    for seq in range(1, 4):
        await push(store, seq)
    path = store.snapshot()
    await push(store, 4)
    store.close()
    return path


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("zero-length", lambda p: p.write_bytes(b"")),
        ("missing", lambda p: p.unlink()),
        ("truncated", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
        ("garbage", lambda p: p.write_bytes(os.urandom(4096))),
        ("flipped byte", lambda p: flip(p, p.stat().st_size // 2)),
    ],
)
async def test_a_bad_snapshot_refuses_with_one_line(tmp_path: Path, name: str, damage) -> None:  # type: ignore[no-untyped-def]
    path = await snapshotted(tmp_path)
    damage(path)
    try:
        store = DurableStore(tmp_path)
        store.open()
    except StoreCorruptError as exc:
        message = str(exc)
        assert "\n" not in message and "snapshot" in message and "refusing to start" in message
        return
    # A flipped byte may land in a part numpy does not check (zip padding); then the data
    # must still be exact.
    assert name == "flipped byte"
    assert total(store) == 40
    store.close()


# --- two processes ------------------------------------------------------------------------
def test_a_second_store_on_the_same_dir_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = DurableStore(tmp_path)
    first.open()
    with pytest.raises(
        DataDirLockedError, match=f"in use by another engine \\(pid {os.getpid()}\\)"
    ):
        DurableStore(tmp_path).open()
    first.close()
    second = DurableStore(tmp_path)  # released on close
    second.open()
    second.close()


# --- full disk (injected ENOSPC; the tmpfs variant runs against `sloengine serve`) ---------
class _FullDisk:
    """Stands in for the WAL's file: every write fails as on a full disk."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real = real
        self.full = True

    def write(self, data: bytes) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return int(self.real.write(data))

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.real, name)


async def test_a_full_disk_acks_nothing_reports_why_and_heals(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.open()
    assert await push(store, 1) is PushStatus.ACCEPTED
    wal_writer = store._wal
    assert wal_writer is not None
    wal_writer._file = _FullDisk(wal_writer._file)  # type: ignore[assignment]
    batch = decode_push(request(2), now_s=T0 + 60, max_age_s=math.inf, max_future_s=math.inf)
    _, ticket = store.submit(batch)
    with pytest.raises(OSError, match="No space left"):
        await store.wait_durable(ticket)
    assert store.failure is not None and "No space left" in store.failure
    with pytest.raises(OSError):
        await push(store, 3)  # refused at once while failed: no false ack
    assert await store.recover() is True  # space is free again (a fresh file)
    assert store.failure is None
    with pytest.raises(OSError, match="failed before this batch was durable"):
        await store.wait_durable(ticket)  # a ticket of the failed writer never succeeds
    assert total(store) == 10  # the unacknowledged batch 2 is not in memory either
    assert await push(store, 2) is PushStatus.ACCEPTED  # the client's resend is applied
    store.close()
    again = DurableStore(tmp_path)
    again.open()
    assert total(again) == 20
    again.close()
