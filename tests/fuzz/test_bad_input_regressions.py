"""The bad inputs of issue 11 item 11, one named test each: every one was a 500 or UNKNOWN,
each is now a 400 / INVALID_ARGUMENT whose message names the field."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from tests.fuzz.conftest import AUTH, GRPC_AUTH, RunningEngine

ROLLBACK_LABELS = {"alertname": "CanaryErrorRateHigh", "rollback": "true", "service": "checkout"}


@pytest.fixture(scope="module")
def client(running_engine: RunningEngine) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_engine.http_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def channel(running_engine: RunningEngine) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(running_engine.grpc_target) as ch:
        yield ch


def error_of(resp: httpx.Response) -> str:
    assert resp.status_code == 400, (resp.status_code, resp.text[:200])
    message: str = resp.json()["error"]
    return message


@pytest.mark.parametrize("annotations", ["a string", ["a", "list"], 42])
def test_alertmanager_annotations_of_the_wrong_type_is_a_400_naming_it(
    client: httpx.Client, annotations: object
) -> None:
    payload = {"alerts": [{"labels": ROLLBACK_LABELS, "annotations": annotations}]}
    resp = client.post("/api/v1/alertmanager", json=payload, headers=AUTH)
    assert error_of(resp).startswith("alerts[0].annotations: must be a map of strings")


def test_alertmanager_label_value_of_the_wrong_type_is_a_400_naming_it(
    client: httpx.Client,
) -> None:
    payload = {"alerts": [{"labels": {**ROLLBACK_LABELS, "service": ["checkout"]}}]}
    resp = client.post("/api/v1/alertmanager", json=payload, headers=AUTH)
    assert error_of(resp).startswith("alerts[0].labels.service: must be a string")


@pytest.mark.parametrize("path", ["/api/v1/alertmanager", "/api/v1/verdict"])
def test_json_nested_100k_deep_is_a_400(client: httpx.Client, path: str) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    resp = client.post(path, content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert "nested deeper than" in error_of(resp)


@pytest.mark.parametrize("eval_time", ["1e300", "nan", "inf", "-inf", "-1", "253402300800"])
def test_eval_time_out_of_range_is_a_400_naming_it(client: httpx.Client, eval_time: str) -> None:
    resp = client.get("/api/v1/verdict", params={"service": "checkout", "eval_time": eval_time})
    assert error_of(resp).startswith("eval_time: must be")


def test_eval_time_as_a_json_number_out_of_range_is_a_400(client: httpx.Client) -> None:
    resp = client.post("/api/v1/verdict", json={"service": "checkout", "eval_time": 1e300})
    assert error_of(resp).startswith("eval_time: must be")


@pytest.mark.parametrize(
    "timestamp",
    [Timestamp(seconds=2**62), Timestamp(seconds=-(2**62)), Timestamp(seconds=1, nanos=-1)],
    ids=["far-future", "far-past", "negative-nanos"],
)
def test_grpc_timestamp_out_of_range_is_invalid_argument(
    channel: grpc.Channel, timestamp: Timestamp
) -> None:
    calls = [
        (
            pb_grpc.CanaryServiceStub(channel).GetVerdict,
            pb.GetVerdictRequest(service="checkout", eval_time=timestamp),
        ),
        (
            pb_grpc.SLOServiceStub(channel).GetStatus,
            pb.GetStatusRequest(service="checkout", eval_time=timestamp),
        ),
    ]
    for call, request in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call(request, metadata=GRPC_AUTH, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith("eval_time.")


def test_undecodable_grpc_request_is_invalid_argument(channel: grpc.Channel) -> None:
    call = channel.unary_unary("/sloengine.v1.CanaryService/GetVerdict")
    with pytest.raises(grpc.RpcError) as caught:
        call(b"\xff\xff\xff", metadata=GRPC_AUTH, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid sloengine.v1.GetVerdictRequest" in caught.value.details()
