"""The engine's gRPC side: IngestService, SLOService, CanaryService, health, reflection, auth.

server, port = create_grpc_server(
    "127.0.0.1:0",
    config=config,
    credentials=credentials,
    ingest=ingest_service,
    metrics=metrics,
    status=status_service,
)
await server.start(ENGINE_SERVICES)
...
await server.stop(grace_s=5)
"""

from sloengine.grpc._auth import BearerTokenInterceptor
from sloengine.grpc._canary import CanaryServicer, add_canary_service
from sloengine.grpc._convert import slo_info, status_to_pb, verdict_to_pb
from sloengine.grpc._server import ENGINE_SERVICES, EngineGrpcServer, create_grpc_server

__all__ = [
    "ENGINE_SERVICES",
    "BearerTokenInterceptor",
    "CanaryServicer",
    "EngineGrpcServer",
    "add_canary_service",
    "create_grpc_server",
    "slo_info",
    "status_to_pb",
    "verdict_to_pb",
]
