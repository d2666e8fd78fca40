"""`sloengine.v1.CanaryService` over grpc.aio: GetVerdict and WatchVerdicts.

The transport of the canary service (`sloengine.canary.CanaryCore`): requests become
`VerdictRequest`s, verdicts become `CanaryVerdict` messages here, at the edge. Bad input is
INVALID_ARGUMENT naming the field; an unknown service or variant NOT_FOUND.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import grpc

from sloengine.canary import CanaryCore, VerdictRequest
from sloengine.canary.errors import CanaryNotFoundError
from sloengine.errors import RequestError, SloEngineError
from sloengine.grpc._convert import verdict_to_pb
from sloengine.proto.sloengine.v1 import engine_pb2 as pb
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings import inputs

__all__ = ["CanaryServicer", "add_canary_service"]


def status_code_of(exc: SloEngineError) -> grpc.StatusCode:
    """The gRPC code of a refused verdict request: bad input, unknown key, or cannot judge."""
    if isinstance(exc, RequestError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, CanaryNotFoundError):
        return grpc.StatusCode.NOT_FOUND
    return grpc.StatusCode.FAILED_PRECONDITION


class CanaryServicer(pb_grpc.CanaryServiceServicer):
    """Thin adapter: protobuf in, `CanaryCore`, protobuf out; bad input is INVALID_ARGUMENT."""

    def __init__(self, core: CanaryCore) -> None:
        self.core = core

    async def GetVerdict(
        self, request: pb.GetVerdictRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CanaryVerdict:
        try:
            at = (
                inputs.timestamp_seconds(request.eval_time, "eval_time")
                if request.HasField("eval_time")
                else None
            )
            req = VerdictRequest(
                service=request.service,
                canary=request.canary_variant,
                baseline=request.baseline_variant,
                at_unix_s=at,
                short_window_seconds=request.short_window_seconds,
                long_window_seconds=request.long_window_seconds,
                revision=request.revision,
            )
            await self.core.prepare(req)
            verdict = self.core.evaluate(req, actor="grpc")
            if not self.core.acts:  # a replica says so; the verdict itself is the same
                await context.send_initial_metadata((("sloengine-role", "replica"),))
            return verdict_to_pb(verdict)
        except SloEngineError as exc:
            await context.abort(status_code_of(exc), str(exc))
        raise AssertionError("unreachable")  # context.abort raises

    async def WatchVerdicts(
        self, request: pb.WatchVerdictsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.CanaryVerdict]:
        req = VerdictRequest(
            service=request.service,
            canary=request.canary_variant,
            baseline=request.baseline_variant,
            revision=request.revision,
        )
        interval = request.interval_seconds
        if not math.isfinite(interval) or interval < 0:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"interval_seconds: must be a finite number >= 0, got {interval}",
            )
        try:
            async for verdict in self.core.watch(req, interval, actor="grpc-watch"):
                yield verdict_to_pb(verdict)
        except SloEngineError as exc:
            await context.abort(status_code_of(exc), str(exc))


def add_canary_service(server: grpc.aio.Server, core: CanaryCore) -> CanaryServicer:
    """Serve `core` as `sloengine.v1.CanaryService` on `server` (before it starts)."""
    servicer = CanaryServicer(core)
    pb_grpc.add_CanaryServiceServicer_to_server(servicer, server)
    return servicer
