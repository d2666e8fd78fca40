"""`sloengine.v1.SLOService`: list SLOs, evaluate their status now or at a given time, watch.

Thin adapter: the evaluation itself is StatusService.evaluate (store maths for pushed SLIs,
the Prometheus API for PromQL SLIs); this module maps requests, results and errors onto
protobuf and status codes.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import grpc

from sloengine.engine import StatusService
from sloengine.engine.pull import PrometheusUnavailable
from sloengine.errors import RequestError, SloEngineError, UnknownSLOError
from sloengine.grpc._convert import slo_info, status_to_pb
from sloengine.model import SLO
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings import inputs

__all__ = ["SLOServicer"]

DEFAULT_WATCH_INTERVAL_SECONDS = 5.0
MIN_WATCH_INTERVAL_SECONDS = 0.05


def _matches(slo: SLO, selector: dict[str, str]) -> bool:
    labels = dict(slo.labels)
    labels.setdefault("service", slo.service)
    labels.setdefault("name", slo.name)
    return all(labels.get(k) == v for k, v in selector.items())


class SLOServicer(pb_grpc.SLOServiceServicer):
    """ListSLOs, GetStatus and WatchStatus over the status service's catalog."""

    def __init__(self, status: StatusService) -> None:
        self._status = status

    async def ListSLOs(
        self, request: pb.ListSLOsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListSLOsResponse:
        selector = dict(request.label_selector)
        status = self._status
        return pb.ListSLOsResponse(
            slos=[
                slo_info(slo, status.policy_for(slo).name)
                for slo in status.catalog.slos
                if _matches(slo, selector)
            ]
        )

    async def GetStatus(
        self, request: pb.GetStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetStatusResponse:
        at = None
        if request.HasField("eval_time"):
            try:
                at = inputs.timestamp_seconds(request.eval_time, "eval_time")
            except RequestError as exc:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        statuses = await self._evaluate(request.service, request.slo, at, context)
        return pb.GetStatusResponse(statuses=statuses)

    async def WatchStatus(
        self, request: pb.WatchStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.SLOStatus]:
        interval = request.interval_seconds or DEFAULT_WATCH_INTERVAL_SECONDS
        if not math.isfinite(interval) or interval < MIN_WATCH_INTERVAL_SECONDS:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"interval_seconds: must be >= {MIN_WATCH_INTERVAL_SECONDS} (got {interval})",
            )
        while True:
            for status in await self._evaluate(request.service, request.slo, None, context):
                yield status
            await asyncio.sleep(interval)

    async def _evaluate(
        self,
        service: str,
        name: str,
        at: float | None,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> list[pb.SLOStatus]:
        status = self._status
        if not service:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "service: required")
        try:
            slos = status.find_slos(service, name or None)
        except UnknownSLOError as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        at_s = status.now() if at is None else at
        try:
            # Concurrently: pull-mode SLOs each wait on their Prometheus queries.
            results = await asyncio.gather(*(status.evaluate(slo, at_s) for slo in slos))
        except PrometheusUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except SloEngineError as exc:  # e.g. a PromQL SLO without --prometheus-url
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        return [
            status_to_pb(slo, status.policy_for(slo).name, r)
            for slo, r in zip(slos, results, strict=True)
        ]
