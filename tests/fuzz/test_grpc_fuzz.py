"""Every gRPC method of the engine, fed out-of-range, NaN, negative, empty and undecodable
requests: the status is OK or a precise client error, never UNKNOWN or INTERNAL.

The methods are listed by the server's own reflection service, so a method added later
is at least fed undecodable bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import example, given
from hypothesis import strategies as st

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from tests.fuzz.conftest import GRPC_AUTH, RunningEngine, fuzz_settings
from tests.fuzz.strategies import SERVICES, hostile_texts
from tests.server.conftest import T0

# What a well-behaved server may answer to a bad or odd request.
CLIENT_ERRORS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
texts = st.one_of(st.sampled_from(SERVICES), hostile_texts, st.text(max_size=40))
doubles = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, 1e-300, 0.01, 0.05, 1.0, 1e300, math.nan, math.inf]),
)
timestamps = st.builds(
    Timestamp,
    seconds=st.one_of(
        INT64,
        st.sampled_from([0, -1, int(T0), int(T0) + 10**6, 253402300799, 253402300800]),
    ),
    nanos=st.one_of(INT32, st.sampled_from([0, 999_999_999, 1_000_000_000, -1])),
)


@pytest.fixture(scope="module")
def channel(running_engine: RunningEngine) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(running_engine.grpc_target) as ch:
        yield ch


def call_code(fn: Any, *args: Any, ours: bool = True, **kwargs: Any) -> grpc.StatusCode:
    """Call a unary method; its status, checked. `ours`: an error must also say what is wrong
    (grpc's health service answers an unknown service with a bare NOT_FOUND)."""
    try:
        fn(*args, metadata=GRPC_AUTH, timeout=30, **kwargs)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        allowed = CLIENT_ERRORS if ours else {*CLIENT_ERRORS, grpc.StatusCode.UNIMPLEMENTED}
        assert code in allowed, f"{code}: {exc.details()}"
        assert exc.details() or not ours, "an error names what is wrong"
        return code
    return grpc.StatusCode.OK


def first_of_stream(stream: Any) -> grpc.StatusCode:
    """Read the first message of a server stream, then cancel it."""
    try:
        next(stream)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        assert code in CLIENT_ERRORS, f"{code}: {exc.details()}"
        return code
    finally:
        stream.cancel()
    return grpc.StatusCode.OK


@fuzz_settings(250)
@given(
    request=st.builds(
        pb.GetVerdictRequest,
        service=texts,
        canary_variant=texts,
        baseline_variant=texts,
        eval_time=st.one_of(st.none(), timestamps),
        short_window_seconds=st.one_of(INT64, st.sampled_from([0, -1, 300, 2_592_001])),
        long_window_seconds=st.one_of(INT64, st.sampled_from([0, -1, 3600, 2_592_000])),
        revision=texts,
    )
)
@example(request=pb.GetVerdictRequest(service="checkout", eval_time=Timestamp(seconds=2**62)))
@example(request=pb.GetVerdictRequest(service="checkout", eval_time=Timestamp(seconds=-(2**62))))
@example(request=pb.GetVerdictRequest(service="checkout", eval_time=Timestamp(nanos=-5)))
def test_get_verdict(channel: grpc.Channel, request: pb.GetVerdictRequest) -> None:
    call_code(pb_grpc.CanaryServiceStub(channel).GetVerdict, request)


@fuzz_settings(150)
@given(
    request=st.builds(
        pb.GetStatusRequest,
        service=texts,
        slo=st.one_of(st.sampled_from(["availability", "latency", ""]), texts),
        eval_time=st.one_of(st.none(), timestamps),
    )
)
@example(request=pb.GetStatusRequest(service="checkout", eval_time=Timestamp(seconds=2**62)))
@example(request=pb.GetStatusRequest(service="checkout", eval_time=Timestamp(seconds=253402300799)))
def test_get_status(channel: grpc.Channel, request: pb.GetStatusRequest) -> None:
    call_code(pb_grpc.SLOServiceStub(channel).GetStatus, request)


@fuzz_settings(60)
@given(selector=st.dictionaries(texts, texts, max_size=4))
def test_list_slos(channel: grpc.Channel, selector: dict[str, str]) -> None:
    call_code(pb_grpc.SLOServiceStub(channel).ListSLOs, pb.ListSLOsRequest(label_selector=selector))


@fuzz_settings(60)
@given(service=texts, slo=texts, interval=doubles)
def test_watch_status(channel: grpc.Channel, service: str, slo: str, interval: float) -> None:
    request = pb.WatchStatusRequest(service=service, slo=slo, interval_seconds=interval)
    stream = pb_grpc.SLOServiceStub(channel).WatchStatus(request, metadata=GRPC_AUTH, timeout=30)
    first_of_stream(stream)


@fuzz_settings(60)
@given(service=texts, canary=texts, baseline=texts, interval=doubles)
@example(service="checkout", canary="", baseline="", interval=math.inf)
@example(service="checkout", canary="", baseline="", interval=math.nan)
def test_watch_verdicts(
    channel: grpc.Channel, service: str, canary: str, baseline: str, interval: float
) -> None:
    request = pb.WatchVerdictsRequest(
        service=service, canary_variant=canary, baseline_variant=baseline, interval_seconds=interval
    )
    stream = pb_grpc.CanaryServiceStub(channel).WatchVerdicts(
        request, metadata=GRPC_AUTH, timeout=30
    )
    first_of_stream(stream)


@fuzz_settings(40)
@given(service=st.one_of(st.sampled_from(["", "sloengine.v1.CanaryService"]), texts))
def test_health(channel: grpc.Channel, service: str) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    call_code(stub.Check, health_pb2.HealthCheckRequest(service=service), ours=False)
    first_of_stream(stub.Watch(health_pb2.HealthCheckRequest(service=service), timeout=30))


@fuzz_settings(30)
@given(symbol=texts, host=texts)
def test_reflection(channel: grpc.Channel, symbol: str, host: str) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(host=host, list_services=symbol),
        reflection_pb2.ServerReflectionRequest(host=host, file_containing_symbol=symbol),
        reflection_pb2.ServerReflectionRequest(host=host, file_by_filename=symbol),
    ]
    try:
        for response in stub.ServerReflectionInfo(iter(requests), timeout=30):
            assert response.WhichOneof("message_response")
    except grpc.RpcError as exc:
        assert exc.code() in CLIENT_ERRORS, f"{exc.code()}: {exc.details()}"


