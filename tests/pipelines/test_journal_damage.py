"""Lost or damaged pipelines journal: refuse to start with one line, never ack and drop.

Before: a journal missing records the store holds (cut off after damage, files lost)
started fine and numbered its store batches from the journal again, reusing sequences
the store held: every later remote_write batch was answered 204 and dropped as DUPLICATE.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from sloengine.app import EngineApp
from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.settings.config import EngineConfig
from sloengine.store import StoreCorruptError
from tests.pipelines.rw import HEADERS, histogram_scrape, write_request
from tests.server.conftest import CATALOG, T0
from tests.server.engine_process import EngineProcess
from tests.support.wait import until

MS = int(T0 * 1000)
LABELS = {"service": "pay", "variant": "stable", "route": "/x", "method": "GET",
          "status": "200", "instance": "a:1", "job": "j"}  # fmt: skip


def scrape(i: int, now_ms: int = MS) -> bytes:
    """Scrape i of a counter serving 3 requests per scrape."""
    total = 3.0 * i
    buckets = [*[(f"{b:g}", total) for b in BOUNDS], ("+Inf", total)]
    return write_request(histogram_scrape(LABELS, now_ms - 100_000 + i * 1000, buckets))


async def send(engine: EngineApp, *scrapes: int) -> None:
    async with aiohttp.ClientSession() as session:
        for i in scrapes:
            url = f"http://127.0.0.1:{engine.http_port}/api/v1/write"
            async with session.post(url, data=scrape(i), headers=HEADERS) as resp:
                assert resp.status == 204, await resp.text()


async def refused(data: Path) -> StoreCorruptError:
    """Start an engine on `data` expecting it to refuse; its lock is released after."""
    config = EngineConfig(grpc_listen="127.0.0.1:0", http_listen="127.0.0.1:0",
                          data_dir=data, snapshot_interval_seconds=0)  # fmt: skip
    app = EngineApp(config, clock=lambda: T0, registry=CollectorRegistry(), catalog=CATALOG,
                    plugins=())  # fmt: skip
    try:
        with pytest.raises(StoreCorruptError) as caught:
            await app.start()
    finally:
        await app.stop(0)  # as `sloengine serve` does after a failed start
    return caught.value


def requests(engine: EngineApp) -> float:
    return engine.state.store.window_sum({"service": "pay"}, 3600, T0 + 60).requests


@pytest.mark.asyncio
async def test_lost_journal_refuses_to_start_and_repair_keeps_counting(
    start_engine: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = await start_engine(data_dir=data)
    await send(first, *range(1, 11))
    assert requests(first) == 30
    await first.stop(0)
    shutil.rmtree(data / "pipelines")  # a lost volume, an operator's rm
    assert "has 0 records but the store holds batch 10" in str(await refused(data))
    repaired = await start_engine(data_dir=data, repair_wal=True)
    assert requests(repaired) == 30
    # Without a cursor the counter counts from zero again (said in the error above); what
    # matters: the new batches are counted, not dropped as DUPLICATE after a 204.
    await send(repaired, 11, 12)
    assert requests(repaired) == 30 + 33 + 3


@pytest.mark.asyncio
async def test_garbage_state_file_is_one_clear_error(start_engine: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = await start_engine(data_dir=data)
    await send(first, 1, 2)
    await first.stop(0)
    (state,) = (data / "pipelines").glob("state-*.json")
    state.write_text("{garbage")
    assert f"{state.name}: not a state file" in str(await refused(data))


@pytest.mark.integration
def test_flipped_byte_mid_journal_exits_with_one_line(tmp_path: Path) -> None:
    """kill -9 keeps records in the journal segment; a flipped byte in the middle of it
    makes `sloengine serve` exit 2 with one line (no traceback), not start and lose data."""
    specs = Path(__file__).parents[2] / "examples" / "slos"
    data = tmp_path / "data"
    engine = EngineProcess(data, specs).start()
    try:
        now_ms = int(time.time() * 1000)
        for i in range(1, 11):
            req = urllib.request.Request(f"http://{engine.http_address}/api/v1/write",
                                         data=scrape(i, now_ms), headers=HEADERS, method="POST")  # fmt: skip
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 204
    finally:
        engine.kill()  # kill -9: no state snapshot, the records stay in the segment
    (segment,) = (data / "pipelines").glob("journal-*.log")
    raw = bytearray(segment.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    segment.write_bytes(bytes(raw))
    proc = subprocess.run(engine.argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("sloengine: pipelines journal ") and "records lost" in last, last
    assert "Traceback" not in proc.stderr


@pytest.mark.asyncio
async def test_full_disk_under_the_journal_is_reported_by_readyz(
    start_engine: Any, tmp_path: Path
) -> None:
    """A failed journal write poisons the journal (the converter may be ahead of it): every
    remote_write answers 503 until a restart, and /readyz now says so (it said 200)."""
    engine = await start_engine(data_dir=tmp_path / "data")
    await send(engine, 1)
    receiver = engine.pipelines
    assert receiver is not None
    full = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
    os.dup2(full, receiver.journal._fd)
    os.close(full)
    async with aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{engine.http_port}"
        async with session.post(f"{base}/api/v1/write", data=scrape(2), headers=HEADERS) as resp:
            assert resp.status == 503
        async with session.get(f"{base}/readyz") as resp:
            text = await resp.text()
            assert resp.status == 503, text
            assert text.startswith("not ready: pipelines journal: ") and "No space left" in text
    assert requests(engine) == 3


class _FullDisk:
    """A WAL file whose writes fail with ENOSPC (the store's own tests inject it so)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.asyncio
async def test_a_journaled_batch_the_store_failed_is_not_acked_as_a_resend(
    start_engine: Any, tmp_path: Path
) -> None:
    """The store's WAL fails after the journal took the request (503), then the store
    recovers on its own. The sender's retry was answered 204 as a resend while the store
    never got the rows (until a restart; a state snapshot at shutdown lost them for good).
    Now the receivers refuse until a restart, whose journal replay stores them once."""
    data = tmp_path / "data"
    engine = await start_engine(data_dir=data)
    await send(engine, 1)
    durable = engine.state.durable
    assert durable is not None and durable._wal is not None
    durable._wal._file = _FullDisk(durable._wal._file)
    async with aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{engine.http_port}"

        async def post(i: int) -> int:
            async with session.post(f"{base}/api/v1/write", data=scrape(i), headers=HEADERS) as r:
                return r.status

        assert await post(2) == 503
        # The store recovers by itself once the disk has room (the bound only catches a hang).
        await until(lambda: durable.failure is None, "the store recovered")
        assert await post(2) == 503  # not a 204 "resend" of rows the store does not have
        async with session.get(f"{base}/readyz") as resp:
            assert resp.status == 503
            assert "pipelines: a journaled batch did not reach the store" in await resp.text()
    assert requests(engine) == 3
    await engine.stop(0)
    restarted = await start_engine(data_dir=data)
    assert requests(restarted) == 6  # the journal replay stored scrape 2, once
    await send(restarted, 2, 3)  # the sender's retry (a resend), then the next scrape
    assert requests(restarted) == 9
