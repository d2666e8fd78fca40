"""SLOService: listing, evaluation at a given time, NOT_FOUND, watching."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from tests.server.conftest import T0, batch, block, push_all, status, window


async def test_list_slos_filters_by_labels_service_and_name(channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.SLOServiceStub(channel)
    every = await stub.ListSLOs(pb.ListSLOsRequest())
    assert [(s.service, s.name) for s in every.slos] == [
        ("checkout", "availability"),
        ("checkout", "latency"),
        ("search", "availability"),
    ]
    team = await stub.ListSLOs(pb.ListSLOsRequest(label_selector={"team": "payments"}))
    assert {s.name for s in team.slos} == {"availability", "latency"}
    one = await stub.ListSLOs(
        pb.ListSLOsRequest(label_selector={"service": "search", "name": "availability"})
    )
    (info,) = one.slos
    assert (info.objective_ratio, info.sli_kind, info.source, info.policy) == (
        0.999, "availability", "push", "sre-workbook-30d",
    )  # fmt: skip
    assert info.period_seconds == 30 * 86400


async def test_get_status_evaluates_at_the_requested_time(channel: grpc.aio.Channel) -> None:
    await push_all(channel, batch(1, block(ts_s=(T0 - 7200,), requests=(100,), errors=(10,))))
    now = await status(channel)
    assert window(now, 300).requests == 0
    assert window(now, 6 * 3600).requests == 100
    then = Timestamp(seconds=int(T0 - 7200 + 60))
    resp = await pb_grpc.SLOServiceStub(channel).GetStatus(
        pb.GetStatusRequest(service="checkout", slo="availability", eval_time=then)
    )
    past = resp.statuses[0]
    assert past.eval_time.seconds == then.seconds
    assert (window(past, 300).requests, window(past, 300).errors) == (100, 10)


async def test_latency_slo_counts_requests_slower_than_the_threshold(
    channel: grpc.aio.Channel,
) -> None:
    bounds = (0.1, 0.5, 1.0)
    await push_all(
        channel,
        batch(
            1,
            block(
                requests=(100,),
                errors=(0,),
                latency_bounds_seconds=bounds,
                latency_bucket_counts=(60, 30, 6),  # 4 slower than 1s
            ),
        ),
    )
    st = await status(channel, slo="latency")
    five_m = window(st, 300)
    assert (five_m.requests, five_m.errors) == (100, 10)
    assert st.slo.sli_kind == "latency"


async def test_every_slo_of_a_service_when_no_name_is_given(channel: grpc.aio.Channel) -> None:
    resp = await pb_grpc.SLOServiceStub(channel).GetStatus(pb.GetStatusRequest(service="checkout"))
    assert [s.slo.name for s in resp.statuses] == ["availability", "latency"]
    assert not any(s.has_data for s in resp.statuses)


@pytest.mark.parametrize(
    ("service", "slo", "needle"),
    [("nope", "", "'nope'"), ("checkout", "nope", "'nope'")],
    ids=["unknown-service", "unknown-slo"],
)
async def test_unknown_service_or_slo_is_not_found_naming_it(
    channel: grpc.aio.Channel, service: str, slo: str, needle: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await pb_grpc.SLOServiceStub(channel).GetStatus(
            pb.GetStatusRequest(service=service, slo=slo)
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert needle in (err.value.details() or "")


async def test_missing_service_is_invalid_argument(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await pb_grpc.SLOServiceStub(channel).GetStatus(pb.GetStatusRequest())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith("service:")


async def test_alerts_fire_when_both_windows_burn(channel: grpc.aio.Channel) -> None:
    # 50% errors over the last 6h: every window burns at 50x the 1% budget.
    samples = [T0 - 60 * i for i in range(360)]
    await push_all(
        channel,
        batch(1, block(ts_s=samples, requests=[10] * 360, errors=[5] * 360)),
    )
    st = await status(channel)
    page = [a for a in st.alerts if a.severity == "page"]
    assert page and all(a.firing for a in page)
    assert window(st, 3600).burn_rate == pytest.approx(50)


async def test_watch_status_streams_every_interval(channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.SLOServiceStub(channel)
    call = stub.WatchStatus(
        pb.WatchStatusRequest(service="checkout", slo="availability", interval_seconds=0.05)
    )
    got = []
    async for st in call:
        got.append(st)
        if len(got) == 3:
            call.cancel()
            break
    assert [s.slo.name for s in got] == ["availability"] * 3


async def test_watch_status_rejects_a_negative_interval(channel: grpc.aio.Channel) -> None:
    call = pb_grpc.SLOServiceStub(channel).WatchStatus(
        pb.WatchStatusRequest(service="checkout", interval_seconds=-1)
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in call:
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith("interval_seconds:")


async def test_watch_status_of_an_unknown_slo_is_not_found(channel: grpc.aio.Channel) -> None:
    call = pb_grpc.SLOServiceStub(channel).WatchStatus(
        pb.WatchStatusRequest(service="checkout", slo="nope", interval_seconds=0.1)
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in call:
            pass
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "'nope'" in (err.value.details() or "")
