"""kill -9 a process mid-stream, many times: every acknowledged batch survives, exactly once.

The process is `tests/store/crash_harness.py` (DurableStore behind stdin/stdout). After each
kill the data directory is recovered in-process and checked: every series holds at least
its acknowledged batches and at most everything sent. At the end every unacknowledged
batch is re-sent with its original sequence (as a client does) and the sums must be exact:
a batch made durable before the kill comes back DUPLICATE and is not counted again.
"""

from __future__ import annotations

import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import DurableStore

T0_MS = 1_800_000_000_000
ROUTES = [f"/r{i}" for i in range(20)]
REPO = Path(__file__).resolve().parents[2]


def make_batches(rng: random.Random, count: int) -> list[tuple[bytes, dict[str, int]]]:
    out = []
    for seq in range(1, count + 1):
        req = pb.PushRequest(producer_id="crash-test", sequence=seq)
        contribution: dict[str, int] = {}
        for route in rng.sample(ROUTES, 4):
            block = req.blocks.add()
            block.key.service = "svc"
            block.key.route = route
            for j in range(3):
                n = rng.randint(1, 1000)
                block.timestamps_unix_ms.append(T0_MS - rng.randint(0, 250_000) - j)
                block.requests.append(n)
                block.errors.append(n // 7)
                contribution[route] = contribution.get(route, 0) + n
        out.append((req.SerializeToString(), contribution))
    return out


class Harness:
    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.store.crash_harness",
                str(data_dir),
                "--snapshot-every",
                "37",
            ],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline().decode()
        assert ready.startswith("READY"), ready
        self.acked: set[int] = set()
        self._lines = threading.Thread(target=self._read, daemon=True)
        self._lines.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            _, seq, _status = line.decode().split()
            self.acked.add(int(seq))

    def send(self, raw: bytes) -> bool:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(struct.pack("<I", len(raw)) + raw)
            self.proc.stdin.flush()
        except BrokenPipeError:
            return False
        return True

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._join_reader()

    def _join_reader(self) -> None:
        # Until stdout's EOF: `acked` is read right after, and must be complete and still.
        self._lines.join(timeout=60)
        assert not self._lines.is_alive(), "the harness' stdout did not close"

    def finish(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0
        self._join_reader()


def route_sums(data_dir: Path) -> dict[str, float]:
    store = DurableStore(data_dir)
    store.open()
    sums = {
        r: store.store.window_sum({"route": r}, 30 * 86400, T0_MS / 1000 + 10).requests
        for r in ROUTES
    }
    store.close()
    return sums


def expected(batches: list[tuple[bytes, dict[str, int]]], seqs: set[int]) -> dict[str, int]:
    sums = dict.fromkeys(ROUTES, 0)
    for seq in seqs:
        for route, n in batches[seq - 1][1].items():
            sums[route] += n
    return sums


@pytest.mark.timeout(240)
def test_kill_9_mid_stream_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    rng = random.Random(20261127)
    # Enough batches that every one of the 12 rounds still has new ones to send.
    batches = make_batches(rng, 24000)
    acked: set[int] = set()
    sent: set[int] = set()
    next_seq = 1
    acked_before_kill = []
    for _ in range(12):
        harness = Harness(tmp_path)
        # Resend what was never acknowledged, then new batches, with at most 64 in flight
        # (like a client's window), until the kill at a random point of the stream: after a
        # random number of acknowledgements, not a random time (on a loaded machine a short
        # round could end before the first one, and the kills would not be mid-stream).
        backlog = sorted(sent - acked)
        this_round: set[int] = set()
        kill_after = rng.randint(1, 600)
        hang = time.monotonic() + 60
        while len(harness.acked) < kill_after and (backlog or next_seq <= len(batches)):
            assert time.monotonic() < hang, f"{len(harness.acked)} acks in 60 s"
            if len(this_round - harness.acked) >= 64:
                time.sleep(0.0005)
                continue
            if backlog:
                seq = backlog.pop(0)
            else:
                seq, next_seq = next_seq, next_seq + 1
            if not harness.send(batches[seq - 1][0]):
                break
            sent.add(seq)
            this_round.add(seq)
        harness.kill()
        acked |= harness.acked
        acked_before_kill.append(len(acked))
        got = route_sums(tmp_path)
        low, high = expected(batches, acked), expected(batches, sent)
        for route in ROUTES:
            assert low[route] <= got[route] <= high[route], route
    # The kills really happened mid-stream: acknowledgements grew between them, and some
    # batches were in flight (sent, not acknowledged) when a kill came.
    assert len(set(acked_before_kill)) >= 8, acked_before_kill
    assert sent - acked
    harness = Harness(tmp_path)
    for seq in sorted(set(range(1, next_seq)) - acked):
        harness.send(batches[seq - 1][0])
    harness.finish()
    acked |= harness.acked
    assert acked == set(range(1, next_seq))
    assert route_sums(tmp_path) == expected(batches, acked)
