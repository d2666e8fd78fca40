"""A stateful property test over a real `sloengine serve` process, through gRPC only.

Hypothesis interleaves: pushes (pipelined on one stream) to known and new series and
services, GetStatus and GetVerdict reads (which build the store's cached selections),
resends of earlier batches, producer clock steps, and `kill -9` + restart, while the engine
snapshots every second. The oracle is plain Python: per service, the requests of every
batch the engine acknowledged (ACCEPTED, or DUPLICATE of a batch it holds).

Checked: no push fails (nothing here gives the engine a reason to), a resend of an acked
batch is DUPLICATE, GetStatus over the SLO period equals the oracle, and after every
kill -9 the data directory, opened offline, holds every acknowledged batch exactly once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.store import DurableStore
from tests.server.engine_process import EngineProcess

pytestmark = pytest.mark.integration

SLO_SERVICES = ["svc0", "svc1"]
SERVICES = [*SLO_SERVICES, "new2", "new3", "new4", "new5"]  # no SLO or view covers new*
ROUTES = ["/a", "/b", "/c", "/d"]
# 16 of the 24 (service, route) series: once reached, every allocated column is in use (a
# snapshot copy used to alias the live rings then), and capacity rejections join the mix.
MAX_SERIES = 16
SPEC = """\
apiVersion: sloengine/v1
kind: ServiceSLOs
service: {service}
slos:
  - name: availability
    objective: 99
    availability: {{}}
"""

block_st = st.tuples(st.sampled_from(SERVICES), st.sampled_from(ROUTES), st.integers(1, 1000))


class ServeMachine(RuleBasedStateMachine):
    counter = 0

    def __init__(self) -> None:
        super().__init__()
        ServeMachine.counter += 1
        root = BASE / f"run{ServeMachine.counter}"
        (root / "specs").mkdir(parents=True)
        for service in SLO_SERVICES:
            (root / "specs" / f"{service}.yaml").write_text(SPEC.format(service=service))
        self.data = root / "data"
        self.specs = root / "specs"
        self.engine = self._start()
        self.skew_s = 0
        self.next_seq = 1
        self.sent: dict[int, pb.PushRequest] = {}
        self.acked: set[int] = set()

    def _start(self) -> EngineProcess:
        return EngineProcess(
            self.data, self.specs, "--snapshot-interval", "1", "--max-series", str(MAX_SERIES)
        ).start()

    # --- helpers ----------------------------------------------------------------------------
    def _sums(self, seqs: set[int]) -> dict[str, float]:
        sums = dict.fromkeys(SERVICES, 0.0)
        for seq in seqs:
            for block in self.sent[seq].blocks:
                sums[block.key.service] += block.requests[0]
        return sums

    def _send(self, requests: list[pb.PushRequest]) -> list[pb.PushAck]:
        with grpc.insecure_channel(self.engine.grpc_address) as channel:
            # A broken stream fails the test: nothing here gives the engine a reason.
            acks = list(pb_grpc.IngestServiceStub(channel).Push(iter(requests), timeout=30))
        assert sorted(a.sequence for a in acks) == sorted(r.sequence for r in requests)
        for ack in acks:
            if ack.status == pb.PushAck.REJECTED:  # over --max-series: nothing applied
                assert ack.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], ack.message
                continue
            if ack.status == pb.PushAck.DUPLICATE:
                assert ack.sequence in self.acked, f"{ack.sequence}: DUPLICATE, never accepted"
            self.acked.add(ack.sequence)
        return acks

    # --- rules ------------------------------------------------------------------------------
    @rule(batches=st.lists(st.lists(block_st, min_size=1, max_size=2), min_size=1, max_size=3))
    def push(self, batches: list[list[tuple[str, str, int]]]) -> None:
        now_ms = int((time.time() - self.skew_s) * 1000)
        requests = []
        for blocks in batches:
            req = pb.PushRequest(producer_id="machine", sequence=self.next_seq)
            self.next_seq += 1
            for service, route, n in blocks:
                block = req.blocks.add()
                block.key.service = service
                block.key.route = route
                # 20 s back: inside the engine's "now" bucket edge (windows end at a 10 s
                # boundary), so every read sees every acked sample.
                block.timestamps_unix_ms.append(now_ms - 20_000)
                block.requests.append(n)
                block.errors.append(n // 10)
            self.sent[req.sequence] = req
            requests.append(req)
        self._send(requests)

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        # Draws must not depend on what the engine did (hypothesis replays them).
        pool = sorted(self.sent)
        seq = pool[data.draw(st.integers(0, 1 << 16)) % len(pool)]
        was_acked = seq in self.acked
        (ack,) = self._send([self.sent[seq]])
        if was_acked:
            assert ack.status == pb.PushAck.DUPLICATE, f"acked batch {seq} counted again"

    @rule(service=st.sampled_from(SLO_SERVICES))
    def read_status(self, service: str) -> None:
        with grpc.insecure_channel(self.engine.grpc_address) as channel:
            resp = pb_grpc.SLOServiceStub(channel).GetStatus(
                pb.GetStatusRequest(service=service, slo="availability"), timeout=30
            )
        (status,) = resp.statuses
        period = max(status.windows, key=lambda w: w.window_seconds)
        assert period.requests == self._sums(self.acked)[service]

    @rule(service=st.sampled_from(SERVICES))
    def read_verdict(self, service: str) -> None:
        try:
            with grpc.insecure_channel(self.engine.grpc_address) as channel:
                verdict = pb_grpc.CanaryServiceStub(channel).GetVerdict(
                    pb.GetVerdictRequest(service=service, revision="r1"), timeout=30
                )
        except grpc.RpcError as exc:
            # A service the engine knows nothing of (no data, SLO or canary config).
            assert exc.code() == grpc.StatusCode.NOT_FOUND, exc  # type: ignore[attr-defined]
            assert service not in SLO_SERVICES and not self._sums(self.acked)[service]
            return
        assert verdict.verdict in (pb.PASS, pb.FAIL, pb.INCONCLUSIVE)

    @rule(seconds=st.integers(-300, 3600))
    def producer_clock_step(self, seconds: int) -> None:
        self.skew_s = max(0, min(6 * 3600, self.skew_s + seconds))

    @rule()
    def kill_9_and_restart(self) -> None:
        self.engine.kill()
        store = DurableStore(self.data)
        store.open()
        try:
            at = time.time() + 10
            got = {s: store.store.window_sum({"service": s}, 86400, at).requests for s in SERVICES}
        finally:
            store.close()
        assert got == self._sums(self.acked)
        self.engine = self._start()

    def teardown(self) -> None:
        self.engine.kill()


BASE = Path("/tmp")  # set per test run


def test_serve_machine(tmp_path: Path) -> None:
    global BASE
    BASE = tmp_path
    ServeMachine.TestCase.settings = settings(
        max_examples=int(os.environ.get("SERVE_MACHINE_EXAMPLES", "2")),
        stateful_step_count=10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        # No shrinking: every step restarts or drives a real engine, and a failure's steps
        # are printed as generated (shrinking them would outlast the test's timeout).
        phases=(Phase.explicit, Phase.generate),
        report_multiple_bugs=False,
        database=None,
    )
    ServeMachine.TestCase().runTest()