def _methods(channel: grpc.Channel) -> list[tuple[str, Any]]:
    """(path, method descriptor) of every method the server lists through reflection."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="*")
    (response,) = stub.ServerReflectionInfo(iter([request]), timeout=30)
    pool = descriptor_pool.Default()
    out = []
    for service in response.list_services_response.service:
        descriptor = pool.FindServiceByName(service.name)
        for method in descriptor.methods:
            out.append((f"/{descriptor.full_name}/{method.name}", method))
    return sorted(out, key=lambda m: m[0])


def test_reflection_lists_every_engine_service(channel: grpc.Channel) -> None:
    paths = {path for path, _ in _methods(channel)}
    for expected in (
        "/sloengine.v1.IngestService/Push",
        "/sloengine.v1.SLOService/GetStatus",
        "/sloengine.v1.CanaryService/GetVerdict",
        "/sloengine.v1.CanaryService/WatchVerdicts",
        "/grpc.health.v1.Health/Check",
    ):
        assert expected in paths


@fuzz_settings(120)
@given(data=st.data())
@example(data=None)
def test_undecodable_requests_to_every_method(channel: grpc.Channel, data: Any) -> None:
    methods = _methods(channel)
    if data is None:  # the explicit case: corrupt wire format to every method in turn
        cases = [(path, m, b"\xff\xff\xff") for path, m in methods]
    else:
        path, method = data.draw(st.sampled_from(methods), label="method")
        cases = [(path, method, data.draw(st.binary(max_size=64), label="raw"))]
    for path, method, raw in cases:
        kind = (method.client_streaming, method.server_streaming)
        if kind == (False, False):
            call_code(channel.unary_unary(path), raw, ours=path.startswith("/sloengine."))
        elif kind == (False, True):
            first_of_stream(channel.unary_stream(path)(raw, metadata=GRPC_AUTH, timeout=30))
        else:
            stream = channel.stream_stream(path)(iter([raw]), metadata=GRPC_AUTH, timeout=30)
            try:
                for _ in stream:
                    pass
            except grpc.RpcError as exc:
                assert exc.code() in CLIENT_ERRORS, f"{path}: {exc.code()}: {exc.details()}"
