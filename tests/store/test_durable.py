"""DurableStore: group commit, recovery, dedupe across restarts, torn and corrupt WAL tails."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.errors import CapacityError
from sloengine.ingest import decode_push
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import DurableStore, PushStatus, StoreCorruptError
from tests.store.streams import SERIES, T0, Sample, frame, oracle, push_request


def batch_of(req: pb.PushRequest):  # type: ignore[no-untyped-def]
    return decode_push(req, now_s=T0 + 86400, max_age_s=math.inf, max_future_s=math.inf)


async def push(store: DurableStore, req: pb.PushRequest) -> PushStatus:
    outcome = await store.push(batch_of(req))
    return outcome.status


def sample(i: int, series: int = 0, requests: int = 10, errors: int = 1) -> Sample:
    return Sample(series, (T0 + 10 * i + 5) * 1000, requests, errors, requests - errors)


def total(store: DurableStore, selector: dict[str, str] | None = None) -> tuple[float, float]:
    got = store.store.window_sum(selector or {}, 86400, T0 + 86400)
    return got.requests, got.errors


def segments(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("wal-*.log"))


async def test_concurrent_pushes_share_group_commits(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.open()
    reqs = [push_request("p", i, [sample(i)]) for i in range(200)]
    statuses = await asyncio.gather(*(push(store, r) for r in reqs))
    assert statuses == [PushStatus.ACCEPTED] * 200
    assert store.wal_flushes < 100  # many batches per write + fsync
    assert total(store) == (2000, 200)
    await store.aclose(snapshot=False)


async def test_reopen_replays_the_wal_exactly(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.open()
    for i in range(30):
        await push(store, push_request("p", i, [sample(i, series=i % len(SERIES))]))
    before = [total(store, s) for s in ({"service": "gateway"}, {"route": "/a"}, {})]
    await store.aclose(snapshot=False)
    again = DurableStore(tmp_path)
    report = again.open()
    assert report.records_replayed == 30 and report.snapshot is None
    assert [total(again, s) for s in ({"service": "gateway"}, {"route": "/a"}, {})] == before
    await again.aclose()


async def test_snapshot_drops_covered_segments_and_recovery_adds_the_tail(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.open()
    for i in range(10):
        await push(store, push_request("p", i, [sample(i)]))
    store.snapshot()
    for i in range(10, 15):
        await push(store, push_request("p", i, [sample(i)]))
    assert len(segments(tmp_path)) == 1
    await store.aclose(snapshot=False)
    again = DurableStore(tmp_path)
    report = again.open()
    assert report.snapshot is not None and report.records_replayed == 5
    assert total(again) == (150, 15)
    await again.aclose()


async def test_duplicates_are_not_counted_again_even_after_restart(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.open()
    req = push_request("sidecar-1", 7, [sample(1)])
    assert await push(store, req) is PushStatus.ACCEPTED
    assert await push(store, req) is PushStatus.DUPLICATE
    store.snapshot()
    assert await push(store, push_request("sidecar-1", 8, [sample(2)])) is PushStatus.ACCEPTED
    await store.aclose(snapshot=False)
    again = DurableStore(tmp_path)
    again.open()  # seq 7 from the snapshot, seq 8 from the WAL tail
    assert await push(again, req) is PushStatus.DUPLICATE
    assert await push(again, push_request("sidecar-1", 8, [sample(2)])) is PushStatus.DUPLICATE
    assert await push(again, push_request("sidecar-2", 7, [sample(3)])) is PushStatus.ACCEPTED
    assert total(again) == (30, 3)
    await again.aclose()


async def test_torn_tail_is_truncated_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = DurableStore(tmp_path)
    store.open()
    for i in range(5):
        await push(store, push_request("p", i, [sample(i)]))
    await store.aclose(snapshot=False)
    wal = segments(tmp_path)[-1]
    size = wal.stat().st_size
    with open(wal, "ab") as f:  # a crash in the middle of the next record
        f.write(b"\x40\x00\x00\x00\x01\x02\x03\x04partial")
    caplog.set_level(logging.WARNING, logger="sloengine.store")
    again = DurableStore(tmp_path)
    report = again.open()
    assert report.truncated is not None and "torn record" in report.truncated
    assert len([r for r in caplog.records if "truncated" in r.getMessage()]) == 1
    assert wal.stat().st_size == size
    assert total(again) == (50, 5)
    assert await push(again, push_request("p", 5, [sample(5)])) is PushStatus.ACCEPTED
    await again.aclose(snapshot=False)
    third = DurableStore(tmp_path)
    assert third.open().truncated is None
    assert total(third) == (60, 6)
    await third.aclose()


async def test_a_flipped_byte_in_the_last_record_refuses_unless_repaired(tmp_path: Path) -> None:
    # A complete record with a bad CRC is damage, not a torn write: it was acknowledged.
    store = DurableStore(tmp_path)
    store.open()
    for i in range(3):
        await push(store, push_request("p", i, [sample(i)]))
    await store.aclose(snapshot=False)
    wal = segments(tmp_path)[-1]
    data = bytearray(wal.read_bytes())
    data[-3] ^= 0xFF  # inside the last record's payload
    wal.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match=r"CRC mismatch.*refusing to start"):
        DurableStore(tmp_path).open()
    again = DurableStore(tmp_path, repair=True)
    report = again.open()
    assert report.repaired is not None and report.lost_records == 1
    assert total(again) == (20, 2)
    assert len(list((tmp_path / "quarantine").iterdir())) == 1
    await again.aclose()


async def test_damage_before_the_last_segment_refuses_to_start(tmp_path: Path) -> None:
    store = DurableStore(tmp_path, snapshot_every_bytes=1 << 40)
    store.open()
    await push(store, push_request("p", 1, [sample(1)]))
    store._wal.rotate(tmp_path / "wal-00000002.log")  # type: ignore[union-attr]
    await store.aclose(snapshot=False)
    first = segments(tmp_path)[0]
    first.write_bytes(first.read_bytes()[:-2])
    with pytest.raises(StoreCorruptError, match="1 later segment"):
        DurableStore(tmp_path).open()


async def test_capacity_error_rejects_the_batch_and_writes_nothing(tmp_path: Path) -> None:
    store = DurableStore(tmp_path, max_series=2)
    store.open()
    await push(store, push_request("p", 1, [sample(1, series=0)]))
    wal_size = segments(tmp_path)[-1].stat().st_size
    with pytest.raises(CapacityError):
        await push(store, push_request("p", 2, [sample(2, series=s) for s in range(3)]))
    assert segments(tmp_path)[-1].stat().st_size == wal_size
    assert await push(store, push_request("p", 2, [sample(2, series=1)])) is PushStatus.ACCEPTED
    assert store.store.series_count() == 2
    await store.aclose(snapshot=False)
    again = DurableStore(tmp_path, max_series=2)
    again.open()
    assert total(again) == (20, 2)
    await again.aclose()


@settings(max_examples=25, deadline=None)
@given(
    counts=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), min_size=1, max_size=25),
    seed=st.integers(0, 2**16),
)
def test_random_streams_with_retries_count_each_batch_once(
    counts: list[tuple[int, int]], seed: int
) -> None:
    rng = random.Random(seed)
    batches = [
        [Sample(series, (T0 + rng.randrange(1, 7200)) * 1000, n, n // 3, n // 2)]
        for series, n in counts
    ]
    order = list(range(len(batches))) + [rng.randrange(len(batches)) for _ in range(10)]
    rng.shuffle(order)
    restart_at = rng.randrange(len(order))

    async def run(data_dir: Path) -> DurableStore:
        store = DurableStore(data_dir, fsync=False)
        store.open()
        for step, i in enumerate(order):
            if step == restart_at:
                await store.aclose(snapshot=rng.random() < 0.5)
                store = DurableStore(data_dir, fsync=False)
                store.open()
            await push(store, push_request("p", i, batches[i]))
        return store

    with tempfile.TemporaryDirectory() as tmp:
        store = asyncio.run(run(Path(tmp)))
        df = frame([s for b in batches for s in b])
        for selector in ({"service": "gateway"}, {"variant": "canary"}, {}):
            got = store.store.window_sum(selector, 7200, T0 + 7200)
            want = oracle(df, selector, T0, T0 + 7200)
            assert (got.requests, got.errors, got.count_at_or_below(0.25)) == want
        asyncio.run(store.aclose(snapshot=False))


async def test_wal_records_hold_decoded_columns_and_replay_identically(tmp_path: Path) -> None:
    from sloengine.store._records import decode_columns
    from sloengine.store._wal import read_segment

    store = DurableStore(tmp_path)
    store.open()
    req = push_request("p", 1, [sample(i, series=i % 3) for i in range(5)])
    await push(store, req)
    await store.aclose(snapshot=False)
    (payload,) = read_segment(segments(tmp_path)[-1]).records
    record = decode_columns(payload)
    batch = batch_of(req)
    assert (record.producer_id, record.sequence) == ("p", 1)
    assert record.new_series == list(dict.fromkeys(batch.series))
    assert record.timestamps_unix_ms.tolist() == batch.timestamps_unix_ms.tolist()
    assert (record.values == batch.values).all()


def test_a_record_of_the_pre_release_raw_format_refuses_to_start(tmp_path: Path) -> None:
    # b"P" + a raw PushRequest: written only before 0.1.0, no longer read. Refused in one
    # line naming the record, never replayed wrongly or cut.
    from sloengine.store._wal import create_segment, frame

    path = tmp_path / "wal-00000001.log"
    create_segment(path)
    with open(path, "ab") as f:
        f.write(frame(b"P" + push_request("old", 1, [sample(1)]).SerializeToString()))
    size = path.stat().st_size
    with pytest.raises(StoreCorruptError, match=r"record 1: unknown WAL record type b'P'"):
        DurableStore(tmp_path).open()
    assert path.stat().st_size == size


async def test_a_damaged_snapshot_refuses_to_start(tmp_path: Path) -> None:
    store = DurableStore(tmp_path)
    store.open()
    await push(store, push_request("p", 1, [sample(1)]))
    await store.aclose()  # writes the snapshot and drops the WAL it covers
    (snap,) = tmp_path.glob("snapshot-*.npz")
    data = bytearray(snap.read_bytes())
    data[len(data) // 2] ^= 0xFF
    snap.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match="unreadable snapshot"):
        DurableStore(tmp_path).open()
