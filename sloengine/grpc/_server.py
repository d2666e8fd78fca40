"""Build the engine's grpc.aio server: services, health, reflection, auth, limits, TLS."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sloengine import conventions
from sloengine.engine import StatusService
from sloengine.errors import SpecError
from sloengine.grpc._auth import BearerTokenInterceptor
from sloengine.grpc._edge import RequestErrorInterceptor
from sloengine.grpc._ingest import IngestServicer, ingest_handler
from sloengine.grpc._slo import SLOServicer
from sloengine.http.metrics import EngineMetrics
from sloengine.ingest import IngestService
from sloengine.proto.sloengine.v1 import engine_pb2_grpc as pb_grpc
from sloengine.settings.config import EngineConfig
from sloengine.settings.credentials import Credentials, Scope

__all__ = ["EngineGrpcServer", "create_grpc_server"]

ENGINE_SERVICES = (conventions.GRPC_INGEST_SERVICE, conventions.GRPC_SLO_SERVICE)


class EngineGrpcServer:
    """The grpc.aio server plus its health servicer (to flip to NOT_SERVING on shutdown)."""

    def __init__(self, server: grpc.aio.Server, health_servicer: health.aio.HealthServicer) -> None:
        self.server = server
        self.health = health_servicer

    async def start(self, service_names: Sequence[str]) -> None:
        """Start serving and mark the engine and each service SERVING."""
        await self.server.start()
        for name in ("", *service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_s: float) -> None:
        """Report NOT_SERVING, refuse new calls, let running ones finish within `grace_s`."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)


def create_grpc_server(
    address: str,
    *,
    config: EngineConfig,
    credentials: Credentials,
    ingest: IngestService,
    metrics: EngineMetrics,
    status: StatusService,
    extra_service_names: Sequence[str] = (),
) -> tuple[EngineGrpcServer, int]:
    """A server with Ingest, SLO, Health and Reflection bound to `address` (port 0: any).

    `config` gives the message size limit and TLS, `credentials` the scoped tokens; `ingest`
    serves IngestService/Push (its metrics in `metrics`), `status` SLOService. Returns the (not
    yet started) server and the bound port. Other services (canary, OTLP) are added before
    `start`; name them in `extra_service_names` so reflection lists them.
    """
    options = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.so_reuseport", 0),
        # Producers keep one stream open for hours; let them ping through idle NATs.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ]
    guarded = any(not credentials.is_open(scope) for scope in Scope)
    interceptors: list[grpc.aio.ServerInterceptor] = [RequestErrorInterceptor()]
    if guarded:
        interceptors.insert(0, BearerTokenInterceptor(credentials))
    server = grpc.aio.server(options=options, interceptors=interceptors)
    server.add_generic_rpc_handlers((ingest_handler(IngestServicer(ingest, metrics)),))
    pb_grpc.add_SLOServiceServicer_to_server(SLOServicer(status), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (*ENGINE_SERVICES, *extra_service_names)
    reflection.enable_server_reflection(
        (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    if config.tls is not None:
        try:
            key = config.tls.key.read_bytes()
            cert = config.tls.cert.read_bytes()
        except OSError as exc:
            raise SpecError(str(exc.filename), "tls", f"cannot read: {exc.strerror}") from None
    try:
        if config.tls is not None:
            port = server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:  # grpc's "Failed to bind"
        port = 0
    if port == 0:
        raise SpecError("", "grpc_listen", f"cannot listen on {address} (in use, or not local)")
    return EngineGrpcServer(server, health_servicer), port
