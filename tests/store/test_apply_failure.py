"""A failed apply changes nothing durable; reads never break later applies; copies are copies.

Regressions of issue 11 items 1 and 2 at the store's own API (the state machine in
test_store_machine.py finds both from random interleavings).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sloengine.ingest import decode_push
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import DurableStore, PushStatus, SeriesStore

T0 = 1_800_000_000


def request(seq: int, service: str, requests: float = 10) -> pb.PushRequest:
    req = pb.PushRequest(producer_id="p", sequence=seq)
    block = req.blocks.add()
    block.key.service = service
    block.timestamps_unix_ms.append((T0 - 30) * 1000)
    block.requests.append(requests)
    block.errors.append(0)
    return req


def batch(seq: int, service: str, requests: float = 10):  # type: ignore[no-untyped-def]
    return decode_push(
        request(seq, service, requests), now_s=T0, max_age_s=math.inf, max_future_s=math.inf
    )


def test_a_series_no_read_selects_is_applied_after_a_read() -> None:
    store = SeriesStore()
    store.apply(batch(1, "a"))
    assert store.window_sum({"service": "a"}, 300, T0).requests == 10  # builds a view
    store.apply(batch(2, "a"))  # indexes which views each series feeds
    store.apply(batch(3, "b"))  # matches no view: used to raise IndexError (stale index)
    store.apply(batch(4, "b"))
    assert store.window_sum({"service": "b"}, 300, T0).requests == 20
    assert store.window_sum({"service": "a"}, 300, T0).requests == 20


def test_a_snapshot_copy_does_not_see_later_applies_when_every_column_is_used() -> None:
    store = SeriesStore(max_series=2)
    store.apply(batch(1, "a"))
    store.apply(batch(2, "b"))  # 2 series in 2 allocated columns
    copy = store.to_arrays()
    before = {k: v.copy() for k, v in copy.items()}
    store.apply(batch(3, "a", 1000))
    assert all(np.array_equal(copy[k], before[k]) for k in copy)


async def test_a_failed_apply_logs_nothing_and_forgets_its_new_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DurableStore(tmp_path)
    store.open()
    await store.push(batch(1, "a"))
    store.store.window_sum({"service": "a"}, 300, T0)  # a view: applies compute its rows
    wal = sorted(tmp_path.glob("wal-*.log"))[-1]
    size = wal.stat().st_size

    def boom(*args: object) -> None:
        raise RuntimeError("injected apply failure")

    monkeypatch.setattr(SeriesStore, "_view_rows", boom)
    with pytest.raises(RuntimeError, match="injected"):
        await store.push(batch(2, "new-sidecar"))
    monkeypatch.undo()
    assert store.failure is None  # nothing was half-applied: the store goes on
    assert store.store.series_count() == 1
    assert wal.stat().st_size == size
    # Not marked seen: the client's resend is applied, once.
    assert (await store.push(batch(2, "new-sidecar"))).status is PushStatus.ACCEPTED
    assert (await store.push(batch(2, "new-sidecar"))).status is PushStatus.DUPLICATE
    assert store.store.window_sum({}, 300, T0).requests == 20
    store.close()
    again = DurableStore(tmp_path)
    again.open()
    assert again.store.window_sum({"service": "new-sidecar"}, 300, T0).requests == 10
    assert again.store.series_count() == 2
    again.close()
