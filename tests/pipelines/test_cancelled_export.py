"""OTLP/gRPC exports cancelled by their deadline mid-ingest, then retried, count exactly.

Before: a request cancelled after its journal record was durable but before its rows reached
the store left the cursors past those rows; the retry was answered OK as a resend and the
store undercounted until a restart replayed the journal (a probe of 300 exports with 1-5 ms
deadlines lost 1 to 42 requests per run). The race window is narrow: this test checks the
exact totals under cancellations, and does not fail on every run of the old code.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as ms_grpc
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

from sloengine.conventions import DEFAULT_LATENCY_BUCKETS_SECONDS as BOUNDS
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from tests.server.engine_process import EngineProcess

pytestmark = pytest.mark.integration

SPECS = Path(__file__).parents[2] / "examples" / "slos"


def export(i: int, cumulative: int, now_ns: int) -> ms.ExportMetricsServiceRequest:
    req = ms.ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    attr = rm.resource.attributes.add()
    attr.key, attr.value.string_value = "service.name", "docs-api"
    metric = rm.scope_metrics.add().metrics.add()
    metric.name, metric.unit = "http.server.request.duration", "s"
    metric.histogram.aggregation_temporality = m.AGGREGATION_TEMPORALITY_CUMULATIVE
    point = metric.histogram.data_points.add()
    point.start_time_unix_nano = now_ns - 600 * 10**9
    point.time_unix_nano = now_ns - 400 * 10**9 + i * 10**8  # all before the read rounds down
    point.explicit_bounds.extend(BOUNDS)
    point.bucket_counts.extend([cumulative] + [0] * len(BOUNDS))
    point.count = cumulative
    return req


def test_exports_cancelled_by_their_deadline_then_retried_count_exactly(tmp_path: Path) -> None:
    engine = EngineProcess(tmp_path / "data", SPECS).start()
    # The test's own "now", not the module's import time (a whole suite may lie in between).
    now_ns = time.time_ns()
    rng = random.Random(7)
    cumulative = cancelled = 0
    try:
        with grpc.insecure_channel(engine.grpc_address) as channel:
            stub = ms_grpc.MetricsServiceStub(channel)
            for i in range(1, 301):
                cumulative += rng.randint(1, 3)
                while True:  # as the SDK exporter does: retry until answered
                    try:
                        stub.Export(
                            export(i, cumulative, now_ns),
                            timeout=rng.choice([0.001, 0.002, 0.005, 5]),
                        )
                        break
                    except grpc.RpcError as exc:
                        assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED, exc
                        cancelled += 1
            status = pb_grpc.SLOServiceStub(channel).GetStatus(
                pb.GetStatusRequest(service="docs-api", slo="requests-availability")
            )
    finally:
        engine.kill()
    assert cancelled > 0
    (slo,) = status.statuses
    got = next(w.requests for w in slo.windows if w.window_seconds == 3600)
    assert got == cumulative, f"{cancelled} exports cancelled"
