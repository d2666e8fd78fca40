"""Replayed canary verdicts equal what a live engine answers to `GetVerdict(eval_time=t)`.

The same history goes two ways: `sloengine.replay.replay_canary`, and a real engine (EngineApp
on loopback, gRPC) that receives the same batches over `IngestService/Push` with its clock at
each step and is asked for the verdict at that step's time, like a controller would.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from sloengine.ingest import push_request
from sloengine.model import Catalog
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.replay import evaluation_times, history_from_frame, replay_canary
from sloengine.replay._push import step_batches
from sloengine.specs import load_catalog
from tests.agreement.harness import BASE_UNIX_S
from tests.agreement.test_engine_rules_agree import CATALOG
from tests.agreement.traffic import Counts, Phase, Series, Timeline
from tests.replay.traffic import timeline_frame
from tests.ui.conftest import RunningEngine, engine_factory  # noqa: F401  (fixture)

CANARY = Series("gateway", "canary", "/search", "GET")
BASELINE = Series("gateway", "baseline", "/search", "GET")
HEALTHY = {
    CANARY: Counts(ok=199, server_errors=1, slow=2),
    BASELINE: Counts(ok=995, server_errors=5, slow=10),
}
# The canary starts failing a twentieth of its requests and slowing a quarter of them.
BROKEN = {
    CANARY: Counts(ok=185, server_errors=15, slow=50),
    BASELINE: Counts(ok=995, server_errors=5, slow=10),
}
TIMELINE = Timeline(
    series=(CANARY, BASELINE),
    phases=(
        Phase("canary warming up", 3, {BASELINE: HEALTHY[BASELINE]}),
        Phase("healthy canary", 40, HEALTHY),
        Phase("broken canary", 30, BROKEN),
        Phase("canary gone", 10, {BASELINE: HEALTHY[BASELINE]}),
    ),
)


def _ts(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(round(seconds * 1e9))
    return ts


def test_replayed_verdicts_equal_the_live_engines(
    engine_factory: Callable[..., RunningEngine],  # noqa: F811
) -> None:
    catalog = load_catalog([str(CATALOG)])
    gateway = Catalog(slos=tuple(s for s in catalog.slos if s.service == "gateway"))
    history = history_from_frame(timeline_frame(TIMELINE, BASE_UNIX_S, revision="r2"))
    s = TIMELINE.step_seconds
    times = evaluation_times(BASE_UNIX_S + s, BASE_UNIX_S + TIMELINE.steps * s, s)
    replay = replay_canary(history, times, service="gateway", revision="r2", slos=gateway.slos)

    engine = engine_factory(gateway, now=BASE_UNIX_S)
    stub = pb_grpc.CanaryServiceStub(engine.channel)
    live = []
    for t, batch in step_batches(history, {"service": "gateway"}, times):
        engine.clock.now = t
        if batch is not None:
            engine.push(push_request(batch))
        msg = stub.GetVerdict(
            pb.GetVerdictRequest(service="gateway", eval_time=_ts(t), revision="r2"), timeout=10
        )
        live.append(
            (
                pb.Verdict.Name(msg.verdict),
                msg.reason,
                {g.guard: pb.Verdict.Name(g.verdict) for g in msg.guards},
            )
        )
    replayed = [(st.verdict, st.reason, st.guards) for st in replay.steps]
    assert replayed == live
    # Not vacuous: the timeline goes through every verdict, and FAILs only once broken.
    verdicts = {v for v, _, _ in replayed}
    assert verdicts == {"PASS", "FAIL", "INCONCLUSIVE"}, verdicts
    broken_from = BASE_UNIX_S + 43 * s
    assert replay.first_fail_s is not None and replay.first_fail_s > broken_from


@pytest.mark.parametrize("service", ["nope", ""])
def test_an_unknown_canary_service_is_a_clear_error(service: str) -> None:
    from sloengine.replay import ReplayError

    history = history_from_frame(timeline_frame(TIMELINE, BASE_UNIX_S))
    with pytest.raises(ReplayError, match="no history rows"):
        replay_canary(history, [BASE_UNIX_S + 60.0], service=service)
