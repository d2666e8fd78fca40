"""Scoped bearer-token check on gRPC metadata, as a server interceptor.

Health and reflection stay open so that load balancers, Kubernetes probes and grpcurl's
`list` work without the secret. Every other method needs `authorization: Bearer T` with the
token of its scope (sloengine.settings.credentials): ingest for IngestService and OTLP export, read
for SLOService and CanaryService, admin for anything else; a scope without a token is open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from sloengine.settings.credentials import Credentials, Scope

__all__ = ["BearerTokenInterceptor", "method_scope"]

# How long a refused streaming call waits for the client's first message before aborting.
_FIRST_MESSAGE_WAIT_S = 1.0

_OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_SCOPE_PREFIXES = (
    ("/sloengine.v1.IngestService/", Scope.INGEST),
    ("/opentelemetry.proto.collector.", Scope.INGEST),
    ("/sloengine.v1.SLOService/", Scope.READ),
    ("/sloengine.v1.CanaryService/", Scope.READ),
)


def method_scope(method: str) -> Scope | None:
    """The scope a gRPC method needs; None for the open health and reflection services."""
    if method.startswith(_OPEN_PREFIXES):
        return None
    for prefix, scope in _SCOPE_PREFIXES:
        if method.startswith(prefix):
            return scope
    return Scope.ADMIN


def _token_problem(metadata: Any, credentials: Credentials, scope: Scope) -> str | None:
    """None when the metadata carries a token good for `scope`, else the reason to refuse."""
    values = [v for k, v in (metadata or ()) if k == "authorization"]
    if not values:
        return (
            f"missing bearer token for the {scope} scope (metadata authorization: Bearer <token>)"
        )
    value = values[0]
    given = value.encode() if isinstance(value, str) else bytes(value)
    scheme, _, token = given.partition(b" ")
    if scheme.lower() != b"bearer" or not credentials.accepts(scope, token.strip()):
        return f"invalid bearer token for the {scope} scope"
    return None


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuse calls without a token of the method's scope with UNAUTHENTICATED."""

    def __init__(self, credentials: Credentials | str) -> None:
        if isinstance(credentials, str):  # one token for every scope
            token = credentials.encode()
            credentials = Credentials(ingest=token, read=token, admin=token)
        self._credentials = credentials

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        scope = method_scope(handler_call_details.method or "")
        if scope is None or self._credentials.is_open(scope):
            return await continuation(handler_call_details)
        metadata = handler_call_details.invocation_metadata
        problem = _token_problem(metadata, self._credentials, scope)
        handler = await continuation(handler_call_details)
        if problem is None or handler is None:
            return handler
        return _refusing_handler(handler, problem)


def _refusing_handler(handler: grpc.RpcMethodHandler, problem: str) -> grpc.RpcMethodHandler:
    """A handler of the same streaming shape as `handler` that aborts UNAUTHENTICATED."""

    async def refuse(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)

    async def refuse_stream(requests: AsyncIterator[Any], context: Any) -> Any:
        # grpcio's client turns a write that races the server's status into INTERNAL
        # "Internal error from Core", losing the reason; taking the first message (or
        # half-close) first means a client that sends one message always learns it.
        with contextlib.suppress(TimeoutError, grpc.RpcError, StopAsyncIteration):
            await asyncio.wait_for(anext(aiter(requests), None), _FIRST_MESSAGE_WAIT_S)
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, problem)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse_stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse_stream)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse)
    return grpc.unary_unary_rpc_method_handler(refuse)
