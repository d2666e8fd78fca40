"""The other ingest doors, fed well-formed messages with hostile values: Prometheus
remote_write (snappy protobuf over HTTP) and OTLP metrics (gRPC Export, OTLP/HTTP protobuf
and JSON). NaN, infinities, negative and huge counts, int64-extreme timestamps, empty or
duplicated labels, bounds out of order: a 2xx or a 4xx naming the problem, never a 5xx
(except 503 "not durable", which is not expected here) or UNKNOWN / INTERNAL."""

from __future__ import annotations

import math
from collections.abc import Iterator

import cramjam
import grpc
import httpx
import pytest
from google.protobuf import json_format
from hypothesis import event, given
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.common.v1 import common_pb2 as common
from opentelemetry.proto.resource.v1 import resource_pb2 as resource

from sloengine.pipelines import OTLP_METRICS_PATH, OTLP_METRICS_SERVICE, REMOTE_WRITE_PATH
from sloengine.proto.prometheus import remote_pb2
from tests.fuzz.conftest import AUTH, GRPC_AUTH, RunningEngine, fuzz_settings
from tests.fuzz.test_grpc_fuzz import CLIENT_ERRORS
from tests.fuzz.test_http_fuzz import assert_no_server_error
from tests.server.conftest import T0

T0_MS = int(T0 * 1000)
RW_HEADERS = {
    **AUTH,
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, 10.0, -1.0, 1e308, -1e308, 5e-324, math.nan, math.inf]),
)
label_names = st.one_of(
    st.sampled_from(
        ["__name__", "service", "variant", "revision", "route", "method", "status", "le", ""]
    ),
    st.text(max_size=10),
)
label_values = st.one_of(
    st.sampled_from(
        ["http_requests_total", "http_request_duration_seconds_bucket",
         "http_request_duration_seconds_count", "checkout", "canary", "/pay", "GET", "500",
         "+Inf", "0.5", "NaN", "-1", "abc", ""]
    ),
    st.text(max_size=12),
)  # fmt: skip
timestamps_ms = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=T0_MS - 3_600_000, max_value=T0_MS + 60_000),
)
unix_nanos = st.one_of(
    st.integers(min_value=0, max_value=2**64 - 1),
    st.integers(min_value=int(T0 - 3600) * 10**9, max_value=int(T0) * 10**9),
)


@st.composite
def write_requests(draw: st.DrawFn) -> bytes:
    req = remote_pb2.WriteRequest()
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        series = req.timeseries.add()
        for name, value in draw(st.lists(st.tuples(label_names, label_values), max_size=6)):
            series.labels.add(name=name, value=value)
        for value, ts in draw(st.lists(st.tuples(values, timestamps_ms), max_size=3)):
            series.samples.add(value=value, timestamp=ts)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def _attributes(draw: st.DrawFn) -> list[common.KeyValue]:
    names = st.one_of(
        st.sampled_from(
            ["http.route", "http.request.method", "http.response.status_code", "service.name"]
        ),
        st.text(max_size=10),
    )
    out = []
    for name in draw(st.lists(names, max_size=4)):
        kind = draw(st.sampled_from(["string", "int", "double", "bool", "empty"]))
        value = common.AnyValue()
        if kind == "string":
            value.string_value = draw(label_values)
        elif kind == "int":
            value.int_value = draw(st.integers(min_value=-(2**63), max_value=2**63 - 1))
        elif kind == "double":
            value.double_value = draw(values)
        elif kind == "bool":
            value.bool_value = draw(st.booleans())
        out.append(common.KeyValue(key=name, value=value))
    return out


@st.composite
def export_requests(draw: st.DrawFn) -> ms.ExportMetricsServiceRequest:
    req = ms.ExportMetricsServiceRequest()
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        rm = req.resource_metrics.add(resource=resource.Resource(attributes=_attributes(draw)))
        metrics = rm.scope_metrics.add().metrics
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            metric = metrics.add(
                name=draw(
                    st.one_of(
                        st.sampled_from(
                            ["http.server.request.duration", "http_requests_total",
                             "http_requests"]
                        ),
                        st.text(max_size=10),
                    )
                ),
                unit=draw(st.sampled_from(["s", "ms", "", "h"])),
            )  # fmt: skip
            temporality = draw(st.sampled_from([0, 1, 2, 7]))
            if draw(st.booleans()):
                metric.histogram.aggregation_temporality = temporality
                for _ in range(draw(st.integers(min_value=0, max_value=2))):
                    bounds = draw(st.lists(values, max_size=4))
                    counts = draw(
                        st.lists(
                            st.integers(min_value=0, max_value=2**64 - 1),
                            max_size=len(bounds) + 2,
                        )
                    )
                    metric.histogram.data_points.add(
                        attributes=_attributes(draw),
                        start_time_unix_nano=draw(unix_nanos),
                        time_unix_nano=draw(unix_nanos),
                        count=draw(st.integers(min_value=0, max_value=2**64 - 1)),
                        sum=draw(values),
                        explicit_bounds=bounds,
                        bucket_counts=counts,
                        flags=draw(st.sampled_from([0, 1, 2])),
                    )
            else:
                metric.sum.aggregation_temporality = temporality
                metric.sum.is_monotonic = draw(st.booleans())
                for _ in range(draw(st.integers(min_value=0, max_value=2))):
                    point = metric.sum.data_points.add(
                        attributes=_attributes(draw),
                        start_time_unix_nano=draw(unix_nanos),
                        time_unix_nano=draw(unix_nanos),
                        flags=draw(st.sampled_from([0, 1])),
                    )
                    if draw(st.booleans()):
                        point.as_double = draw(values)
                    else:
                        point.as_int = draw(st.integers(min_value=-(2**63), max_value=2**63 - 1))
    return req


@pytest.fixture(scope="module")
def client(running_engine: RunningEngine) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_engine.http_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def channel(running_engine: RunningEngine) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(running_engine.grpc_target) as ch:
        yield ch


@fuzz_settings(100)
@given(body=write_requests())
def test_remote_write_with_hostile_values(client: httpx.Client, body: bytes) -> None:
    resp = client.post(REMOTE_WRITE_PATH, content=body, headers=RW_HEADERS)
    event(f"HTTP {resp.status_code}")
    assert_no_server_error(resp)


@fuzz_settings(100)
@given(request=export_requests(), how=st.sampled_from(["grpc", "protobuf", "json"]))
def test_otlp_with_hostile_values(
    client: httpx.Client,
    channel: grpc.Channel,
    request: ms.ExportMetricsServiceRequest,
    how: str,
) -> None:
    if how == "grpc":
        export = channel.unary_unary(
            f"/{OTLP_METRICS_SERVICE}/Export",
            request_serializer=ms.ExportMetricsServiceRequest.SerializeToString,
            response_deserializer=ms.ExportMetricsServiceResponse.FromString,
        )
        try:
            export(request, metadata=GRPC_AUTH, timeout=30)
        except grpc.RpcError as exc:
            assert exc.code() in CLIENT_ERRORS, f"{exc.code()}: {exc.details()}"
        return
    if how == "protobuf":
        body = request.SerializeToString()
        content_type = "application/x-protobuf"
    else:
        body = json_format.MessageToJson(request).encode()
        content_type = "application/json"
    resp = client.post(
        OTLP_METRICS_PATH, content=body, headers={**AUTH, "Content-Type": content_type}
    )
    event(f"HTTP {resp.status_code}")
    assert_no_server_error(resp)
