"""`sloengine serve` as a real process against a damaged, shared or full data directory.

Items 5-8 of issue 11: the operator sees one clear line and a non-zero exit (never a
traceback), two engines never share a directory, and a full disk is reported by /readyz
and heals once space is freed, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from sloengine.ingest import decode_push
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.store import DurableStore
from tests.server.engine_process import EngineProcess
from tests.support.wait import HANG_S

pytestmark = pytest.mark.integration

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceSLOs
service: integrity
slos:
  - name: availability
    objective: 99
    availability: {}
"""


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    path = tmp_path / "specs.yaml"
    path.write_text(SPEC)
    return path


def serve(data_dir: Path, specs: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run `sloengine serve` expecting it to refuse to start."""
    return subprocess.run(
        [sys.executable, "-m", "sloengine", "serve", "--grpc-listen", "127.0.0.1:0",
         "--http-listen", "127.0.0.1:0", "--data-dir", str(data_dir), "--specs", str(specs),
         *extra],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("sloengine: ")]  # the CLI's error line
    assert len(errors) == 1, proc.stderr
    return errors[0]


def push(address: str, *requests: pb.PushRequest) -> list[pb.PushAck]:
    with grpc.insecure_channel(address) as channel:
        acks = list(pb_grpc.IngestServiceStub(channel).Push(iter(requests), timeout=20))
    return acks


def request(seq: int, requests: float = 10, payload_routes: int = 1) -> pb.PushRequest:
    req = pb.PushRequest(producer_id="integrity", sequence=seq)
    for r in range(payload_routes):
        block = req.blocks.add()
        block.key.service = "integrity"
        block.key.route = f"/r{r}"
        block.timestamps_unix_ms.append(int(time.time() * 1000) - 1000)
        block.requests.append(requests)
        block.errors.append(0)
    return req


def fill_store(data_dir: Path, count: int) -> None:
    store = DurableStore(data_dir)
    store.open()

    async def run() -> None:
        for seq in range(1, count + 1):
            batch = decode_push(
                request(seq), now_s=time.time(), max_age_s=math.inf, max_future_s=math.inf
            )
            await store.push(batch)

    asyncio.run(run())
    store.close()


def test_wal_damage_refuses_with_one_line_and_repair_starts(tmp_path: Path, specs: Path) -> None:
    data = tmp_path / "data"
    fill_store(data, 5)
    wal = sorted(data.glob("wal-*.log"))[-1]
    raw = bytearray(wal.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # the middle of the segment
    wal.write_bytes(bytes(raw))
    line = one_line_error(serve(data, specs))
    assert "refusing to start" in line and "--repair-wal" in line and wal.name in line
    engine = EngineProcess(data, specs, "--repair-wal").start()
    try:
        log = engine.stderr_path.read_text()
        assert "repaired" in log and "record(s) lost" in log
        metrics = urllib.request.urlopen(f"http://{engine.http_address}/metrics").read().decode()
        assert "sloengine_wal_repairs_total 1.0" in metrics
    finally:
        engine.terminate()


@pytest.mark.parametrize("damage", ["zero-length", "missing", "garbage"])
def test_a_bad_snapshot_refuses_with_one_line(tmp_path: Path, specs: Path, damage: str) -> None:
    data = tmp_path / "data"
    fill_store(data, 3)
    store = DurableStore(data)
    store.open()
    snapshot = store.snapshot()
    store.close()
    if damage == "zero-length":
        snapshot.write_bytes(b"")
    elif damage == "missing":
        snapshot.unlink()
    else:
        snapshot.write_bytes(os.urandom(2048))
    line = one_line_error(serve(data, specs))
    assert "snapshot" in line and "refusing to start" in line


def test_a_second_engine_on_the_same_data_dir_exits_naming_the_holder(
    tmp_path: Path, specs: Path
) -> None:
    data = tmp_path / "data"
    first = EngineProcess(data, specs).start()
    try:
        assert first.proc is not None
        line = one_line_error(serve(data, specs))
        assert f"in use by another engine (pid {first.proc.pid})" in line
        acks = push(first.grpc_address, request(1))  # the first one is unaffected
        assert acks[0].status == pb.PushAck.ACCEPTED
    finally:
        first.terminate()


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (the injected ENOSPC tests still run)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def readyz(engine: EngineProcess) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{engine.http_address}/readyz") as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_full_disk_is_reported_by_readyz_and_heals_when_space_is_freed(
    tmp_path: Path, specs: Path
) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    with small_tmpfs(tmp_path / "disk", "8m") as disk:
        data = disk / "data"
        engine = EngineProcess(data, specs, "--snapshot-interval", "0")
        engine.stderr_path = tmp_path / "engine.stderr"
        engine.start()
        try:
            assert push(engine.grpc_address, request(1))[0].status == pb.PushAck.ACCEPTED
            filler = disk / "filler"
            with filler.open("wb") as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 65536)
            acked = 1
            failed = False
            for seq in range(2, 40):
                try:
                    acks = push(engine.grpc_address, request(seq, payload_routes=50))
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
                    failed = True
                    break
                acked += sum(a.status == pb.PushAck.ACCEPTED for a in acks)
            assert failed, "a full disk never failed a push"
            code, text = readyz(engine)
            assert code == 503 and "No space left on device" in text
            filler.unlink()
            deadline = time.monotonic() + HANG_S  # only bounds a hang
            while readyz(engine)[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert readyz(engine)[0] == 200
            acks = push(engine.grpc_address, request(100))
            assert acks[0].status == pb.PushAck.ACCEPTED
        finally:
            engine.kill()
        store = DurableStore(data)
        store.open()
        got = store.store.window_sum({"route": "/r0"}, 3600, time.time() + 10).requests
        store.close()
        assert got == 10 * (acked + 1)  # exactly the acknowledged batches


def metric(engine: EngineProcess, name: str) -> float | None:
    text = urllib.request.urlopen(f"http://{engine.http_address}/metrics").read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_an_audit_tail_deleted_while_stopped_is_recorded_and_reported(
    tmp_path: Path, specs: Path
) -> None:
    data = tmp_path / "data"
    engine = EngineProcess(data, specs).start()
    try:
        seq = metric(engine, "sloengine_audit_head_seq")
        assert seq is not None and seq >= 0  # the head is published
        assert metric(engine, "sloengine_audit_chain_breaks_total") == 0
    finally:
        assert engine.terminate() == 0
    audit = data / "audit.jsonl"
    entries = audit.read_text().splitlines(keepends=True)
    first_head = json.loads(entries[-1])
    assert "audit head seq=" in engine.stderr_path.read_text()  # one log line per append
    engine = EngineProcess(data, specs).start()
    engine.terminate()
    audit.write_text("".join(audit.read_text().splitlines(keepends=True)[: len(entries)]))
    engine = EngineProcess(data, specs).start()
    try:
        assert metric(engine, "sloengine_audit_chain_breaks_total") == 1
    finally:
        engine.terminate()
    verified = subprocess.run(
        [sys.executable, "-m", "sloengine", "audit", "verify", str(audit)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verified.returncode == 1 and "chain break recorded at open" in verified.stderr
    expected = f"{first_head['seq']}:{first_head['hash']}"
    still = subprocess.run(
        [sys.executable, "-m", "sloengine", "audit", "verify", str(audit),
         "--expect-head", expected],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert still.returncode == 1  # the recorded break still fails the check
