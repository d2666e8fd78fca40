"""A stateful property test over the real DurableStore: acked samples count once, forever.

Hypothesis drives random interleavings of pushes (new and known series and services,
fresh batches and resends of acked ones), reads (which build the cached selections the
store updates on every apply), snapshots taken in the background while pushes continue,
abandoned stores reopened as after `kill -9`, and clock steps. The oracle is a plain sum,
per service, of the requests of every batch the store acknowledged ACCEPTED.

On the old code this finds: a new series pushed after a read crashes the apply with an
IndexError (issue 11, item 1), and a snapshot written while pushes go on holds batches the
WAL replays again after the restart (item 2).
"""

from __future__ import annotations

import asyncio
import math
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sloengine.errors import CapacityError
from sloengine.ingest import decode_push
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.store import DurableStore, PushStatus

SERVICES = [f"svc{i}" for i in range(6)]
ROUTES = ["/a", "/b", "/c", "/d"]
T0 = 1_800_000_000  # seconds; samples stay within 20 days of it (inside every ring's reach)
WINDOW_S = 25 * 86400
MAX_SERIES = 12


def request(producer: str, seq: int, blocks: list[tuple[str, str, int, int]]) -> pb.PushRequest:
    req = pb.PushRequest(producer_id=producer, sequence=seq)
    for service, route, ts_ms, n in blocks:
        block = req.blocks.add()
        block.key.service = service
        block.key.route = route
        block.timestamps_unix_ms.append(ts_ms)
        block.requests.append(n)
        block.errors.append(n // 7)
    return req


block_st = st.tuples(
    st.sampled_from(SERVICES),
    st.sampled_from(ROUTES),
    st.integers(0, 3600),  # how far before the clock the sample ends
    st.integers(1, 1000),
)


class DurableStoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="store-machine-"))
        self.loop = asyncio.new_event_loop()
        self.store = self._open()
        self.now_s = T0
        self.acked: dict[str, float] = dict.fromkeys(SERVICES, 0.0)
        self.sent: dict[tuple[str, int], pb.PushRequest] = {}
        self.accepted: set[tuple[str, int]] = set()
        self.next_seq = {"p1": 1, "p2": 1}

    def _open(self) -> DurableStore:
        # A series limit makes "every allocated column in use" (the state item 2 needs)
        # common, and adds capacity rejections to the interleavings.
        store = DurableStore(
            self.dir, fsync=False, snapshot_every_bytes=1 << 40, max_series=MAX_SERIES
        )
        store.open()
        return store

    def _push_now(self, req: pb.PushRequest) -> PushStatus | None:
        batch = decode_push(req, now_s=self.now_s, max_age_s=math.inf, max_future_s=math.inf)
        try:
            return self.loop.run_until_complete(self.store.push(batch)).status
        except CapacityError:
            return None

    def _record(self, req: pb.PushRequest, status: PushStatus | None) -> None:
        key = (req.producer_id, req.sequence)
        if status is None:  # rejected for capacity: nothing applied
            assert key not in self.accepted
            assert self.store.store.series_count() <= MAX_SERIES
        elif status is PushStatus.ACCEPTED:
            assert key not in self.accepted, f"{key} accepted twice"
            self.accepted.add(key)
            for block in req.blocks:
                self.acked[block.key.service] += block.requests[0]
        else:
            assert key in self.accepted, f"{key} DUPLICATE but never accepted"

    def _new_request(
        self, producer: str, blocks: list[tuple[str, str, int, int]]
    ) -> pb.PushRequest:
        seq = self.next_seq[producer]
        self.next_seq[producer] += 1
        now_ms = self.now_s * 1000
        req = request(producer, seq, [(s, r, now_ms - 1000 * ago, n) for s, r, ago, n in blocks])
        self.sent[(producer, seq)] = req
        return req

    @rule(producer=st.sampled_from(["p1", "p2"]), blocks=st.lists(block_st, min_size=1, max_size=4))
    def push(self, producer: str, blocks: list[tuple[str, str, int, int]]) -> None:
        req = self._new_request(producer, blocks)
        self._record(req, self._push_now(req))

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def resend(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.sent)))
        req = self.sent[key]
        status = self._push_now(req)
        if key in self.accepted:
            assert status is PushStatus.DUPLICATE, f"acked {key} accepted again"
        self._record(req, status)

    @rule(service=st.sampled_from(SERVICES))
    def read(self, service: str) -> None:
        got = self.store.store.window_sum({"service": service}, WINDOW_S, self.now_s + 10)
        assert got.requests == self.acked[service], (service, got.requests, self.acked[service])

    @rule(producer=st.sampled_from(["p1", "p2"]), pushes=st.lists(block_st, min_size=1, max_size=6))
    def snapshot_while_pushing(
        self, producer: str, pushes: list[tuple[str, str, int, int]]
    ) -> None:
        """A background snapshot, with batches applied before its file is written."""

        async def run() -> None:
            task = asyncio.create_task(self.store.snapshot_async())
            await asyncio.sleep(0)  # the snapshot has cut; its file is being written
            submitted = []
            for block in pushes:  # applied at once, as the engine's ingest loop does
                req = self._new_request(producer, [block])
                batch = decode_push(
                    req, now_s=self.now_s, max_age_s=math.inf, max_future_s=math.inf
                )
                try:
                    submitted.append((req, *self.store.submit(batch)))
                except CapacityError:
                    self._record(req, None)
            for req, outcome, ticket in submitted:
                await self.store.wait_durable(ticket)
                self._record(req, outcome.status)
            await task

        self.loop.run_until_complete(run())

    @rule()
    def crash_and_reopen(self) -> None:
        """As after kill -9: the WAL file is closed as is, no final snapshot."""
        self.store.close()
        self.store = self._open()

    @rule(seconds=st.integers(1, 3 * 86400))
    def clock_step(self, seconds: int) -> None:
        if self.now_s + seconds < T0 + 20 * 86400:
            self.now_s += seconds

    @invariant()
    def every_acked_sample_counts_once(self) -> None:
        # Summed from the coarsest ring of a state copy, not through a selection: a read
        # builds a cached selection, and series that no selection matches must stay
        # reachable by the rules (they broke ingest, item 1).
        top = self.store.store.to_arrays()[f"level{len(self.store.store.levels) - 1}"]
        assert float(top[:, :, 0].sum()) == sum(self.acked.values())

    def teardown(self) -> None:
        self.store.close()
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)


DurableStoreMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # the same examples every run (CI); set False locally to explore
)
TestDurableStoreMachine = DurableStoreMachine.TestCase
