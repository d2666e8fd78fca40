"""IngestService/Push fed malformed batches: each one is acked (ACCEPTED, DUPLICATE or
REJECTED naming the field), the stream goes on, and the engine still answers reads of
every service the fuzzer touched. This module has its own engine (module fixture), so
whatever the fuzzer stored cannot leak into the other fuzz modules."""

from __future__ import annotations

import math
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from tests.fuzz.conftest import GRPC_AUTH, RunningEngine, fuzz_settings
from tests.fuzz.test_grpc_fuzz import CLIENT_ERRORS
from tests.server.conftest import T0

T0_MS = int(T0 * 1000)
UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
counts = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, 5.0, 100.0, -1.0, 1e300, 1.7e308, math.nan, math.inf, 0.5]),
)
timestamps_ms = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=T0_MS - 3_600_000, max_value=T0_MS + 60_000),
    st.sampled_from([0, -1, T0_MS, T0_MS - 1, 2**62]),
)
label_texts = st.one_of(
    st.sampled_from(["checkout", "search", "canary", "baseline", "stable", "/pay", "POST", ""]),
    st.text(max_size=20),
)
keys = st.builds(
    pb.SeriesKey,
    service=label_texts,
    variant=label_texts,
    route=label_texts,
    method=label_texts,
    extra_labels=st.dictionaries(label_texts, label_texts, max_size=3),
)
blocks = st.builds(
    pb.SeriesBlock,
    key=st.one_of(st.none(), keys),
    timestamps_unix_ms=st.lists(timestamps_ms, max_size=4),
    requests=st.lists(counts, max_size=4),
    errors=st.lists(counts, max_size=4),
    latency_bounds_seconds=st.lists(counts, max_size=4),
    latency_bucket_counts=st.lists(counts, max_size=8),
)
batches = st.builds(
    pb.PushRequest,
    producer_id=st.one_of(st.sampled_from(["fuzz", "", "p"]), st.text(max_size=12)),
    sequence=st.one_of(UINT64, st.integers(min_value=0, max_value=5)),
    blocks=st.lists(blocks, max_size=3),
)


@st.composite
def near_valid_batches(draw: st.DrawFn) -> pb.PushRequest:
    """A valid batch with at most one hostile value: reaches the store, not just the checks."""
    n = draw(st.integers(min_value=1, max_value=3))
    block = pb.SeriesBlock(
        key=pb.SeriesKey(
            service=draw(st.sampled_from(["checkout", "search", "other"])),
            variant=draw(st.sampled_from(["canary", "baseline", "stable"])),
            route="/pay",
            method="POST",
        ),
        timestamps_unix_ms=[
            T0_MS - 1000 * draw(st.integers(min_value=0, max_value=3000)) for _ in range(n)
        ],
        requests=[100.0] * n,
        errors=[draw(st.sampled_from([0.0, 1.0, 50.0])) for _ in range(n)],
        latency_bounds_seconds=[0.1, 0.5],
        latency_bucket_counts=[60.0, 30.0] * n,
    )
    column = draw(
        st.sampled_from(["none", "requests", "errors", "timestamps", "bounds", "buckets"])
    )
    if column == "timestamps":
        block.timestamps_unix_ms[0] = draw(timestamps_ms)
    elif column != "none":
        target = {
            "requests": block.requests,
            "errors": block.errors,
            "bounds": block.latency_bounds_seconds,
            "buckets": block.latency_bucket_counts,
        }[column]
        target[0] = draw(counts)
    return pb.PushRequest(
        producer_id="near-valid-" + draw(st.uuids()).hex,
        sequence=draw(st.integers(min_value=1, max_value=2**40)),
        blocks=[block],
    )


@pytest.fixture(scope="module")
def channel(running_engine: RunningEngine) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(running_engine.grpc_target) as ch:
        yield ch


def _as_is(data: bytes) -> bytes:
    return data


@fuzz_settings(120)
@given(
    requests=st.lists(
        st.one_of(near_valid_batches(), batches, st.binary(max_size=48)), min_size=1, max_size=6
    )
)
def test_push_acks_every_batch(
    channel: grpc.Channel, requests: list[pb.PushRequest | bytes]
) -> None:
    raws = [r if isinstance(r, bytes) else r.SerializeToString() for r in requests]
    acks = list(_push_raw(channel, raws))
    assert len(acks) == len(raws)
    for ack in acks:
        event(pb.PushAck.Status.Name(ack.status))
        assert ack.status in (pb.PushAck.ACCEPTED, pb.PushAck.DUPLICATE, pb.PushAck.REJECTED)
        if ack.status == pb.PushAck.REJECTED:
            assert ack.message, "a rejection names the field"
            assert ack.code in (
                grpc.StatusCode.INVALID_ARGUMENT.value[0],
                grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
            )


def _push_raw(channel: grpc.Channel, raws: list[bytes]) -> Iterator[pb.PushAck]:
    """Send raw messages (valid batches or garbage) on one Push stream; the acks."""
    call = channel.stream_stream(
        "/sloengine.v1.IngestService/Push",
        request_serializer=_as_is,
        response_deserializer=pb.PushAck.FromString,
    )
    try:
        yield from call(iter(raws), metadata=GRPC_AUTH, timeout=30)
    except grpc.RpcError as exc:
        pytest.fail(f"Push stream failed: {exc.code()}: {exc.details()}")


@pytest.mark.parametrize(
    "service", ["checkout", "search", ""], ids=["checkout", "search", "no-service"]
)
def test_reads_still_answer_after_the_push_fuzz(
    running_engine: RunningEngine, service: str
) -> None:
    """Runs after the fuzz above (same module engine): whatever was accepted, reads work."""
    with grpc.insecure_channel(running_engine.grpc_target) as channel:
        for call, request in (
            (pb_grpc.SLOServiceStub(channel).GetStatus, pb.GetStatusRequest(service=service)),
            (
                pb_grpc.CanaryServiceStub(channel).GetVerdict,
                pb.GetVerdictRequest(service=service),
            ),
        ):
            try:
                call(request, metadata=GRPC_AUTH, timeout=30)
            except grpc.RpcError as exc:
                assert exc.code() in CLIENT_ERRORS, f"{exc.code()}: {exc.details()}"
